"""docs/guardrail: the service control policy and the permissions boundary are valid policies, and the names
they protect are the names the templates create (resolved with the harness, default parameters)."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from harness.template import REPO_ROOT, load_template, resolver, statement_branches

GUARDRAIL = REPO_ROOT / "docs" / "guardrail"
POLICIES = sorted(GUARDRAIL.glob("*.json"))
TEMPLATE = load_template(REPO_ROOT / "template.yaml")
MEMBER = load_template(REPO_ROOT / "templates" / "member.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTION_IDS = ["TrailGuardFunction", "KeyGuardFunction", "BucketGuardFunction", "SweepFunction", "SweepWorkerFunction"]

CENTRAL, MEMBER_ACCOUNT, REGION = "222222222222", "333333333333", "eu-west-1"
# Every placeholder, with the value of the simulated organization and the templates' defaults.
PLACEHOLDERS = {
    "CENTRAL_ACCOUNT_ID": CENTRAL,
    "STACK_NAME": "trailguard",
    "CENTRAL_BUS_NAME": TEMPLATE["Parameters"]["CentralBusName"]["Default"],
    "REMEDIATION_ROLE_NAME": TEMPLATE["Parameters"]["RemediationRoleName"]["Default"],
    "FORWARDER_ROLE_NAME": TEMPLATE["Parameters"]["ForwarderRoleName"]["Default"],
    "DEPLOYER_ROLE_NAME": "TrailGuardDeployer",
    "LOG_BUCKET_NAME": "trailguard-central-logs-222222222222",
    "ORG_ID": "o-a1b2c3d4e5",
}
PLACEHOLDER = re.compile(r"<([A-Z_]+)>")
SCP_MAX_CHARACTERS = 5120


def load(path: Path, values: dict[str, str] | None = None) -> dict[str, Any]:
    text = path.read_text()
    if values is not None:
        text = PLACEHOLDER.sub(lambda match: values[match.group(1)], text)
    document: dict[str, Any] = json.loads(text)
    return document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def scp() -> dict[str, Any]:
    return load(GUARDRAIL / "scp-protect-trailguard.json", PLACEHOLDERS)


def boundary() -> dict[str, Any]:
    return load(GUARDRAIL / "function-permissions-boundary.json", PLACEHOLDERS)


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    (found,) = [s for s in document["Statement"] if s["Sid"] == sid]
    return found


def matches(arn: str, patterns: Any) -> bool:
    """IAM ARN matching: `*` any run of characters, `?` one character (fnmatch without character classes)."""
    return any(fnmatchcase(arn, pattern) for pattern in as_list(patterns))


def allows(document: dict[str, Any], action: str, arn: str) -> bool:
    return any(
        s["Effect"] == "Allow" and action in as_list(s["Action"]) and matches(arn, s["Resource"])
        for s in document["Statement"]
    )


# ------------------------------------------------------------------------------------------------
# Shape
# ------------------------------------------------------------------------------------------------


def test_there_are_both_policies() -> None:
    assert [p.name for p in POLICIES] == ["function-permissions-boundary.json", "scp-protect-trailguard.json"]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_each_document_is_a_valid_policy(path: Path) -> None:
    document = load(path)

    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    assert isinstance(document["Statement"], list)
    assert document["Statement"]
    sids = [s["Sid"] for s in document["Statement"]]
    assert len(set(sids)) == len(sids)
    for s in document["Statement"]:
        assert re.fullmatch(r"[A-Za-z0-9]+", s["Sid"])
        assert s["Effect"] in {"Allow", "Deny"}
        assert set(s) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, s["Sid"]
        assert s["Action"]
        assert s["Resource"]
        for action in as_list(s["Action"]):
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z*]+", action), action
        for resource in as_list(s["Resource"]):
            assert resource == "*" or resource.startswith("arn:aws:"), resource


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_placeholder_is_documented(path: Path) -> None:
    used = set(PLACEHOLDER.findall(path.read_text()))
    readme = (GUARDRAIL / "README.md").read_text()

    assert used <= set(PLACEHOLDERS)
    for name in used:
        assert f"`<{name}>`" in readme, name


def test_the_scp_only_denies_and_fits_the_size_limit() -> None:
    document = scp()

    assert {s["Effect"] for s in document["Statement"]} == {"Deny"}
    # Organizations counts every character: the README says to remove whitespace (jq -c).
    assert len(json.dumps(document, separators=(",", ":"))) <= SCP_MAX_CHARACTERS - 400, "room for longer names"


# ------------------------------------------------------------------------------------------------
# The names the SCP protects are the names the templates create
# ------------------------------------------------------------------------------------------------

CENTRAL_VALUES = {"AWS::AccountId": CENTRAL, "AWS::Region": REGION, "AWS::StackName": PLACEHOLDERS["STACK_NAME"]}
MEMBER_VALUES = {
    "CentralEventBusArn": f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/{PLACEHOLDERS['CENTRAL_BUS_NAME']}",
    "CentralAccountId": CENTRAL,
    "PrimaryRegion": REGION,
    "AWS::AccountId": MEMBER_ACCOUNT,
    "AWS::Region": "us-east-1",
}


def central(node: Any) -> Any:
    return resolver(TEMPLATE, CENTRAL_VALUES).resolve(node)


def member(node: Any) -> Any:
    return resolver(MEMBER, MEMBER_VALUES).resolve(node)


def central_role_arns() -> dict[str, str]:
    """Every role of the central stack, as deployed: SAM's four function roles get Globals' RolePath, the
    declared ones their Path; CloudFormation generates the names (<stack>-<logical id>-<suffix>)."""
    path = TEMPLATE["Globals"]["Function"]["RolePath"]
    arns = {f"{f}Role": f"arn:aws:iam::{CENTRAL}:role{path}trailguard-{f}Role-1A2B3C" for f in FUNCTION_IDS}
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::IAM::Role":
            arns[name] = f"arn:aws:iam::{CENTRAL}:role{resource['Properties']['Path']}trailguard-{name}-1A2B3C"
    return arns


def member_role_arns() -> dict[str, str]:
    roles = {n: r for n, r in MEMBER["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    return {
        name: f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{member(r['Properties']['RoleName'])}" for name, r in roles.items()
    }


def function_arns() -> list[str]:
    return [
        f"arn:aws:lambda:{REGION}:{CENTRAL}:function:{central(RESOURCES[f]['Properties']['FunctionName'])}"
        for f in FUNCTION_IDS
    ]


DEPLOYER = f"arn:aws:iam::{CENTRAL}:role/{PLACEHOLDERS['DEPLOYER_ROLE_NAME']}"
STACKSETS = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/stacksets-exec-0123456789abcdef0123456789abcdef"
ADMIN = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/Admin"


def denied(sid: str, action: str, resource: str, principal: str) -> bool:
    """Whether this SCP statement denies the call (it denies when its resource matches and its
    `ArnNotLike aws:PrincipalArn` exception, if any, does not)."""
    s = statement(scp(), sid)
    if action not in as_list(s["Action"]) or not matches(resource, s["Resource"]):
        return False
    exceptions = (s.get("Condition") or {}).get("ArnNotLike", {}).get("aws:PrincipalArn")
    return exceptions is None or not matches(principal, exceptions)


def test_every_trailguard_role_is_protected_and_only_the_deployers_change_them() -> None:
    roles = [*central_role_arns().values(), *member_role_arns().values()]

    assert len(roles) == 5 + 2 + 2  # functions, central forwarder and scheduler; member remediation and forwarder
    for role in roles:
        for action in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:PassRole"):
            assert denied("ProtectTrailGuardRoles", action, role, ADMIN), (role, action)
            assert not denied("ProtectTrailGuardRoles", action, role, DEPLOYER), (role, action)
        if ":role/trailguard/" not in role:
            assert not denied("ProtectTrailGuardRoles", "iam:CreateRole", role, STACKSETS), role
    # A role merely named like a forwarder cannot be created to get past the bus policy.
    look_alike = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/{PLACEHOLDERS['FORWARDER_ROLE_NAME']}-anything"
    assert denied("ProtectTrailGuardRoles", "iam:CreateRole", look_alike, ADMIN)
    assert not denied("ProtectTrailGuardRoles", "iam:PutRolePolicy", f"arn:aws:iam::{MEMBER_ACCOUNT}:role/Other", ADMIN)


def test_only_the_function_roles_assume_trailguard_roles() -> None:
    remediation = member_role_arns()["RemediationRole"]
    functions = central_role_arns()

    for f in FUNCTION_IDS:
        assert not denied("OnlyTheFunctionsAssumeTrailGuardRoles", "sts:AssumeRole", remediation, functions[f"{f}Role"])
    assert denied("OnlyTheFunctionsAssumeTrailGuardRoles", "sts:AssumeRole", remediation, ADMIN)
    for role in central_role_arns().values():
        assert denied("OnlyTheFunctionsAssumeTrailGuardRoles", "sts:AssumeRole", role, DEPLOYER)


def test_the_functions_are_protected_and_only_the_scheduler_role_invokes() -> None:
    scheduler = central_role_arns()["SweepScheduleRole"]

    for function in function_arns():
        for qualified in (function, f"{function}:live", f"{function}:7"):
            assert denied("ProtectTrailGuardFunctions", "lambda:UpdateFunctionCode", qualified, ADMIN)
            assert denied("ProtectTrailGuardFunctions", "lambda:InvokeFunction", qualified, ADMIN)
            assert not denied("ProtectTrailGuardFunctions", "lambda:UpdateFunctionCode", qualified, DEPLOYER)
        assert not denied("ProtectTrailGuardFunctions", "lambda:InvokeFunction", function, scheduler)
    other = f"arn:aws:lambda:{REGION}:{CENTRAL}:function:payments"
    assert not denied("ProtectTrailGuardFunctions", "lambda:InvokeFunction", other, ADMIN)


def test_the_event_routing_is_protected() -> None:
    bus = f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/{central(RESOURCES['CentralEventBus']['Properties']['Name'])}"
    central_rule = (
        f"arn:aws:events:{REGION}:{CENTRAL}:rule/{central(RESOURCES['CentralForwardRule']['Properties']['Name'])}"
    )
    # Rules on a custom bus: rule/<bus>/<generated name>.
    guard_rule = f"{bus.replace(':event-bus/', ':rule/')}/trailguard-TrailGuardFunctionTrailApiCall-1A2B3C"
    member_rule_name = member(MEMBER["Resources"]["ForwardRule"]["Properties"]["Name"])
    member_rule = f"arn:aws:events:us-east-1:{MEMBER_ACCOUNT}:rule/{member_rule_name}"
    sweep = RESOURCES["SweepFunction"]["Properties"]["Events"]["Sweep"]["Properties"]
    schedule_arn = f"arn:aws:scheduler:{REGION}:{CENTRAL}:schedule/default/{central(sweep['Name'])}"

    for rule in (central_rule, guard_rule, member_rule):
        assert denied("ProtectTrailGuardEventRouting", "events:PutTargets", rule, ADMIN), rule
        assert denied("ProtectTrailGuardEventRouting", "events:DisableRule", rule, ADMIN), rule
        assert not denied("ProtectTrailGuardEventRouting", "events:PutTargets", rule, DEPLOYER), rule
    assert not denied("ProtectTrailGuardEventRouting", "events:PutRule", member_rule, STACKSETS)
    assert denied("ProtectTrailGuardEventRouting", "events:PutPermission", bus, ADMIN)
    assert denied("ProtectTrailGuardEventRouting", "scheduler:UpdateSchedule", schedule_arn, ADMIN)


def test_only_the_forwarders_put_events_on_the_central_bus() -> None:
    bus = f"arn:aws:events:{REGION}:{CENTRAL}:event-bus/{PLACEHOLDERS['CENTRAL_BUS_NAME']}"

    assert not denied(
        "OnlyTheForwardersPutEventsOnTheCentralBus", "events:PutEvents", bus, member_role_arns()["ForwarderRole"]
    )
    assert not denied(
        "OnlyTheForwardersPutEventsOnTheCentralBus",
        "events:PutEvents",
        bus,
        central_role_arns()["CentralForwarderRole"],
    )
    assert denied("OnlyTheForwardersPutEventsOnTheCentralBus", "events:PutEvents", bus, ADMIN)


def test_the_topics_are_protected_and_only_the_functions_publish_findings() -> None:
    findings = f"arn:aws:sns:{REGION}:{CENTRAL}:{central(RESOURCES['FindingsTopic']['Properties']['TopicName'])}"
    alarms = f"arn:aws:sns:{REGION}:{CENTRAL}:{central(RESOURCES['AlarmTopic']['Properties']['TopicName'])}"

    for topic in (findings, alarms):
        assert denied("ProtectTrailGuardTopics", "sns:SetTopicAttributes", topic, ADMIN)
        assert not denied("ProtectTrailGuardTopics", "sns:SetTopicAttributes", topic, DEPLOYER)
    for f in FUNCTION_IDS:
        assert not denied("OnlyTheFunctionsPublishFindings", "sns:Publish", findings, central_role_arns()[f"{f}Role"])
    assert denied("OnlyTheFunctionsPublishFindings", "sns:Publish", findings, DEPLOYER)


def test_the_exception_for_stacksets_cannot_be_borrowed() -> None:
    s = statement(scp(), "ProtectStackSetsExecutionRoles")

    assert "Condition" not in s, "service-linked roles are beyond SCPs: no one else needs an exception"
    assert matches(STACKSETS, s["Resource"])
    assert {"iam:CreateRole", "iam:UpdateAssumeRolePolicy", "sts:AssumeRole"} <= set(s["Action"])


# ------------------------------------------------------------------------------------------------
# The boundary allows exactly what the template grants the functions
# ------------------------------------------------------------------------------------------------

# What SAM adds to the function roles here: AWSLambdaBasicExecutionRole, AWSXrayWriteOnlyAccess,
# sqs:SendMessage on the dead-letter queue, and the SQS poller policy of the sweep worker.
SAM_GRANTS = {
    "logs:CreateLogGroup": "arn:aws:logs:eu-west-1:222222222222:log-group:/aws/lambda/trailguard-sweep",
    "logs:CreateLogStream": "arn:aws:logs:eu-west-1:222222222222:log-group:/aws/lambda/trailguard-sweep:log-stream:x",
    "logs:PutLogEvents": "arn:aws:logs:eu-west-1:222222222222:log-group:/aws/lambda/trailguard-sweep:log-stream:x",
    "xray:PutTraceSegments": "*",
    "xray:PutTelemetryRecords": "*",
    "xray:GetSamplingRules": "*",
    "xray:GetSamplingTargets": "*",
    "xray:GetSamplingStatisticSummaries": "*",
    "sqs:SendMessage": "arn:aws:sqs:eu-west-1:222222222222:trailguard-EventDeadLetterQueue-1A2B3C",
    # SQSPollerPolicy, for the sweep worker's SQS event source.
    **{
        f"sqs:{action}": "arn:aws:sqs:eu-west-1:222222222222:trailguard-SweepQueue-1A2B3C"
        for action in (
            "ChangeMessageVisibility",
            "ChangeMessageVisibilityBatch",
            "DeleteMessage",
            "DeleteMessageBatch",
            "GetQueueAttributes",
            "ReceiveMessage",
        )
    },
}
STACK_RESOURCES = {
    "FindingsTopic": f"arn:aws:sns:{REGION}:{CENTRAL}:trailguard-findings",
    "FindingsTopicKey.Arn": f"arn:aws:kms:{REGION}:{CENTRAL}:key/0a1b2c3d-0000-1111-2222-333344445555",
    "IdempotencyTable.Arn": f"arn:aws:dynamodb:{REGION}:{CENTRAL}:table/trailguard-IdempotencyTable-1A2B3C",
    "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{CENTRAL}:table/trailguard-StateTable-1A2B3C",
    "SweepQueue.Arn": f"arn:aws:sqs:{REGION}:{CENTRAL}:trailguard-SweepQueue-1A2B3C",
    "CentralKeyArn": f"arn:aws:kms:{REGION}:{CENTRAL}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "LogBucketName": PLACEHOLDERS["LOG_BUCKET_NAME"],
    "ManagementAccountId": "111111111111",
    **CENTRAL_VALUES,
}


def template_grants() -> list[tuple[str, str]]:
    """(action, resource) for every grant of every function, resolved (a `*` in an ARN becomes a value)."""
    grants = []
    resolve = resolver(TEMPLATE, STACK_RESOURCES).resolve
    for f in FUNCTION_IDS:
        for policy in RESOURCES[f]["Properties"]["Policies"]:
            for s in statement_branches(policy["Statement"]):
                for action in as_list(s["Action"]):
                    for resource in as_list(resolve(s["Resource"])):
                        grants.append((action, resource if resource == "*" else resource.replace("*", "x")))
    return grants


def test_the_boundary_allows_every_grant_of_the_template() -> None:
    document = boundary()

    for action, resource in [*template_grants(), *SAM_GRANTS.items()]:
        assert allows(document, action, resource), (action, resource)


def test_the_boundary_allows_no_action_the_functions_are_not_granted() -> None:
    granted = {action for action, _ in template_grants()} | set(SAM_GRANTS)
    allowed = {a for s in boundary()["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])}

    assert allowed == granted


def test_the_boundary_never_lets_a_role_outside_the_organization_be_assumed() -> None:
    s = statement(boundary(), "NeverAssumeARoleOutsideTheOrganization")

    assert (s["Effect"], s["Action"], s["Resource"]) == ("Deny", "sts:AssumeRole", "*")
    assert s["Condition"] == {"StringNotEquals": {"aws:ResourceOrgID": PLACEHOLDERS["ORG_ID"]}}
