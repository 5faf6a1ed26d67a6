"""Bad input, fuzzed: every sample of events/ bent by mutations of three kinds, drawn by hypothesis
(derandomized, so every run draws the same events).

- garbage: a field that names the call or its resource is unusable (an unknown region, a nested or huge
  JSON string, a wrong type, a value JSON cannot carry, no id at all...): the event is dropped;
- failed: `errorCode` present with any value, "" and null included: the event is ignored;
- noise: fields that only describe the caller or the call are odd (redacted accounts, surrogates, wrong
  types, JSON strings nested inside the request): the event is never dropped for it.

Two runs:
1. FUZZ_DECISIONS events through `runtime.run` and the three guards, with sessions whose clients refuse
   every call: what decides must decide without AWS (garbage and failed calls), and noise must get as far
   as AWS or be ignored for a stated reason, never dropped.
2. FUZZ_END_TO_END events of the first two kinds through template.yaml's rules and the real handlers under
   moto, counting AWS calls: none may write, none may publish. (This run is smaller because each
   invocation that gets past parsing still builds its AWS clients, about 0.3 s under moto.)
"""

from __future__ import annotations

import copy
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.calls import ApiCalls
from harness.org import EVENTS, MEMBER_A, PLACEHOLDER_KEY_ID, SimulatedOrg
from harness.routing import lambda_context, load_handler
from harness.stack import InProcessStack as Stack
from harness.template import functions, load_template
from tests.integration import without_aws
from trailguard.events import MAX_EVENT_CHARS, MAX_NESTING, region_partition
from trailguard.observability import logger, metrics

FUZZ_DECISIONS = 10_000
FUZZ_END_TO_END = 500

FUNCTION_OF_FOLDER = {"trail": "TrailGuardFunction", "key": "KeyGuardFunction", "bucket": "BucketGuardFunction"}
SAMPLES = sorted(
    str(path.relative_to(EVENTS))
    for folder in FUNCTION_OF_FOLDER
    for path in (EVENTS / folder).glob("*.json")  # the routed samples, not unrouted/
)
BASE = {name: json.loads((EVENTS / name).read_text()) for name in SAMPLES}
FUZZ_PLANS = -(-FUZZ_DECISIONS // len(SAMPLES))  # each plan is applied to every sample
EXPECTED = {"garbage": {"dropped"}, "failed": {"ignored"}, "noise": {"evaluated", "ignored", "compliant"}}
WRITES_OF_NOTE = ("UpdateTrail", "StartLogging", "PutKeyPolicy", "EnableKey", "PutBucketPolicy", "Publish")

# ------------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc80" * 40, "x\ud83d"])
ODD_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=24),  # surrogates and control characters included
    SURROGATES,
    st.sampled_from(["", " ", "...", "null", "HIDDEN_DUE_TO_SECURITY_REASONS", "ANONYMOUS_PRINCIPAL"]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4),
    max_leaves=6,
)
NOT_TEXT = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=3), st.just({"a": 1})
)
NOT_OBJECT = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=3))
UNKNOWN_REGIONS = st.one_of(
    st.sampled_from(["megov-westwest-1r", "apiso-centralnorth-2r", "cn-northsouth-2r", "eu-west-99", "aws-global"]),
    ODD_TEXT,
).filter(lambda region: region_partition(region) is None)


def nested_json_text(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth  # unbalanced


def nested_value(depth: int) -> Any:
    value: Any = "bottom"
    for index in range(depth):
        value = [value] if index % 2 else {"a": value}
    return value


NESTED_JSON_TEXT = st.builds(
    nested_json_text, st.integers(MAX_NESTING + 1, 100_000), st.sampled_from(["array", "object", "unbalanced"])
)
HUGE_TEXT = st.builds(
    lambda size, unit: unit * size,
    st.integers(MAX_EVENT_CHARS, MAX_EVENT_CHARS + 50_000),
    st.sampled_from(["x", "\ud800", "é"]),
)
BIG_BUT_BOUNDED_TEXT = st.builds(
    lambda size, unit: unit * size, st.integers(1_000, 60_000), st.sampled_from(["y", "\udfff"])
)
NOT_JSON = st.sampled_from([{1, 2}, b"bytes", (1, 2), object(), complex(1, 2), frozenset()])


# ------------------------------------------------------------------------------------------------------
# Mutations
# ------------------------------------------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]
Apply = Callable[[dict[str, Any], str], str]  # (event, sample) -> what it did; the values are drawn already
Mutation = Callable[[Draw], Apply]  # draws its values once: one plan is applied to every sample


def paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 3) -> list[tuple[Any, ...]]:
    """The places in the first `depth` levels of an event where a value can be put."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: list[tuple[Any, ...]] = []
    for key, item in items:
        found.append((*prefix, key))
        if depth > 1:
            found += paths(item, (*prefix, key), depth - 1)
    return found


def put(event: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def detail(event: dict[str, Any]) -> dict[str, Any]:
    """The record, made an object again if an earlier step broke it."""
    if not isinstance(event.get("detail"), dict):
        event["detail"] = {}
    record: dict[str, Any] = event["detail"]
    return record


def block(event: dict[str, Any], name: str) -> dict[str, Any]:
    record = detail(event)
    if not isinstance(record.get(name), dict):
        record[name] = {}
    value: dict[str, Any] = record[name]
    return value


def folder(sample: str) -> str:
    return sample.split("/")[0]


RESOURCE_FIELDS = {"trail": ("name", "trailName"), "key": ("keyId",), "bucket": ("bucketName",)}
INDEX = st.integers(0, 10_000)  # picks one of a sample's fields or places, whatever their number


# garbage: each one alone makes the event unusable, whatever else was done to it


def set_in_detail(name: str, value: Any, what: str) -> Apply:
    def apply(event: dict[str, Any], sample: str) -> str:
        detail(event)[name] = value
        return what

    return apply


def g_region(draw: Draw) -> Apply:
    return set_in_detail("awsRegion", draw(UNKNOWN_REGIONS | NOT_TEXT), "garbage: region")


def g_nested_json_string(draw: Draw) -> Apply:
    where = draw(st.sampled_from(["requestParameters", "responseElements"]))
    return set_in_detail(where, draw(NESTED_JSON_TEXT), "garbage: nested JSON string")


def g_json_string_not_an_object(draw: Draw) -> Apply:
    where = draw(st.sampled_from(["requestParameters", "responseElements"]))
    text = draw(st.sampled_from(["[1]", "5", '"text"', '{"name": ', "nul", "{'a': 1}", "[" * 10 + "]" * 9]))
    return set_in_detail(where, text, "garbage: JSON string that is not an object")


def g_block_type(draw: Draw) -> Apply:
    where = draw(st.sampled_from(["requestParameters", "responseElements"]))
    return set_in_detail(where, draw(NOT_OBJECT), "garbage: block of the wrong type")


def anywhere(value: Any, what: str, index: int) -> Apply:
    def apply(event: dict[str, Any], sample: str) -> str:
        places = paths(event)
        put(event, places[index % len(places)], value)
        return what

    return apply


def g_huge_string(draw: Draw) -> Apply:
    return anywhere(draw(HUGE_TEXT), "garbage: huge string", draw(INDEX))


def g_not_json(draw: Draw) -> Apply:
    return anywhere(draw(NOT_JSON), "garbage: value JSON cannot carry", draw(INDEX))


def g_deep_structure(draw: Draw) -> Apply:
    depth = draw(st.integers(MAX_NESTING, 400))

    def apply(event: dict[str, Any], sample: str) -> str:
        block(event, "requestParameters")["deep"] = nested_value(depth)
        return "garbage: structure nested too deep"

    return apply


NAMES_NOTHING = {
    "trail": SURROGATES
    | st.sampled_from(["", "...", "-x-", "ab", "a b c", "x" * 3000, "arn:aws:cloudtrail:::trail/x"]),
    # a key id, key ARN or alias; a well-formed one that is not the central key is "another key", not garbage
    "key": SURROGATES | st.sampled_from(["", "a b c", "x" * 3000, "key\n", "alias/\u00e9t\u00e9"]),
    # a bucket name is only compared with the central bucket's: any text is "another bucket", so not text
    "bucket": NOT_TEXT,
}


def g_resource_identifier(draw: Draw) -> Apply:
    wrong_type = draw(st.booleans())
    values = {name: draw(NOT_TEXT if wrong_type else strategy) for name, strategy in NAMES_NOTHING.items()}
    index = draw(INDEX)

    def apply(event: dict[str, Any], sample: str) -> str:
        fields = RESOURCE_FIELDS[folder(sample)]
        block(event, "requestParameters")[fields[index % len(fields)]] = values[folder(sample)]
        return "garbage: resource identifier that names nothing"

    return apply


BAD_CALL_FIELDS = {
    "eventName": NOT_TEXT | st.sampled_from(["", "Stop Logging", "x" * 200, "\ud800"]),
    "eventSource": NOT_TEXT | st.sampled_from(["", "KMS.AMAZONAWS.COM", "a b", "\udc00"]),
    "recipientAccountId": NOT_TEXT
    | st.sampled_from(["12345", "0123456789012", "HIDDEN_DUE_TO_SECURITY_REASONS", "", "00000000000a"]),
}
BAD_ENVELOPE_FIELDS = {
    "account": NOT_TEXT | st.sampled_from(["12345", "", "0123456789012"]),
    "detail": NOT_OBJECT | ODD_TEXT | st.none(),
    "detail-type": NOT_TEXT | ODD_TEXT,
    "time": st.sampled_from(["...", "", "yesterday", "2026-13-45T99:99:99Z"]) | st.just({"t": 1}),
    "source": NOT_TEXT,
    "resources": st.just("...") | st.just([1]),
    "version": NOT_TEXT,
}
BAD_ID = NOT_TEXT | SURROGATES | st.sampled_from([" ", "a b", "x" * 300, "id\n"])


def g_call_fields(draw: Draw) -> Apply:
    name = draw(st.sampled_from(sorted(BAD_CALL_FIELDS)))
    return set_in_detail(name, draw(BAD_CALL_FIELDS[name]), f"garbage: {name}")


def g_envelope(draw: Draw) -> Apply:
    name = draw(st.sampled_from(sorted(BAD_ENVELOPE_FIELDS)))
    value = draw(BAD_ENVELOPE_FIELDS[name])

    def apply(event: dict[str, Any], sample: str) -> str:
        event[name] = value
        return f"garbage: envelope {name}"

    return apply


def g_ids(draw: Draw) -> Apply:
    choice = draw(st.sampled_from(["neither", "eventID", "id"]))
    event_id = draw(st.sampled_from(["", None]) if choice == "neither" else BAD_ID)
    envelope_id = draw(st.sampled_from(["", None]) if choice == "neither" else BAD_ID)

    def apply(event: dict[str, Any], sample: str) -> str:
        if choice != "id":
            detail(event)["eventID"] = event_id
        if choice != "eventID":
            event["id"] = envelope_id
        return f"garbage: ids ({choice})"

    return apply


# failed: errorCode present, with any value

ERROR_CODES = st.one_of(
    st.just(""),
    st.none(),
    st.sampled_from(["AccessDenied", "TrailNotFoundException", "Client.UnauthorizedOperation"]),
    ODD_TEXT,
    JSON_VALUES,
    BIG_BUT_BOUNDED_TEXT,
)
DESCRIPTIVE_VALUES = ODD_TEXT | JSON_VALUES | BIG_BUT_BOUNDED_TEXT


def f_error_code(draw: Draw) -> Apply:
    code = draw(ERROR_CODES)
    message = draw(st.none() | JSON_VALUES)

    def apply(event: dict[str, Any], sample: str) -> str:
        detail(event)["errorCode"] = code
        if message is not None:
            detail(event)["errorMessage"] = message
        return "failed: errorCode"

    return apply


# noise: only the description of the caller or the call


def n_identity(draw: Draw) -> Apply:
    whole = draw(st.booleans())
    name = draw(st.sampled_from(["accountId", "arn", "type", "principalId", "invokedBy", "sessionContext", "userName"]))
    value = draw(DESCRIPTIVE_VALUES)

    def apply(event: dict[str, Any], sample: str) -> str:
        identity = detail(event).get("userIdentity")
        if whole or not isinstance(identity, dict):
            detail(event)["userIdentity"] = value
            return "noise: userIdentity replaced"
        identity[name] = value
        return f"noise: userIdentity.{name}"

    return apply


def n_redacted(draw: Draw) -> Apply:
    account = draw(st.sampled_from(["HIDDEN_DUE_TO_SECURITY_REASONS", "ANONYMOUS_PRINCIPAL"]))

    def apply(event: dict[str, Any], sample: str) -> str:
        identity = detail(event).setdefault("userIdentity", {})
        if isinstance(identity, dict):
            identity["accountId"] = account
            context = identity.get("sessionContext")
            if isinstance(context, dict) and isinstance(context.get("sessionIssuer"), dict):
                context["sessionIssuer"]["accountId"] = account
        return "noise: redacted account"

    return apply


DESCRIPTIVE_FIELDS = [
    *("sourceIPAddress", "userAgent", "eventTime", "errorMessage", "readOnly", "tlsDetails", "eventType"),
    *("requestID", "additionalEventData", "resources", "eventCategory", "sessionCredentialFromConsole"),
]


def n_description(draw: Draw) -> Apply:
    name = draw(st.sampled_from(DESCRIPTIVE_FIELDS))
    return set_in_detail(name, draw(DESCRIPTIVE_VALUES), f"noise: {name}")


def n_embedded_json(draw: Draw) -> Apply:
    # A JSON string inside the request (a KMS policy) is never parsed: however nested, it is only text.
    text = nested_json_text(draw(st.integers(MAX_NESTING + 1, 15_000)), draw(st.sampled_from(["array", "object"])))
    name = draw(st.sampled_from(["policy", "description", "tags"]))

    def apply(event: dict[str, Any], sample: str) -> str:
        block(event, "requestParameters")[name] = text
        return "noise: JSON string nested inside the request"

    return apply


def n_envelope_id(draw: Draw) -> Apply:
    value = draw(st.sampled_from(["", None, "6ac2f08a-c9fe-343l-9d7b-4f0a5b34444"]))

    def apply(event: dict[str, Any], sample: str) -> str:
        event["id"] = value
        return "noise: envelope id"

    return apply


GARBAGE: list[Mutation] = [
    g_region,
    g_nested_json_string,
    g_json_string_not_an_object,
    g_block_type,
    g_huge_string,
    g_deep_structure,
    g_not_json,
    g_resource_identifier,
    g_call_fields,
    g_envelope,
    g_ids,
]
FAILED: list[Mutation] = [f_error_code]
NOISE: list[Mutation] = [n_identity, n_redacted, n_description, n_embedded_json, n_envelope_id]
POOLS = {"garbage": GARBAGE, "failed": FAILED, "noise": NOISE}


@dataclass
class Case:
    sample: str
    event: Any
    done: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        kinds = {step.split(":")[0] for step in self.done}
        return next(kind for kind in ("garbage", "failed", "noise") if kind in kinds)


@dataclass
class Plan:
    """One to three mutations with their values drawn, to apply to any sample; sometimes no object at all."""

    steps: list[tuple[str, Apply]]
    not_an_object: Any = None

    def apply(self, sample: str) -> Case:
        case = Case(sample, copy.deepcopy(BASE[sample]))
        # Noise first, then failed, then garbage: a later step never makes an earlier garbage usable again.
        for _, step in sorted(self.steps, key=lambda pair: ("noise", "failed", "garbage").index(pair[0])):
            case.done.append(step(case.event, sample))
        if self.not_an_object is not None:
            case.event = self.not_an_object
            case.done.append("garbage: event is not an object")
        return case


@st.composite
def plans(draw: Draw, kinds: tuple[str, ...] = ("garbage", "failed", "noise")) -> Plan:
    main = draw(st.sampled_from(kinds))
    chosen = [(main, draw(st.sampled_from(POOLS[main])))]
    chosen += draw(st.lists(st.sampled_from([(kind, m) for kind in kinds for m in POOLS[kind]]), max_size=2))
    plan = Plan([(kind, mutation(draw)) for kind, mutation in chosen])
    if main == "garbage" and draw(st.integers(0, 49)) == 0:
        plan.not_an_object = draw(st.sampled_from(["event", ["event"], 12, b"{}", 0.5]))
    return plan


FUZZ_SETTINGS = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": list(HealthCheck),
}


# ------------------------------------------------------------------------------------------------------
# 1. What decides, without AWS
# ------------------------------------------------------------------------------------------------------


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The functions' environment as template.yaml sets it, for a central key the samples name."""
    org = SimulatedOrg(
        key_arn=f"arn:aws:kms:eu-west-1:222222222222:key/{PLACEHOLDER_KEY_ID}",
        topic_arn="arn:aws:sns:eu-west-1:222222222222:trailguard-findings",
        queue_url="",
    )
    spec = functions(load_template(), parameters=org.parameters())[0]
    for name, value in spec.environment.items():
        monkeypatch.setenv(name, str(value))


@pytest.fixture
def quiet_logger() -> Iterator[None]:
    """Ten thousand log lines go nowhere (they are checked in test_logline); metrics are not kept."""
    stream = open("/dev/null", "w")  # noqa: SIM115
    previous = logger.registered_handler.setStream(stream)
    try:
        yield
    finally:
        logger.registered_handler.setStream(previous)
        stream.close()
        metrics.clear_metrics()


def decide(case: Case) -> str:
    return without_aws.decide(case.event, FUNCTION_OF_FOLDER[folder(case.sample)])


@pytest.mark.usefixtures("configured", "quiet_logger")
def test_fuzzed_events_are_decided_without_a_crash_and_without_aws() -> None:
    seen: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []

    @settings(max_examples=FUZZ_PLANS, **FUZZ_SETTINGS)  # type: ignore[arg-type]
    @given(plans())
    def one(plan: Plan) -> None:
        for sample in SAMPLES:  # every plan bends every sample
            case = plan.apply(sample)
            outcome = decide(case)  # any exception but AwsRefused fails the test: a crash
            seen[case.kind, outcome] += 1
            if outcome not in EXPECTED[case.kind]:
                wrong.append(f"{case.sample} {case.done} -> {outcome}")

    one()

    total = sum(seen.values())
    print(f"\nfuzzed decisions: {total} events, 0 crashes, outcomes {dict(sorted(seen.items()))}")
    assert total >= FUZZ_DECISIONS
    assert wrong == []
    assert {kind for kind, _ in seen} == {"garbage", "failed", "noise"}


# ------------------------------------------------------------------------------------------------------
# 2. End to end: template.yaml's rules, the real handlers, moto, every AWS call counted
# ------------------------------------------------------------------------------------------------------


def deliver(stack: Stack, case: Case) -> list[dict[str, Any]]:
    """As EventBridge would, to every function whose rule matches; an event no rule matches is handed to its
    sample's function directly, as a redelivery or a rule change would."""
    if not isinstance(case.event, dict):  # Lambda hands any JSON value to the handler; the harness, objects only
        spec = stack.specs_by_id[FUNCTION_OF_FOLDER[folder(case.sample)]]
        return [load_handler(spec)(case.event, lambda_context(spec, account=stack.org.central))]
    names = [spec.logical_id for spec in stack.targets(case.event)] or [FUNCTION_OF_FOLDER[folder(case.sample)]]
    return [stack.invoke(name, case.event) for name in names]


def test_fuzzed_garbage_and_failed_calls_through_the_handlers_write_nothing(
    stack: Stack, api_calls: ApiCalls, quiet_logger: None
) -> None:
    outcomes: Counter[tuple[str, str]] = Counter()
    api_calls.reset()

    @settings(max_examples=FUZZ_END_TO_END, **FUZZ_SETTINGS)  # type: ignore[arg-type]
    @given(plans(kinds=("garbage", "garbage", "garbage", "failed")), st.sampled_from(SAMPLES))
    def one(plan: Plan, sample: str) -> None:
        case = plan.apply(sample)
        for result in deliver(stack, case):  # an exception escaping a handler fails the test: a crash
            outcomes[case.kind, result["result"]] += 1
            assert result["result"] == ("dropped" if case.kind == "garbage" else "ignored"), (case.done, result)

    one()

    writes = api_calls.writes()
    print(
        f"\nfuzzed end to end: {sum(outcomes.values())} invocations, 0 crashes, {len(writes)} writes, "
        f"outcomes {dict(sorted(outcomes.items()))}, AWS calls {dict(api_calls.counter())}"
    )
    assert sum(outcomes.values()) >= FUZZ_END_TO_END
    assert writes == []
    assert not set(WRITES_OF_NOTE) & set(api_calls.calls)
    assert stack.org.findings() == []


# ------------------------------------------------------------------------------------------------------
# The cases that were measured wrong, one by one
# ------------------------------------------------------------------------------------------------------


def stopped_trail(stack: Stack) -> None:
    org = stack.org
    arn = org.create_trail(MEMBER_A, "audit-trail")
    org.client("cloudtrail", MEMBER_A).stop_logging(Name=arn)


@pytest.mark.parametrize("code", ["", None, "AccessDenied", {"nested": "object"}])
def test_a_failed_call_changes_nothing_and_says_nothing_whatever_its_error_code(
    stack: Stack, api_calls: ApiCalls, code: Any
) -> None:
    # Given a stopped trail, and a StopLogging event whose errorCode is present (even empty or null)
    stopped_trail(stack)
    event = stack.org.event("trail/stop_logging.json")
    event["detail"]["errorCode"] = code
    api_calls.reset()

    # When it is delivered (by hand: the rule itself filters out events that carry an errorCode)
    result = stack.invoke("TrailGuardFunction", event)

    # Then the trail is left as it is and nothing is published
    assert result["result"] == "ignored"
    assert api_calls.writes() == []
    assert stack.org.findings() == []


@pytest.mark.parametrize(
    "redact",
    [
        lambda i: i.update(accountId="HIDDEN_DUE_TO_SECURITY_REASONS"),
        lambda i: i.update(accountId="ANONYMOUS_PRINCIPAL", arn="...", type="..."),
        lambda i: i["sessionContext"]["sessionIssuer"].update(accountId="HIDDEN_DUE_TO_SECURITY_REASONS"),
        lambda i: i.update(principalId=12, sessionContext="...", arn="arn:\ud800"),
    ],
)
def test_a_change_whose_caller_is_redacted_or_odd_is_still_repaired(stack: Stack, redact: Any) -> None:
    stopped_trail(stack)
    event = stack.org.event("trail/stop_logging_leading_zero.json")
    event["detail"]["recipientAccountId"] = event["account"] = MEMBER_A
    redact(event["detail"]["userIdentity"])

    result = stack.send(event)

    assert result["result"] == "remediated"
    assert stack.org.trail(f"arn:aws:cloudtrail:eu-west-1:{MEMBER_A}:trail/audit-trail")["IsLogging"] is True
    assert len(stack.org.findings()) == 1


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(awsRegion="megov-westwest-1r"), "awsRegion"),
        (lambda d: d.update(requestParameters="[" * 200_000 + "]" * 200_000), "larger than"),
        (lambda d: d.update(responseElements='{"a":' * 5_000 + "1" + "}" * 5_000), "nests deeper"),
        (lambda d: d["requestParameters"].update(name="x" * 300_000), "larger than"),
        (lambda d: d["requestParameters"].update(name="audit-\udcfftrail"), "requestParameters.name"),
    ],
)
def test_garbage_is_dropped_in_one_short_log_line_without_an_aws_call(
    stack: Stack, api_calls: ApiCalls, log: io.StringIO, mutate: Any, reason: str
) -> None:
    stopped_trail(stack)
    event = stack.org.event("trail/stop_logging.json")
    mutate(event["detail"])
    api_calls.reset()

    result = stack.send(event) if stack.targets(event) else stack.invoke("TrailGuardFunction", event)

    assert result["result"] == "dropped"
    assert reason in result["reason"]
    assert api_calls.calls == []
    (line,) = log.getvalue().splitlines()
    assert json.loads(line)["message"] == "event dropped: cannot be parsed"
    assert len(line) < 1500
    assert stack.org.findings() == []
