"""Nothing lost: a change TrailGuard made is reported exactly once, whatever fails after the write.

Each failure point is injected after the write; the invocation fails (Lambda retries it), and the retry, which
finds the resource already repaired, reports the change the first invocation made: one message, REMEDIATED.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness.faults import Faults
from harness.org import CENTRAL, MEMBER_A
from harness.stack import InProcessStack as Stack
from tests.conftest import only

SWEEP = {"version": "0", "id": "sweep-1", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}

# Where a report can be lost after the write: (operation, error code, calls let through first).
FAILURE_POINTS = [
    pytest.param("Publish", "Throttling", 0, id="throttled Publish"),
    pytest.param("Publish", "KMSThrottlingException", 0, id="the topic's key throttled"),
    pytest.param("GetTrail", "ThrottlingException", 1, id="throttled confirming GetTrail"),
]


def deliver_twice(stack: Stack, faults: Faults, sample: str, operation: str, code: str, after: int) -> dict[str, Any]:
    faults.fail(operation, code, "Rate exceeded", after=after)
    with pytest.raises(ClientError, match=code):
        stack.send(sample)
    assert stack.org.findings() == []  # the first invocation reported nothing...
    faults.clear()
    return stack.send(sample)  # ...and Lambda's retry delivers the same event again


@pytest.mark.parametrize(("operation", "code", "after"), FAILURE_POINTS)
def test_a_trail_repair_is_reported_exactly_once(
    stack: Stack, faults: Faults, operation: str, code: str, after: int
) -> None:
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)

    result = deliver_twice(stack, faults, "trail/create_trail_no_key.json", operation, code, after)

    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    assert result["result"] == "remediated"
    message = only(org.findings())["message"]
    assert message["status"] == "REMEDIATED"
    assert [item["check"] for item in message["findings"]] == ["trail.encryption"]
    assert message["findings"][0]["remediation"]["action"] == "cloudtrail:UpdateTrail"
    assert stack.send("trail/create_trail_no_key.json")["result"] == "compliant"
    assert org.findings() == []


def test_an_enabled_key_is_reported_exactly_once(stack: Stack, faults: Faults) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail")
    org.client("kms", CENTRAL).disable_key(KeyId=org.key_id)

    result = deliver_twice(stack, faults, "key/disable_key.json", "Publish", "Throttling", 0)

    assert org.client("kms", CENTRAL).describe_key(KeyId=org.key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert result["result"] == "remediated"
    message = only(org.findings())["message"]
    assert {item["check"]: item["status"] for item in message["findings"]} == {"key.state": "REMEDIATED"}


def test_the_sweep_reports_a_change_whose_event_never_came_back(stack: Stack, faults: Faults) -> None:
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    faults.fail("Publish", "Throttling", "Rate exceeded")
    with pytest.raises(ClientError):
        stack.send("trail/create_trail_no_key.json")
    faults.clear()

    stack.sweep(SWEEP)  # the event's retries went to the dead-letter queue

    (message,) = [item["message"] for item in org.findings() if item["message"]["resource"]["type"] == "trail"]
    assert message["status"] == "REMEDIATED"
    assert message["trigger"]["type"] == "event"  # reported as the event that caused it
