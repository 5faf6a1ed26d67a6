"""Recorded CloudTrail events from the field, through template.yaml's rules and the real handlers under moto.

The records are not part of the repository: a folder of them (one JSON file each, as their publishers put
them online) is placed beside it, named by TRAILGUARD_REAL_EVENTS or found as `real-events` in the `shared`
folder next to the checkout; the tests skip, saying so, when there is none. Most are bare CloudTrail
records: each is put in the envelope EventBridge gives an "AWS API Call via CloudTrail" event (source from
the eventSource, account and region of the call, the record as `detail`). Two came in an envelope already,
and keep it.

Every record is delivered as EventBridge would (to each function whose rule matches) and, when no rule
matches, to the function whose rule names its eventSource (and, if it has one, its eventName), as a
redelivery would. No handler may raise. A well-formed record of a handled eventName is evaluated, or
ignored for a stated reason (a failed call, another key, another bucket, a trail that does not exist):
never dropped. The records that are not well formed, because their publisher scrambled or redacted a
field that names the resource, are listed in MALFORMED with the reason they must be dropped for.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from harness.calls import ApiCalls
from harness.org import HOME, MEMBER_A
from harness.stack import InProcessStack as Stack
from harness.template import REPO_ROOT
from tests.integration import without_aws
from trailguard.events import API_CALL

REAL_EVENTS = Path(os.environ.get("TRAILGUARD_REAL_EVENTS") or REPO_ROOT.parent / "shared" / "real-events")

pytestmark = pytest.mark.skipif(
    not REAL_EVENTS.is_dir(),
    reason=f"the recorded events are not beside the repository ({REAL_EVENTS} is absent)",
)

# file -> what makes it unusable, as the drop reason says it
MALFORMED = {
    "elastic-beats__CreateTrail__1.json": "account",  # 13-digit account id (0123456789012)
    "elastic-beats__DeleteTrail__1.json": "account",
    "elastic-beats__StartLogging__1.json": "account",
    "elastic-beats__UpdateTrail__1.json": "account",
    "elastic-int__DisableKey__1.json": "account",  # 13-digit account id
    "elastic-int__ScheduleKeyDeletion__1.json": "account",  # 9-digit account id
    "stratus__DeleteTrail__1.json": "awsRegion",  # scrambled region megov-westwest-1r
    "stratus__StopLogging__1.json": "awsRegion",  # apiso-centralnorth-2r
    "stratus__PutEventSelectors__1.json": "awsRegion",  # cn-northsouth-2r
    "streamalert__UpdateTrail__1.json": "requestParameters.name",  # the trail name redacted to "..."
    "streamalert__PutBucketAcl__1.json": "detail-type",  # its envelope is redacted: "...", account 12345
}
ENVELOPE_NAMESPACE = uuid.UUID("9b1f7f3e-5a53-4c63-9d0c-2f1b6d7a8e41")


def enveloped(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record as EventBridge delivers it; an event that came in an envelope keeps its own."""
    if "detail" in record:
        return record
    return {
        "version": "0",
        "id": str(uuid.uuid5(ENVELOPE_NAMESPACE, name)),
        "detail-type": API_CALL,
        "source": "aws." + str(record.get("eventSource", "")).split(".")[0],
        "account": record.get("recipientAccountId"),
        "time": envelope_time(record.get("eventTime")),
        "region": record.get("awsRegion"),
        "resources": [],
        "detail": record,
    }


def envelope_time(event_time: Any) -> str:
    """EventBridge writes the call's time in ISO 8601; a record re-shaped by its publisher may not."""
    try:
        return datetime.fromisoformat(str(event_time)).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return "2024-01-01T00:00:00Z"


def rule_functions(stack: Stack, record: dict[str, Any]) -> list[str]:
    """The functions whose rule names the record's eventSource and eventName, whatever else the rule asks."""
    names = []
    for spec in stack.specs:
        for rule in spec.rules:
            wanted = rule.pattern.get("detail", {})
            if record.get("eventSource") in wanted.get("eventSource", ()) and (
                record.get("eventName") in wanted.get("eventName", ())
            ):
                names.append(spec.logical_id)
    return names


def source_function(stack: Stack, record: dict[str, Any]) -> list[str]:
    """The function whose rule names the record's eventSource (for an eventName no rule handles)."""
    return [
        spec.logical_id
        for spec in stack.specs
        if any(
            record.get("eventSource") in rule.pattern.get("detail", {}).get("eventSource", ()) for rule in spec.rules
        )
    ]


def test_recorded_events_from_the_field_never_crash_and_well_formed_ones_are_never_dropped(
    stack: Stack, api_calls: ApiCalls
) -> None:
    files = sorted(path for path in REAL_EVENTS.glob("*.json"))
    assert len(files) >= 30, f"expected the recorded events in {REAL_EVENTS}"
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    routed = 0
    for path in files:
        record = json.loads(path.read_text())
        event = enveloped(path.name, record)
        detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
        targets = [spec.logical_id for spec in stack.targets(event)]
        routed += bool(targets)
        handled = rule_functions(stack, detail)
        for function in targets or handled or source_function(stack, detail):
            result = stack.invoke(function, event)  # a handler that raises fails the test: a crash
            kind = f"{result['result']}" + (" (handled)" if function in handled else " (not handled)")
            outcomes[kind] += 1
            expected_reason = MALFORMED.get(path.name)
            if expected_reason is not None:
                if result["result"] != "dropped" or expected_reason not in result.get("reason", ""):
                    wrong.append(f"{path.name}: expected dropped for {expected_reason}, got {result}")
            elif result["result"] == "dropped":
                wrong.append(f"{path.name}: a well-formed event was dropped: {result['reason']}")
            elif result["result"] == "ignored" and not result.get("reason"):
                wrong.append(f"{path.name}: ignored without a reason")

    print(
        f"\nrecorded events: {len(files)} files, {sum(outcomes.values())} invocations ({routed} routed by a rule), "
        f"0 crashes, outcomes {dict(sorted(outcomes.items()))}, writes {api_calls.writes()}"
    )
    assert wrong == []
    assert set(MALFORMED) <= {path.name for path in files}
    # None of these events is about the simulated organization's resources: nothing may change.
    assert api_calls.writes() == []


def test_the_failed_call_on_record_is_ignored_for_its_error(stack: Stack) -> None:
    event = enveloped("awsdocs-ct__UpdateTrail__1.json", read("awsdocs-ct__UpdateTrail__1.json"))

    result = stack.invoke("TrailGuardFunction", event)

    assert result == {"result": "ignored", "reason": "the call failed with TrailNotFoundException"}


@pytest.mark.parametrize(
    "name",
    [
        "streamalert__PutKeyPolicy__1.json",  # userIdentity.type "...", accountId 12345, a public policy string
        "panther__PutKeyPolicy__1.json",  # SSO role, non-ISO eventTime, policy string with conditions
        "awsdocs-kms__PutKeyPolicy__1.json",  # a pretty-printed policy string
    ],
)
def test_a_key_policy_event_about_another_key_is_ignored_whatever_its_caller_looks_like(
    stack: Stack, name: str
) -> None:
    result = stack.invoke("KeyGuardFunction", enveloped(name, read(name)))

    assert result == {"result": "ignored", "reason": "the event is about another key"}


def test_the_role_of_a_recorded_sso_caller_is_known() -> None:
    from trailguard.events import parse_api_call

    event = parse_api_call(enveloped("panther__PutKeyPolicy__1.json", read("panther__PutKeyPolicy__1.json")))

    assert event.record.userIdentity.role_name is not None
    assert event.record.userIdentity.role_name.startswith("AWSReservedSSO_")


def read(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(Path(REAL_EVENTS / name).read_text())
    return record


def transplanted(stack: Stack, record: dict[str, Any]) -> dict[str, Any]:
    """The record moved onto the simulated organization's resources: the account, region and resource
    identifiers are ours; every field that describes the caller or the call stays as recorded."""
    org = stack.org
    record = json.loads(json.dumps(record.get("detail", record)))
    source = record.get("eventSource")
    request = record["requestParameters"] if isinstance(record.get("requestParameters"), dict) else {}
    response = record["responseElements"] if isinstance(record.get("responseElements"), dict) else {}
    record["awsRegion"] = HOME
    if source == "cloudtrail.amazonaws.com":
        record["recipientAccountId"] = MEMBER_A
        arn = f"arn:aws:cloudtrail:{HOME}:{MEMBER_A}:trail/audit-trail"
        for block, field in ((request, "name"), (request, "trailName"), (response, "trailARN")):
            if field in block:
                block[field] = arn if str(block[field]).startswith("arn:") or field == "trailARN" else "audit-trail"
    elif source == "kms.amazonaws.com":
        record["recipientAccountId"] = org.central
        for block in (request, response):
            if "keyId" in block:
                block["keyId"] = org.key_arn
    else:
        record["recipientAccountId"] = org.central
        if "bucketName" in request:
            request["bucketName"] = org.bucket
    return enveloped(str(uuid.uuid4()), record)


def test_recorded_events_moved_onto_our_resources_are_evaluated_whatever_their_caller_looks_like(
    stack: Stack,
) -> None:
    # Every record of a handled eventName, moved onto our trail, key or bucket, gets as far as reading AWS
    # (a failed call is ignored for its error): the recorded callers never stop an evaluation.
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    for path in sorted(REAL_EVENTS.glob("*.json")):
        event = transplanted(stack, json.loads(path.read_text()))
        failed = "errorCode" in event["detail"]
        for function in rule_functions(stack, event["detail"]):
            outcome = without_aws.decide(event, function)
            outcomes[outcome] += 1
            if outcome != ("ignored" if failed else "evaluated"):
                wrong.append(f"{path.name} -> {outcome}")

    print(f"\nrecorded events on our resources: {sum(outcomes.values())} decisions, {dict(sorted(outcomes.items()))}")
    assert wrong == []
    assert outcomes["evaluated"] >= 20


def test_recorded_trail_events_moved_onto_our_trail_repair_it_end_to_end(stack: Stack) -> None:
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None)
    org.client("cloudtrail", MEMBER_A).stop_logging(Name=arn)
    outcomes: Counter[str] = Counter()
    for path in sorted(REAL_EVENTS.glob("*.json")):
        event = transplanted(stack, json.loads(path.read_text()))
        if "TrailGuardFunction" in rule_functions(stack, event["detail"]) and "errorCode" not in event["detail"]:
            outcomes[stack.invoke("TrailGuardFunction", event)["result"]] += 1

    print(f"\nrecorded trail events on our trail: {dict(sorted(outcomes.items()))}")
    assert outcomes["remediated"] == 1  # the first repairs the trail; the others find it compliant
    assert set(outcomes) == {"remediated", "compliant"}
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    assert org.trail(arn)["IsLogging"] is True
