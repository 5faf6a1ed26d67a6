"""Run one sweep with the deployed code: the planner, then the sweep queue's messages to the workers.

The schedule's Input goes to the deployed planner (the function the Scheduler schedule targets), which fills
the deployed sweep queue. The rehearsal then does what Lambda's SQS event source does, as harness/stack.py
does in process: it receives up to the mapping's batch size, gives the records to the deployed worker,
deletes the records the worker did not report failed and makes the others visible again (their receive
count grows until the queue's redrive policy moves them to its dead-letter queue). moto's own event source
mapping would run the worker in Docker at every SendMessage and, failing there, count a receive of each
message: it is disabled once checked, before the planner runs.

Given, in the member account, a trail without a KMS key in the home region and a single-region trail of
another region already on the central key, the sweep must repair the first, count every trail of the
organization (the single-region trail of the other region included: one ListTrails per account), leave both
queues empty, keep the member's trails in the inventory and publish one summary (trailguard.sweep/1) to the
findings topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import Deployment, Timeouts
from harness.deploy_local.handler import Deployed, Published, deployed_function, drain, invoke
from harness.deploy_local.tools import StepError
from harness.deploy_local.verify import (
    SWEEP_QUEUE,
    StackView,
    event_source_mapping,
    logical_id_of,
    redrive_policy,
    sweep_functions,
)
from harness.org import BUCKET, MEMBER_A
from harness.stack import settle, sqs_record

SUMMARY_SCHEMA = "trailguard.sweep/1"
KEYLESS_TRAIL = "sweep-trail"
REGIONAL_TRAIL = "regional-trail"
INVENTORY_TRAILS = "inventory#trail"  # the partition of the state table that holds the trails


@dataclass
class Delivery:
    """What the event source delivered: each worker run's result, records given (redeliveries included), and
    records the worker reported failed."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    failed: int = 0


def schedule_input(template: dict[str, Any], function: str) -> dict[str, Any]:
    """The event the Scheduler schedule that targets `function` sends it: its Input, as declared."""
    for resource in (template.get("Resources") or {}).values():
        target = (resource.get("Properties") or {}).get("Target") or {}
        if resource.get("Type") == "AWS::Scheduler::Schedule" and target.get("Arn") == {
            "Fn::GetAtt": [function, "Arn"]
        }:
            text = target.get("Input", "{}")
            event: dict[str, Any] = json.loads(text) if isinstance(text, str) else dict(text)
            return event
    raise StepError(f"no Scheduler schedule targets {function}")


def failed_records(response: Any, received: list[dict[str, Any]], partial: bool) -> set[str]:
    """The message ids Lambda's event source keeps on the queue after a batch: those the function reported
    failed (ReportBatchItemFailures), or the whole batch when partial responses are off and one failed."""
    reported = {str(item["itemIdentifier"]) for item in (response or {}).get("batchItemFailures", [])}
    if reported and not partial:
        return {str(message["MessageId"]) for message in received}
    return reported


def deliver(
    deployment: Deployment,
    view: StackView,
    worker: Deployed,
    mapping: dict[str, Any],
    timeouts: Timeouts,
    most_batches: int,
) -> Delivery:
    """Deliver the mapping's queue to the worker in batches until it is empty (at most `most_batches`)."""
    sqs = view.client("sqs")
    queue_arn = str(mapping["EventSourceArn"])
    queue_url = view.physical(logical_id_of(view, queue_arn))
    partial = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
    delivery = Delivery()
    for batch in range(1, most_batches + 1):
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=min(int(mapping.get("BatchSize", 10)), 10), AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            return delivery
        event = {"Records": [sqs_record(message, queue_arn) for message in received]}
        run = invoke(deployment, view, worker, event, timeouts, f"sweep-worker-{batch}")
        failed = failed_records(run.get("result"), received, partial)
        delivery.runs.append(run)
        delivery.records += len(received)
        delivery.failed += len(failed)
        settle(sqs, queue_url, received, failed)
    raise StepError(f"the sweep queue was not empty after {most_batches} batches")


def queue_depth(view: StackView, queue_url: str) -> int:
    """Messages on the queue, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = view.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def organization_trails(view: StackView, accounts: list[str], regions: list[str]) -> int:
    """How many trails the accounts own in the regions (each counted in its home region only)."""
    return sum(
        len(view.cloud.client("cloudtrail", account, region).describe_trails(includeShadowTrails=False)["trailList"])
        for account in accounts
        for region in regions
    )


def inventory_trails(view: StackView, account: str) -> set[str]:
    """The ARNs of the account's trails in the inventory (the state table)."""
    pages = view.client("dynamodb").get_paginator("query")
    return {
        item["arn"]["S"]
        for page in pages.paginate(
            TableName=view.physical("StateTable"),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :account)",
            ExpressionAttributeValues={":pk": {"S": INVENTORY_TRAILS}, ":account": {"S": f"{account}#"}},
        )
        for item in page.get("Items", [])
    }


def _has_summary(messages: list[Published]) -> bool:
    return any(message.get("schema") == SUMMARY_SCHEMA for message, _ in messages)


def check_sweep(
    checks: Checks, deployment: Deployment, view: StackView, timeouts: Timeouts, findings_queue: str
) -> None:
    functions = sweep_functions(deployment, view)
    if functions is None:
        checks.fail("the sweep", f"no single schedule target and single reader of {SWEEP_QUEUE} in the stack")
        return
    planner_id, worker_id = functions
    accounts = [account.strip() for account in deployment.parameters["Accounts"].split(",")]
    regions = [region.strip() for region in deployment.parameters["Regions"].split(",")]
    checks.section(
        f"deployed {planner_id} and {worker_id} code: one sweep of {len(accounts)} accounts x {len(regions)} regions"
    )
    planner = deployed_function(deployment, view, planner_id)
    worker = deployed_function(deployment, view, worker_id)
    key_arn = view.values["CentralKeyArn"]
    queue_url = view.physical(SWEEP_QUEUE)
    queue_arn = view.values[f"{SWEEP_QUEUE}.Arn"]
    redrive = redrive_policy(
        view.client("sqs")
        .get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
        .get("RedrivePolicy")
    )
    dead_letters = logical_id_of(view, (redrive or {}).get("deadLetterTargetArn"))

    # Given a member trail without a KMS key at home, and a single-region trail of another region on the central key
    home = view.cloud.client("cloudtrail", MEMBER_A)
    keyless = home.create_trail(Name=KEYLESS_TRAIL, S3BucketName=BUCKET, EnableLogFileValidation=True)["TrailARN"]
    home.start_logging(Name=keyless)
    other = next(region for region in regions if region != view.cloud.region)
    elsewhere = view.cloud.client("cloudtrail", MEMBER_A, other)
    regional = elsewhere.create_trail(
        Name=REGIONAL_TRAIL, S3BucketName=BUCKET, EnableLogFileValidation=True, KmsKeyId=key_arn
    )["TrailARN"]
    elsewhere.start_logging(Name=regional)
    expected_trails = organization_trails(view, accounts, regions)
    # ... and moto's event source mapping off: the rehearsal delivers the queue to the worker itself
    mapping = event_source_mapping(view, worker_id, queue_arn)
    if mapping is None:
        checks.fail(f"{worker_id}: event source mapping", f"none reads {SWEEP_QUEUE}: the sweep cannot run")
        return
    view.client("lambda").update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)

    # When the schedule starts the planner
    planned = invoke(deployment, view, planner, schedule_input(view.template, planner_id), timeouts, "sweep-planner")
    result = planned["result"] or {}
    checks.equal(
        f"{planner_id} planned the sweep: {len(accounts)} accounts, regions {', '.join(regions)}",
        ["planned", len(accounts), regions],
        [result.get("result"), result.get("accounts"), result.get("regions")],
    )
    checks.check(
        f"{planner_id} ran the packaged code: app from the function zip, trailguard from the layer zip",
        planner.ran_packaged_code(planned),
        json.dumps(planned.get("modules")),
    )
    checks.equal(f"{SWEEP_QUEUE} holds one message per account", len(accounts), queue_depth(view, queue_url))

    # And the event source delivers the queue to the worker in batches
    attempts = int((redrive or {}).get("maxReceiveCount", 1))
    delivery = deliver(deployment, view, worker, mapping, timeouts, most_batches=len(accounts) * attempts)
    checks.equal(
        f"{worker_id} took the {len(accounts)} accounts in {len(delivery.runs)} batch(es) of at most "
        f"{mapping.get('BatchSize')}, none reported failed",
        [len(accounts), 0],
        [delivery.records, delivery.failed],
    )
    checks.check(
        f"{worker_id} ran the packaged code: app from the function zip, trailguard from the layer zip",
        bool(delivery.runs) and all(worker.ran_packaged_code(run) for run in delivery.runs),
        json.dumps([run.get("modules") for run in delivery.runs]),
    )
    checks.equal(
        f"{SWEEP_QUEUE} and {dead_letters} are empty",
        [0, 0],
        [queue_depth(view, queue_url), queue_depth(view, view.physical(dead_letters))],
    )

    # Then the worker repaired the trail, kept the member's trails, and one summary reached the topic
    trail = home.get_trail(Name=keyless)["Trail"]
    checks.equal(f"trail {KEYLESS_TRAIL} of {MEMBER_A} now on the central key", key_arn, trail.get("KmsKeyId"))
    kept = inventory_trails(view, MEMBER_A)
    checks.check(
        f"the inventory keeps {KEYLESS_TRAIL} and {REGIONAL_TRAIL} ({other}) of {MEMBER_A}",
        {keyless, regional} <= kept,
        json.dumps(sorted(kept)),
    )
    published = drain(view, findings_queue, timeouts.finding, until=_has_summary)
    summaries = [message for message, _ in published if message.get("schema") == SUMMARY_SCHEMA]
    checks.equal(f"one sweep summary ({SUMMARY_SCHEMA}) reached the deployed findings topic", 1, len(summaries))
    if not summaries:
        return
    summary = summaries[0]
    checks.equal(
        f"summary: {len(accounts)} accounts, {len(regions)} regions, {expected_trails} trails ({REGIONAL_TRAIL} "
        f"of {other} included), no failure, nothing unreachable",
        [len(accounts), regions, expected_trails, [], []],
        [
            summary.get("accounts"),
            summary.get("regions"),
            summary.get("trails"),
            summary.get("failures"),
            summary.get("unreachable"),
        ],
    )
    checks.check(
        f"summary: {KEYLESS_TRAIL} of {MEMBER_A} among the changed resources",
        keyless in summary.get("changed", []),
        json.dumps(summary.get("changed")),
    )
