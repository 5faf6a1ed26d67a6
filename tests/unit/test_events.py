"""Parsing 'AWS API Call via CloudTrail' events, with the quirks of docs/aws-facts.md."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from trailguard.errors import EventParseError
from trailguard.events import parse_api_call
from trailguard.trail.facts import named_trail

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json") if p.parent.name != "schedule")
)
def test_every_sample_parses(path: str) -> None:
    event = parse_api_call(load(path))

    assert len(event.account_id) == 12
    assert event.record.eventName


def test_bare_trail_name_takes_account_and_region_from_the_event() -> None:
    event = parse_api_call(load("trail/stop_logging.json"))

    ref = named_trail(event)

    assert ref.arn == "arn:aws:cloudtrail:eu-west-1:333333333333:trail/audit-trail"
    assert event.record.responseElements is None


def test_trail_name_given_as_arn_is_used_as_is() -> None:
    event = parse_api_call(load("trail/update_trail_remove_key_console.json"))

    ref = named_trail(event)

    assert (ref.account, ref.region, ref.name) == ("333333333333", "eu-west-1", "audit-trail")
    assert event.record.request("kmsKeyId") == ""


def test_assumed_role_actor_is_the_session_arn_and_its_role_is_known() -> None:
    event = parse_api_call(load("trail/stop_logging_leading_zero.json"))

    assert event.record.userIdentity.actor == "arn:aws:sts::012345678901:assumed-role/Admin/jane"
    assert event.record.userIdentity.role_arn == "arn:aws:iam::012345678901:role/Admin"
    assert event.account_id == "012345678901"
    assert named_trail(event).account == "012345678901"


def test_organization_trail_belongs_to_the_management_account() -> None:
    event = parse_api_call(load("trail/create_org_trail.json"))

    assert named_trail(event).account == "111111111111"


def test_failed_call_is_recognised() -> None:
    event = parse_api_call(load("trail/unrouted/update_trail_failed.json"))

    assert event.failed
    assert event.record.responseElements is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.update({"detail-type": "Object Created"}), "detail-type"),
        (lambda e: e["detail"].update({"recipientAccountId": 12345678901}), "recipientAccountId"),
        (lambda e: e["detail"].pop("eventName"), "eventName"),
        (lambda e: e.update({"account": "12345"}), "account"),
        (lambda e: e.update({"detail": "not an object"}), "detail"),
    ],
)
def test_malformed_events_raise_a_parse_error_with_the_reason(mutate: Any, reason: str) -> None:
    event = copy.deepcopy(load("trail/stop_logging.json"))
    mutate(event)

    with pytest.raises(EventParseError, match=reason):
        parse_api_call(event)


def test_non_object_event_is_a_parse_error() -> None:
    with pytest.raises(EventParseError):
        parse_api_call(["not", "an", "event"])


def test_trail_event_without_a_name_is_a_parse_error() -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["requestParameters"] = {}

    with pytest.raises(EventParseError, match="name"):
        named_trail(parse_api_call(event))
