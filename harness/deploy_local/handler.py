"""Run the deployed trail function's code against the deployed resources, and follow the finding to SNS.

A member creates a trail without a KMS key; the UpdateTrail event of events/ for that trail is given to
the handler unpacked from the packaged zip (its layer's zip on sys.path), with the deployed function's
environment and its role's credentials. The trail must end on the central key, one finding must reach
the deployed findings topic, and the same event again must publish nothing (the deployed idempotency
table). Moto cannot run Lambda without Docker, hence the handler runs in a process of its own.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import Deployment, Timeouts
from harness.deploy_local.tools import StepError, run_tool, tool_environment
from harness.deploy_local.transform import artifact_locations
from harness.deploy_local.verify import StackView, sample_events
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


def check_handler(checks: Checks, deployment: Deployment, view: StackView, timeouts: Timeouts) -> None:
    checks.section(f"deployed {FUNCTION} code, run on {EVENT} (member {MEMBER_A})")
    run_dir = deployment.work / "run"
    s3 = view.client("s3")
    locations = artifact_locations(deployment.translated)
    function = deployment.translated["Resources"][FUNCTION]["Properties"]
    layer_ids = [layer["Ref"] for layer in function["Layers"] if isinstance(layer, dict) and layer["Ref"] in locations]
    task_root = unpack(_download(s3, locations[FUNCTION]), run_dir / FUNCTION)
    layers = [str(unpack(_download(s3, locations[layer_id]), run_dir / layer_id)) for layer_id in layer_ids]

    # Given a trail in the member account without a KMS key, and a queue subscribed to the findings topic
    cloudtrail = view.cloud.client("cloudtrail", MEMBER_A)
    trail_arn = cloudtrail.create_trail(
        Name=TRAIL_NAME, S3BucketName=BUCKET, IsMultiRegionTrail=True, EnableLogFileValidation=True
    )["TrailARN"]
    cloudtrail.start_logging(Name=trail_arn)
    queue_url = _subscribe_queue(view, view.values["FindingsTopic"])
    key_arn = view.values["CentralKeyArn"]
    event = dict(next(e for name, e in sample_events(key_arn.rsplit("/", 1)[1])["trail"] if name == EVENT))

    # When the deployed handler runs on the event
    configuration = view.client("lambda").get_function_configuration(FunctionName=view.physical(FUNCTION))
    first = _invoke(deployment, view, configuration, task_root, layers, event, timeouts, "first")

    # Then the trail is on the central key, and one finding reached the topic
    checks.equal(f"{FUNCTION} returned remediated", "remediated", first["result"].get("result"))
    checks.check(
        f"{FUNCTION} ran the packaged code: app from the function zip, trailguard from the layer zip",
        _under(first["modules"].get("app"), task_root)
        and any(_under(first["modules"].get("trailguard"), Path(layer)) for layer in layers),
        json.dumps(first["modules"]),
    )
    trail = cloudtrail.get_trail(Name=trail_arn)["Trail"]
    checks.equal(f"trail {TRAIL_NAME} of {MEMBER_A} now on the central key", key_arn, trail.get("KmsKeyId"))
    findings = _drain(view, queue_url, timeouts.finding, want=1)
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
    second = _invoke(deployment, view, configuration, task_root, layers, event, timeouts, "replay")
    checks.equal("the same event again returns the stored result", first["result"], second["result"])
    checks.equal("the same event again publishes nothing", 0, len(_drain(view, queue_url, 2.0, want=1)))


def _download(s3: Any, location: tuple[str, str]) -> bytes:
    bucket, key = location
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def _under(path: str | None, folder: Path) -> bool:
    return bool(path) and Path(str(path)).resolve().is_relative_to(folder.resolve())


def _subscribe_queue(view: StackView, topic_arn: str) -> str:
    sqs = view.client("sqs")
    queue_url: str = sqs.create_queue(QueueName="deploy-local-findings")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    view.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def _drain(view: StackView, queue_url: str, seconds: float, want: int) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Messages of the queue (SNS envelopes unwrapped) until `want` arrived or `seconds` passed."""
    sqs = view.client("sqs")
    received: list[tuple[dict[str, Any], dict[str, str]]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(received) < want:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            envelope = json.loads(message["Body"])
            attributes = {name: value["Value"] for name, value in envelope.get("MessageAttributes", {}).items()}
            received.append((json.loads(envelope["Message"]), attributes))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return received


def _invoke(
    deployment: Deployment,
    view: StackView,
    configuration: dict[str, Any],
    task_root: Path,
    layers: list[str],
    event: dict[str, Any],
    timeouts: Timeouts,
    label: str,
) -> dict[str, Any]:
    """The handler in `python -I runner.py`, with the environment Lambda would give the deployed function."""
    name = configuration["FunctionName"]
    role = view.cloud.assume(configuration["Role"], session_name=name)
    environment = tool_environment(os.environ, endpoint=view.cloud.endpoint, region=view.cloud.region, credentials=role)
    environment.update(configuration.get("Environment", {}).get("Variables", {}))
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
        "task_root": str(task_root),
        "layers": layers,
        "handler": configuration["Handler"],
        "event": event,
        "report_modules": ["trailguard"],
        "context": {
            "function_name": name,
            "invoked_function_arn": configuration["FunctionArn"],
            "memory_limit_in_mb": configuration["MemorySize"],
            "aws_request_id": f"00000000-0000-4000-8000-00000000000{1 if label == 'first' else 2}",
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
