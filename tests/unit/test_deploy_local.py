"""The pure parts of `make deploy-local`: template transformations for moto, S3 URLs, tool environments.

No server here: `make deploy-local` itself runs the rehearsal on moto server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.deploy_local import moto_main
from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import MEMBER_TEMPLATE, LocalConfig, stack_set_resource
from harness.deploy_local.runner import import_roots
from harness.deploy_local.server import ROOT, server_environment
from harness.deploy_local.sweep_run import failed_records, schedule_input
from harness.deploy_local.tools import Credentials, LocalCloud, StepError, tool_environment
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
from harness.deploy_local.verify import (
    StackView,
    cloudformation_string,
    expected_outputs,
    lambda_environment,
    policy_document,
    queue_attributes,
    redrive_policy,
    schedule_target,
)
from harness.template import functions, load_template, parameter_values, resolver


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


# ------------------------------------------------------------------------------------------------
# Values as CloudFormation gives them
# ------------------------------------------------------------------------------------------------


def test_lambda_environment_values_are_strings_as_cloudformation_passes_them() -> None:
    unresolved = {"Ref": "FindingsTopic"}

    environment = lambda_environment(
        {"HOURS": 12, "RATIO": 0.5, "ON": True, "OFF": False, "TEXT": "3", "X": unresolved}
    )

    assert environment == {"HOURS": "12", "RATIO": "0.5", "ON": "true", "OFF": "false", "TEXT": "3", "X": unresolved}
    assert cloudformation_string("") == ""


def test_template_yaml_environment_reads_the_same_whether_moto_kept_numbers_or_not() -> None:
    """template.yaml's variables from Number parameters (e.g. the inventory's age from SweepHeartbeatHours):
    moto hands them back as numbers, CloudFormation as strings; both read the same once stringified."""
    specs = functions(parameters={"LogBucketName": "bucket", "CentralKeyArn": "arn"})
    (worker,) = [spec for spec in specs if spec.logical_id == "SweepWorkerFunction"]
    resolved = {name: value for name, value in worker.environment.items() if isinstance(value, str)}
    as_moto_keeps_them = {name: int(value) if value.isdigit() else value for name, value in resolved.items()}

    assert resolved["TRAILGUARD_INVENTORY_MAX_AGE_HOURS"] == "12"
    assert as_moto_keeps_them["TRAILGUARD_INVENTORY_MAX_AGE_HOURS"] == 12
    assert lambda_environment(as_moto_keeps_them) == lambda_environment(resolved) == resolved


def test_redrive_policies_compare_in_one_form() -> None:
    declared = {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:222222222222:dlq", "maxReceiveCount": 3}
    from_sqs = json.dumps({"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:222222222222:dlq", "maxReceiveCount": "3"})

    assert redrive_policy(declared) == redrive_policy(from_sqs) == declared
    assert redrive_policy(None) is None
    assert redrive_policy("") is None


def test_queue_attributes_fill_in_the_sqs_defaults() -> None:
    assert queue_attributes({}) == {
        "SqsManagedSseEnabled": "false",
        "MessageRetentionPeriod": "345600",
        "VisibilityTimeout": "30",
    }
    declared = {
        "SqsManagedSseEnabled": True,
        "VisibilityTimeout": 1800,
        "MessageRetentionPeriod": 86400,
        "RedrivePolicy": {"deadLetterTargetArn": "arn:dlq", "maxReceiveCount": "3"},
    }
    assert queue_attributes(declared) == {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": "86400",
        "VisibilityTimeout": "1800",
        "RedrivePolicy": {"deadLetterTargetArn": "arn:dlq", "maxReceiveCount": 3},
    }


def _member_view(account: str, region: str, live: dict[str, Any]) -> StackView:
    template = load_template(MEMBER_TEMPLATE)
    values = parameter_values(
        template,
        {
            "CentralEventBusArn": "arn:aws:events:eu-west-1:222222222222:event-bus/trailguard-central",
            "CentralAccountId": "222222222222",
            "PrimaryRegion": "eu-west-1",
            "AWS::AccountId": account,
            "AWS::Region": region,
        },
    )
    return StackView(LocalCloud("http://localhost:1", region), account, "member", template, {}, {**values, **live})


def test_member_outputs_expected_are_those_whose_condition_holds_resolved_from_live_values() -> None:
    live = {
        "RemediationRole.Arn": "arn:aws:iam::333333333333:role/TrailGuardRemediation",
        "ForwardRule.Arn": "arn:aws:events:eu-west-1:333333333333:rule/TrailGuardEventForwarder",
        "ForwarderRole.Arn": "arn:aws:iam::333333333333:role/TrailGuardEventForwarder-eu-west-1",
        "ForwardDeadLetterQueue": "https://sqs.eu-west-1.amazonaws.com/333333333333/forward-dlq",
    }

    assert expected_outputs(_member_view("333333333333", "eu-west-1", live)) == {
        "RemediationRoleArn": live["RemediationRole.Arn"],
        "ForwardRuleArn": live["ForwardRule.Arn"],
        "ForwarderRoleArn": live["ForwarderRole.Arn"],
        "ForwardDeadLetterQueueUrl": live["ForwardDeadLetterQueue"],
    }
    # The central account's bus region forwards through the central stack: only the role there.
    assert set(expected_outputs(_member_view("222222222222", "eu-west-1", live))) == {"RemediationRoleArn"}
    # Another region of a member: forwarding only (the role is global, made in the primary region).
    assert set(expected_outputs(_member_view("333333333333", "us-east-1", live))) == {
        "ForwardRuleArn",
        "ForwarderRoleArn",
        "ForwardDeadLetterQueueUrl",
    }


# ------------------------------------------------------------------------------------------------
# The sweep: schedule, batches
# ------------------------------------------------------------------------------------------------

_SCHEDULED: dict[str, Any] = {
    "Resources": {
        "Planner": {"Type": "AWS::Lambda::Function"},
        "PlannerSweep": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {"Target": {"Arn": {"Fn::GetAtt": ["Planner", "Arn"]}, "Input": '{"trigger": "sweep"}'}},
        },
    }
}


def test_the_schedule_target_and_the_event_it_sends() -> None:
    assert schedule_target(_SCHEDULED) == "Planner"
    assert schedule_input(_SCHEDULED, "Planner") == {"trigger": "sweep"}
    with pytest.raises(StepError, match="no Scheduler schedule targets Worker"):
        schedule_input(_SCHEDULED, "Worker")


def test_two_schedules_name_no_single_target() -> None:
    template = json.loads(json.dumps(_SCHEDULED))
    template["Resources"]["Other"] = template["Resources"]["PlannerSweep"]

    assert schedule_target(template) is None
    assert schedule_target({"Resources": {}}) is None


def test_failed_records_are_those_reported_or_the_whole_batch_without_partial_responses() -> None:
    received = [{"MessageId": "a"}, {"MessageId": "b"}, {"MessageId": "c"}]
    response = {"batchItemFailures": [{"itemIdentifier": "b"}]}

    assert failed_records(response, received, partial=True) == {"b"}
    assert failed_records(response, received, partial=False) == {"a", "b", "c"}
    assert failed_records({"batchItemFailures": []}, received, partial=False) == set()
    assert failed_records(None, received, partial=True) == set()


# ------------------------------------------------------------------------------------------------
# The server
# ------------------------------------------------------------------------------------------------


def test_server_environment_puts_the_repository_first_and_keeps_accounts_apart() -> None:
    environment = server_environment({"PATH": "/usr/bin", "MOTO_ACCOUNT_ID": "123456789012", "PYTHONPATH": "x"})

    assert environment["PATH"] == "/usr/bin"
    assert "MOTO_ACCOUNT_ID" not in environment
    assert environment["PYTHONPATH"].split(":") == [str(ROOT), "x"]
    assert server_environment({})["PYTHONPATH"] == str(ROOT)


def test_the_server_launcher_brings_moto_in_line_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(moto_main.moto_fixes, "apply", lambda: calls.append("fixes"))
    monkeypatch.setattr(moto_main, "serve", lambda argv: calls.append(argv))

    moto_main.main(["-H", "127.0.0.1", "-p", "5000"])

    assert calls == ["fixes", ["-H", "127.0.0.1", "-p", "5000"]]
