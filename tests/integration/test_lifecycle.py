"""Findings a security team can live with: a message only on a change, RESOLVED, reminders, account coverage."""

from __future__ import annotations

from typing import Any

from harness.org import CENTRAL, MANAGEMENT, MEMBER_A, MEMBER_B, OTHER
from harness.stack import InProcessStack as Stack

SCHEDULED = {"version": "0", "id": "sweep-1", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}}


def sweep(stack: Stack) -> list[dict[str, Any]]:
    stack.sweep(SCHEDULED)
    return [item["message"] for item in stack.org.findings()]


def covered_organization(stack: Stack) -> str:
    """An organization trail records every account; each member also has its own compliant trail."""
    org = stack.org
    arn = org.create_trail(MANAGEMENT, "org-trail", organization=True)
    org.create_trail(MEMBER_A, "audit-trail")
    org.create_trail(MEMBER_B, "audit-trail", OTHER)
    return arn


def test_a_second_sweep_over_unchanged_drift_says_nothing_a_fix_by_hand_is_resolved_once(stack: Stack) -> None:
    # Given report mode and two drifted trails in a covered organization
    org = stack.org
    stack.configure(TRAILGUARD_MODE="report")
    covered_organization(stack)
    org.client("cloudtrail", MEMBER_A).stop_logging(Name="audit-trail")
    org.client("cloudtrail", MEMBER_B, OTHER).update_trail(Name="audit-trail", EnableLogFileValidation=False)

    first = sweep(stack)
    second = sweep(stack)
    org.client("cloudtrail", MEMBER_A).start_logging(Name="audit-trail")  # fixed by hand
    third = sweep(stack)

    assert {message["resource"]["account"] for message in first} == {MEMBER_A, MEMBER_B}
    assert all(message["status"] == "OPEN" for message in first)
    assert second == []
    (resolved,) = third
    assert resolved["status"] == "RESOLVED"
    assert resolved["resource"]["account"] == MEMBER_A
    assert [(f["check"], f["status"]) for f in resolved["findings"]] == [("trail.logging", "RESOLVED")]
    assert len(org.summaries) == 3  # and each sweep said what it covered
    assert org.summaries[1]["message"]["changed"] == []


def test_an_open_finding_is_reminded_once_per_period(stack: Stack) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_MODE="report", TRAILGUARD_REMIND_HOURS="24")
    covered_organization(stack)
    org.client("cloudtrail", MEMBER_A).stop_logging(Name="audit-trail")
    sweep(stack)

    stack.later(23 * 3600)
    early = sweep(stack)
    stack.later(2 * 3600)
    due = sweep(stack)
    again = sweep(stack)

    assert early == []
    (reminder,) = due
    assert reminder["trigger"]["type"] == "reminder"
    assert reminder["status"] == "OPEN"
    assert again == []


def test_a_single_region_trail_in_a_covered_account_is_no_finding(stack: Stack) -> None:
    org = stack.org
    covered_organization(stack)
    org.create_trail(MEMBER_A, "region-only", OTHER, multi_region=False)

    assert sweep(stack) == []


def test_an_account_no_trail_records_is_one_coverage_finding(stack: Stack) -> None:
    # Given no organization trail: member A has its own multi-region trail, member B a single-region one only
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail")
    org.create_trail(MEMBER_B, "region-only", OTHER, multi_region=False)
    org.create_trail(MANAGEMENT, "audit-trail")
    org.create_trail(CENTRAL, "audit-trail")

    messages = sweep(stack)

    (message,) = messages
    assert message["resource"]["type"] == "account"
    assert message["resource"]["account"] == MEMBER_B
    assert message["severity"] == "HIGH"
    assert [f["check"] for f in message["findings"]] == ["account.coverage"]


def test_an_organization_trail_deleted_without_its_event_is_critical_at_the_next_sweep(stack: Stack) -> None:
    org = stack.org
    covered_organization(stack)
    assert sweep(stack) == []

    org.client("cloudtrail", MANAGEMENT).delete_trail(Name="org-trail")  # the DeleteTrail event is lost
    messages = sweep(stack)

    by_account = {message["resource"]["account"]: message for message in messages}
    assert by_account[MANAGEMENT]["severity"] == "CRITICAL"
    assert by_account[MANAGEMENT]["findings"][0]["check"] == "account.coverage"
    assert MEMBER_A not in by_account  # still recorded by its own multi-region trail


def test_security_hub_holds_one_finding_per_open_finding_archived_once_resolved(stack: Stack) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_MODE="report", TRAILGUARD_SECURITY_HUB="true")
    covered_organization(stack)
    org.client("cloudtrail", MEMBER_A).stop_logging(Name="audit-trail")
    org.client("cloudtrail", MEMBER_A).update_trail(Name="audit-trail", EnableLogFileValidation=False)
    hub = org.client("securityhub", CENTRAL)

    sweep(stack)
    active = hub.get_findings()["Findings"]
    org.client("cloudtrail", MEMBER_A).start_logging(Name="audit-trail")
    sweep(stack)
    after = {finding["GeneratorId"]: finding for finding in hub.get_findings()["Findings"]}

    assert sorted(finding["GeneratorId"] for finding in active) == [
        "trailguard/trail.log-file-validation",
        "trailguard/trail.logging",
    ]
    assert {finding["RecordState"] for finding in active} == {"ACTIVE"}
    assert active[0]["AwsAccountId"] == CENTRAL  # imported to the central account's own product
    assert active[0]["ProductFields"]["trailguard/account"] == MEMBER_A
    assert active[0]["Resources"][0]["Type"] == "AwsCloudTrailTrail"
    assert len(after) == 2  # updated in place, not duplicated
    assert after["trailguard/trail.logging"]["RecordState"] == "ARCHIVED"
    assert after["trailguard/trail.logging"]["Workflow"]["Status"] == "RESOLVED"
    assert after["trailguard/trail.log-file-validation"]["RecordState"] == "ACTIVE"


def test_a_missing_forwarder_is_found_by_the_sweep_and_not_resolved_by_an_event(stack: Stack) -> None:
    org = stack.org
    covered_organization(stack)
    events = org.client("events", MEMBER_A, OTHER)  # the forwarder of us-east-1 deleted: its events are lost
    events.remove_targets(Rule="TrailGuardEventForwarder", Ids=["central-bus"])
    events.delete_rule(Name="TrailGuardEventForwarder")

    (message,) = sweep(stack)
    assert message["resource"]["account"] == MEMBER_A
    assert [(f["check"], f["status"]) for f in message["findings"]] == [("account.forwarding", "OPEN")]
    assert "us-east-1: rule TrailGuardEventForwarder is missing" in message["findings"][0]["summary"]

    # An event about the account evaluates its coverage, which cannot tell about forwarding: nothing resolved
    org.client("cloudtrail", MEMBER_A).stop_logging(Name="audit-trail")
    stack.send("trail/stop_logging.json")
    assert all(item["message"]["resource"]["type"] == "trail" for item in org.findings())


def test_an_exempt_trail_that_cannot_be_read_is_still_not_reported(stack: Stack) -> None:
    from harness.faults import injecting

    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    stack.configure(TRAILGUARD_EXEMPT_TRAILS=f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/audit-*;reason=vendor")
    with injecting() as faults:
        faults.fail("GetTrail", "AccessDeniedException", "denied", 403)
        result = stack.send("trail/create_trail_no_key.json")

    assert result["result"] == "exempt"
    assert org.findings() == []
