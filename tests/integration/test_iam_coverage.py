"""Every AWS call the functions make is granted by template.yaml, and every grant is used.

The calls are recorded while real events flow through the stack under moto: a call made with the function's
own credentials must be allowed by that function's policy; a call made through an assumed role, by the
member template's remediation role.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from harness.faults import Faults
from harness.intercept import intercepting
from harness.org import CENTRAL, EVENTS, MANAGEMENT, MEMBER_A, MEMBER_B, OTHER, SimulatedOrg
from harness.stack import InProcessStack as Stack
from harness.template import load_template, resolved_statements

# IAM action names that differ from "<service>:<Operation>".
ACTIONS = {
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}
# Granted, but exercised only where the tests cannot go: by CloudTrail itself when an organization trail is
# updated (member role), or by Powertools when a handler fails mid-way (DeleteItem releases the record).
USED_OUTSIDE_THE_CODE = {
    "RemediationRole": {
        "iam:GetRole",
        "organizations:DescribeOrganization",
        "organizations:ListAWSServiceAccessForOrganization",
    },
    # Powertools Idempotency's documented permissions (GetItem and DeleteItem serve failures and races),
    # and the topic key, used by SNS on the publisher's behalf.
    "*": {"dynamodb:GetItem", "dynamodb:DeleteItem", "kms:GenerateDataKey", "kms:Decrypt"},
}


def action(service: str, operation: str) -> str:
    prefix = "s3" if service == "s3control" else service
    return ACTIONS.get((service, operation), f"{prefix}:{operation}")


def granted(statements: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for statement in statements:
        if statement.get("Effect") == "Allow":
            value = statement["Action"]
            names.update([value] if isinstance(value, str) else value)
    return names


def function_statements(parameters: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each function's policy statements as deployed with `parameters` (conditions decided)."""
    template = load_template()
    return {
        logical_id: resolved_statements(template, resource["Properties"]["Policies"][0]["Statement"], parameters)
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def template_grants(parameters: dict[str, str]) -> dict[str, set[str]]:
    """What each function (and the member's remediation role) is granted, as deployed with `parameters`."""
    from pathlib import Path

    grants = {logical_id: granted(statements) for logical_id, statements in function_statements(parameters).items()}
    member = load_template(Path(__file__).resolve().parents[2] / "templates" / "member.yaml")
    role = member["Resources"]["RemediationRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    grants["RemediationRole"] = granted(role)
    return grants


def assumable(parameters: dict[str, str]) -> dict[str, list[str]]:
    """The role ARNs (patterns) each function may assume, as deployed with `parameters`."""
    found: dict[str, list[str]] = defaultdict(list)
    for logical_id, statements in function_statements(parameters).items():
        for statement in statements:
            if statement.get("Effect") == "Allow" and statement["Action"] == "sts:AssumeRole":
                resources = statement["Resource"]
                found[logical_id].extend([resources] if isinstance(resources, str) else resources)
    return found


class Recorder:
    def __init__(self) -> None:
        self.used: dict[str, set[str]] = defaultdict(set)
        self.assumed: dict[str, set[str]] = defaultdict(set)  # function -> the role ARNs it assumed
        self.function: str | None = None

    def record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        if self.function is None:
            return
        credentials = client._request_signer._credentials
        own = credentials is not None and credentials.access_key == os.environ.get("AWS_ACCESS_KEY_ID")
        who = self.function if own else "RemediationRole"
        self.used[who].add(action(client.meta.service_model.service_name, operation))
        if operation == "AssumeRole":
            self.assumed[who].add(params["RoleArn"])


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    with intercepting(recorder.record, watch=True):
        yield recorder


def send(stack: Stack, recorder: Recorder, sample: str, *, account: str | None = None) -> None:
    """Deliver a sample (as if made in `account`, when given)."""
    event = stack.org.event(sample)
    if account is not None:
        event = json.loads(json.dumps(event).replace(MEMBER_A, account))
        event["id"] = f"{event['id'][:-12]}{account}"  # another event, not a redelivery:
        event["detail"]["eventID"] = f"{event['detail']['eventID'][:-12]}{account}"  # (the idempotency key)
    (target,) = stack.targets(event)
    recorder.function = target.logical_id
    try:
        stack.send(event)
    finally:
        recorder.function = None


def exercise(stack: Stack, recorder: Recorder, faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every repair path, with policy repair and idempotency on, the organization listed and regions found."""
    org: SimulatedOrg = stack.org
    org.client("dynamodb", CENTRAL).create_table(
        TableName="idempotency",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    org.client("organizations", MANAGEMENT).create_organization(FeatureSet="ALL")
    stack.configure(
        TRAILGUARD_REPAIR_POLICIES="true",
        TRAILGUARD_IDEMPOTENCY_TABLE="idempotency",
        TRAILGUARD_SECURITY_HUB="true",
        TRAILGUARD_WRITE_BUDGET="100",  # every repair path on the same key and bucket within minutes
        TRAILGUARD_ACCOUNTS="",
        TRAILGUARD_REGIONS="",
    )
    org.create_trail(MEMBER_A, "audit-trail", key=None, validation=False)
    # AWS refuses the central key (as it would a policy without the account): the refusal is explained from the
    # key's facts, read then with the function's own credentials; validation is repaired without the key.
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions", when="KmsKeyId")
    send(stack, recorder, "trail/create_trail_no_key.json")
    faults.clear()
    org.client("cloudtrail", MEMBER_A).stop_logging(Name="audit-trail")
    send(stack, recorder, "trail/stop_logging.json")
    send(stack, recorder, "trail/stop_logging.json")  # redelivered: answered from the idempotency table
    org.create_trail(CENTRAL, "audit-trail", key=None, logging=False)  # the central account's own trail
    # AWS refuses for the bucket's sake: explained from the bucket's policy.
    faults.fail("UpdateTrail", "InsufficientS3BucketPolicyException", "Incorrect S3 bucket policy", when="KmsKeyId")
    send(stack, recorder, "trail/create_trail_no_key.json", account=CENTRAL)
    faults.clear()
    send(stack, recorder, "trail/stop_logging.json", account=CENTRAL)  # and the central account's coverage
    org.create_trail(MEMBER_B, "audit-trail", OTHER)
    org.create_trail(MANAGEMENT, "org-trail", organization=True)
    kms = org.client("kms", CENTRAL)
    kms.schedule_key_deletion(KeyId=org.key_id, PendingWindowInDays=7)
    send(stack, recorder, "key/schedule_key_deletion.json")
    kms.disable_key_rotation(KeyId=org.key_id)
    send(stack, recorder, "key/disable_key_rotation.json")
    kms.disable_key(KeyId=org.key_id)
    send(stack, recorder, "key/disable_key_by_alias.json")
    policy = json.loads(kms.get_key_policy(KeyId=org.key_id, PolicyName="default")["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if "GenerateDataKey" not in json.dumps(s)]
    kms.put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))
    send(stack, recorder, "key/put_key_policy.json")
    s3 = org.client("s3", CENTRAL)
    s3.delete_bucket_policy(Bucket=org.bucket)
    s3.delete_public_access_block(Bucket=org.bucket)
    s3.put_bucket_encryption(
        Bucket=org.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    send(stack, recorder, "bucket/delete_bucket_policy.json")
    # The sweep, in a container of its own, finds drift of every kind that no event reported.
    org.client("cloudtrail", CENTRAL).update_trail(Name="audit-trail", KmsKeyId="")
    org.client("cloudtrail", CENTRAL).stop_logging(Name="audit-trail")
    kms.disable_key_rotation(KeyId=org.key_id)
    s3.delete_bucket_policy(Bucket=org.bucket)
    s3.delete_public_access_block(Bucket=org.bucket)
    s3.put_bucket_encryption(
        Bucket=org.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    policy = json.loads(kms.get_key_policy(KeyId=org.key_id, PolicyName="default")["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if "GenerateDataKey" not in json.dumps(s)]
    kms.put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))
    scheduled = json.loads((EVENTS / "schedule" / "sweep.json").read_text())
    # The worker's repair of the central account's trail is refused once: explained from the key's facts.
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions", when="KmsKeyId")
    sweep(stack, recorder, scheduled, monkeypatch)
    faults.clear()
    kms.schedule_key_deletion(KeyId=org.key_id, PendingWindowInDays=7)
    # Then for the bucket's sake: explained from the bucket's policy.
    org.client("cloudtrail", CENTRAL).update_trail(Name="audit-trail", KmsKeyId="")
    faults.fail("UpdateTrail", "InsufficientS3BucketPolicyException", "Incorrect S3 bucket policy", when="KmsKeyId")
    sweep(stack, recorder, scheduled, monkeypatch)
    faults.clear()


def sweep(stack: Stack, recorder: Recorder, scheduled: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner, then each batch of the workers, each under its own function's grants (the harness's own
    queue calls, standing in for Lambda's event source, are not the functions')."""
    invoke = stack.invoke

    def recorded(logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        recorder.function = logical_id
        try:
            return invoke(logical_id, event)
        finally:
            recorder.function = None

    with monkeypatch.context() as patched:
        patched.setattr(stack, "invoke", recorded)
        stack.sweep(scheduled)


def test_every_call_is_granted_and_every_grant_is_used(
    stack: Stack, recorder: Recorder, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    exercise(stack, recorder, faults, monkeypatch)
    grants = template_grants(stack.org.parameters())

    for who, actions in recorder.used.items():
        missing = actions - grants[who] - NEEDS_NO_PERMISSION
        assert not missing, f"{who} calls {sorted(missing)} without a grant in the template"
    for who, actions in grants.items():
        unused = actions - recorder.used[who] - USED_OUTSIDE_THE_CODE.get(who, set()) - USED_OUTSIDE_THE_CODE["*"]
        assert not unused, f"{who} is granted {sorted(unused)} that no code path uses"
    # Each role assumed, by its ARN: within what the function may assume (the planner: the management account).
    patterns = assumable(stack.org.parameters())
    assert recorder.assumed["SweepFunction"] == {f"arn:aws:iam::{MANAGEMENT}:role/TrailGuardRemediation"}
    for who, roles in recorder.assumed.items():
        for role in roles:
            assert any(fnmatch.fnmatchcase(role, pattern) for pattern in patterns[who]), f"{who} assumes {role}"
