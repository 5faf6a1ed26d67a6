"""The pure parts of `make deploy-local`: template transformations for moto, S3 URLs, tool environments.

No server here: `make deploy-local` itself runs the rehearsal on moto server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import LocalConfig, stack_set_resource
from harness.deploy_local.runner import import_roots
from harness.deploy_local.tools import Credentials, StepError, tool_environment
from harness.deploy_local.transform import (
    artifact_locations,
    for_moto,
    local_template_url,
    relocate_public_ssm_defaults,
    rewrite_event_bus_refs,
    s3_location,
    serialize_key_policies,
    stack_parameters,
)
from harness.deploy_local.verify import policy_document
from harness.template import load_template, resolver


def _references(node: Any, name: str) -> list[Any]:
    """Every `Ref`, `Fn::GetAtt` or `Fn::Sub` node that mentions `name`."""
    found: list[Any] = []
    if isinstance(node, dict):
        if (
            node.get("Ref") == name
            or ("Fn::GetAtt" in node and node["Fn::GetAtt"][0] == name)
            or ("Fn::Sub" in node and f"${{{name}" in json.dumps(node["Fn::Sub"]))
        ):
            found.append(node)
        for value in node.values():
            found.extend(_references(value, name))
    elif isinstance(node, list):
        for item in node:
            found.extend(_references(item, name))
    return found


# ------------------------------------------------------------------------------------------------
# Event bus references
# ------------------------------------------------------------------------------------------------


def test_ref_of_an_event_bus_becomes_its_name_attribute() -> None:
    template: dict[str, Any] = {
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "central"}},
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {"EventBusName": {"Ref": "Bus"}, "Targets": [{"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}}]},
            },
            "Policy": {
                "Type": "AWS::Events::EventBusPolicy",
                "Properties": {"EventBusName": {"Ref": "Bus"}, "Note": {"Ref": "Queue"}},
            },
        }
    }

    rewritten = rewrite_event_bus_refs(template)

    assert rewritten["Resources"]["Rule"]["Properties"]["EventBusName"] == {"Fn::GetAtt": ["Bus", "Name"]}
    assert rewritten["Resources"]["Policy"]["Properties"]["EventBusName"] == {"Fn::GetAtt": ["Bus", "Name"]}
    assert rewritten["Resources"]["Policy"]["Properties"]["Note"] == {"Ref": "Queue"}  # not a bus: unchanged
    assert template["Resources"]["Rule"]["Properties"]["EventBusName"] == {"Ref": "Bus"}  # input not mutated


def test_sub_of_an_event_bus_reads_its_name_but_keeps_attributes_and_local_variables() -> None:
    template = {
        "Resources": {
            "Bus": {"Type": "AWS::Events::EventBus"},
            "A": {"Properties": {"Text": {"Fn::Sub": "bus ${Bus} arn ${Bus.Arn} region ${AWS::Region} ${!Bus}"}}},
            "B": {"Properties": {"Text": {"Fn::Sub": ["${Bus}/${Other}", {"Other": {"Ref": "Bus"}}]}}},
            "C": {"Properties": {"Text": {"Fn::Sub": ["${Bus}", {"Bus": "shadowed"}]}}},
        }
    }

    resources = rewrite_event_bus_refs(template)["Resources"]

    assert resources["A"]["Properties"]["Text"] == {
        "Fn::Sub": "bus ${Bus.Name} arn ${Bus.Arn} region ${AWS::Region} ${!Bus}"
    }
    assert resources["B"]["Properties"]["Text"] == {
        "Fn::Sub": ["${Bus.Name}/${Other}", {"Other": {"Fn::GetAtt": ["Bus", "Name"]}}]
    }
    assert resources["C"]["Properties"]["Text"] == {"Fn::Sub": ["${Bus}", {"Bus": "shadowed"}]}


def test_template_yaml_reads_the_same_values_after_the_bus_rewrite() -> None:
    # Given template.yaml with the values CloudFormation would see (a bus's Ref is its name)
    template = load_template()
    given = {"CentralKeyArn": "arn:aws:kms:eu-west-1:222222222222:key/k", "LogBucketName": "logs-bucket"}
    values = {**given, "CentralEventBus": "trailguard-central", "CentralEventBus.Name": "trailguard-central"}
    values["CentralEventBus.Arn"] = "arn:aws:events:eu-west-1:222222222222:event-bus/trailguard-central"
    values["CentralForwarderRole.Arn"] = "arn:aws:iam::222222222222:role/forwarder"
    values["EventDeadLetterQueue.Arn"] = "arn:aws:sqs:eu-west-1:222222222222:dlq"

    rewritten = rewrite_event_bus_refs(template)

    # Then no Ref to the bus is left, and every bus name reads the same as before
    assert not [node for node in _references(rewritten, "CentralEventBus") if "Ref" in node]
    before, after = resolver(template, values, strict=False), resolver(rewritten, values, strict=False)
    for logical_id in ("CentralEventBusPolicy", "CentralForwardRule"):
        assert after.resolve(rewritten["Resources"][logical_id]) == before.resolve(template["Resources"][logical_id])
    rule = rewritten["Resources"]["TrailGuardFunction"]["Properties"]["Events"]["TrailApiCall"]["Properties"]
    assert after.resolve(rule["EventBusName"]) == "trailguard-central"


# ------------------------------------------------------------------------------------------------
# Key policies
# ------------------------------------------------------------------------------------------------


def test_key_policy_objects_become_json_strings_of_the_same_document() -> None:
    template = load_template()
    values = {"FindingsTopicKey": "k"}

    serialized = serialize_key_policies(template)

    policy = serialized["Resources"]["FindingsTopicKey"]["Properties"]["KeyPolicy"]
    assert set(policy) == {"Fn::ToJsonString"}
    resolve = resolver(template, values).resolve
    assert json.loads(resolve(policy)) == resolve(template["Resources"]["FindingsTopicKey"]["Properties"]["KeyPolicy"])
    assert serialized["Resources"]["FindingsTopic"] == template["Resources"]["FindingsTopic"]


def test_key_policies_already_strings_or_wrapped_are_left_alone() -> None:
    wrapped = {"Fn::ToJsonString": {"Version": "2012-10-17"}}
    template = {
        "Resources": {
            "Text": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": '{"Version": "2012-10-17"}'}},
            "Wrapped": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": wrapped}},
            "Bare": {"Type": "AWS::KMS::Key"},
        }
    }

    assert serialize_key_policies(template) == template


def test_for_moto_applies_both_rewrites() -> None:
    moto_ready = for_moto(load_template())

    assert "Fn::ToJsonString" in moto_ready["Resources"]["FindingsTopicKey"]["Properties"]["KeyPolicy"]
    assert moto_ready["Resources"]["CentralEventBusPolicy"]["Properties"]["EventBusName"] == {
        "Fn::GetAtt": ["CentralEventBus", "Name"]
    }


# ------------------------------------------------------------------------------------------------
# Public SSM parameters
# ------------------------------------------------------------------------------------------------


def test_public_ssm_default_of_the_powertools_layer_moves_under_the_local_prefix() -> None:
    template = load_template()
    public = template["Parameters"]["PowertoolsLayerArn"]["Default"]

    relocated, moved = relocate_public_ssm_defaults(template, "/trailguard-local")

    local = "/trailguard-local" + public.removeprefix("/aws")
    assert relocated["Parameters"]["PowertoolsLayerArn"]["Default"] == local
    assert moved == {local: public}
    assert relocated["Parameters"]["Mode"] == template["Parameters"]["Mode"]
    assert template["Parameters"]["PowertoolsLayerArn"]["Default"] == public  # input not mutated


def test_only_public_defaults_of_ssm_typed_parameters_move() -> None:
    template = {
        "Parameters": {
            "Own": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/team/layer"},
            "Plain": {"Type": "String", "Default": "/aws/service/looks-public"},
            "NoDefault": {"Type": "AWS::SSM::Parameter::Value<String>"},
        }
    }

    relocated, moved = relocate_public_ssm_defaults(template, "/local")

    assert relocated == template
    assert moved == {}


@pytest.mark.parametrize("prefix", ["local", "/aws/local", "/local/", "/AWS/x"])
def test_a_prefix_that_ssm_would_refuse_is_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        relocate_public_ssm_defaults({}, prefix)


# ------------------------------------------------------------------------------------------------
# S3 URLs and artifacts
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://artifacts/trailguard/abc123", ("artifacts", "trailguard/abc123")),
        ("http://localhost:45123/artifacts/trailguard/m.template", ("artifacts", "trailguard/m.template")),
        ("http://127.0.0.1:45123/artifacts/trailguard/m.template", ("artifacts", "trailguard/m.template")),
        ("https://s3.eu-west-1.amazonaws.com/artifacts/a/b.template", ("artifacts", "a/b.template")),
        ("https://s3.amazonaws.com/artifacts/b.template", ("artifacts", "b.template")),
        ("https://s3-eu-west-1.amazonaws.com/artifacts/b.template", ("artifacts", "b.template")),
        ("https://artifacts.s3.eu-west-1.amazonaws.com/a/b.template", ("artifacts", "a/b.template")),
        ("https://my.dotted.bucket.s3.amazonaws.com/b.template", ("my.dotted.bucket", "b.template")),
        ("https://artifacts.s3.amazonaws.com/a%20b.template", ("artifacts", "a b.template")),
    ],
)
def test_s3_location_reads_the_urls_sam_package_writes(url: str, expected: tuple[str, str]) -> None:
    assert s3_location(url) == expected


@pytest.mark.parametrize("url", ["templates/member.yaml", "ftp://host/b/k", "http://localhost:1/bucket-only", "s3://b"])
def test_s3_location_rejects_what_is_not_an_object_url(url: str) -> None:
    with pytest.raises(ValueError, match="S3"):
        s3_location(url)


def test_template_url_for_moto_is_path_style_on_a_localhost_endpoint() -> None:
    url = local_template_url("http://localhost:45123", "artifacts", "trailguard/m.template")

    assert url == "http://localhost:45123/artifacts/trailguard/m.template"
    assert s3_location(url) == ("artifacts", "trailguard/m.template")


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:45123", "https://s3.eu-west-1.amazonaws.com", "localhost:1"])
def test_template_url_needs_a_localhost_endpoint(endpoint: str) -> None:
    # Moto reads any other host's first label as the bucket name.
    with pytest.raises(ValueError, match="localhost"):
        local_template_url(endpoint, "artifacts", "key")


def test_artifact_locations_of_functions_and_layers() -> None:
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Bucket": "b", "S3Key": "k1"}}},
            "Layer": {"Type": "AWS::Lambda::LayerVersion", "Properties": {"Content": {"S3Bucket": "b", "S3Key": "k2"}}},
            "Inline": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "def h(e, c): pass"}}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Code": {"S3Bucket": "b", "S3Key": "k3"}}},
        }
    }

    assert artifact_locations(template) == {"Fn": ("b", "k1"), "Layer": ("b", "k2")}


def test_the_stack_set_resource_must_carry_a_template_url() -> None:
    with_url = {"Resources": {"Set": {"Type": "AWS::CloudFormation::StackSet", "Properties": {"TemplateURL": "u"}}}}
    assert stack_set_resource(with_url)["Properties"]["TemplateURL"] == "u"
    with pytest.raises(StepError, match="TemplateURL"):
        stack_set_resource({"Resources": {"Set": {"Type": "AWS::CloudFormation::StackSet", "Properties": {}}}})
    with pytest.raises(StepError, match="no AWS::CloudFormation::StackSet"):
        stack_set_resource({"Resources": {}})


def test_stack_parameters() -> None:
    assert stack_parameters({"Mode": "report"}) == [{"ParameterKey": "Mode", "ParameterValue": "report"}]


# ------------------------------------------------------------------------------------------------
# Configuration, environments, checks
# ------------------------------------------------------------------------------------------------


def test_samconfig_local_environment_names_a_bucket_without_resolve_s3() -> None:
    config = LocalConfig.read()

    assert config.stack_name
    assert config.bucket
    assert config.prefix


def test_samconfig_local_environment_with_resolve_s3_is_refused(tmp_path: Path) -> None:
    samconfig = tmp_path / "samconfig.toml"
    samconfig.write_text(
        'version = 0.1\n[local.global.parameters]\nstack_name = "s"\n'
        '[local.package.parameters]\nresolve_s3 = true\ns3_bucket = "b"\ns3_prefix = "p"\n'
    )

    with pytest.raises(StepError, match="resolve_s3"):
        LocalConfig.read(samconfig)
    with pytest.raises(StepError, match=r"no \[prod"):
        LocalConfig.read(samconfig, "prod")


def test_tool_environment_cannot_reach_a_real_account() -> None:
    base = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "AWS_PROFILE": "production",
        "AWS_ACCESS_KEY_ID": "AKIAREAL",
        "MOTO_ACCOUNT_ID": "123456789012",
        "PYTHONPATH": "layers/trailguard:.",
    }

    environment = tool_environment(
        base, endpoint="http://localhost:1", region="eu-west-1", credentials=Credentials("AK", "SK", "TOKEN")
    )

    assert environment["PATH"] == "/usr/bin"
    assert environment["HOME"] == "/home/me"
    assert "AWS_PROFILE" not in environment
    assert "MOTO_ACCOUNT_ID" not in environment
    assert "PYTHONPATH" not in environment
    assert environment["AWS_ENDPOINT_URL"] == "http://localhost:1"
    assert environment["AWS_ACCESS_KEY_ID"] == "AK"
    assert environment["AWS_SESSION_TOKEN"] == "TOKEN"
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_tool_environment_without_credentials_has_none() -> None:
    environment = tool_environment({"AWS_ACCESS_KEY_ID": "AKIAREAL"}, endpoint="http://localhost:1", region="r")

    assert "AWS_ACCESS_KEY_ID" not in environment


def test_handler_import_roots_follow_lambda_order(tmp_path: Path) -> None:
    (tmp_path / "layer-a" / "python").mkdir(parents=True)
    (tmp_path / "layer-b").mkdir()

    roots = import_roots("/task", [str(tmp_path / "layer-a"), str(tmp_path / "layer-b")])

    assert roots == ["/task", str(tmp_path / "layer-a" / "python"), str(tmp_path / "layer-b")]


def test_policy_documents_in_every_shape_moto_returns() -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}

    assert policy_document(document) == document
    assert policy_document(json.dumps(document)) == document
    assert policy_document(str(document)) == document  # the Python literal of a CloudFormation role's policy


def test_checks_print_each_result_and_fail_on_any_failure() -> None:
    lines: list[str] = []
    checks = Checks(out=lines.append)

    checks.equal("same", 1, 1)
    checks.contains("subset", {"a": 1}, {"a": 1, "b": 2})
    checks.equal("differs", 1, 2)
    checks.skip("an alarm")

    assert checks.summary() == 1
    assert lines[0] == "  OK    same"
    assert lines[2] == "  FAIL  differs: expected 1, got 2"
    assert "  - an alarm" in lines
    assert "\n3 checks: 2 OK, 1 FAIL" in lines
    assert Checks(out=lines.append).summary() == 0
