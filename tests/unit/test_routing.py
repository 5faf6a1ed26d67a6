"""Events reach the functions exactly as template.yaml's rules say, and the harness matches like EventBridge.

- every sample in events/<folder>/ routes to the one function of its folder; events/*/unrouted/ nowhere;
- the pattern matcher follows the documented EventBridge semantics (and agrees with moto where moto is right);
- the template reader resolves Globals, layers, parameters and short tags; `invoke` isolates handlers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from harness.pattern import InvalidPatternError, matches
from harness.routing import invoke, lambda_context, route
from harness.template import REPO_ROOT, UnresolvedError, functions, load_template, resolver

EVENTS = REPO_ROOT / "events"
BUCKET = "trailguard-central-logs-222222222222"
FOLDER_FUNCTION = {"trail": "TrailGuardFunction", "key": "KeyGuardFunction", "bucket": "BucketGuardFunction"}
SPECS = functions(REPO_ROOT / "template.yaml", {"LogBucketName": BUCKET})


def samples(routed: bool) -> list[str]:
    """Samples of API-call events (events/schedule/ holds what the schedule sends: no rule routes it)."""
    paths = sorted(p for p in EVENTS.rglob("*.json") if p.parent.name != "schedule")
    return [str(p.relative_to(EVENTS)) for p in paths if (p.parent.name == "unrouted") != routed]


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def moto_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, event)))


# ------------------------------------------------------------------------------------------------
# The samples
# ------------------------------------------------------------------------------------------------


def test_there_are_samples_for_every_function_and_unrouted_ones() -> None:
    routed = samples(routed=True)
    for folder in FOLDER_FUNCTION:
        assert any(name.startswith(f"{folder}/") for name in routed)
        assert any(name.startswith(f"{folder}/unrouted/") for name in samples(routed=False))


@pytest.mark.parametrize("name", samples(routed=True))
def test_sample_routes_to_the_function_of_its_folder(name: str) -> None:
    targets = route(load(name), SPECS)

    assert [spec.logical_id for spec in targets] == [FOLDER_FUNCTION[name.split("/")[0]]]


@pytest.mark.parametrize("name", samples(routed=False))
def test_unrouted_sample_routes_nowhere(name: str) -> None:
    assert route(load(name), SPECS) == []


@pytest.mark.parametrize("name", samples(routed=True) + samples(routed=False))
def test_moto_agrees_on_every_sample(name: str) -> None:
    event = load(name)
    for spec in SPECS:
        for rule in spec.rules:
            assert matches(rule.pattern, event) == moto_matches(rule.pattern, event)


@pytest.mark.parametrize("name", samples(routed=True) + samples(routed=False))
def test_samples_are_api_call_envelopes_with_a_full_record(name: str) -> None:
    event = load(name)
    record = event["detail"]

    assert event["detail-type"] == "AWS API Call via CloudTrail"
    assert event["source"] == "aws." + record["eventSource"].split(".")[0]
    assert event["account"] == record["recipientAccountId"]
    assert event["region"] == record["awsRegion"]
    assert event["time"] == record["eventTime"]
    for field in (
        "eventVersion",
        "userIdentity",
        "eventID",
        "requestID",
        "eventType",
        "managementEvent",
        "readOnly",
        "requestParameters",
        "responseElements",
        "sourceIPAddress",
        "userAgent",
    ):
        assert field in record, field
    assert record["eventType"] == "AwsApiCall"
    assert isinstance(record["recipientAccountId"], str)
    assert len(record["recipientAccountId"]) == 12


def test_event_ids_are_unique() -> None:
    names = samples(routed=True) + samples(routed=False)
    ids = [load(name)["id"] for name in names]
    event_ids = [load(name)["detail"]["eventID"] for name in names]

    assert len(set(ids)) == len(ids)
    assert len(set(event_ids)) == len(event_ids)


def test_failed_calls_are_dropped_by_the_rule_even_when_otherwise_in_scope() -> None:
    event = load("trail/stop_logging.json")
    event["detail"]["errorCode"] = "AccessDenied"

    assert route(event, SPECS) == []


def test_the_bucket_rule_follows_the_log_bucket_parameter() -> None:
    other = functions(REPO_ROOT / "template.yaml", {"LogBucketName": "some-other-bucket"})

    assert route(load("bucket/delete_bucket_policy.json"), other) == []
    assert [s.logical_id for s in route(load("trail/stop_logging.json"), other)] == ["TrailGuardFunction"]


def test_a_pattern_that_needs_a_parameter_without_a_value_is_an_error() -> None:
    with pytest.raises(UnresolvedError, match="LogBucketName"):
        functions(REPO_ROOT / "template.yaml")


def test_specs_read_layers_bus_and_environment_from_the_template() -> None:
    spec = next(s for s in SPECS if s.logical_id == "TrailGuardFunction")

    assert spec.layers_dirs == [REPO_ROOT / "layers" / "trailguard"]
    assert [(rule.name, rule.event_bus) for rule in spec.rules] == [("TrailApiCall", "trailguard-central")]
    assert spec.environment["TRAILGUARD_LOG_BUCKET"] == BUCKET
    assert spec.environment["TRAILGUARD_TOPIC_ARN"] == {"Ref": "FindingsTopic"}  # a resource: no value given
    resolved = functions(REPO_ROOT / "template.yaml", {"LogBucketName": BUCKET, "FindingsTopic": "arn:topic"})
    assert resolved[0].environment["TRAILGUARD_TOPIC_ARN"] == "arn:topic"


# ------------------------------------------------------------------------------------------------
# The matcher: EventBridge semantics
# ------------------------------------------------------------------------------------------------

EVENT: dict[str, Any] = {
    "source": "aws.s3",
    "detail-type": "AWS API Call via CloudTrail",
    "detail": {
        "eventName": "PutBucketPolicy",
        "errorCode": None,
        "count": 5,
        "ratio": 0.5,
        "flag": True,
        "empty": "",
        "ip": "10.0.1.7",
        "tags": ["red", "green"],
        "nothing": [],
        "object": {},
        "requestParameters": {"bucketName": "logs-bucket", "Host": "logs-bucket.s3.eu-west-1.amazonaws.com"},
        "resources": [
            {"ARN": "arn:aws:s3:::logs-bucket", "type": "AWS::S3::Bucket", "accountId": "222222222222"},
            {"ARN": "arn:aws:s3:::other", "type": "AWS::S3::Object"},
        ],
    },
}


def detail(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


# (pattern, expected) pairs where moto's matcher is also right: checked against both.
AGREED = [
    (detail(eventName=["PutBucketPolicy", "DeleteBucketPolicy"]), True),
    (detail(eventName=["DeleteBucketPolicy"]), False),
    (detail(missing=[{"exists": False}]), True),
    (detail(eventName=[{"exists": False}]), False),
    (detail(eventName=[{"exists": True}]), True),
    (detail(missing=[{"exists": True}]), False),
    (detail(errorCode=[{"exists": True}]), True),  # null is a value
    (detail(errorCode=[None]), True),
    (detail(empty=[None]), False),  # "" is not null
    (detail(empty=[""]), True),
    (detail(eventName=[{"prefix": "PutBucket"}]), True),
    (detail(eventName=[{"prefix": "putbucket"}]), False),
    (detail(eventName=[{"prefix": {"equals-ignore-case": "putbucket"}}]), True),
    (detail(eventName=[{"suffix": "Policy"}]), True),
    (detail(eventName=[{"equals-ignore-case": "putbucketpolicy"}]), True),
    (detail(eventName=[{"anything-but": "DeleteBucketPolicy"}]), True),
    (detail(eventName=[{"anything-but": ["PutBucketPolicy", "X"]}]), False),
    (detail(eventName=[{"anything-but": {"prefix": "Put"}}]), False),
    (detail(eventName=[{"anything-but": {"prefix": "Delete"}}]), True),
    (detail(missing=[{"anything-but": "x"}]), False),  # anything-but needs a value
    (detail(count=[{"numeric": [">", 0, "<=", 5]}]), True),
    (detail(count=[{"numeric": ["<", 5]}]), False),
    (detail(ratio=[{"numeric": ["=", 0.5]}]), True),
    (detail(eventName=[{"numeric": [">", 0]}]), False),
    (detail(count=[{"anything-but": [1, 2, 3]}]), True),
    (detail(ip=[{"cidr": "10.0.0.0/16"}]), True),
    (detail(ip=[{"cidr": "10.1.0.0/16"}]), False),
    (detail(eventName=[{"wildcard": "Put*Policy"}]), True),
    (detail(eventName=[{"wildcard": "Put*Acl"}]), False),
    (detail(tags=["green"]), True),
    (detail(tags=["blue"]), False),
    (detail(tags=[{"prefix": "gr"}]), True),
    (detail(requestParameters={"bucketName": ["logs-bucket"]}), True),
    (detail(requestParameters={"bucketName": ["other"]}), False),
    (detail(requestParameters={"bucketName": ["logs-bucket"], "Host": [{"suffix": ".amazonaws.com"}]}), True),
    ({"source": ["aws.s3"], "$or": [detail(eventName=["X"]), detail(count=[5])]}, True),
    ({"source": ["aws.s3"], "$or": [detail(eventName=["X"]), detail(count=[6])]}, False),
    (
        {"source": ["aws.s3"], "detail": {"$or": [{"eventName": ["X"]}, {"missing": [{"exists": False}]}]}},
        True,
    ),
    (detail(eventName=["PutBucketPolicy"], errorCode=[{"exists": False}]), False),
    ({"detail-type": ["AWS API Call via CloudTrail"]}, True),
    ({}, True),
]

# Beyond moto's matcher (it gets the arrays of objects, `{}`/`[]` for exists and true-vs-1 wrong): ours only.
EVENTBRIDGE_ONLY = [
    (detail(resources={"type": ["AWS::S3::Bucket"]}), True),  # arrays of objects are crushed
    (detail(resources={"ARN": ["arn:aws:s3:::other"], "type": ["AWS::S3::Object"]}), True),
    (
        detail(resources={"ARN": ["arn:aws:s3:::other"], "type": ["AWS::S3::Bucket"]}),
        False,
    ),  # same element only
    (detail(resources={"missing": [{"exists": False}]}), True),
    (detail(object=[{"exists": False}]), True),  # an object is not a leaf
    (detail(nothing=[{"exists": False}]), True),  # an empty array has no value
    (detail(nothing=[{"exists": True}]), False),
    (detail(flag=[1]), False),  # true is not 1
    (detail(count=[True]), False),
    (detail(count=["5"]), False),  # "5" is not 5
    (detail(flag=[{"numeric": [">", 0]}]), False),  # a boolean is not a number
    (detail(eventName=[{"anything-but": {"suffix": "Policy"}}]), False),
    (detail(eventName=[{"anything-but": {"equals-ignore-case": "putbucketpolicy"}}]), False),
    (detail(eventName=[{"anything-but": {"wildcard": "*Acl"}}]), True),
]


@pytest.mark.parametrize(("pattern", "expected"), AGREED)
def test_matcher_follows_eventbridge_where_moto_agrees(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected
    assert moto_matches(pattern, EVENT) is expected


@pytest.mark.parametrize(("pattern", "expected"), EVENTBRIDGE_ONLY)
def test_matcher_follows_eventbridge_where_moto_does_not(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


def test_wildcard_escapes_a_literal_star() -> None:
    event = {"detail": {"path": "a*b"}}

    assert matches(detail(path=[{"wildcard": "a\\*b"}]), event)
    assert not matches(detail(path=[{"wildcard": "a\\*b"}]), {"detail": {"path": "axxb"}})


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "aws.s3"},  # a scalar where an array is required
        {"source": []},
        {"source": [{"unknown-filter": 1}]},
        {"detail": {"count": [{"numeric": [">"]}]}},
        {"detail": {"count": [{"numeric": ["~", 1]}]}},
        {"detail": {"count": [{"exists": "yes"}]}},
        {"detail": {"ip": [{"cidr": "not-a-network"}]}},
        {"source": [["nested"]]},
        {"$or": [{"source": ["a"]}]},
    ],
)
def test_invalid_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(InvalidPatternError):
        matches(pattern, EVENT)


# ------------------------------------------------------------------------------------------------
# The template reader
# ------------------------------------------------------------------------------------------------


def test_loader_keeps_every_short_tag_as_data(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        textwrap.dedent("""\
        AWSTemplateFormatVersion: 2010-09-09
        Resources:
          R:
            Type: X
            Properties:
              A: !Ref P
              B: !GetAtt Res.Arn
              C: !Sub "${AWS::Region}-x"
              D: !If [Cond, !Join [",", [a, b]], !Select [0, !Split [",", "x,y"]]]
              E: !Not [!Equals [!Ref P, ""]]
              F: !Condition Cond
              G: !GetAtt [Res, Arn]
        """)
    )

    template = load_template(path)

    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    properties = template["Resources"]["R"]["Properties"]
    assert properties["A"] == {"Ref": "P"}
    assert properties["B"] == properties["G"] == {"Fn::GetAtt": ["Res", "Arn"]}
    assert properties["C"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert properties["D"] == {
        "Fn::If": ["Cond", {"Fn::Join": [",", ["a", "b"]]}, {"Fn::Select": [0, {"Fn::Split": [",", "x,y"]}]}]
    }
    assert properties["E"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}
    assert properties["F"] == {"Condition": "Cond"}


def test_resolver_evaluates_intrinsics_and_conditions() -> None:
    template = {
        "Parameters": {
            "Name": {"Type": "String", "Default": "x"},
            "Ous": {"Type": "CommaDelimitedList", "Default": ""},
        },
        "Conditions": {"HasOus": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Ous"}]}, ""]}]}},
        "Resources": {},
    }
    resolve = resolver(template, {"Topic.Arn": "arn:t"}).resolve

    assert resolve({"Fn::Sub": "${Name}-${AWS::Region}-${Topic.Arn}-${!Literal}"}) == "x-eu-west-1-arn:t-${Literal}"
    assert resolve({"Fn::Sub": ["${A}/${Name}", {"A": {"Ref": "AWS::AccountId"}}]}) == "222222222222/x"
    assert resolve({"Fn::If": ["HasOus", "yes", "no"]}) == "no"
    assert resolver(template, {"Ous": "ou-1,ou-2"}).resolve({"Fn::If": ["HasOus", {"Ref": "Ous"}, "no"]}) == [
        "ou-1",
        "ou-2",
    ]
    assert resolve({"Fn::Select": [1, {"Fn::Split": [":", "a:b:c"]}]}) == "b"
    with pytest.raises(UnresolvedError):
        resolve({"Ref": "Unknown"})


# ------------------------------------------------------------------------------------------------
# invoke: handlers from CodeUri, layers on sys.path, one module per function
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def mini_stack(tmp_path: Path) -> list[Any]:
    """Two functions whose app.py have the same name, a shared layer with a `python/` folder, and Globals."""
    layer = tmp_path / "layers" / "shared" / "python" / "shared_lib_for_test"
    layer.mkdir(parents=True)
    (layer / "__init__.py").write_text("GREETING = 'hello from the layer'\n")
    for name in ("one", "two"):
        folder = tmp_path / "functions" / name
        folder.mkdir(parents=True)
        (folder / "helper_for_test.py").write_text(f"NAME = {name!r}\n")
        (folder / "app.py").write_text(
            textwrap.dedent(f"""\
            import os
            import helper_for_test
            from shared_lib_for_test import GREETING

            def handler(event, context):
                return {{"function": {name!r}, "helper": helper_for_test.NAME, "greeting": GREETING,
                         "mode": os.environ.get("MODE"), "event": event["id"], "name": context.function_name}}
            """)
        )
    template = {
        "Globals": {
            "Function": {
                "Handler": "app.handler",
                "Layers": [{"Ref": "Shared"}],
                "Environment": {"Variables": {"MODE": {"Ref": "Mode"}, "A": "global"}},
            }
        },
        "Parameters": {"Mode": {"Type": "String", "Default": "report"}},
        "Resources": {
            "Shared": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {"ContentUri": "layers/shared"},
            },
            "One": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/one",
                    "Layers": [{"Ref": "PublicLayerParameter"}],
                    "Environment": {"Variables": {"B": "own"}},
                    "Events": {"E": {"Type": "EventBridgeRule", "Properties": {"Pattern": {"source": ["one"]}}}},
                },
            },
            "Two": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/two",
                    "Events": {"E": {"Type": "EventBridgeRule", "Properties": {"Pattern": {"source": ["two"]}}}},
                },
            },
        },
    }
    return functions(template, base_dir=tmp_path)


def test_globals_are_merged_as_sam_merges_them(mini_stack: list[Any], tmp_path: Path) -> None:
    one, two = mini_stack

    assert one.layers_dirs == two.layers_dirs == [(tmp_path / "layers" / "shared" / "python").resolve()]
    assert one.properties["Layers"] == [{"Ref": "Shared"}, {"Ref": "PublicLayerParameter"}]
    assert one.environment == {"MODE": "report", "A": "global", "B": "own"}
    assert two.environment == {"MODE": "report", "A": "global"}


def test_invoke_runs_each_handler_in_its_own_module(mini_stack: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODE", "before")
    one, two = mini_stack
    event = {"id": "e-1", "source": "two"}

    assert [spec.logical_id for spec in route(event, mini_stack)] == ["Two"]
    first = invoke(one, event, environment=one.environment)
    second = invoke(two, event, lambda_context(two))

    assert first == {
        "function": "one",
        "helper": "one",
        "greeting": "hello from the layer",
        "mode": "report",
        "event": "e-1",
        "name": "One",
    }
    assert (second["function"], second["helper"], second["mode"]) == ("two", "two", "before")
    assert os.environ["MODE"] == "before", "environment restored after the call"
    assert str(one.code_uri) not in sys.path, "the CodeUri is on sys.path only while importing and running"
    assert sys.modules["_trailguard_fn.One.app"] is not sys.modules["_trailguard_fn.Two.app"]


def test_invoke_refuses_an_environment_with_unresolved_values(mini_stack: list[Any]) -> None:
    with pytest.raises(ValueError, match="TOPIC"):
        invoke(mini_stack[0], {"id": "e"}, environment={"TOPIC": {"Ref": "FindingsTopic"}})


def test_a_missing_handler_file_is_reported(mini_stack: list[Any], tmp_path: Path) -> None:
    (tmp_path / "functions" / "one" / "app.py").unlink()
    spec = dataclasses.replace(mini_stack[0], logical_id="OneWithoutCode")

    with pytest.raises(FileNotFoundError, match=r"app\.py"):
        invoke(spec, {"id": "e"})
