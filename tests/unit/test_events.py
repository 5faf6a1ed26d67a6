"""Parsing 'AWS API Call via CloudTrail' events (docs/aws-facts.md): real shapes, bad input, the caller, the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trailguard.errors import EventParseError
from trailguard.events import (
    EVENT_KEY_JMESPATH,
    MAX_DESCRIPTIVE_CHARS,
    MAX_EVENT_CHARS,
    MAX_NESTING,
    bounds_problem,
    json_nesting,
    parse_api_call,
    region_partition,
)
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


# ------------------------------------------------------------------------------------------------------
# Failed calls: errorCode present, whatever its value
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AccessDenied", "", None, 0, {"code": "x"}, ["x"], "x" * 10_000])
def test_error_code_present_with_any_value_is_a_failed_call(code: Any) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["errorCode"] = code

    parsed = parse_api_call(event)

    assert parsed.failed
    assert parsed.record.errorCode
    assert len(parsed.record.errorCode) <= 128


def test_error_message_without_error_code_is_not_a_failed_call() -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["errorMessage"] = "looks bad"

    parsed = parse_api_call(event)

    assert not parsed.failed
    assert parsed.record.errorCode is None


@pytest.mark.parametrize(
    ("code", "shown"), [("", '""'), (None, "null"), (["x"], "<list>"), ("AccessDenied", "AccessDenied")]
)
def test_a_present_error_code_is_shown_as_text(code: Any, shown: str) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["errorCode"] = code

    assert parse_api_call(event).record.errorCode == shown


# ------------------------------------------------------------------------------------------------------
# Regions: botocore's endpoint data
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-1", "aws"),
        ("me-south-1", "aws"),  # opt-in
        ("af-south-1", "aws"),  # opt-in
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
    ],
)
def test_regions_of_every_partition_exist(region: str, partition: str) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["awsRegion"] = region

    assert parse_api_call(event).record.awsRegion == region
    assert region_partition(region) == partition


@pytest.mark.parametrize("region", ["megov-westwest-1r", "eu-west-99", "aws-global", "EU-WEST-1", "", "eu-west-1 "])
def test_an_event_in_a_region_that_does_not_exist_is_refused(region: str) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["awsRegion"] = region

    with pytest.raises(EventParseError, match="awsRegion"):
        parse_api_call(event)


def test_a_trail_arn_in_a_region_that_does_not_exist_is_refused() -> None:
    event = load("trail/stop_logging_by_arn.json")
    event["detail"]["requestParameters"]["name"] = "arn:aws:cloudtrail:apiso-centralnorth-2r:333333333333:trail/t1"

    with pytest.raises(EventParseError, match="does not exist"):
        parse_api_call(event)


# ------------------------------------------------------------------------------------------------------
# Bounds: size, nesting, JSON strings
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", ["requestParameters", "responseElements"])
@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * (MAX_NESTING + 1) + "1" + "}" * (MAX_NESTING + 1),
        "[" * 50_000,  # unbalanced, deep
    ],
)
def test_deeply_nested_json_strings_are_refused_without_parsing(block: str, text: str) -> None:
    event = load("trail/stop_logging.json")
    event["detail"][block] = text

    with pytest.raises(EventParseError, match=f"{block}.*nests deeper than {MAX_NESTING}"):
        parse_api_call(event)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("[1, 2]", "list, not an object"), ("5", "int, not an object"), ('{"name": ', "not valid JSON")],
)
def test_json_strings_that_are_not_objects_are_refused(text: str, reason: str) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["requestParameters"] = text

    with pytest.raises(EventParseError, match=reason):
        parse_api_call(event)


def test_a_json_string_object_is_read_and_brackets_inside_its_strings_do_not_count() -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["requestParameters"] = json.dumps({"name": "audit-trail", "note": "[" * 1000})
    event["detail"]["responseElements"] = "  "

    parsed = parse_api_call(event)

    assert parsed.record.request("name") == "audit-trail"
    assert parsed.record.responseElements is None
    assert json_nesting('{"a": "[[[[", "b": [{"c": "\\"]]"}]}') == 3


def test_a_policy_string_inside_the_request_is_never_parsed() -> None:
    event = load("key/put_key_policy.json")
    event["detail"]["requestParameters"]["policy"] = "[" * 100_000 + "]" * 100_000

    parsed = parse_api_call(event)

    assert isinstance(parsed.record.request("policy"), str)


def test_an_event_larger_than_eventbridge_accepts_is_refused() -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["userAgent"] = "x" * MAX_EVENT_CHARS

    with pytest.raises(EventParseError, match="larger than"):
        parse_api_call(event)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (json.loads("[" * 500 + "]" * 500), "nested deeper"),
        ({1, 2}, "set, which JSON cannot carry"),
        (b"bytes", "bytes, which JSON cannot carry"),
        ({1: "a"}, "int key"),
    ],
)
def test_values_json_cannot_carry_or_nest_that_deep_are_refused(value: Any, reason: str) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["requestParameters"]["extra"] = value

    with pytest.raises(EventParseError, match=reason):
        parse_api_call(event)


def test_the_bounds_check_is_iterative_and_quick_on_a_very_deep_structure() -> None:
    deep: Any = []
    for _ in range(200_000):
        deep = [deep]

    assert bounds_problem({"detail": deep}) == f"objects and arrays are nested deeper than {MAX_NESTING} levels"


# ------------------------------------------------------------------------------------------------------
# The resource an event names, and the fields that only describe the caller
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "field", "value"),
    [
        ("trail/stop_logging.json", "name", {"a": 1}),
        ("trail/stop_logging.json", "name", 7),
        ("trail/stop_logging.json", "name", "a\ud800b-trail"),
        ("trail/stop_logging.json", "name", "x" * 129),
        ("trail/stop_logging.json", "name", "-trail"),
        ("trail/stop_logging.json", "name", "..."),
        ("trail/stop_logging.json", "name", ""),
        ("key/disable_key.json", "keyId", ["k"]),
        ("key/disable_key.json", "keyId", "key id with spaces"),
        ("key/disable_key.json", "keyId", "\udcff"),
        ("bucket/delete_bucket_policy.json", "bucketName", 12),
    ],
)
def test_an_unusable_resource_identifier_refuses_the_event(sample: str, field: str, value: Any) -> None:
    event = load(sample)
    event["detail"]["requestParameters"][field] = value

    with pytest.raises(EventParseError, match=f"requestParameters.{field}") as error:
        parse_api_call(event)
    assert len(str(error.value)) < 300
    assert str(error.value).isascii()


def test_a_bucket_name_that_is_not_the_central_bucket_is_left_to_the_guard() -> None:
    event = load("bucket/delete_bucket_policy.json")
    event["detail"]["requestParameters"]["bucketName"] = "..."

    assert parse_api_call(event).record.request("bucketName") == "..."


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e["detail"]["userIdentity"].update(accountId="HIDDEN_DUE_TO_SECURITY_REASONS"),
        lambda e: e["detail"]["userIdentity"].update(accountId="ANONYMOUS_PRINCIPAL"),
        lambda e: e["detail"]["userIdentity"].update(accountId=12345),
        lambda e: e["detail"]["userIdentity"].update(type="...", arn=None, principalId=["x"]),
        lambda e: e["detail"]["userIdentity"].update(arn="arn:\ud800" + "x" * 5000),
        lambda e: e["detail"]["userIdentity"].update(sessionContext="..."),
        lambda e: e["detail"]["userIdentity"].update(sessionContext={"sessionIssuer": []}),
        lambda e: e["detail"]["userIdentity"]["sessionContext"]["sessionIssuer"].update(accountId="HIDDEN"),
        lambda e: e["detail"].update(userIdentity="..."),
        lambda e: e["detail"].update(userIdentity=None),
        lambda e: e["detail"].pop("userIdentity"),
        lambda e: e["detail"].update(sourceIPAddress={"a": 1}, userAgent=["\ud800"], tlsDetails=7),
        lambda e: e["detail"].update(eventTime=1700000000, errorMessage={"m": 1}, readOnly="maybe"),
        lambda e: e["detail"].update(eventTime="2024-11-25 17:51:21.000000000", readOnly="False"),
    ],
)
def test_odd_fields_that_only_describe_the_caller_never_refuse_the_event(mutate: Any) -> None:
    event = load("trail/stop_logging_leading_zero.json")
    mutate(event)

    parsed = parse_api_call(event)

    identity = parsed.record.userIdentity
    assert identity.actor
    assert identity.actor.encode("utf-8")  # escaped: always encodable
    assert named_trail(parsed).name == "audit-trail"


def test_descriptive_text_is_escaped_and_capped() -> None:
    event = load("trail/stop_logging_leading_zero.json")
    event["detail"]["userIdentity"]["arn"] = "a\ud800" + "x" * 10_000

    arn = parse_api_call(event).record.userIdentity.arn

    assert arn is not None
    assert arn.startswith("a\\ud800x")
    assert len(arn) <= MAX_DESCRIPTIVE_CHARS + 5


def test_read_only_flag_as_text_is_understood() -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["readOnly"] = "False"

    assert parse_api_call(event).record.readOnly is False


# ------------------------------------------------------------------------------------------------------
# The caller's role
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "role"),
    [
        (
            {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::012345678901:assumed-role/TrailGuardRemediation/trailguard",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::012345678901:role/Other"}},
            },
            "Other",  # the issuer is authoritative
        ),
        (
            {"sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::012345678901:role/service-role/Deep/Admin"}}},
            "Admin",  # the name, without the path
        ),
        (
            {
                "sessionContext": {
                    "sessionIssuer": {
                        "arn": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/us-west-2/SampleRole"
                    }
                }
            },
            "SampleRole",
        ),
        ({"arn": "arn:aws:sts::012345678901:assumed-role/TrailGuardRemediation/trailguard"}, "TrailGuardRemediation"),
        ({"arn": "arn:aws-cn:sts::012345678901:assumed-role/CnRole/s"}, "CnRole"),
        ({"arn": "arn:aws-us-gov:sts::HIDDEN_DUE_TO_SECURITY_REASONS:assumed-role/GovRole/s"}, "GovRole"),
        ({"arn": "arn:aws:sts::012345678901:assumed-role/NoSession"}, None),
        ({"arn": "arn:aws:iam::012345678901:user/alice", "sessionContext": {"sessionIssuer": {}}}, None),
        ({"arn": "arn:aws:iam::012345678901:root"}, None),
        ({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}, None),
        ({"sessionContext": {"sessionIssuer": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/bob"}}}, None),
        ({"sessionContext": {"sessionIssuer": None}}, None),
        ({"sessionContext": "..."}, None),
        ("...", None),
        ({}, None),
    ],
)
def test_the_callers_role_name(identity: Any, role: str | None) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["userIdentity"] = identity

    assert parse_api_call(event).record.userIdentity.role_name == role


def test_the_callers_role_name_from_a_sample() -> None:
    assert parse_api_call(load("trail/stop_logging_leading_zero.json")).record.userIdentity.role_name == "Admin"


# ------------------------------------------------------------------------------------------------------
# The event key: exactly once per CloudTrail event
# ------------------------------------------------------------------------------------------------------


def test_the_event_key_is_the_cloudtrail_event_id_whatever_the_envelope() -> None:
    event = load("trail/stop_logging.json")
    other = copy.deepcopy(event)
    other["id"] = "11111111-2222-3333-4444-555555555555"

    assert parse_api_call(event).event_key == parse_api_call(other).event_key == event["detail"]["eventID"]


def test_an_empty_envelope_id_is_fine_when_the_event_id_is_there() -> None:
    event = load("trail/stop_logging.json")
    event["id"] = ""

    assert parse_api_call(event).event_key == event["detail"]["eventID"]


@pytest.mark.parametrize("event_id", [None, "", "absent"])
def test_without_an_event_id_the_envelope_id_is_the_key(event_id: str | None) -> None:
    event = load("trail/stop_logging.json")
    if event_id == "absent":
        del event["detail"]["eventID"]
    else:
        event["detail"]["eventID"] = event_id

    assert parse_api_call(event).event_key == event["id"]


@pytest.mark.parametrize("envelope_id", ["", None, "absent"])
def test_an_event_with_neither_id_is_refused(envelope_id: str | None) -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["eventID"] = ""
    if envelope_id == "absent":
        del event["id"]
    else:
        event["id"] = envelope_id

    with pytest.raises(EventParseError, match=r"neither detail\.eventID nor an envelope id"):
        parse_api_call(event)


@pytest.mark.parametrize("bad", [5, {"a": 1}, " ", "x" * 257, "id\nwith newline", "\ud800"])
@pytest.mark.parametrize("where", ["eventID", "id"])
def test_an_id_that_is_not_an_id_is_refused(bad: Any, where: str) -> None:
    event = load("trail/stop_logging.json")
    if where == "id":
        event["id"] = bad
    else:
        event["detail"]["eventID"] = bad

    with pytest.raises(EventParseError, match="not an event id"):
        parse_api_call(event)


_IDS = st.one_of(
    st.just("<absent>"),
    st.none(),
    st.just(""),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
)


@settings(derandomize=True, max_examples=300, database=None, deadline=None)
@given(event_id=_IDS, envelope_id=_IDS)
def test_the_idempotency_expression_and_the_model_agree(event_id: Any, envelope_id: Any) -> None:
    event = load("trail/stop_logging.json")
    for target, key, value in ((event["detail"], "eventID", event_id), (event, "id", envelope_id)):
        if value == "<absent>":
            del target[key]
        else:
            target[key] = value
    try:
        parsed = parse_api_call(event)
    except EventParseError:
        assert not jmespath.search(EVENT_KEY_JMESPATH, event)
        return

    assert jmespath.search(EVENT_KEY_JMESPATH, event) == parsed.event_key
