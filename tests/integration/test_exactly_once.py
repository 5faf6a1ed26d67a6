"""Exactly once per CloudTrail event: the idempotency key is detail.eventID (the envelope id when it has none).

EventBridge can deliver the same CloudTrail call twice, and a forwarding rule or a replay wraps it in a new
envelope with a new `id`: the call is the same, so it must be handled once and reported once.
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest

from harness.calls import ApiCalls
from harness.org import MEMBER_A
from harness.stack import InProcessStack as Stack
from tests.conftest import only

TABLE = "trailguard-idempotency"


@pytest.fixture
def stack_once(stack: Stack) -> Stack:
    """The stack with its idempotency table (partition key `id`), as template.yaml creates it."""
    stack.org.client("dynamodb", stack.org.central).create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    stack.configure(TRAILGUARD_IDEMPOTENCY_TABLE=TABLE)
    return stack


def stopped_trail_event(stack: Stack) -> dict[str, Any]:
    """A member's trail with logging stopped, and the StopLogging event that says so."""
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail")
    org.client("cloudtrail", MEMBER_A).stop_logging(Name=arn)
    return org.event("trail/stop_logging.json")


def stop_again(stack: Stack) -> None:
    """Drift again between deliveries: a second handling would repair and report a second time."""
    stack.org.client("cloudtrail", MEMBER_A).stop_logging(
        Name=f"arn:aws:cloudtrail:eu-west-1:{MEMBER_A}:trail/audit-trail"
    )


def test_the_same_cloudtrail_event_in_a_new_envelope_is_handled_once(stack_once: Stack, api_calls: ApiCalls) -> None:
    # Given a StopLogging event, and the same call delivered again in a new envelope (a replay, a second rule)
    event = stopped_trail_event(stack_once)
    redelivered = copy.deepcopy(event)
    redelivered["id"] = "0f6a3b4e-9d1c-4c8e-8a55-3f2d7c1b9e00"
    redelivered["time"] = "2026-03-14T11:45:00Z"

    # When both arrive
    first = stack_once.send(event)
    stop_again(stack_once)
    api_calls.reset()
    second = stack_once.send(redelivered)

    # Then the second is answered from the idempotency record: no repair, no second message
    assert first["result"] == "remediated"
    assert second == first
    assert "StartLogging" not in api_calls.calls
    assert "Publish" not in api_calls.calls
    assert len(stack_once.org.findings()) == 1


def test_two_different_cloudtrail_events_in_one_envelope_id_are_both_handled(stack_once: Stack) -> None:
    # The envelope id is not the key when the CloudTrail eventID is there.
    event = stopped_trail_event(stack_once)
    other = copy.deepcopy(event)
    other["detail"]["eventID"] = "5d0f1c2b-7a4e-4b9d-9c3f-2e1a0b9c8d7e"

    stack_once.send(event)
    stop_again(stack_once)
    second = stack_once.send(other)

    assert second["result"] == "remediated"
    assert len(stack_once.org.findings()) == 2


def test_an_empty_envelope_id_is_fine_when_the_event_id_is_there(stack_once: Stack) -> None:
    event = stopped_trail_event(stack_once)
    event["id"] = ""

    first = stack_once.send(event)
    stop_again(stack_once)
    second = stack_once.send(copy.deepcopy(event))

    assert first["result"] == "remediated"
    assert second == first
    only(stack_once.org.findings())


def test_without_an_event_id_the_envelope_id_is_the_key(stack_once: Stack) -> None:
    event = stopped_trail_event(stack_once)
    del event["detail"]["eventID"]

    first = stack_once.send(event)
    stop_again(stack_once)
    second = stack_once.send(copy.deepcopy(event))

    assert first["result"] == "remediated"
    assert second == first
    only(stack_once.org.findings())


@pytest.mark.parametrize("envelope_id", ["", None])
def test_an_event_with_neither_id_is_dropped_in_one_short_line(
    stack_once: Stack, api_calls: ApiCalls, log: io.StringIO, envelope_id: str | None
) -> None:
    event = stopped_trail_event(stack_once)
    event["detail"]["eventID"] = ""
    event["id"] = envelope_id
    api_calls.reset()

    result = stack_once.send(event)

    assert result == {"result": "dropped", "reason": "the event has neither detail.eventID nor an envelope id"}
    assert api_calls.calls == []  # not even the idempotency table is read
    (line,) = log.getvalue().splitlines()
    assert json.loads(line)["message"] == "event dropped: cannot be parsed"
    assert len(line) < 1500
    assert stack_once.org.findings() == []
