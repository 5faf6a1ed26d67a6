"""The key and bucket guards end to end under moto, with trails in scope across accounts and regions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.calls import ApiCalls
from harness.faults import Faults
from harness.org import CENTRAL, HOME, MANAGEMENT, MEMBER_A, MEMBER_B, ORG_ID, OTHER, OUTSIDER, SimulatedOrg
from harness.stack import InProcessStack as Stack
from tests.conftest import only
from trailguard import policy


@pytest.fixture
def trails(stack: Stack) -> list[str]:
    """Trails that depend on the central key and bucket: two members' own and the organization trail."""
    org = stack.org
    return [
        org.create_trail(MEMBER_A, "audit-trail"),
        org.create_trail(MEMBER_B, "audit-trail", OTHER),
        org.create_trail(MANAGEMENT, "org-trail", organization=True),
    ]


def finding(message: dict[str, Any], check: str) -> dict[str, Any]:
    matches = [item for item in message["findings"] if item["check"] == check]
    assert len(matches) == 1, [item["check"] for item in message["findings"]]
    return matches[0]


def key_policy(org: SimulatedOrg) -> dict[str, Any]:
    kms = org.client("kms", CENTRAL)
    return dict(json.loads(kms.get_key_policy(KeyId=org.key_id, PolicyName="default")["Policy"]))


def key_state(org: SimulatedOrg) -> str:
    return str(org.client("kms", CENTRAL).describe_key(KeyId=org.key_id)["KeyMetadata"]["KeyState"])


def test_scheduled_deletion_is_cancelled_and_the_key_enabled(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    org.client("kms", CENTRAL).schedule_key_deletion(KeyId=org.key_id, PendingWindowInDays=7)

    result = stack.send("key/schedule_key_deletion.json")

    assert key_state(org) == "Enabled"
    assert result["result"] == "remediated"
    published = only(org.findings())
    message = published["message"]
    state = finding(message, "key.state")
    assert state["status"] == "REMEDIATED"
    assert state["severity"] == "CRITICAL"
    assert state["observed"] == {"KeyState": "PendingDeletion"}
    assert message["severity"] == "CRITICAL"
    assert message["resource"] == {"type": "key", "arn": org.key_arn, "account": CENTRAL, "region": HOME}
    assert published["attributes"]["resource_type"] == "key"


@pytest.mark.parametrize(
    "sample", ["key/disable_key.json", "key/disable_key_new_shape.json", "key/disable_key_by_alias.json"]
)
def test_disabled_key_is_enabled_again(stack: Stack, trails: list[str], sample: str) -> None:
    org = stack.org
    org.client("kms", CENTRAL).disable_key(KeyId=org.key_id)

    stack.send(sample)

    assert key_state(org) == "Enabled"
    assert finding(only(org.findings())["message"], "key.state")["status"] == "REMEDIATED"


def test_rotation_is_turned_back_on(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    kms = org.client("kms", CENTRAL)
    kms.disable_key_rotation(KeyId=org.key_id)

    stack.send("key/disable_key_rotation.json")

    assert kms.get_key_rotation_status(KeyId=org.key_id)["KeyRotationEnabled"] is True
    rotation = finding(only(org.findings())["message"], "key.rotation")
    assert rotation["status"] == "REMEDIATED"
    assert rotation["remediation"]["action"] == "kms:EnableKeyRotation"


def broken_key_policy(org: SimulatedOrg) -> dict[str, Any]:
    """The simulated key policy without its CloudTrail encrypt grant, plus a public grant and an unrelated one."""
    statements = [s for s in key_policy(org)["Statement"] if "kms:GenerateDataKey*" not in json.dumps(s)]
    statements.append(
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    )
    statements.append(
        {
            "Sid": "BackupRole",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:role/Backup"},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def test_dropped_cloudtrail_grant_is_reported_and_not_written_without_policy_repair(
    stack: Stack, trails: list[str], api_calls: ApiCalls
) -> None:
    org = stack.org
    broken = broken_key_policy(org)
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(broken))
    api_calls.reset()

    stack.send("key/put_key_policy.json")

    assert "PutKeyPolicy" not in api_calls.calls
    assert key_policy(org) == broken
    message = only(org.findings())["message"]
    encrypt = finding(message, "key.cloudtrail-encrypt")
    assert encrypt["severity"] == "CRITICAL"
    assert encrypt["status"] == "OPEN"
    for account in (MANAGEMENT, MEMBER_A, MEMBER_B):
        assert account in encrypt["summary"]
    assert finding(message, "key.public")["status"] == "OPEN"
    assert message["status"] == "OPEN"


def test_policy_repair_restores_the_grant_keeps_the_rest_and_removes_the_public_grant(
    stack: Stack, trails: list[str]
) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    broken = broken_key_policy(org)
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(broken))

    stack.send("key/put_key_policy.json")

    repaired = key_policy(org)
    document = policy.parse_policy(repaired)
    for trail in trails:
        assert policy.cloudtrail_may_encrypt(document, org.key_arn, trail).allowed, trail
    assert policy.public_grants(document, org.key_arn) == []
    sids = [statement.get("Sid") for statement in repaired["Statement"]]
    assert "BackupRole" in sids
    assert "Everyone" not in sids
    admin = [
        s
        for s in repaired["Statement"]
        if s.get("Principal") == {"AWS": f"arn:aws:iam::{CENTRAL}:root"} and s.get("Action") in ("kms:*", ["kms:*"])
    ]
    assert admin, "the administrator statement is kept"
    message = only(org.findings())["message"]
    assert finding(message, "key.cloudtrail-encrypt")["status"] == "REMEDIATED"
    assert finding(message, "key.public")["status"] == "REMEDIATED"


def test_public_key_policy_is_reported(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    current = key_policy(org)
    current["Statement"].append(
        {"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(current))

    stack.send("key/put_key_policy_public.json")

    message = only(org.findings())["message"]
    assert [item["check"] for item in message["findings"]] == ["key.public"]
    assert message["severity"] == "CRITICAL"


def test_events_about_other_keys_change_nothing_and_say_nothing(
    stack: Stack, trails: list[str], api_calls: ApiCalls
) -> None:
    api_calls.reset()

    result = stack.send("key/put_key_policy_other_key.json")

    assert result["result"] == "ignored"
    assert api_calls.writes() == []
    assert stack.org.findings() == []


def test_compliant_key_is_silent(stack: Stack, trails: list[str]) -> None:
    result = stack.send("key/put_key_policy.json")

    assert result["result"] == "compliant"
    assert stack.org.findings() == []


# --- the central bucket -------------------------------------------------------------------------------------


def s3(org: SimulatedOrg) -> Any:
    return org.client("s3", CENTRAL)


def test_deleted_bucket_policy_is_a_critical_write_finding(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    s3(org).delete_bucket_policy(Bucket=org.bucket)

    stack.send("bucket/delete_bucket_policy.json")

    message = only(org.findings())["message"]
    write = finding(message, "bucket.cloudtrail-write")
    assert write["severity"] == "CRITICAL"
    assert write["status"] == "OPEN"
    assert finding(message, "bucket.cloudtrail-acl-check")["severity"] == "CRITICAL"
    assert message["resource"] == {
        "type": "bucket",
        "arn": f"arn:aws:s3:::{org.bucket}",
        "account": CENTRAL,
        "region": HOME,
    }


def test_deleted_bucket_policy_is_restored_with_policy_repair(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    s3(org).delete_bucket_policy(Bucket=org.bucket)

    stack.send("bucket/delete_bucket_policy_old_host.json")

    restored = policy.parse_policy(s3(org).get_bucket_policy(Bucket=org.bucket)["Policy"])
    for trail in trails[:2]:
        account = trail.split(":")[4]
        key = policy.cloudtrail_object_key(account, region=trail.split(":")[3])
        assert policy.cloudtrail_may_put_object(restored, org.bucket, key, trail).allowed
    assert finding(only(org.findings())["message"], "bucket.cloudtrail-write")["status"] == "REMEDIATED"


def with_statement(org: SimulatedOrg, statement: dict[str, Any]) -> None:
    current = json.loads(s3(org).get_bucket_policy(Bucket=org.bucket)["Policy"])
    current["Statement"].append(statement)
    s3(org).put_bucket_policy(Bucket=org.bucket, Policy=json.dumps(current))


def make_public(org: SimulatedOrg) -> None:
    """A public-read statement; Block Public Access would refuse it in real AWS (moto accepts it), so it is
    turned off first, as a person doing this would have to."""
    s3(org).delete_public_access_block(Bucket=org.bucket)
    with_statement(
        org,
        {
            "Sid": "PublicRead",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{org.bucket}/*",
        },
    )


def test_public_read_is_reported(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    make_public(org)

    stack.send("bucket/put_bucket_policy_public.json")

    message = only(org.findings())["message"]
    assert [item["check"] for item in message["findings"]] == ["bucket.public"]
    public = message["findings"][0]
    assert message["severity"] == "CRITICAL"
    assert public["observed"]["policy_grants"] == ["PublicRead"]
    assert "BlockPublicPolicy" in public["observed"]["public_access_block_off"]


def test_public_grant_is_removed_and_block_public_access_restored_with_policy_repair(
    stack: Stack, trails: list[str]
) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    make_public(org)

    stack.send("bucket/put_bucket_policy_public.json")

    current = json.loads(s3(org).get_bucket_policy(Bucket=org.bucket)["Policy"])
    assert "PublicRead" not in [statement.get("Sid") for statement in current["Statement"]]
    block = s3(org).get_public_access_block(Bucket=org.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert finding(only(org.findings())["message"], "bucket.public")["status"] == "REMEDIATED"


def test_block_public_access_set_for_the_whole_account_counts(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    org.client("s3control", CENTRAL).put_public_access_block(
        AccountId=CENTRAL,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3(org).delete_public_access_block(Bucket=org.bucket)

    result = stack.send("bucket/delete_public_access_block.json")

    assert result["result"] == "compliant"
    assert org.findings() == []


def test_grant_to_an_outside_account_is_reported(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    with_statement(
        org,
        {
            "Sid": "Partner",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{org.bucket}/*",
        },
    )

    stack.send("bucket/put_bucket_policy_external.json")

    message = only(org.findings())["message"]
    external = finding(message, "bucket.external-access")
    assert external["severity"] == "HIGH"
    assert OUTSIDER in external["summary"]


def test_default_encryption_switched_to_aes256_goes_back_to_the_central_key(stack: Stack, trails: list[str]) -> None:
    org = stack.org
    s3(org).put_bucket_encryption(
        Bucket=org.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )

    stack.send("bucket/put_bucket_encryption_aes256.json")

    rule = s3(org).get_bucket_encryption(Bucket=org.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": org.key_arn}
    encryption = finding(only(org.findings())["message"], "bucket.encryption")
    assert encryption["status"] == "REMEDIATED"
    assert encryption["observed"]["SSEAlgorithm"] == "AES256"


def test_report_mode_changes_nothing_on_the_bucket(stack: Stack, trails: list[str], api_calls: ApiCalls) -> None:
    org = stack.org
    stack.configure(TRAILGUARD_MODE="report", TRAILGUARD_REPAIR_POLICIES="true")
    s3(org).delete_bucket_encryption(Bucket=org.bucket)
    api_calls.reset()

    stack.send("bucket/delete_bucket_encryption.json")

    assert api_calls.writes() == []
    assert finding(only(org.findings())["message"], "bucket.encryption")["status"] == "OPEN"


def test_compliant_bucket_is_silent(stack: Stack, trails: list[str]) -> None:
    result = stack.send("bucket/put_bucket_versioning_suspended.json")  # versioning is in fact still Enabled

    assert result["result"] == "compliant"
    assert stack.org.findings() == []


def test_events_about_other_buckets_change_nothing(stack: Stack, trails: list[str]) -> None:
    from harness.org import EVENTS

    event = json.loads((EVENTS / "bucket/unrouted/put_bucket_policy_other_bucket.json").read_text())

    assert stack.targets(event) == []
    assert stack.invoke("BucketGuardFunction", event)["result"] == "ignored"
    assert stack.org.findings() == []


def test_key_that_shuts_trailguard_out_is_a_critical_finding_not_a_silent_retry(
    stack: Stack, trails: list[str], faults: Faults
) -> None:
    # Given a key policy edit that removed TrailGuard's access to the key
    faults.fail("DescribeKey", "AccessDeniedException", "explicit deny", 400)
    faults.fail("GetKeyPolicy", "AccessDeniedException", "explicit deny", 400)

    result = stack.send("key/put_key_policy.json")

    assert result["result"] == "remediation_failed"
    message = only(stack.org.findings())["message"]
    state = finding(message, "key.state")
    assert state["status"] == "REMEDIATION_FAILED"
    assert state["severity"] == "CRITICAL"
    assert "AccessDenied" in state["summary"]


def test_bucket_that_shuts_trailguard_out_is_a_critical_finding(
    stack: Stack, trails: list[str], faults: Faults
) -> None:
    faults.fail("GetBucketPolicy", "AccessDenied", "explicit deny", 403, when=stack.org.bucket)

    result = stack.send("bucket/put_bucket_policy_public.json")

    assert result["result"] == "remediation_failed"
    write = finding(only(stack.org.findings())["message"], "bucket.cloudtrail-write")
    assert write["status"] == "REMEDIATION_FAILED"
    assert "AccessDenied" in write["summary"]


def test_a_key_event_reads_no_member_account_so_one_without_the_member_stack_is_still_judged(
    stack: Stack, trails: list[str], faults: Faults, api_calls: ApiCalls
) -> None:
    # Given member 012345678901 has no remediation role, the sweep has kept the inventory, and the key policy
    # drops the CloudTrail grant
    org = stack.org
    faults.fail("AssumeRole", "AccessDenied", "no such role", 403, when=f"{MEMBER_B}:role/TrailGuardRemediation")
    stack.sweep()
    org.findings()
    broken = broken_key_policy(org)
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(broken))
    api_calls.reset()

    stack.send("key/put_key_policy.json")

    # Then no member is read (the trails come from the inventory), and the member without the stack, whose
    # trails the sweep could not list, must still be admitted (every account of the organization is)
    assert "AssumeRole" not in api_calls.calls
    encrypt = finding(only(org.findings())["message"], "key.cloudtrail-encrypt")
    assert encrypt["observed"]["scope_problems"] == []
    assert MEMBER_B not in {trail.split(":")[4] for trail in encrypt["observed"]["refused_trails"]}
    assert MEMBER_B in encrypt["observed"]["refused_accounts"]
    assert MEMBER_A in {trail.split(":")[4] for trail in encrypt["observed"]["refused_trails"]}


def test_organization_that_cannot_be_listed_gives_no_false_external_finding(stack: Stack, trails: list[str]) -> None:
    # Given TRAILGUARD_ACCOUNTS is unset and the organization cannot be listed (not in use, no delegation)
    org = stack.org
    stack.configure(TRAILGUARD_ACCOUNTS="")
    current = key_policy(org)
    current["Statement"].append(
        {
            "Sid": "MemberReaders",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{MEMBER_A}:root"},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(current))

    result = stack.send("key/put_key_policy.json")

    assert result["result"] == "compliant"
    assert org.findings() == []


def test_rotation_is_checked_once_a_disabled_key_is_enabled_again(stack: Stack, trails: list[str]) -> None:
    # Given rotation was turned off, then the key disabled (a disabled key cannot say whether it rotates)
    org = stack.org
    kms = org.client("kms", CENTRAL)
    kms.disable_key_rotation(KeyId=org.key_id)
    kms.disable_key(KeyId=org.key_id)

    stack.send("key/disable_key.json")

    assert key_state(org) == "Enabled"
    assert kms.get_key_rotation_status(KeyId=org.key_id)["KeyRotationEnabled"] is True
    message = only(org.findings())["message"]
    assert finding(message, "key.state")["status"] == "REMEDIATED"
    assert finding(message, "key.rotation")["status"] == "REMEDIATED"


def test_key_repaired_before_a_throttled_scan_is_reported_then_retried(
    stack: Stack, trails: list[str], faults: Faults
) -> None:
    from botocore.exceptions import ClientError

    org = stack.org
    org.client("kms", CENTRAL).disable_key(KeyId=org.key_id)
    faults.fail("GetItem", "ThrottlingException", "Rate exceeded")  # reading the organization from the inventory

    # The key is enabled again and that is said at once; the event is raised so that the policy is checked
    # on the retry
    with pytest.raises(ClientError, match="ThrottlingException"):
        stack.send("key/disable_key.json")

    assert key_state(org) == "Enabled"
    assert finding(only(org.findings())["message"], "key.state")["status"] == "REMEDIATED"


def test_bucket_grant_to_a_member_is_not_external_when_the_organization_cannot_be_listed(
    stack: Stack, trails: list[str]
) -> None:
    # Given TRAILGUARD_ACCOUNTS is unset and the organization cannot be listed, a member reads the logs
    org = stack.org
    stack.configure(TRAILGUARD_ACCOUNTS="")
    with_statement(
        org,
        {
            "Sid": "MemberReaders",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{MEMBER_A}:root"},
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{org.bucket}/*",
        },
    )

    result = stack.send("bucket/put_bucket_policy_external.json")

    assert result["result"] == "compliant"
    assert org.findings() == []


def test_a_region_pinned_grant_does_not_make_the_key_guard_loop(stack: Stack, api_calls: ApiCalls) -> None:
    # Given policy repair on, and a CloudTrail grant pinned to one region (arn:aws:cloudtrail:eu-west-1:<acct>:...)
    org = stack.org
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    org.create_trail(MEMBER_B, "audit-trail", OTHER)  # a trail in another region than the one pinned
    pinned = key_policy(org)
    for statement in pinned["Statement"]:
        text = json.dumps(statement)
        if "GenerateDataKey" in text and "cloudtrail.amazonaws.com" in text:
            statement.update(json.loads(text.replace("arn:aws:cloudtrail:*:", "arn:aws:cloudtrail:eu-west-1:")))
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(pinned))
    stack.configure(TRAILGUARD_MODE="report")
    stack.sweep()  # the inventory knows the trail in us-east-1
    org.findings()
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    api_calls.reset()

    # When its own PutKeyPolicy event (and the original) keep coming back
    for _ in range(6):
        stack.send("key/put_key_policy.json")

    # Then the key policy is written at most once, and one message says what is wrong
    assert api_calls.writes().count("PutKeyPolicy") <= 1
    (message,) = [item["message"] for item in org.findings()]
    assert finding(message, "key.cloudtrail-encrypt")["status"] in ("REMEDIATED", "REMEDIATION_FAILED")


# --- every account of the organization is admitted, not only those whose trails use the key ------------------


def cloudtrail_statements_stripped(org: SimulatedOrg) -> dict[str, Any]:
    """The key policy with every statement for CloudTrail removed (the administrator statement kept)."""
    statements = [s for s in key_policy(org)["Statement"] if "cloudtrail.amazonaws.com" not in json.dumps(s)]
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.mark.parametrize("delivers_to", ["elsewhere", "central bucket"])
def test_a_member_whose_trail_never_used_the_key_is_admitted_then_its_trail_is_moved_onto_the_key(
    stack: Stack, delivers_to: str
) -> None:
    # Given policy repair on, and a member trail with no key at all (delivering to the member's own bucket,
    # or to the central bucket): no trail of the member has ever used the central key
    org = stack.org
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    bucket = None
    if delivers_to == "elsewhere":
        bucket = f"member-own-logs-{MEMBER_A}"
        org.client("s3", MEMBER_A).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": HOME})
    arn = org.create_trail(MEMBER_A, "audit-trail", key=None, bucket=bucket)
    # And a key policy edit that strips every CloudTrail grant
    stripped = cloudtrail_statements_stripped(org)
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(stripped))
    assert not policy.cloudtrail_may_encrypt(
        policy.parse_policy(stripped), org.key_arn, arn, source_org_id=ORG_ID
    ).allowed

    # When the PutKeyPolicy event arrives
    stack.send("key/put_key_policy.json")

    # Then the key policy is repaired for every account of the organization, the member among them
    key_message = only(org.findings())["message"]
    assert finding(key_message, "key.cloudtrail-encrypt")["status"] == "REMEDIATED"
    encrypt = finding(key_message, "key.cloudtrail-encrypt")
    assert set(encrypt["observed"]["refused_accounts"]) == {MANAGEMENT, CENTRAL, MEMBER_A, MEMBER_B}
    repaired = policy.parse_policy(key_policy(org))
    # And the analyzer says the member's real trail ARN is admitted, as AWS would check it on UpdateTrail
    # (moto's UpdateTrail accepts any key): its request names the trail, the member and the organization
    assert policy.cloudtrail_may_encrypt(repaired, org.key_arn, arn, source_org_id=ORG_ID).allowed
    assert policy.cloudtrail_may_describe(repaired, org.key_arn, arn, source_org_id=ORG_ID).allowed
    admission = policy.key_admission(
        repaired, org.key_arn, org.accounts, trails=[arn], organization_trail=None, org_id=ORG_ID
    )
    assert admission.admitted, admission.summary()
    assert policy.key_admin_statements(repaired, CENTRAL), "the administrator statement is kept"

    # When the member's trail event arrives
    result = stack.send("trail/create_trail_no_key.json")

    # Then the trail is moved onto the central key
    assert org.trail(arn)["KmsKeyId"] == org.key_arn
    trail_message = only(org.findings())["message"]
    assert finding(trail_message, "trail.encryption")["status"] == "REMEDIATED"
    assert result["result"] in ("remediated", "open")  # open: a trail delivering elsewhere is also reported


def test_the_member_trail_is_refused_while_the_key_does_not_admit_its_account(
    stack: Stack, api_calls: ApiCalls, faults: Faults
) -> None:
    # Given the key policy stripped of its CloudTrail grants and policy repair off (nothing repairs the key)
    org = stack.org
    org.create_trail(MEMBER_A, "audit-trail", key=None)
    stripped = cloudtrail_statements_stripped(org)
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(stripped))
    faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions", when="KmsKeyId")
    api_calls.reset()

    stack.send("trail/create_trail_no_key.json")

    # Then AWS refuses UpdateTrail (moto would not: the refusal is injected), and the finding says how the key
    # gets fixed
    assert api_calls.calls.count("UpdateTrail") == 1
    encryption = finding(only(org.findings())["message"], "trail.encryption")
    assert encryption["status"] == "REMEDIATION_FAILED"
    assert "TRAILGUARD_REPAIR_POLICIES=true" in encryption["remediation"]["error"]


def test_a_deleted_bucket_policy_is_restored_for_every_account_of_the_organization(stack: Stack) -> None:
    # Given no trail in scope at all, policy repair on, and the bucket policy deleted
    org = stack.org
    stack.configure(TRAILGUARD_REPAIR_POLICIES="true")
    s3(org).delete_bucket_policy(Bucket=org.bucket)

    stack.send("bucket/delete_bucket_policy.json")

    # Then every account's trails may deliver, and the organization trail writes under AWSLogs/<org-id>/
    restored = policy.parse_policy(s3(org).get_bucket_policy(Bucket=org.bucket)["Policy"])
    organization_trail = f"arn:aws:cloudtrail:{HOME}:{MANAGEMENT}:trail/organization"
    admission = policy.bucket_admission(
        restored,
        org.bucket,
        org.accounts,
        organization_trail=organization_trail,
        org_id=ORG_ID,
        kms_key_arn=org.key_arn,
        region=HOME,
    )
    assert admission.admitted, admission.summary()
    write = finding(only(org.findings())["message"], "bucket.cloudtrail-write")
    assert write["status"] == "REMEDIATED"
    assert set(write["observed"]["refused_accounts"]) == {MANAGEMENT, CENTRAL, MEMBER_A, MEMBER_B}
