"""Run the deployed trail function's code against the deployed resources, and follow the finding to SNS.

A member creates a trail without a KMS key; the UpdateTrail event of events/ for that trail is given to
the handler unpacked from the packaged zip (its layer's zip on sys.path), with the deployed function's
environment and its role's credentials. The trail must end on the central key, one finding must reach
the deployed findings topic, and the same event again must publish nothing (the deployed idempotency
table). Moto cannot run Lambda without Docker, hence the handler runs in a process of its own
(`invoke`, which sweep_run.py uses for the planner and the workers too).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import Deployment, Timeouts
from harness.deploy_local.tools import StepError, run_tool, tool_environment
from harness.deploy_local.transform import artifact_locations
from harness.deploy_local.verify import StackView, lambda_environment, sample_events
from harness.org import BUCKET, MEMBER_A

FUNCTION = "TrailGuardFunction"
EVENT = "trail/update_trail_remove_key_console.json"
TRAIL_NAME = "audit-trail"
RUNNER = Path(__file__).with_name("runner.py")


def unpack(data: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            if Path(member).is_absolute() or ".." in Path(member).parts:
                raise StepError(f"unsafe path {member!r} in a packaged zip")
        archive.extractall(folder)
    return folder


@dataclass(frozen=True)
class Deployed:
    """One deployed function, ready to run as Lambda would: its configuration, the unpacked function zip (the
    task root) and the unpacked zips of the template's own layers it uses."""

    logical_id: str
    configuration: dict[str, Any]
    task_root: Path
    layers: list[str]

    def ran_packaged_code(self, result: dict[str, Any]) -> bool:
        """The handler came from the function zip and trailguard from a layer zip."""
        modules = result.get("modules", {})
        return _under(modules.get(self.configuration["Handler"].rpartition(".")[0]), self.task_root) and any(
            _under(modules.get("trailguard"), Path(layer)) for layer in self.layers
        )


def deployed_function(deployment: Deployment, view: StackView, logical_id: str) -> Deployed:
    """Download and unpack the packaged code of a deployed function and of its layers."""
    run_dir = deployment.work / "run"
    s3 = view.client("s3")
    locations = artifact_locations(deployment.translated)
    function = deployment.translated["Resources"][logical_id]["Properties"]
    layer_ids = [layer["Ref"] for layer in function["Layers"] if isinstance(layer, dict) and layer["Ref"] in locations]
    task_root = unpack(_download(s3, locations[logical_id]), run_dir / logical_id)
    layers = [str(unpack(_download(s3, locations[layer_id]), run_dir / layer_id)) for layer_id in layer_ids]
    configuration = view.client("lambda").get_function_configuration(FunctionName=view.physical(logical_id))
    return Deployed(logical_id, configuration, task_root, layers)


def check_handler(
    checks: Checks, deployment: Deployment, view: StackView, timeouts: Timeouts, findings_queue: str
) -> None:
    checks.section(f"deployed {FUNCTION} code, run on {EVENT} (member {MEMBER_A})")
    function = deployed_function(deployment, view, FUNCTION)

    # Given a trail in the member account without a KMS key (`findings_queue` is subscribed to the findings topic)
    cloudtrail = view.cloud.client("cloudtrail", MEMBER_A)
    trail_arn = cloudtrail.create_trail(
        Name=TRAIL_NAME, S3BucketName=BUCKET, IsMultiRegionTrail=True, EnableLogFileValidation=True
    )["TrailARN"]
    cloudtrail.start_logging(Name=trail_arn)
    key_arn = view.values["CentralKeyArn"]
    event = dict(next(e for name, e in sample_events(key_arn.rsplit("/", 1)[1])["trail"] if name == EVENT))

    # When the deployed handler runs on the event
    first = invoke(deployment, view, function, event, timeouts, "first")

    # Then the trail is on the central key, and one finding reached the topic
    checks.equal(f"{FUNCTION} returned remediated", "remediated", first["result"].get("result"))
    checks.check(
        f"{FUNCTION} ran the packaged code: app from the function zip, trailguard from the layer zip",
        function.ran_packaged_code(first),
        json.dumps(first["modules"]),
    )
    trail = cloudtrail.get_trail(Name=trail_arn)["Trail"]
    checks.equal(f"trail {TRAIL_NAME} of {MEMBER_A} now on the central key", key_arn, trail.get("KmsKeyId"))
    findings = drain(view, findings_queue, timeouts.finding, want=1)
    checks.equal("one finding reached the deployed findings topic", 1, len(findings))
    if findings:
        message, attributes = findings[0]
        encryption = [item for item in message.get("findings", []) if item.get("check") == "trail.encryption"]
        checks.equal(
            "finding: the trail, REMEDIATED, trail.encryption repaired by cloudtrail:UpdateTrail",
            [
                {"type": "trail", "arn": trail_arn, "account": MEMBER_A, "region": view.cloud.region},
                "REMEDIATED",
                "REMEDIATED",
                "cloudtrail:UpdateTrail",
            ],
            [
                message.get("resource"),
                message.get("status"),
                (encryption or [{}])[0].get("status"),
                ((encryption or [{}])[0].get("remediation") or {}).get("action"),
            ],
        )
        checks.equal(
            "finding attributes for subscription filters: status, account, resource type",
            {"status": "REMEDIATED", "account": MEMBER_A, "resource_type": "trail"},
            {name: attributes.get(name) for name in ("status", "account", "resource_type")},
        )
    table = view.physical("IdempotencyTable")
    records = view.client("dynamodb").scan(TableName=table)["Items"]
    checks.check(
        f"the event's idempotency record is in the deployed table {table}",
        any(item.get("status", {}).get("S") == "COMPLETED" for item in records),
        json.dumps(records)[:300],
    )

    # And the same event again (a redelivery) publishes nothing more
    second = invoke(deployment, view, function, event, timeouts, "replay")
    checks.equal("the same event again returns the stored result", first["result"], second["result"])
    checks.equal("the same event again publishes nothing", 0, len(drain(view, findings_queue, 2.0, want=1)))


def _download(s3: Any, location: tuple[str, str]) -> bytes:
    bucket, key = location
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def _under(path: str | None, folder: Path) -> bool:
    return bool(path) and Path(str(path)).resolve().is_relative_to(folder.resolve())


def subscribe_queue(view: StackView, topic_arn: str) -> str:
    """A queue of the stack's account subscribed to `topic_arn`: what the topic publishes, for the checks."""
    sqs = view.client("sqs")
    queue_url: str = sqs.create_queue(QueueName="deploy-local-findings")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    view.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


Published = tuple[dict[str, Any], dict[str, str]]  # a message of the topic, and its message attributes


def drain(
    view: StackView,
    queue_url: str,
    seconds: float,
    want: int = 1,
    until: Callable[[list[Published]], bool] | None = None,
) -> list[Published]:
    """Messages of the queue (SNS envelopes unwrapped) until `want` arrived (or `until` holds) or `seconds` passed."""
    sqs = view.client("sqs")
    received: list[Published] = []
    done = until or (lambda messages: len(messages) >= want)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done(received):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            envelope = json.loads(message["Body"])
            attributes = {name: value["Value"] for name, value in envelope.get("MessageAttributes", {}).items()}
            received.append((json.loads(envelope["Message"]), attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return received


def invoke(
    deployment: Deployment,
    view: StackView,
    function: Deployed,
    event: dict[str, Any],
    timeouts: Timeouts,
    label: str,
) -> dict[str, Any]:
    """The handler in `python -I runner.py`, with the environment Lambda would give the deployed function."""
    configuration = function.configuration
    name = configuration["FunctionName"]
    role = view.cloud.assume(configuration["Role"], session_name=name)
    environment = tool_environment(os.environ, endpoint=view.cloud.endpoint, region=view.cloud.region, credentials=role)
    # Lambda holds every variable as a string (CloudFormation passes them so; moto keeps numbers as numbers).
    environment.update(lambda_environment(configuration.get("Environment", {}).get("Variables", {})))
    environment.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(configuration["MemorySize"]),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{configuration['Runtime']}",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }
    )
    run_dir = deployment.work / "run"
    request = {
        "task_root": str(function.task_root),
        "layers": function.layers,
        "handler": configuration["Handler"],
        "event": event,
        "report_modules": ["trailguard"],
        "context": {
            "function_name": name,
            "invoked_function_arn": configuration["FunctionArn"],
            "memory_limit_in_mb": configuration["MemorySize"],
            "aws_request_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"deploy-local/{name}/{label}")),
            "log_group_name": f"/aws/lambda/{name}",
            "log_stream_name": "2026/01/01/[$LATEST]deploylocal",
            "deadline_ms": int(configuration["Timeout"]) * 1000,
        },
    }
    request_file, result_file = run_dir / f"{label}.request.json", run_dir / f"{label}.result.json"
    request_file.write_text(json.dumps(request))
    result_file.unlink(missing_ok=True)
    run_tool(
        f"{name} handler ({label})",
        [sys.executable, "-I", RUNNER, request_file, result_file],
        environment=environment,
        timeout=float(configuration["Timeout"]) + timeouts.handler_margin,
        cwd=run_dir,
        log_file=deployment.work / "logs" / f"handler-{label}.log",
    )
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result
