"""template.yaml, templates/member.yaml and samconfig.toml hold the wiring, the permissions and the names
others rely on (docs/configuration.md). These tests read them as data, as the harness does."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from harness.template import (
    REPO_ROOT,
    function_properties,
    functions,
    load_template,
    resolved_statements,
    resolver,
    statement_branches,
)
from trailguard.settings import Settings

TEMPLATE = load_template(REPO_ROOT / "template.yaml")
MEMBER = load_template(REPO_ROOT / "templates" / "member.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
# Values of the member template's required parameters, as the StackSet gives them.
MEMBER_VALUES = {
    "CentralEventBusArn": "arn:aws:events:eu-west-1:222222222222:event-bus/trailguard-central",
    "CentralAccountId": "222222222222",
    "PrimaryRegion": "eu-west-1",
    "AWS::AccountId": "333333333333",
    "AWS::Region": "eu-west-1",
}
GUARD_IDS = ["TrailGuardFunction", "KeyGuardFunction", "BucketGuardFunction"]  # triggered by API-call events
FUNCTION_IDS = [*GUARD_IDS, "SweepFunction", "SweepWorkerFunction"]
CODE_URIS = {
    "TrailGuardFunction": "functions/trail_guard/",
    "KeyGuardFunction": "functions/key_guard/",
    "BucketGuardFunction": "functions/bucket_guard/",
    "SweepFunction": "functions/sweep/",
    "SweepWorkerFunction": "functions/sweep_worker/",
}

# Every function is configured through exactly the variables the settings model reads (docs/configuration.md).
CONTRACT_VARIABLES = {field.alias for field in Settings.model_fields.values() if field.alias}

# Actions without resource-level permissions (Service Authorization Reference): read-only or list only.
STAR_RESOURCE_ALLOWED = {
    "cloudtrail:DescribeTrails",
    "cloudtrail:ListTrails",
    "ec2:DescribeRegions",
    "s3:GetAccountPublicAccessBlock",
    "organizations:ListAccounts",
    "organizations:DescribeOrganization",
    "organizations:ListAWSServiceAccessForOrganization",
}

# Packages the Lambda environment already has (runtime or Powertools layer): never bundled again.
PROVIDED = {"boto3", "botocore", "aws-lambda-powertools", "aws_lambda_powertools", "pydantic", "aws-xray-sdk"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity and resource policy document of a template: (where, document)."""
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            for index, policy in enumerate(properties.get("Policies") or []):
                assert isinstance(policy, dict), f"{name}: use inline statements, not managed policy {policy!r}"
                yield f"{name}.Policies[{index}]", policy
        elif kind == "AWS::IAM::Role":
            for policy in properties.get("Policies") or []:
                yield f"{name}.{policy['PolicyName']}", policy["PolicyDocument"]
        elif kind in {"AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}:
            yield name, properties["PolicyDocument"]


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, document in policy_documents(template):
        for statement in statement_branches(document["Statement"]):
            yield where, statement


def function_statements(logical_id: str) -> list[dict[str, Any]]:
    policies = RESOURCES[logical_id]["Properties"]["Policies"]
    return [statement for policy in policies for statement in statement_branches(policy["Statement"])]


def actions_on(logical_id: str) -> dict[str, list[Any]]:
    """action -> the resources it is allowed on, for one function."""
    granted: dict[str, list[Any]] = {}
    for statement in function_statements(logical_id):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


# ------------------------------------------------------------------------------------------------
# Parsing and layout
# ------------------------------------------------------------------------------------------------


def test_templates_parse_with_short_tags_kept_as_data() -> None:
    assert TEMPLATE["AWSTemplateFormatVersion"] == "2010-09-09"
    assert TEMPLATE["Transform"] == "AWS::Serverless-2016-10-31"
    rule = RESOURCES["TrailGuardFunction"]["Properties"]["Events"]["TrailApiCall"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "CentralEventBus"}
    assert rule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}
    assert "Transform" not in MEMBER, "member.yaml must be plain CloudFormation (the StackSet uploads it as-is)"


def test_the_functions_are_the_three_guards_and_the_sweep_with_their_code_folders() -> None:
    specs = {spec.logical_id: spec for spec in functions(TEMPLATE, {"LogBucketName": "bucket"})}

    assert sorted(specs) == sorted(FUNCTION_IDS)
    for logical_id, code_uri in CODE_URIS.items():
        assert RESOURCES[logical_id]["Properties"]["CodeUri"] == code_uri
        assert specs[logical_id].code_uri == (REPO_ROOT / code_uri).resolve()


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_every_function_has_its_code_folder_handler_file_and_requirements(logical_id: str) -> None:
    spec = next(s for s in functions(TEMPLATE, {"LogBucketName": "bucket"}) if s.logical_id == logical_id)

    assert spec.code_uri.is_dir()
    assert spec.handler == "app.lambda_handler"
    assert spec.handler_file.is_file(), f"{spec.handler_file} is missing"
    assert re.search(rf"^def {spec.handler_function}\(", spec.handler_file.read_text(), re.M)
    requirements = spec.code_uri / "requirements.txt"
    assert requirements.is_file()
    assert not requirement_names(requirements) & PROVIDED


def requirement_names(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower() for line in lines if line}


def test_the_layer_is_the_domain_package_built_by_sam() -> None:
    layer = RESOURCES["TrailGuardLayer"]

    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/trailguard"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    folder = REPO_ROOT / "layers" / "trailguard"
    assert (folder / "trailguard" / "__init__.py").is_file()
    assert not requirement_names(folder / "requirements.txt") & PROVIDED


def test_every_layer_content_uri_exists() -> None:
    for name, layer in of_type(TEMPLATE, "AWS::Serverless::LayerVersion").items():
        assert (REPO_ROOT / layer["Properties"]["ContentUri"]).is_dir(), name


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_every_function_runs_python_313_on_arm_with_both_layers_and_tracing(logical_id: str) -> None:
    properties = function_properties(TEMPLATE, logical_id)

    assert properties["Runtime"] == "python3.13"
    assert properties["Handler"] == "app.lambda_handler"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Layers"] == [{"Ref": "TrailGuardLayer"}, {"Ref": "PowertoolsLayerArn"}]
    assert properties["Tracing"] == "Active"
    # The key and bucket guards read the inventory; the planner lists the organization and the workers take
    # five accounts each: none of them grows with the organization.
    # The workers spend CPU in botocore on every call: a larger share of a vCPU (Lambda scales it with memory).
    expected = {"TrailGuardFunction": (60, 256), "SweepWorkerFunction": (300, 1024)}.get(logical_id, (300, 256))
    assert (properties["Timeout"], properties["MemorySize"]) == expected
    assert properties["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]},
    }
    # A failed event is retried twice; a failed sweep is not repeated (the next one comes on schedule).
    retries = 0 if logical_id == "SweepFunction" else 2
    assert properties["EventInvokeConfig"]["MaximumRetryAttempts"] == retries


def test_the_powertools_layer_comes_from_the_public_ssm_parameter() -> None:
    parameter = TEMPLATE["Parameters"]["PowertoolsLayerArn"]

    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/aws/service/powertools/python/arm64/python3.13/latest"


# ------------------------------------------------------------------------------------------------
# Configuration (docs/configuration.md)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_environment_covers_every_contract_variable(logical_id: str) -> None:
    variables = function_properties(TEMPLATE, logical_id)["Environment"]["Variables"]

    assert {name for name in variables if name.startswith("TRAILGUARD_")} == CONTRACT_VARIABLES
    assert variables["TRAILGUARD_TOPIC_ARN"] == {"Ref": "FindingsTopic"}
    assert variables["TRAILGUARD_IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "trailguard"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "TrailGuard"
    assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_parameter_defaults_are_the_contract_defaults() -> None:
    specs = functions(TEMPLATE, {"LogBucketName": "bucket", "CentralKeyArn": "arn"})
    environment = specs[0].environment

    assert environment["TRAILGUARD_MODE"] == "remediate"
    assert environment["TRAILGUARD_REMEDIATION_ROLE_NAME"] == "TrailGuardRemediation"
    assert environment["TRAILGUARD_EXEMPT_TAG"] == "trailguard:exempt"
    assert environment["TRAILGUARD_REPAIR_POLICIES"] == "false"
    assert environment["TRAILGUARD_WRITE_BUDGET"] == "3"
    assert environment["TRAILGUARD_REMIND_HOURS"] == "24"
    for unset in ("MANAGEMENT_ACCOUNT_ID", "ORG_ID", "ACCOUNTS", "REGIONS", "EXEMPT_TRAILS"):
        assert environment[f"TRAILGUARD_{unset}"] == "", "empty string means unset"


@pytest.mark.parametrize(
    ("parameter", "accepted", "refused"),
    [
        (
            "CentralKeyArn",
            [
                "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:eu-west-1:012345678901:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            ],
            ["alias/trailguard-central", "arn:aws:kms:eu-west-1:222222222222:alias/trailguard-central", ""],
        ),
        ("ManagementAccountId", ["", "111111111111", "012345678901"], ["12345678901", "1111-1111-1111"]),
        ("OrgId", ["", "o-a1b2c3d4e5"], ["a1b2c3d4e5", "o-short"]),
        ("Accounts", ["", "333333333333", "333333333333,012345678901"], ["33333333333", "333333333333,"]),
        ("Regions", ["", "eu-west-1", "eu-west-1, us-east-1"], ["eu-west", "EU-WEST-1"]),
        ("SecurityEmail", ["", "security@example.com"], ["security"]),
        ("LogBucketName", ["trailguard-central-logs-222222222222"], ["Trailguard", "ab", ""]),
        (
            "ExemptTrails",
            [
                "",
                "arn:aws:cloudtrail:*:333333333333:trail/*",
                "arn:aws:cloudtrail:eu-west-1:*:trail/a, arn:*:b",
                "arn:aws:cloudtrail:*:333333333333:trail/lab-*;reason=a lab account;expires=2027-01-31,arn:*:c",
            ],
            ["audit-trail", "arn:aws:cloudtrail:*:333333333333:trail/*,", "arn:a b"],
        ),
        ("ForwarderRoleName", ["TrailGuardEventForwarder", "tg.fwd_1"], ["", "a/b", "x" * 49]),
    ],
)
def test_parameter_patterns(parameter: str, accepted: list[str], refused: list[str]) -> None:
    pattern = re.compile(TEMPLATE["Parameters"][parameter]["AllowedPattern"])

    assert all(pattern.fullmatch(value) for value in accepted)
    assert not any(pattern.fullmatch(value) for value in refused)


def test_choice_parameters() -> None:
    parameters = TEMPLATE["Parameters"]

    assert parameters["Mode"]["AllowedValues"] == ["remediate", "report"]
    assert parameters["RepairPolicies"]["AllowedValues"] == ["true", "false"]
    assert parameters["OrganizationUnitIds"]["Type"] == "CommaDelimitedList"
    assert parameters["MemberRegions"]["Type"] == "CommaDelimitedList"
    assert parameters["LogRetentionDays"]["Default"] == 365
    assert parameters["CentralBusName"]["Default"] == "trailguard-central"


# ------------------------------------------------------------------------------------------------
# IAM: least privilege
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [TEMPLATE, MEMBER], ids=["central", "member"])
def test_no_allow_statement_uses_a_wildcard_action(template: dict[str, Any]) -> None:
    for where, statement in statements(template):
        if statement["Effect"] != "Allow":
            continue
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{where}: wildcard action {action}"


@pytest.mark.parametrize("template", [TEMPLATE, MEMBER], ids=["central", "member"])
def test_star_resources_only_for_actions_without_resource_level_permissions(template: dict[str, Any]) -> None:
    for where, statement in statements(template):
        if statement["Effect"] != "Allow" or "*" not in as_list(statement.get("Resource", [])):
            continue
        assert set(as_list(statement["Action"])) <= STAR_RESOURCE_ALLOWED, where


def test_no_managed_full_access_policies() -> None:
    for name, resource in RESOURCES.items():
        properties = resource.get("Properties") or {}
        for policy in [*(properties.get("Policies") or []), *(properties.get("ManagedPolicyArns") or [])]:
            assert "FullAccess" not in str(policy), name


def test_trail_function_permissions() -> None:
    granted = actions_on("TrailGuardFunction")
    own_trails = {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"}

    for action in ("GetTrail", "GetTrailStatus", "ListTags", "UpdateTrail", "StartLogging"):
        assert granted.pop(f"cloudtrail:{action}") == [own_trails]
    assert granted.pop("sts:AssumeRole") == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}]
    assert granted.pop("cloudtrail:DescribeTrails") == ["*"]  # the account's coverage after StopLogging
    assert granted.pop("ec2:DescribeRegions") == ["*"]
    for action in ("DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus"):
        assert granted.pop(f"kms:{action}") == [{"Ref": "CentralKeyArn"}]
    for action in ("GetBucketLocation", "GetBucketPolicy"):  # explaining a refused UpdateTrail
        assert granted.pop(f"s3:{action}") == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogBucketName}"}]
    assert_publishes_findings(granted)
    assert_tables_only(granted, inventory=("PutItem", "DeleteItem"))  # a trail event keeps its inventory row


def test_key_function_permissions() -> None:
    granted = actions_on("KeyGuardFunction")

    for action in (
        "DescribeKey",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "EnableKey",
        "CancelKeyDeletion",
        "EnableKeyRotation",
        "PutKeyPolicy",
    ):
        assert granted.pop(f"kms:{action}") == [{"Ref": "CentralKeyArn"}]
    # No trail, no region: the trails in scope come from the inventory the sweep keeps.
    assert not any(action.startswith(("cloudtrail:", "ec2:")) for action in granted)
    assert granted.pop("s3:GetBucketLocation") == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogBucketName}"}]
    assert granted.pop("organizations:ListAccounts") == ["*"]
    assert granted.pop("sts:AssumeRole") == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}]
    assert_publishes_findings(granted)
    assert_tables_only(granted, inventory=("GetItem",))


def test_bucket_function_permissions_never_delete_the_bucket_policy() -> None:
    granted = actions_on("BucketGuardFunction")
    bucket = {"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogBucketName}"}

    assert "s3:DeleteBucketPolicy" not in granted
    for action in (
        "GetBucketPolicy",
        "PutBucketPolicy",
        "GetEncryptionConfiguration",
        "PutEncryptionConfiguration",
        "GetBucketPublicAccessBlock",
        "GetBucketVersioning",
        "GetBucketAcl",
        "GetBucketLocation",
        "PutBucketPublicAccessBlock",
    ):
        assert granted.pop(f"s3:{action}") == [bucket]
    assert granted.pop("s3:GetAccountPublicAccessBlock") == ["*"]
    # No trail, no region: the trails in scope come from the inventory the sweep keeps.
    assert not any(action.startswith(("cloudtrail:", "ec2:")) for action in granted)
    assert granted.pop("sts:AssumeRole") == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}]
    assert granted.pop("organizations:ListAccounts") == ["*"]
    assert_publishes_findings(granted)
    assert_tables_only(granted, inventory=("GetItem",))


def planner_roles(statements: list[Any]) -> list[str]:
    return sorted(
        resource for s in statements if s["Action"] == "sts:AssumeRole" for resource in as_list(s["Resource"])
    )


def test_sweep_planner_permissions_read_the_organization_and_send_work_only_to_its_queue() -> None:
    granted = actions_on("SweepFunction")

    assert granted.pop("sqs:SendMessage") == [{"Fn::GetAtt": ["SweepQueue", "Arn"]}]
    assert granted.pop("organizations:ListAccounts") == ["*"]
    assert granted.pop("ec2:DescribeRegions") == ["*"]
    # Into the key's account (the key and the bucket) and the management account (its organization trails)
    # alone, the latter only when the stack knows it.
    granted.pop("sts:AssumeRole")
    statements = RESOURCES["SweepFunction"]["Properties"]["Policies"][0]["Statement"]
    key = "arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    values = {"CentralKeyArn": key, "ManagementAccountId": "111111111111"}
    assert planner_roles(resolved_statements(TEMPLATE, statements, values)) == [
        "arn:aws:iam::111111111111:role/TrailGuardRemediation",
        "arn:aws:iam::333333333333:role/TrailGuardRemediation",
    ]
    unknown = resolved_statements(TEMPLATE, statements, {**values, "ManagementAccountId": ""})
    assert planner_roles(unknown) == ["arn:aws:iam::333333333333:role/TrailGuardRemediation"]
    assert all(isinstance(statement, dict) for statement in unknown)  # the conditional one is gone, not None
    # It judges the key and the bucket (once per sweep) but changes no trail: the workers do.
    assert not any(action.startswith("cloudtrail:") for action in granted)
    assert {action for action in granted if action.startswith("kms:") and granted[action] == [{"Ref": "CentralKeyArn"}]}
    assert "s3:DeleteBucketPolicy" not in granted
    assert_tables_only(
        {action: tables for action, tables in granted.items() if action.startswith("dynamodb:")},
        idempotency=False,
        inventory=("GetItem",),
    )


def test_sweep_worker_permissions_repair_trails_and_only_read_the_key() -> None:
    granted = actions_on("SweepWorkerFunction")
    own_trails = {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"}

    for action in ("GetTrail", "GetTrailStatus", "ListTags", "UpdateTrail", "StartLogging"):
        assert granted.pop(f"cloudtrail:{action}") == [own_trails]
    assert granted.pop("cloudtrail:ListTrails") == ["*"]
    assert granted.pop("sts:AssumeRole") == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}]
    for action in ("DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus"):  # explaining a refused UpdateTrail
        assert granted.pop(f"kms:{action}") == [{"Ref": "CentralKeyArn"}]
    for action in ("GetBucketLocation", "GetBucketPolicy"):  # explaining a refused UpdateTrail
        assert granted.pop(f"s3:{action}") == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogBucketName}"}]
    for action in ("DescribeRule", "ListTargetsByRule"):
        assert len(granted.pop(f"events:{action}")) == 2
    assert_publishes_findings(granted)
    assert_tables_only(granted, idempotency=False)


def test_the_sweep_queue_feeds_the_workers_in_batches_with_partial_failures_and_a_dead_letter_queue() -> None:
    queue = RESOURCES["SweepQueue"]["Properties"]
    worker = RESOURCES["SweepWorkerFunction"]["Properties"]
    (event,) = worker["Events"].values()
    variables = function_properties(TEMPLATE, "SweepWorkerFunction")["Environment"]["Variables"]

    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["SweepQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "SweepWorkers"}
    assert worker["ReservedConcurrentExecutions"] == {"Ref": "SweepWorkers"}
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["SweepWorkDeadLetterQueue", "Arn"]}
    # The last attempt reports the account as not evaluated instead of failing: the two numbers must agree.
    assert str(queue["RedrivePolicy"]["maxReceiveCount"]) == variables["TRAILGUARD_SWEEP_ATTEMPTS"]
    alarm = RESOURCES["SweepWorkDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SweepWorkDeadLetterQueue", "QueueName"]}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    statements = RESOURCES["SweepQueuesPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    only_planner = next(s for s in statements if s["Sid"] == "OnlyThePlannerSends")
    assert only_planner["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == {"Fn::GetAtt": ["SweepFunctionRole", "Arn"]}


def assert_publishes_findings(granted: dict[str, list[Any]]) -> None:
    assert granted.pop("sns:Publish") == [{"Ref": "FindingsTopic"}]
    for action in ("GenerateDataKey", "Decrypt"):
        assert granted.pop(f"kms:{action}") == [{"Fn::GetAtt": ["FindingsTopicKey", "Arn"]}]
    own_product = "arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default"
    assert granted.pop("securityhub:BatchImportFindings") == [{"Fn::Sub": own_product}]


def assert_tables_only(
    rest: dict[str, list[Any]], *, idempotency: bool = True, inventory: tuple[str, ...] = ()
) -> None:
    """What is left is the idempotency table (event handlers) and the state table (the ledger, and the inventory
    actions named): nothing else, no other table."""
    idem, ledger = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}, {"Fn::GetAtt": ["StateTable", "Arn"]}
    expected: dict[str, list[Any]] = {
        f"dynamodb:{a}": [ledger] for a in ("Query", "PutItem", "UpdateItem", "BatchWriteItem", *inventory)
    }
    if idempotency:
        for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
            expected[f"dynamodb:{action}"] = [idem, *expected.get(f"dynamodb:{action}", [])]
    assert {action: sorted(map(str, tables)) for action, tables in rest.items()} == {
        action: sorted(map(str, tables)) for action, tables in expected.items()
    }


# ------------------------------------------------------------------------------------------------
# Event intake: rules, bus, dead letters
# ------------------------------------------------------------------------------------------------


def function_rules() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for logical_id in GUARD_IDS:
        for name, event in RESOURCES[logical_id]["Properties"]["Events"].items():
            yield logical_id, name, event


def test_every_function_rule_is_on_the_central_bus_with_retries_and_a_dead_letter_queue() -> None:
    rules = list(function_rules())

    assert [(f, n) for f, n, _ in rules] == [
        ("TrailGuardFunction", "TrailApiCall"),
        ("KeyGuardFunction", "KeyApiCall"),
        ("BucketGuardFunction", "BucketApiCall"),
    ]
    for _, _, event in rules:
        assert event["Type"] == "EventBridgeRule"
        properties = event["Properties"]
        assert properties["EventBusName"] == {"Ref": "CentralEventBus"}
        assert properties["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
        assert properties["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["EventDeadLetterQueue", "Arn"]}}
        pattern = properties["Pattern"]
        assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
        assert pattern["detail"]["errorCode"] == [{"exists": False}]


def test_the_dead_letter_queue_admits_only_this_stacks_rules() -> None:
    queue = RESOURCES["EventDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600

    allow = [
        s
        for s in as_list(RESOURCES["EventDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"])
        if s["Effect"] == "Allow"
    ]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow[0]["Action"] == "sqs:SendMessage"
    sources = allow[0]["Condition"]["ArnEquals"]["aws:SourceArn"]
    expected = [{"Fn::GetAtt": [f"{function}{name}", "Arn"]} for function, name, _ in function_rules()]
    assert sources == [*expected, {"Fn::GetAtt": ["CentralForwardRule", "Arn"]}]


def test_forwarders_carry_every_event_name_the_functions_listen_to() -> None:
    names = {n for _, _, event in function_rules() for n in event["Properties"]["Pattern"]["detail"]["eventName"]}
    sources = {s for _, _, event in function_rules() for s in event["Properties"]["Pattern"]["source"]}
    central = RESOURCES["CentralForwardRule"]["Properties"]
    member = MEMBER["Resources"]["ForwardRule"]["Properties"]

    for forwarder in (central, member):
        assert forwarder["EventBusName"] == "default"
        assert set(forwarder["EventPattern"]["detail"]["eventName"]) == names
        assert set(forwarder["EventPattern"]["source"]) == sources
        assert forwarder["Targets"][0]["RetryPolicy"] == {
            "MaximumRetryAttempts": 4,
            "MaximumEventAgeInSeconds": 3600,
        }
    assert central["EventPattern"] == member["EventPattern"]
    assert central["Targets"][0]["Arn"] == {"Fn::GetAtt": ["CentralEventBus", "Arn"]}


def test_forwarder_roles_are_trusted_by_eventbridge_for_their_own_rule_only() -> None:
    pairs = (
        (TEMPLATE, "CentralForwarderRole", "CentralForwardRule", {}),
        (MEMBER, "ForwarderRole", "ForwardRule", MEMBER_VALUES),
    )
    for template, role_id, rule_id, values in pairs:
        role = template["Resources"][role_id]
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        # The rule is named, so its ARN is known without a reference (which would be circular).
        resolve = resolver(template, values).resolve
        rule = template["Resources"][rule_id]
        account, region = resolve({"Ref": "AWS::AccountId"}), resolve({"Ref": "AWS::Region"})
        rule_arn = f"arn:aws:events:{region}:{account}:rule/{resolve(rule['Properties']['Name'])}"
        assert resolve(trust["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_arn
        assert rule["Properties"]["Targets"][0]["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
        (policy,) = role["Properties"]["Policies"]
        (allow,) = policy["PolicyDocument"]["Statement"]
        assert allow["Action"] == "events:PutEvents"


def bus_statement(org_id: str) -> dict[str, Any]:
    values = {
        "OrgId": org_id,
        "CentralForwarderRole.Arn": CENTRAL_FORWARDER_ARN,
        "CentralEventBus.Arn": "arn:aws:events:eu-west-1:222222222222:event-bus/trailguard-central",
    }
    statement: dict[str, Any] = resolver(TEMPLATE, values).resolve(
        RESOURCES["CentralEventBusPolicy"]["Properties"]["Statement"]
    )
    return statement


CENTRAL_FORWARDER_ARN = "arn:aws:iam::222222222222:role/trailguard/trailguard-CentralForwarderRole-ABC"


def test_the_central_bus_admits_only_the_forwarder_roles_of_the_organization() -> None:
    statement = bus_statement("o-a1b2c3d4e5")

    assert statement["Principal"] == "*"
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}
    patterns = statement["Condition"]["ArnLike"]["aws:PrincipalArn"]
    assert patterns == ["arn:aws:iam::*:role/TrailGuardEventForwarder-*", CENTRAL_FORWARDER_ARN]
    # What member.yaml creates in any account and region matches; nothing else of the organization does.
    for account, region in (("333333333333", "us-east-1"), ("012345678901", "ap-southeast-2")):
        assert any(fnmatchcase(member_forwarder_arn(account, region), p) for p in patterns)
    for other in (
        "arn:aws:iam::333333333333:role/Admin",
        "arn:aws:iam::333333333333:role/TrailGuardRemediation",
        "arn:aws:iam::333333333333:user/TrailGuardEventForwarder-x",
    ):
        assert not any(fnmatchcase(other, p) for p in patterns), other


def test_without_an_organization_the_central_bus_admits_only_this_accounts_forwarders() -> None:
    statement = bus_statement("")

    assert statement["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    assert statement["Condition"] == {
        "ArnLike": {
            "aws:PrincipalArn": ["arn:aws:iam::222222222222:role/TrailGuardEventForwarder-*", CENTRAL_FORWARDER_ARN]
        }
    }
    assert fnmatchcase(
        member_forwarder_arn("222222222222", "us-east-1"), statement["Condition"]["ArnLike"]["aws:PrincipalArn"][0]
    )


def member_forwarder_arn(account: str, region: str, **parameters: str) -> str:
    """The ARN of the forwarding role member.yaml creates in one account and region."""
    values = {**MEMBER_VALUES, "AWS::AccountId": account, "AWS::Region": region, **parameters}
    name = resolver(MEMBER, values).resolve(MEMBER["Resources"]["ForwarderRole"]["Properties"]["RoleName"])
    return f"arn:aws:iam::{account}:role/{name}"


def test_the_forwarder_role_name_is_the_same_parameter_in_both_templates() -> None:
    central, member = TEMPLATE["Parameters"]["ForwarderRoleName"], MEMBER["Parameters"]["ForwarderRoleName"]

    assert central["Default"] == member["Default"] == "TrailGuardEventForwarder"
    assert central["AllowedPattern"] == member["AllowedPattern"]
    given = {p["ParameterKey"]: p["ParameterValue"] for p in RESOURCES["MemberStackSet"]["Properties"]["Parameters"]}
    assert given["ForwarderRoleName"] == {"Ref": "ForwarderRoleName"}
    # The longest name the parameter allows, in a region with one of the longest names, is a valid role name.
    longest = member_forwarder_arn("333333333333", "ap-southeast-5", ForwarderRoleName="x" * 48)
    assert len(longest.split("/")[-1]) <= 64


# ------------------------------------------------------------------------------------------------
# Findings, idempotency, logs
# ------------------------------------------------------------------------------------------------


def test_findings_topic_is_encrypted_and_refuses_publishing_without_tls() -> None:
    assert RESOURCES["FindingsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "FindingsTopicKey"}
    assert RESOURCES["FindingsTopicKey"]["Properties"]["EnableKeyRotation"] is True
    deny, _ = RESOURCES["FindingsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "sns:Publish"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # CloudWatch alarms go to a topic of their own (same key): only findings reach the findings topic.
    assert RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "FindingsTopicKey"}
    _, alarms = RESOURCES["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    subscription = RESOURCES["SecurityEmailSubscription"]
    assert subscription["Condition"] == "HasSecurityEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_idempotency_table_layout() -> None:
    table = RESOURCES["IdempotencyTable"]["Properties"]

    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_every_function_logs_to_its_own_log_group_with_retention(logical_id: str) -> None:
    properties = RESOURCES[logical_id]["Properties"]
    group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
    group = RESOURCES[group_id]

    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + properties["FunctionName"]["Fn::Sub"]}


def test_every_log_group_has_retention() -> None:
    for name, group in of_type(TEMPLATE, "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], name


# ------------------------------------------------------------------------------------------------
# Member accounts
# ------------------------------------------------------------------------------------------------


def test_the_stackset_deploys_member_yaml_with_every_required_parameter() -> None:
    stackset = RESOURCES["MemberStackSet"]
    properties = stackset["Properties"]

    assert stackset["Condition"] == "HasOrganizationUnits"
    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["AutoDeployment"]["Enabled"] is True
    assert (REPO_ROOT / properties["TemplateURL"]).is_file()
    given = {p["ParameterKey"] for p in properties["Parameters"]}
    declared = MEMBER["Parameters"]
    assert given <= set(declared)
    assert {name for name, p in declared.items() if "Default" not in p} <= given
    targets = properties["StackInstancesGroup"][0]
    assert targets["DeploymentTargets"]["OrganizationalUnitIds"] == {"Ref": "OrganizationUnitIds"}
    assert targets["Regions"] == {"Ref": "MemberRegions"}


def test_member_remediation_role_trusts_only_the_central_function_roles() -> None:
    role = MEMBER["Resources"]["RemediationRole"]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]

    assert role["Condition"] == "IsPrimaryRegion"
    assert role["Properties"]["RoleName"] == {"Ref": "RemediationRoleName"}
    assert trust["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralAccountId}:root"}}
    assert trust["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
        {"Ref": "TrailGuardFunctionRoleArn"},
        {"Ref": "KeyGuardFunctionRoleArn"},
        {"Ref": "BucketGuardFunctionRoleArn"},
        {"Ref": "SweepFunctionRoleArn"},
        {"Ref": "SweepWorkerFunctionRoleArn"},
    ]


def test_member_remediation_role_can_read_and_repair_trails_and_read_the_organization_only() -> None:
    (policy,) = MEMBER["Resources"]["RemediationRole"]["Properties"]["Policies"]
    granted = {
        action: statement["Resource"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    }

    own_trails = {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"}
    assert granted == {
        "cloudtrail:GetTrail": own_trails,
        "cloudtrail:GetTrailStatus": own_trails,
        "cloudtrail:ListTags": own_trails,
        "cloudtrail:UpdateTrail": own_trails,
        "cloudtrail:StartLogging": own_trails,
        "cloudtrail:ListTrails": "*",
        "cloudtrail:DescribeTrails": "*",
        "events:DescribeRule": {
            "Fn::Sub": "arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/${ForwarderRoleName}"
        },
        "events:ListTargetsByRule": {
            "Fn::Sub": "arn:${AWS::Partition}:events:*:${AWS::AccountId}:rule/${ForwarderRoleName}"
        },
        "organizations:ListAccounts": "*",
        "organizations:DescribeOrganization": "*",
        "organizations:ListAWSServiceAccessForOrganization": "*",
        "iam:GetRole": {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
            "cloudtrail.amazonaws.com/AWSServiceRoleForCloudTrail"
        },
    }


def test_iam_roles_of_the_member_template_never_clash_between_regions() -> None:
    # The remediation role exists once per account; each region forwards with a role of its own, whose name
    # carries the region (and none where the central stack forwards already).
    assert MEMBER["Conditions"]["IsPrimaryRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "PrimaryRegion"}]}
    roles = of_type(MEMBER, "AWS::IAM::Role")
    assert set(roles) == {"RemediationRole", "ForwarderRole"}
    assert roles["RemediationRole"]["Condition"] == "IsPrimaryRegion"
    assert roles["ForwarderRole"]["Condition"] == "ForwardFromHere"
    assert member_forwarder_arn("333333333333", "eu-west-1") != member_forwarder_arn("333333333333", "us-east-1")


def test_member_template_documents_the_management_account() -> None:
    text = (REPO_ROOT / "templates" / "member.yaml").read_text()

    assert "never deploys to the organization's management" in text
    assert "plain stack" in text


def test_outputs() -> None:
    assert set(TEMPLATE["Outputs"]) == {
        "FindingsTopicArn",
        "AlarmTopicArn",
        "CentralEventBusArn",
        "EventDeadLetterQueueUrl",
        "StateTableName",
        "IdempotencyTableName",
        "TrailGuardFunctionRoleArn",
        "KeyGuardFunctionRoleArn",
        "BucketGuardFunctionRoleArn",
        "SweepFunctionRoleArn",
        "SweepWorkerFunctionRoleArn",
        "MemberTemplateNote",
    }


# ------------------------------------------------------------------------------------------------
# samconfig.toml
# ------------------------------------------------------------------------------------------------


def test_samconfig_environments() -> None:
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())

    assert config["version"] == 0.1
    assert config["default"]["build"]["parameters"] == {"cached": True, "parallel": True}
    assert config["default"]["validate"]["parameters"] == {"lint": True}
    for environment, stack in (
        ("default", "trailguard"),
        ("dev", "trailguard-dev"),
        ("prod", "trailguard-prod"),
    ):
        assert config[environment]["global"]["parameters"]["stack_name"] == stack
        assert config[environment]["global"]["parameters"]["region"] == "eu-west-1"
        deploy = config[environment]["deploy"]["parameters"]
        assert deploy["capabilities"].split() == [
            "CAPABILITY_IAM",
            "CAPABILITY_NAMED_IAM",
            "CAPABILITY_AUTO_EXPAND",
        ]
        assert deploy["resolve_s3"] is True
        assert "REPLACE_ME" in deploy["parameter_overrides"]
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


def test_the_dead_letter_queue_and_sweep_gaps_alarm_the_alarm_topic() -> None:
    alarm = RESOURCES["DeadLetterAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["EventDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    gaps = RESOURCES["SweepGapAlarm"]["Properties"]
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in gaps["Metrics"] if "MetricStat" in m}
    assert names == {"sweep_failures", "sweep_unreachable"}
    assert gaps["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_sweep_runs_on_a_schedule_that_can_be_turned_off() -> None:
    (event,) = RESOURCES["SweepFunction"]["Properties"]["Events"].values()
    properties = event["Properties"]

    assert event["Type"] == "ScheduleV2"
    assert properties["ScheduleExpression"] == {"Fn::If": ["SweepEnabled", {"Ref": "SweepSchedule"}, "rate(1 day)"]}
    assert properties["State"] == {"Fn::If": ["SweepEnabled", "ENABLED", "DISABLED"]}
    assert json.loads(properties["Input"]) == json.loads((REPO_ROOT / "events" / "schedule" / "sweep.json").read_text())
    assert TEMPLATE["Parameters"]["SweepSchedule"]["Default"] == "rate(6 hours)"


# ------------------------------------------------------------------------------------------------
# Least privilege at organization scale
# ------------------------------------------------------------------------------------------------


def assume_role_statement(logical_id: str) -> dict[str, Any]:
    (statement,) = [s for s in function_statements(logical_id) if s["Action"] == "sts:AssumeRole"]
    return statement


# The planner assumes a role in the management account alone (test_sweep_planner_permissions_...).
@pytest.mark.parametrize("logical_id", [logical_id for logical_id in FUNCTION_IDS if logical_id != "SweepFunction"])
def test_functions_assume_the_remediation_role_only_inside_the_organization(logical_id: str) -> None:
    statement = assume_role_statement(logical_id)

    assert statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}
    with_org = resolver(TEMPLATE, {"OrgId": "o-a1b2c3d4e5"}).resolve(statement["Condition"])
    assert with_org == {"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}
    # Without OrgId the stack still deploys: AWS::NoValue removes the condition.
    assert statement["Condition"]["Fn::If"][0] == "HasOrgId"
    assert resolver(TEMPLATE, {"OrgId": ""}).resolve(statement["Condition"]) is None
    assert TEMPLATE["Conditions"]["HasOrgId"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "OrgId"}, ""]}]}


FUNCTION_ROLE_ARNS = [{"Fn::GetAtt": [f"{logical_id}Role", "Arn"]} for logical_id in FUNCTION_IDS]


def test_only_the_function_roles_publish_to_the_findings_topic() -> None:
    statements = RESOURCES["FindingsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (only,) = [s for s in statements if s["Sid"] == "OnlyTheFunctionsPublish"]

    assert (only["Effect"], only["Principal"], only["Action"]) == ("Deny", "*", "sns:Publish")
    assert only["Resource"] == {"Ref": "FindingsTopic"}
    assert only["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": FUNCTION_ROLE_ARNS}}
    # Those are the roles SAM generates for the four functions (the names the outputs and StackSet use).
    outputs = [TEMPLATE["Outputs"][f"{logical_id}RoleArn"]["Value"] for logical_id in FUNCTION_IDS]
    assert outputs == FUNCTION_ROLE_ARNS
    assert not any(s["Effect"] == "Allow" for s in statements), "the functions publish through their own policies"


def test_the_alarm_topic_still_admits_the_alarms_of_this_account() -> None:
    statements = RESOURCES["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]

    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]


def test_every_central_role_is_under_the_guarded_path() -> None:
    assert TEMPLATE["Globals"]["Function"]["RolePath"] == "/trailguard/"
    for name, role in of_type(TEMPLATE, "AWS::IAM::Role").items():
        assert role["Properties"]["Path"] == "/trailguard/", name


def test_topics_and_rules_are_named_after_the_stack() -> None:
    resolve = resolver(TEMPLATE).resolve
    assert resolve(RESOURCES["FindingsTopic"]["Properties"]["TopicName"]) == "trailguard-findings"
    assert resolve(RESOURCES["AlarmTopic"]["Properties"]["TopicName"]) == "trailguard-alarms"
    assert resolve(RESOURCES["CentralForwardRule"]["Properties"]["Name"]) == "trailguard-forward"
    sweep = RESOURCES["SweepFunction"]["Properties"]["Events"]["Sweep"]["Properties"]
    assert resolve(sweep["Name"]) == "trailguard-sweep"


@pytest.mark.parametrize("logical_id", FUNCTION_IDS)
def test_every_function_has_reserved_concurrency(logical_id: str) -> None:
    parameter_name = {"SweepFunction": "SweepConcurrency", "SweepWorkerFunction": "SweepWorkers"}.get(
        logical_id, "GuardConcurrency"
    )
    properties = RESOURCES[logical_id]["Properties"]
    parameter = TEMPLATE["Parameters"][parameter_name]

    assert properties["ReservedConcurrentExecutions"] == {"Ref": parameter_name}
    assert parameter["Type"] == "Number"
    assert parameter["MinValue"] >= 1, "0 would stop the function"
    assert parameter["Default"] == (2 if logical_id == "SweepFunction" else 10)


def test_the_log_groups_are_encrypted_with_the_stacks_key_which_admits_their_service() -> None:
    for name, group in of_type(TEMPLATE, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["FindingsTopicKey", "Arn"]}, name
    statements = RESOURCES["FindingsTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s["Sid"] == "CloudWatchLogsOfThisStack"]
    resolve = resolver(TEMPLATE).resolve
    assert resolve(logs["Principal"]) == {"Service": "logs.eu-west-1.amazonaws.com"}
    pattern = resolve(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    for group in of_type(TEMPLATE, "AWS::Logs::LogGroup").values():
        arn = f"arn:aws:logs:eu-west-1:222222222222:log-group:{resolve(group['Properties']['LogGroupName'])}"
        assert fnmatchcase(arn, pattern), arn


# ------------------------------------------------------------------------------------------------
# Forwarders and the sweep watched
# ------------------------------------------------------------------------------------------------


def sweep_schedule() -> dict[str, Any]:
    properties: dict[str, Any] = RESOURCES["SweepFunction"]["Properties"]["Events"]["Sweep"]["Properties"]
    return properties


def test_the_sweep_schedule_dead_letters_to_an_encrypted_queue_with_an_alarm() -> None:
    schedule = sweep_schedule()
    queue = RESOURCES["SweepDeadLetterQueue"]

    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["SweepDeadLetterQueue", "Arn"]}}
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    alarm = RESOURCES["SweepDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["SweepDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    (deny,) = RESOURCES["SweepDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_schedule_role_may_start_the_sweep_and_dead_letter_nothing_more() -> None:
    schedule = sweep_schedule()
    role = RESOURCES["SweepScheduleRole"]["Properties"]

    assert schedule["RoleArn"] == {"Fn::GetAtt": ["SweepScheduleRole", "Arn"]}
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    schedule_arn = resolver(TEMPLATE).resolve(trust["Condition"]["ArnEquals"]["aws:SourceArn"])
    name = resolver(TEMPLATE).resolve(schedule["Name"])
    assert schedule_arn == f"arn:aws:scheduler:eu-west-1:222222222222:schedule/default/{name}"
    (policy,) = role["Policies"]
    granted = {s["Action"]: s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    assert granted == {
        "lambda:InvokeFunction": [
            {"Fn::GetAtt": ["SweepFunction", "Arn"]},
            {"Fn::Sub": "${SweepFunction.Arn}:*"},
        ],
        "sqs:SendMessage": {"Fn::GetAtt": ["SweepDeadLetterQueue", "Arn"]},
    }


def powertools_metric(metric_name: str) -> dict[str, Any]:
    """The metric as the functions emit it: their Powertools namespace and service dimension."""
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    return {
        "Namespace": variables["POWERTOOLS_METRICS_NAMESPACE"],
        "MetricName": metric_name,
        "Dimensions": [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}],
    }


def test_the_heartbeat_alarm_fires_when_no_sweep_completed_in_twice_its_interval() -> None:
    heartbeat = RESOURCES["SweepHeartbeatAlarm"]
    alarm = heartbeat["Properties"]
    hours = TEMPLATE["Parameters"]["SweepHeartbeatHours"]

    assert heartbeat["Condition"] == "SweepEnabled"
    assert {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")} == powertools_metric("sweep_completed")
    assert (alarm["Statistic"], alarm["Period"]) == ("Sum", 3600)
    # N hourly periods, all of them without a completed sweep (missing data breaches): N hours of silence.
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": "SweepHeartbeatHours"}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    # Twice the default schedule, rate(6 hours); CloudWatch evaluates at most 7 days of hourly periods.
    assert TEMPLATE["Parameters"]["SweepSchedule"]["Default"] == "rate(6 hours)"
    assert hours["Default"] == 2 * 6
    assert hours["MaxValue"] * 3600 <= 7 * 24 * 3600


def test_the_sweep_counts_each_completed_run() -> None:
    # The worker that completes a sweep publishes its summary and counts it (summary_metrics).
    source = (REPO_ROOT / "layers" / "trailguard" / "trailguard" / "runtime.py").read_text()
    (run_scheduled,) = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == "summary_metrics"
    ]
    names = {
        keyword.value.value
        for call in ast.walk(run_scheduled)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "add_metric"
        for keyword in call.keywords
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant)
    }
    assert "sweep_completed" in names


def test_the_sweep_gap_alarm_keeps_the_last_sweeps_verdict_between_sweeps() -> None:
    alarm = RESOURCES["SweepGapAlarm"]["Properties"]

    # Most hours have no sweep: they neither clear nor raise the alarm (the heartbeat covers silence).
    assert alarm["TreatMissingData"] == "ignore"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_write_budget_reaches_every_function_and_its_excess_alarms() -> None:
    parameter = TEMPLATE["Parameters"]["WriteBudgetPerHour"]
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    alarm = RESOURCES["WriteBudgetAlarm"]["Properties"]

    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 3, 1)
    assert variables["TRAILGUARD_WRITE_BUDGET"] == {"Ref": "WriteBudgetPerHour"}
    assert variables["TRAILGUARD_EXEMPT_TRAILS"] == {"Ref": "ExemptTrails"}
    assert variables["TRAILGUARD_REMIND_HOURS"] == {"Ref": "RemindHours"}
    assert TEMPLATE["Parameters"]["RemindHours"]["Default"] == 24
    assert TEMPLATE["Parameters"]["RemindHours"]["MinValue"] == 0, "0 means never remind"
    assert {k: alarm[k] for k in ("Namespace", "MetricName", "Dimensions")} == powertools_metric(
        "write_budget_exceeded"
    )
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_alarms_watch_the_namespace_the_package_emits() -> None:
    from trailguard.observability import metrics

    for name in ("SweepHeartbeatAlarm", "WriteBudgetAlarm"):
        assert RESOURCES[name]["Properties"]["Namespace"] == metrics.namespace


def test_member_forwarding_dead_letters_to_an_encrypted_queue_only_its_rule_may_fill() -> None:
    resources = MEMBER["Resources"]
    target = resources["ForwardRule"]["Properties"]["Targets"][0]
    queue = resources["ForwardDeadLetterQueue"]

    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ForwardDeadLetterQueue", "Arn"]}}
    assert queue["Condition"] == "ForwardFromHere"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    statements = resources["ForwardDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["ForwardRule", "Arn"]}}}


def test_member_forwarding_failures_and_dead_letters_alarm_the_optional_topic() -> None:
    resources = MEMBER["Resources"]
    failed = resources["ForwardFailedAlarm"]["Properties"]
    depth = resources["ForwardDeadLetterAlarm"]["Properties"]

    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/Events", "FailedInvocations")
    assert failed["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": "ForwardRule"}}]
    assert (depth["Namespace"], depth["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert depth["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ForwardDeadLetterQueue", "QueueName"]}}
    ]
    for alarm, name in ((failed, "ForwardFailedAlarm"), (depth, "ForwardDeadLetterAlarm")):
        assert resources[name]["Condition"] == "ForwardFromHere"
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        actions = alarm["AlarmActions"]
        topic = "arn:aws:sns:eu-west-1:333333333333:security-alarms"
        assert resolver(MEMBER, {**MEMBER_VALUES, "AlarmTopicArn": topic}).resolve(actions) == [topic]
        assert resolver(MEMBER, MEMBER_VALUES).resolve(actions) is None, "no topic: no action"
    assert MEMBER["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_no_forwarding_resources_where_the_central_stack_forwards_already() -> None:
    home = {**MEMBER_VALUES, "AWS::AccountId": "222222222222"}
    assert resolver(MEMBER, home).condition("ForwardFromHere") is False
    assert resolver(MEMBER, MEMBER_VALUES).condition("ForwardFromHere") is True
    for name, resource in MEMBER["Resources"].items():
        if name != "RemediationRole":
            assert resource["Condition"] == "ForwardFromHere", name


# ------------------------------------------------------------------------------------------------
# checkov suppressions
# ------------------------------------------------------------------------------------------------


def checkov_skips(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
            yield name, skip


@pytest.mark.parametrize("template", [TEMPLATE, MEMBER], ids=["central", "member"])
def test_every_checkov_suppression_names_a_check_and_gives_its_reason(template: dict[str, Any]) -> None:
    skips = list(checkov_skips(template))

    assert skips, "the suppressions live next to their resources"
    for name, skip in skips:
        assert set(skip) == {"id", "comment"}, name
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]), name
        assert len(skip["comment"].split()) >= 10, f"{name} {skip['id']}: say why, not only that"
    assert len({(name, skip["id"]) for name, skip in skips}) == len(skips), "one suppression per check and resource"


def test_checkov_suppressions_are_the_reviewed_ones() -> None:
    central = sorted((name, skip["id"]) for name, skip in checkov_skips(TEMPLATE))
    member = sorted((name, skip["id"]) for name, skip in checkov_skips(MEMBER))

    functions_skips = [(f, check) for f in FUNCTION_IDS for check in ("CKV_AWS_117", "CKV_AWS_173")]
    queues = [
        ("EventDeadLetterQueue", "CKV_AWS_27"),
        ("SweepDeadLetterQueue", "CKV_AWS_27"),
        ("SweepQueue", "CKV_AWS_27"),
        ("SweepWorkDeadLetterQueue", "CKV_AWS_27"),
    ]
    tables = [("IdempotencyTable", "CKV_AWS_119"), ("StateTable", "CKV_AWS_119")]
    assert central == sorted([*functions_skips, *queues, *tables])
    assert member == [("ForwardDeadLetterQueue", "CKV_AWS_27")]
