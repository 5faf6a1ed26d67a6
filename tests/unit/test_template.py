"""template.yaml, templates/member.yaml and samconfig.toml hold the wiring, the permissions and the names
others rely on (docs/configuration.md). These tests read them as data, as the harness does."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.template import REPO_ROOT, function_properties, functions, load_template
from trailguard.settings import Settings

TEMPLATE = load_template(REPO_ROOT / "template.yaml")
MEMBER = load_template(REPO_ROOT / "templates" / "member.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
GUARD_IDS = ["TrailGuardFunction", "KeyGuardFunction", "BucketGuardFunction"]  # triggered by API-call events
FUNCTION_IDS = [*GUARD_IDS, "SweepFunction"]
CODE_URIS = {
    "TrailGuardFunction": "functions/trail_guard/",
    "KeyGuardFunction": "functions/key_guard/",
    "BucketGuardFunction": "functions/bucket_guard/",
    "SweepFunction": "functions/sweep/",
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
        for statement in as_list(document["Statement"]):
            yield where, statement


def function_statements(logical_id: str) -> list[dict[str, Any]]:
    policies = RESOURCES[logical_id]["Properties"]["Policies"]
    return [statement for policy in policies for statement in as_list(policy["Statement"])]


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
    # The key and bucket guards read every account and region to find the trails in scope; the sweep
    # evaluates all of them.
    expected = {"TrailGuardFunction": (60, 256), "SweepFunction": (900, 512)}.get(logical_id, (300, 256))
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
    for unset in ("MANAGEMENT_ACCOUNT_ID", "ORG_ID", "ACCOUNTS", "REGIONS"):
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
    for action in ("DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus"):
        assert granted.pop(f"kms:{action}") == [{"Ref": "CentralKeyArn"}]
    assert granted.pop("s3:GetBucketLocation") == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogBucketName}"}]
    assert_publishes_findings(granted)
    assert_tables_only(granted)


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
    assert granted.pop("cloudtrail:GetTrail") == [
        {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"}
    ]
    assert granted.pop("cloudtrail:ListTrails") == ["*"]
    assert granted.pop("ec2:DescribeRegions") == ["*"]
    assert granted.pop("s3:GetBucketLocation") == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${LogBucketName}"}]
    assert granted.pop("organizations:ListAccounts") == ["*"]
    assert granted.pop("sts:AssumeRole") == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}]
    assert_publishes_findings(granted)
    assert_tables_only(granted)


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
    assert granted.pop("cloudtrail:GetTrail") == [
        {"Fn::Sub": "arn:${AWS::Partition}:cloudtrail:*:${AWS::AccountId}:trail/*"}
    ]
    assert granted.pop("cloudtrail:ListTrails") == ["*"]
    assert granted.pop("ec2:DescribeRegions") == ["*"]
    assert granted.pop("sts:AssumeRole") == [{"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${RemediationRoleName}"}]
    assert granted.pop("organizations:ListAccounts") == ["*"]
    assert_publishes_findings(granted)
    assert_tables_only(granted)


def assert_publishes_findings(granted: dict[str, list[Any]]) -> None:
    assert granted.pop("sns:Publish") == [{"Ref": "FindingsTopic"}]
    for action in ("GenerateDataKey", "Decrypt"):
        assert granted.pop(f"kms:{action}") == [{"Fn::GetAtt": ["FindingsTopicKey", "Arn"]}]


def assert_tables_only(rest: dict[str, list[Any]], *, idempotency: bool = True) -> None:
    """What is left is the idempotency table (event handlers) and the ledger: nothing else, no other table."""
    idem, ledger = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}, {"Fn::GetAtt": ["StateTable", "Arn"]}
    expected: dict[str, list[Any]] = {
        f"dynamodb:{a}": [ledger] for a in ("Query", "PutItem", "UpdateItem", "BatchWriteItem")
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


def test_forwarder_roles_are_trusted_by_eventbridge_of_their_own_account_only() -> None:
    for role in (RESOURCES["CentralForwarderRole"], MEMBER["Resources"]["ForwarderRole"]):
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        (policy,) = role["Properties"]["Policies"]
        (allow,) = policy["PolicyDocument"]["Statement"]
        assert allow["Action"] == "events:PutEvents"


def test_the_central_bus_admits_the_organization_or_only_this_account() -> None:
    statement = RESOURCES["CentralEventBusPolicy"]["Properties"]["Statement"]["Fn::If"]

    assert statement[0] == "HasOrgId"
    assert statement[1]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrgId"}}}
    assert statement[2]["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}


# ------------------------------------------------------------------------------------------------
# Findings, idempotency, logs
# ------------------------------------------------------------------------------------------------


def test_findings_topic_is_encrypted_and_refuses_publishing_without_tls() -> None:
    assert RESOURCES["FindingsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "FindingsTopicKey"}
    assert RESOURCES["FindingsTopicKey"]["Properties"]["EnableKeyRotation"] is True
    (deny,) = RESOURCES["FindingsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
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
        "organizations:ListAccounts": "*",
        "organizations:DescribeOrganization": "*",
        "organizations:ListAWSServiceAccessForOrganization": "*",
        "iam:GetRole": {
            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/"
            "cloudtrail.amazonaws.com/AWSServiceRoleForCloudTrail"
        },
    }


def test_global_iam_resources_of_the_member_template_exist_once_per_account() -> None:
    assert MEMBER["Conditions"]["IsPrimaryRegion"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, {"Ref": "PrimaryRegion"}]}
    for name, resource in of_type(MEMBER, "AWS::IAM::Role").items():
        assert resource.get("Condition") == "IsPrimaryRegion", name


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
