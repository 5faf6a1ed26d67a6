"""The scheduled sweep finds and repairs what no event reported, across accounts and regions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.calls import ApiCalls
from harness.faults import Faults
from harness.org import CENTRAL, EVENTS, MEMBER_A, MEMBER_B, OTHER
from harness.stack import InProcessStack as Stack

SCHEDULED = json.loads((EVENTS / "schedule" / "sweep.json").read_text())


@pytest.fixture
def drifted(stack: Stack) -> dict[str, str]:
    """Drift made while events were lost: no event reaches TrailGuard for any of it."""
    org = stack.org
    arns = {
        "drifted": org.create_trail(MEMBER_A, "audit-trail", key=None, logging=False),
        "compliant": org.create_trail(MEMBER_B, "audit-trail", OTHER),
        "exempt": org.create_trail(MEMBER_A, "lab-trail", key=None),
    }
    stack.configure(TRAILGUARD_EXEMPT_TRAILS=LAB)
    org.client("kms", CENTRAL).disable_key_rotation(KeyId=org.key_id)
    org.client("s3", CENTRAL).put_bucket_encryption(
        Bucket=org.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return arns


LAB = f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/lab-*;reason=a lab"


def by_type(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The trail, key and bucket messages by resource type (one each); accounts are looked at apart."""
    resources = [item["message"] for item in findings if item["message"]["resource"]["type"] != "account"]
    messages = {message["resource"]["type"]: message for message in resources}
    assert len(messages) == len(resources), "one message per resource"
    return messages


def accounts(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        item["message"]["resource"]["account"]: item["message"]
        for item in findings
        if item["message"]["resource"]["type"] == "account"
    }


def test_sweep_repairs_what_events_missed_and_reports_each_resource_once(stack: Stack, drifted: dict[str, str]) -> None:
    org = stack.org

    summary = stack.sweep(SCHEDULED)

    assert summary["trails"] == 3
    assert summary["failures"] == []
    trail = org.trail(drifted["drifted"])
    assert trail["KmsKeyId"] == org.key_arn
    assert trail["IsLogging"] is True
    assert "KmsKeyId" not in org.trail(drifted["exempt"])
    messages = by_type(org.findings())
    assert set(messages) == {"trail", "key", "bucket"}
    for message in messages.values():
        assert message["trigger"]["type"] == "sweep"
        assert message["status"] == "REMEDIATED"
    assert messages["trail"]["resource"]["arn"] == drifted["drifted"]
    assert {item["check"] for item in messages["key"]["findings"]} == {"key.rotation"}
    assert {item["check"] for item in messages["bucket"]["findings"]} == {"bucket.encryption"}


def test_a_second_sweep_changes_nothing_and_says_nothing(
    stack: Stack, drifted: dict[str, str], api_calls: ApiCalls
) -> None:
    stack.sweep(SCHEDULED)
    stack.org.findings()
    api_calls.reset()

    summary = stack.sweep(SCHEDULED)

    assert api_calls.writes() == []
    assert stack.org.findings() == []  # open findings already notified are not sent again
    assert set(summary["outcomes"]) <= {"compliant", "exempt", "unchanged"}
    assert summary["outcomes"]["exempt"] == 1
    assert summary["changed"] == []


def test_sweep_in_report_mode_writes_nothing(stack: Stack, drifted: dict[str, str], api_calls: ApiCalls) -> None:
    stack.configure(TRAILGUARD_MODE="report", TRAILGUARD_EXEMPT_TRAILS=LAB)
    api_calls.reset()

    stack.sweep(SCHEDULED)

    assert api_calls.writes() == []
    messages = by_type(stack.org.findings())
    assert set(messages) == {"trail", "key", "bucket"}
    assert all(message["status"] == "OPEN" for message in messages.values())


def test_an_account_without_the_member_stack_is_named_and_the_others_are_swept(
    stack: Stack, drifted: dict[str, str], faults: Faults
) -> None:
    faults.fail("AssumeRole", "AccessDenied", "no such role", 403, when=f"{MEMBER_B}:role/TrailGuardRemediation")

    summary = stack.sweep(SCHEDULED)

    assert any(MEMBER_B in problem for problem in summary["unreachable"])
    assert stack.org.trail(drifted["drifted"])["KmsKeyId"] == stack.org.key_arn


def test_a_throttled_account_is_tried_again_then_named_and_does_not_stop_the_sweep(
    stack: Stack, drifted: dict[str, str], faults: Faults
) -> None:
    faults.fail("GetTrail", "ThrottlingException", "Rate exceeded", when=drifted["compliant"])

    summary = stack.sweep(SCHEDULED)

    # Its message was delivered as often as the queue allows; the last attempt names it instead of failing.
    assert any("ThrottlingException" in problem and MEMBER_B in problem for problem in summary["unreachable"])
    assert any("after 3 attempts" in problem for problem in summary["unreachable"])
    assert stack.org.trail(drifted["drifted"])["KmsKeyId"] == stack.org.key_arn
    assert stack.dead_letters() == []
