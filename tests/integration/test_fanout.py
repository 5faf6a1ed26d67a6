"""The sweep on Lambda's fan-out, and the inventory it keeps for the key and bucket guards.

The harness runs the sweep as AWS would, through template.yaml: the schedule starts the planner, the planner
fills the sweep queue, Lambda's SQS event source hands the messages to the workers in batches.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from harness.calls import ApiCalls
from harness.faults import Faults
from harness.org import CENTRAL, EVENTS, HOME, MANAGEMENT, MEMBER_A, MEMBER_B, OTHER
from harness.stack import InProcessStack as Stack
from trailguard.inventory import TableInventory

SCHEDULED = json.loads((EVENTS / "schedule" / "sweep.json").read_text())


def inventory(stack: Stack) -> TableInventory:
    org = stack.org
    return TableInventory(lambda: org.client("dynamodb", CENTRAL), org.state_table)


def summaries(stack: Stack) -> list[dict[str, Any]]:
    stack.org.findings()
    return [item["message"] for item in stack.org.summaries]


def test_the_planner_sends_one_message_per_account_and_the_workers_cover_them_all(
    stack: Stack, api_calls: ApiCalls
) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail")
    org.create_trail(MEMBER_B, "regional-trail", OTHER, multi_region=False)
    org.create_trail(MANAGEMENT, "org-trail", organization=True)

    summary = stack.sweep(SCHEDULED)

    assert summary["schema"] == "trailguard.sweep/1"
    assert summary["accounts"] == len(org.accounts)
    assert summary["trails"] == 3
    assert summary["failures"] == []
    assert summary["unreachable"] == []
    calls = Counter(
        call for call, service in zip(api_calls.calls, api_calls.services, strict=True) if service != "dynamodb"
    )
    assert calls["SendMessageBatch"] == 1  # four accounts, one batch of messages
    # One ListTrails per account (and the planner's one for the organization trails), whatever the regions.
    assert calls["ListTrails"] == len(org.accounts) + 1
    assert calls["DescribeTrails"] == 0
    assert len(summaries(stack)) == 1, "the summary goes out once, from the worker that completes the sweep"


def test_the_sweep_keeps_the_inventory_the_key_and_bucket_guards_read(stack: Stack, api_calls: ApiCalls) -> None:
    org = stack.org
    kept = [
        org.create_trail(MEMBER_A, "audit-trail"),
        org.create_trail(MEMBER_B, "regional-trail", OTHER, multi_region=False),
    ]
    org.client("s3", MEMBER_A).create_bucket(Bucket="team-logs", CreateBucketConfiguration={"LocationConstraint": HOME})
    elsewhere = org.create_trail(MEMBER_A, "team-trail", key=None, bucket="team-logs")

    stack.sweep(SCHEDULED)

    trails = {trail.arn: trail for trail in inventory(stack).trails()}
    assert set(trails) == {*kept, elsewhere}
    assert trails[kept[1]].home_region == OTHER
    assert trails[elsewhere].s3_bucket == "team-logs"
    # The sweep moved it onto the central key: its row is the repaired trail, not the one listed before the repair
    assert trails[elsewhere].kms_key_id == org.key_arn
    assert {t.arn for t in inventory(stack).trails(key_arn=org.key_arn, bucket=org.bucket)} == {*kept, elsewhere}
    organization = inventory(stack).organization()
    assert organization is not None
    assert organization.accounts == frozenset(org.accounts)

    # A key event reads no account and no region: the trails come from the inventory.
    org.findings()
    api_calls.reset()
    stack.send("key/disable_key_rotation.json")
    assert not {"ListTrails", "GetTrail", "DescribeTrails", "DescribeRegions", "AssumeRole"} & set(api_calls.calls)


def test_trail_events_keep_the_inventory_current(stack: Stack) -> None:
    org = stack.org
    stack.sweep(SCHEDULED)
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)

    stack.send("trail/create_trail_no_key.json")

    (trail,) = [trail for trail in inventory(stack).trails() if trail.arn == arn]
    assert trail.kms_key_id == org.key_arn, "kept as repaired, not as first read"

    org.client("cloudtrail", MEMBER_A).delete_trail(Name="audit-trail")
    stack.send("trail/delete_trail.json")

    assert arn not in {trail.arn for trail in inventory(stack).trails()}


def test_a_key_event_before_any_sweep_says_the_inventory_is_empty(stack: Stack) -> None:
    org = stack.org
    kms = org.client("kms", CENTRAL)
    policy = json.loads(kms.get_key_policy(KeyId=org.key_id, PolicyName="default")["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if "GenerateDataKey" not in json.dumps(s)]
    kms.put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))

    stack.send("key/put_key_policy.json")

    (message,) = [item["message"] for item in org.findings()]
    (encrypt,) = [item for item in message["findings"] if item["check"] == "key.cloudtrail-encrypt"]
    assert any("until the first sweep builds it" in problem for problem in encrypt["observed"]["scope_problems"])


def test_per_region_listing_finds_the_same_trails(stack: Stack, api_calls: ApiCalls) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail")
    org.create_trail(MEMBER_B, "regional-trail", OTHER, multi_region=False)
    stack.configure(TRAILGUARD_TRAIL_LISTING="regional")

    summary = stack.sweep(SCHEDULED)

    assert summary["trails"] == 2
    listed = sum(1 for call in api_calls.calls if call == "ListTrails")
    assert listed == (len(org.accounts) + 1) * 2  # every account (and the organization trails), both regions


def test_a_message_no_worker_can_handle_goes_to_the_dead_letter_queue(stack: Stack) -> None:
    org = stack.org
    sqs = org.client("sqs", CENTRAL)
    sqs.send_message(QueueUrl=org.sweep_queue_url, MessageBody=json.dumps({"schema": "something else"}))

    summary = stack.sweep(SCHEDULED)

    assert summary["accounts"] == len(org.accounts)
    assert summary["failures"] == []
    assert stack.dead_letters() == [{"schema": "something else"}]


def lose_messages(stack: Stack) -> None:
    """The sweep queue's messages are lost: no worker reports."""
    sqs = stack.org.client("sqs", CENTRAL)
    while batch := sqs.receive_message(QueueUrl=stack.org.sweep_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            sqs.delete_message(QueueUrl=stack.org.sweep_queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_a_sweep_left_unfinished_is_summarized_by_the_next_planner(stack: Stack) -> None:
    org = stack.org
    stack.invoke(stack.schedule_target().logical_id, SCHEDULED)
    lose_messages(stack)
    stack.invoke(stack.schedule_target().logical_id, SCHEDULED)  # a second run soon after leaves it alone
    lose_messages(stack)
    stack.later(3 * 3600)  # every delivery of its messages is over

    stack.sweep(SCHEDULED)

    # both unfinished sweeps are summarized, then the new sweep
    *unfinished, last = summaries(stack)
    never = f"{len(org.accounts)} account(s) never reported: their messages are in the sweep's dead-letter queue"
    assert [summary["failures"] for summary in unfinished] == [[never], [never]]
    assert last["failures"] == []
    assert last["accounts"] == len(org.accounts)


def test_the_workers_use_the_planner_regions(stack: Stack, api_calls: ApiCalls) -> None:
    stack.configure(TRAILGUARD_REGIONS="")  # the planner finds the enabled regions once for the whole sweep

    stack.sweep(SCHEDULED)

    assert api_calls.counter()["DescribeRegions"] == 1
    assert HOME in summaries(stack)[0]["regions"]


def test_a_record_is_left_for_its_next_delivery_when_the_invocation_is_about_to_time_out(stack: Stack) -> None:
    from dataclasses import replace

    from harness.routing import invoke, lambda_context
    from harness.stack import sqs_record

    org = stack.org
    stack.invoke(stack.schedule_target().logical_id, SCHEDULED)
    sqs = org.client("sqs", CENTRAL)
    (message,) = sqs.receive_message(QueueUrl=org.sweep_queue_url, MaxNumberOfMessages=1, AttributeNames=["All"])[
        "Messages"
    ]
    spec, _ = stack.queue_consumer("SweepQueue")
    context = replace(lambda_context(spec, account=CENTRAL), remaining_ms=5_000)

    response = invoke(spec, {"Records": [sqs_record(message, org.queue_arn(org.sweep_queue_url))]}, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert inventory(stack).recent_sweeps(1)[0].reported == 0


def test_a_summary_that_could_not_be_published_goes_out_with_the_next_sweep(stack: Stack, faults: Faults) -> None:
    org = stack.org
    faults.fail("Publish", "InternalError", "SNS is down", 500, when="trailguard.sweep/1")

    stack.sweep(SCHEDULED)  # every account reports; each delivery of the last one fails to publish

    assert summaries(stack) == []
    (stuck,) = stack.dead_letters()
    assert stuck["schema"] == "trailguard.sweep-account/1"
    faults.clear()
    stack.later(3 * 3600)

    stack.sweep(SCHEDULED)

    earlier, latest = summaries(stack)
    assert earlier["accounts"] == latest["accounts"] == len(org.accounts)
    assert earlier["failures"] == []  # every account had reported: only the summary was late
