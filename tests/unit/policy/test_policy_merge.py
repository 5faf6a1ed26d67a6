"""Repairing key and bucket policies: keep, drop public grants, add what CloudTrail misses, never widen."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.unit.policy.policy_testkit import (
    ADMIN_STATEMENT,
    BUCKET,
    BUCKET_ARN,
    CENTRAL,
    KEY_ARN,
    MEMBER,
    MGMT,
    ORG_ID,
    ORG_TRAIL,
    OUTSIDER,
    corpus,
    policies,
    trail,
)
from trailguard.policy import (
    KMS_KEY_POLICY_LIMIT,
    S3_BUCKET_POLICY_LIMIT,
    Caller,
    PolicyDocument,
    PolicyRepairError,
    PolicySizeError,
    Request,
    bucket_admission,
    bucket_policy,
    cloudtrail_may_encrypt,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    evaluate,
    key_admin_statements,
    key_admission,
    key_policy,
    merge_bucket_policy,
    merge_key_policy,
    parse_policy,
    policy_size,
    public_grants,
)
from trailguard.policy.evaluation import ContextValue

READER = f"arn:aws:iam::{CENTRAL}:role/LogReader"
MEMBER_KEY_ARN = f"arn:aws:kms:eu-west-1:{MEMBER}:key/k"


def sids(policy: dict[str, Any]) -> list[str | None]:
    return [statement.get("Sid") for statement in policy["Statement"]]


def test_console_default_gains_an_account_wide_grant_and_keeps_everything() -> None:
    # Given the console default, whose encrypt grant is pinned to one trail
    existing = corpus("kms_console_default.json")
    # When it is merged for the account's trails
    result = merge_key_policy(existing, MEMBER, trail_accounts=[MEMBER], key_arn=MEMBER_KEY_ARN)
    # Then every statement is kept and one encrypt grant for all the account's trails is added
    assert sids(result.policy) == [s.sid for s in existing.statements] + ["TrailGuardCloudTrailEncrypt"]
    assert result.changes == (
        'added statement "TrailGuardCloudTrailEncrypt": '
        f"CloudTrail may encrypt log files of trails in account {MEMBER}",
    )
    merged = parse_policy(result.policy)
    assert cloudtrail_may_encrypt(merged, MEMBER_KEY_ARN, trail(MEMBER, "created-later")).allowed


def test_a_policy_that_already_serves_is_left_alone() -> None:
    existing = corpus("kms_org_context_only.json")
    result = merge_key_policy(existing, CENTRAL, management_account=MGMT, trail_accounts=[MEMBER], key_arn=KEY_ARN)
    assert not result.changed
    assert result.policy == existing.to_dict()


def test_merge_is_idempotent() -> None:
    first = merge_key_policy(corpus("kms_public_star.json"), CENTRAL, management_account=MGMT, org_id=ORG_ID)
    second = merge_key_policy(parse_policy(first.policy), CENTRAL, management_account=MGMT, org_id=ORG_ID)
    assert second.changes == ()
    assert second.policy == first.policy


def test_public_grant_is_removed_and_cloudtrail_grants_added() -> None:
    result = merge_key_policy(corpus("kms_public_star.json"), CENTRAL, management_account=MGMT, org_id=ORG_ID)
    assert sids(result.policy) == [
        "KeyAdmin",
        "TrailGuardCloudTrailEncrypt",
        "TrailGuardCloudTrailDescribeKey",
    ]
    assert result.changes[0] == (
        "removed AnyoneMayUseTheKey: AnyoneMayUseTheKey grants kms:Decrypt, kms:GenerateDataKey*, "
        "kms:DescribeKey "
        "to * without any condition"
    )
    assert public_grants(parse_policy(result.policy), KEY_ARN) == []


def test_a_public_statement_that_is_the_only_admin_is_narrowed_to_the_root() -> None:
    # Given a key whose only administrator statement is open to everyone
    existing = parse_policy(
        {"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
    )
    # When it is repaired
    result = merge_key_policy(existing, CENTRAL, trail_accounts=[MEMBER])
    # Then it is narrowed to the key account root, never removed
    assert result.policy["Statement"][0] == {
        "Sid": "Open",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    assert result.changes[0].startswith(f"narrowed Open to arn:aws:iam::{CENTRAL}:root: it was public")
    assert key_admin_statements(parse_policy(result.policy), CENTRAL) == ("Open",)


def test_a_public_admin_is_removed_when_another_admin_remains() -> None:
    open_admin = {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}
    result = merge_key_policy(
        parse_policy({"Statement": [ADMIN_STATEMENT, open_admin]}), CENTRAL, trail_accounts=[MEMBER]
    )
    assert "Open" not in sids(result.policy)
    assert "Admin" in sids(result.policy)


def test_a_deny_that_blocks_cloudtrail_makes_the_repair_refuse() -> None:
    # Given a Deny that catches CloudTrail (TrailGuard never removes a Deny)
    existing = corpus("kms_deny_outside_org_blocks_cloudtrail.json")
    # Then the repair is refused, naming the Deny
    with pytest.raises(PolicyRepairError, match='explicitly denied by "DenyOutsideTheOrganization"'):
        merge_key_policy(existing, CENTRAL, management_account=MGMT, org_id=ORG_ID)


def test_a_key_policy_without_admin_is_refused() -> None:
    existing = parse_policy(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": MEMBER}, "Action": "kms:Decrypt", "Resource": "*"}]}
    )
    with pytest.raises(PolicyRepairError, match=f"no statement would let account {CENTRAL} administer the key"):
        merge_key_policy(existing, CENTRAL, trail_accounts=[MEMBER])


def test_invalid_inputs_are_refused_as_repair_errors() -> None:
    with pytest.raises(PolicyRepairError, match="key account must be a 12-digit"):
        merge_key_policy(corpus("kms_public_star.json"), "123")
    with pytest.raises(PolicyRepairError, match="nothing to grant"):
        merge_bucket_policy(corpus("s3_public_get_object.json"), BUCKET)


def test_a_result_over_32_kib_is_refused() -> None:
    # Given a key policy already near the KMS limit with statements of its own
    filler = [{**ADMIN_STATEMENT, "Sid": f"Filler{n}", "Action": [f"kms:Action{n}X{'y' * 200}"]} for n in range(150)]
    existing = parse_policy({"Statement": [ADMIN_STATEMENT, *filler]})
    # When the CloudTrail grants are added, Then the repair is refused with the limit, the size and the way out
    with pytest.raises(PolicySizeError) as raised:
        merge_key_policy(existing, CENTRAL, trail_accounts=[MEMBER])
    error = raised.value
    assert isinstance(error, PolicyRepairError), "the guards catch PolicyRepairError"
    assert (error.resource, error.limit) == ("key", 32768)
    assert error.size > 32768
    assert "over the KMS key policy limit of 32,768 bytes" in str(error)
    assert "remove statements it no longer needs" in str(error)


def test_added_sids_never_repeat_existing_ones() -> None:
    taken = {
        "Sid": "TrailGuardCloudTrailEncrypt",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {
            "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{MGMT}:trail/*"}
        },
    }
    result = merge_key_policy(
        parse_policy({"Statement": [ADMIN_STATEMENT, taken]}),
        CENTRAL,
        management_account=MGMT,
        trail_accounts=[MEMBER],
    )
    assert "TrailGuardCloudTrailEncrypt2" in sids(result.policy)
    added = result.policy["Statement"][2]
    assert added["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"] == [
        f"arn:aws:cloudtrail:*:{MEMBER}:trail/*"
    ], "only the missing account is added"


def test_repeated_keys_are_reported_when_the_policy_is_rewritten() -> None:
    result = merge_key_policy(corpus("kms_guide_duplicate_string_equals.json"), CENTRAL, management_account=MGMT)
    assert result.changes[-1].endswith("the repaired policy keeps only the last, as AWS already did")


def test_bucket_merge_for_an_organization() -> None:
    # Given the documented single-account bucket policy plus a public read
    existing = corpus("s3_public_get_object.json")
    # When it is repaired for the organization trail and a member's own trails
    result = merge_bucket_policy(existing, BUCKET, [MEMBER], MGMT, ORG_ID)
    # Then the public read is gone, the existing CloudTrail grants kept, TLS is enforced
    assert sids(result.policy) == [
        "AWSCloudTrailAclCheck",
        "AWSCloudTrailWrite",
        "TrailGuardDenyInsecureTransport",
    ]
    merged = parse_policy(result.policy)
    assert public_grants(merged, BUCKET_ARN) == []
    key = cloudtrail_object_key(MEMBER, ORG_ID)
    assert cloudtrail_may_put_object(merged, BUCKET, key, ORG_TRAIL).allowed


def test_bucket_merge_adds_the_organization_write_grant() -> None:
    result = merge_bucket_policy(corpus("s3_cloudtrail_documented_single_account.json"), BUCKET, [MEMBER], MGMT, ORG_ID)
    assert sids(result.policy)[2:] == [
        "TrailGuardCloudTrailAclCheck",
        "TrailGuardCloudTrailWrite",
        "TrailGuardCloudTrailOrganizationWrite",
        "TrailGuardDenyInsecureTransport",
    ]


def test_bucket_merge_drops_a_grant_whose_org_pin_was_lost_to_a_repeated_key() -> None:
    result = merge_bucket_policy(corpus("s3_guide_duplicate_lost_org_pin.json"), BUCKET, [MEMBER])
    assert "OrganizationMayReadTaggedLogs" not in sids(result.policy)


def test_bucket_with_an_sse_kms_deny_is_repaired_only_knowing_the_key() -> None:
    existing = corpus("s3_encryption_deny_optional.json")
    with pytest.raises(PolicyRepairError, match="DenyUploadsNotEncryptedWithKms"):
        merge_bucket_policy(existing, BUCKET, [MEMBER])
    result = merge_bucket_policy(existing, BUCKET, [MEMBER], kms_key_arn=KEY_ARN)
    assert result.changes == ('added statement "TrailGuardDenyInsecureTransport": requests without TLS are denied',)


# --- a repair never widens access ---------------------------------------------------------------------------

KEY_CALLERS = [
    Caller.aws(f"arn:aws:iam::{CENTRAL}:root"),
    Caller.aws(f"arn:aws:sts::{CENTRAL}:assumed-role/KeyAdmin/jane"),
    Caller.aws(f"arn:aws:iam::{MEMBER}:user/alice"),
    Caller.aws(f"arn:aws:iam::{OUTSIDER}:root"),
    Caller.aws(READER),
    Caller.service("cloudtrail.amazonaws.com"),
    Caller.service("s3.amazonaws.com"),
    Caller.anonymous(),
]
KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:PutKeyPolicy", "kms:CreateGrant"]
BUCKET_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:GetBucketAcl", "s3:PutBucketPolicy"]
BUCKET_RESOURCES = [
    BUCKET_ARN,
    f"{BUCKET_ARN}/{cloudtrail_object_key(MEMBER)}",
    f"{BUCKET_ARN}/{cloudtrail_object_key(MEMBER, ORG_ID)}",
    f"{BUCKET_ARN}/other",
]


def contexts(caller: Caller) -> list[dict[str, ContextValue]]:
    base: dict[str, ContextValue] = {"kms:CallerAccount": caller.account} if caller.account else {}
    found: list[dict[str, ContextValue]] = [
        dict(base),
        {**base, "aws:PrincipalOrgID": ORG_ID, "aws:SecureTransport": True},
    ]
    for trail_arn in (trail(MEMBER), ORG_TRAIL, trail(OUTSIDER)):
        account = trail_arn.split(":")[4]
        found.append(
            {
                **base,
                "kms:EncryptionContext:aws:cloudtrail:arn": trail_arn,
                "aws:SourceArn": trail_arn,
                "aws:SourceAccount": account,
                "s3:x-amz-acl": "bucket-owner-full-control",
                "aws:SecureTransport": True,
            }
        )
    return found


def assert_never_widens(
    before: PolicyDocument,
    after: PolicyDocument,
    actions: list[str],
    resources: list[str],
    granted: set[tuple[str, str]],
) -> None:
    for caller in KEY_CALLERS:
        for action in actions:
            if (caller.id, action) in granted:
                continue
            for resource in resources:
                for context in contexts(caller):
                    request = Request(caller, action, resource, context)
                    if evaluate(after, request).allowed:
                        assert evaluate(before, request).allowed, (
                            f"{caller.id} gained {action} on {resource} with {context}"
                        )


KEY_GRANTS = {
    ("cloudtrail.amazonaws.com", "kms:GenerateDataKey"),
    ("cloudtrail.amazonaws.com", "kms:DescribeKey"),
    (READER, "kms:Decrypt"),
}
BUCKET_GRANTS = {
    ("cloudtrail.amazonaws.com", "s3:PutObject"),
    ("cloudtrail.amazonaws.com", "s3:GetBucketAcl"),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies(with_admin=True))
def test_merge_key_policy_never_widens(policy: dict[str, Any]) -> None:
    # Given any key policy
    before = parse_policy(policy)
    # When it is repaired (or the repair is refused)
    try:
        result = merge_key_policy(
            before,
            CENTRAL,
            management_account=MGMT,
            trail_accounts=[MEMBER],
            log_readers=[READER],
            key_arn=KEY_ARN,
        )
    except PolicyRepairError:
        return
    after = parse_policy(result.policy)
    # Then nobody may do anything they could not do before, except the CloudTrail and reader grants asked for
    assert_never_widens(before, after, KEY_ACTIONS, [KEY_ARN], KEY_GRANTS)
    # And the admin statement survives and CloudTrail is served
    assert key_admin_statements(after, CENTRAL)
    assert cloudtrail_may_encrypt(after, KEY_ARN, trail(MEMBER, "new")).allowed
    assert public_grants(after, KEY_ARN) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies())
def test_merge_bucket_policy_never_widens(policy: dict[str, Any]) -> None:
    before = parse_policy(policy)
    try:
        # The merge serves the trails it is told of (a Deny may name one trail): the organization trail here.
        result = merge_bucket_policy(before, BUCKET, [MEMBER], MGMT, ORG_ID, trails=[ORG_TRAIL])
    except PolicyRepairError:
        return
    after = parse_policy(result.policy)
    assert_never_widens(before, after, BUCKET_ACTIONS, BUCKET_RESOURCES, BUCKET_GRANTS)
    assert public_grants(after, BUCKET_ARN) == []
    assert cloudtrail_may_put_object(after, BUCKET, cloudtrail_object_key(MEMBER, ORG_ID), ORG_TRAIL).allowed


def test_the_serialised_result_is_plain_json() -> None:
    result = merge_key_policy(corpus("kms_console_default.json"), MEMBER, trail_accounts=[MEMBER])
    assert json.loads(json.dumps(result.policy)) == result.policy


# --- the form that fits ------------------------------------------------------------------------------------

ORGANIZATION = [f"{n:012d}" for n in range(100_000_000_000, 100_000_001_000)]  # 1,000 accounts


def test_a_key_merge_for_a_grown_organization_turns_organization_wide_when_per_account_would_not_fit() -> None:
    # Given a per-account key policy for 700 accounts, and an organization grown to 1,000
    existing = key_policy(
        CENTRAL, management_account=MGMT, org_id=ORG_ID, trail_accounts=ORGANIZATION[:700], key_arn=KEY_ARN
    )
    assert "aws:SourceOrgID" not in json.dumps(existing)
    inputs: dict[str, Any] = {
        "management_account": MGMT,
        "org_id": ORG_ID,
        "trail_accounts": ORGANIZATION,
        "key_arn": KEY_ARN,
    }
    # When it is merged (the form left to TrailGuard)
    first = merge_key_policy(parse_policy(existing), CENTRAL, **inputs)
    # Then the organization-wide grant is added, the existing grants kept, and the change says why
    assert policy_size(first.policy) <= KMS_KEY_POLICY_LIMIT
    assert list(existing["Statement"]) == first.policy["Statement"][: len(existing["Statement"])]
    assert any("over the limit of 32,768" in change and ORG_ID in change for change in first.changes)
    merged = parse_policy(first.policy)
    admission = key_admission(
        merged, KEY_ARN, [MGMT, CENTRAL, *ORGANIZATION], organization_trail=ORG_TRAIL, org_id=ORG_ID
    )
    assert admission.admitted, admission.summary()
    assert key_admin_statements(merged, CENTRAL)
    # And another organization's trail is not admitted
    assert not cloudtrail_may_encrypt(merged, KEY_ARN, trail(OUTSIDER), source_org_id="o-zzzzzzzzzz").allowed
    # And a second merge changes nothing
    assert merge_key_policy(merged, CENTRAL, **inputs).changes == ()


def test_a_key_merge_keeps_the_per_account_form_while_it_fits() -> None:
    existing = key_policy(CENTRAL, management_account=MGMT, org_id=ORG_ID, trail_accounts=[MEMBER], key_arn=KEY_ARN)
    result = merge_key_policy(
        parse_policy(existing),
        CENTRAL,
        management_account=MGMT,
        org_id=ORG_ID,
        trail_accounts=[MEMBER, *ORGANIZATION[:100]],
        key_arn=KEY_ARN,
    )
    assert "aws:SourceOrgID" not in json.dumps(result.policy)
    assert len(result.changes) == 1


def test_a_full_bucket_policy_gives_its_per_account_grants_way_to_the_organization_wide_ones() -> None:
    # Given the per-account bucket policy as full as the S3 limit lets it be
    fitting = max(n for n in range(150, 260) if _fits_per_account_bucket(n))
    existing = bucket_policy(BUCKET, ORGANIZATION[:fitting], MGMT, ORG_ID, organization_wide=False)
    assert policy_size(existing) > S3_BUCKET_POLICY_LIMIT - 600, "no room left for the organization-wide grants"
    # When one more account joins and the policy is merged
    inputs: dict[str, Any] = {
        "trail_accounts": ORGANIZATION[: fitting + 1],
        "management_account": MGMT,
        "org_id": ORG_ID,
        "kms_key_arn": KEY_ARN,
    }
    result = merge_bucket_policy(parse_policy(existing), BUCKET, **inputs)
    # Then TrailGuard's per-account grants give way to the organization-wide ones, and the policy fits
    assert policy_size(result.policy) <= S3_BUCKET_POLICY_LIMIT
    assert sids(result.policy) == [
        "TrailGuardDenyInsecureTransport",
        "TrailGuardCloudTrailAclCheckOrganization",
        "TrailGuardCloudTrailWriteOrganization",
    ]
    assert sum("removed TrailGuardCloudTrail" in change for change in result.changes) == 3
    merged = parse_policy(result.policy)
    everyone = [MGMT, *ORGANIZATION[: fitting + 1]]
    admission = bucket_admission(
        merged, BUCKET, everyone, organization_trail=ORG_TRAIL, org_id=ORG_ID, kms_key_arn=KEY_ARN, region="eu-west-1"
    )
    assert admission.admitted, admission.summary()
    # Never beyond the organization: a trail of another organization is refused, as is a request naming none
    assert not bucket_admission(merged, BUCKET, [OUTSIDER], org_id="o-zzzzzzzzzz").admitted
    assert not cloudtrail_may_put_object(merged, BUCKET, cloudtrail_object_key(MEMBER), trail(MEMBER)).allowed
    assert public_grants(merged, BUCKET_ARN) == []
    # And a second merge changes nothing
    assert merge_bucket_policy(merged, BUCKET, **inputs).changes == ()


def _fits_per_account_bucket(count: int) -> bool:
    try:
        bucket_policy(BUCKET, ORGANIZATION[:count], MGMT, ORG_ID, organization_wide=False)
    except PolicySizeError:
        return False
    return True


def test_grants_written_by_hand_or_naming_an_outside_account_never_give_way() -> None:
    # Given a full per-account bucket policy whose write grant also names an outside account
    fitting = max(n for n in range(150, 260) if _fits_per_account_bucket(n)) - 1
    existing = bucket_policy(BUCKET, ORGANIZATION[:fitting], MGMT, ORG_ID, organization_wide=False)
    for statement in existing["Statement"]:
        if statement["Sid"] == "TrailGuardCloudTrailWrite":
            statement["Resource"].append(f"{BUCKET_ARN}/AWSLogs/{OUTSIDER}/*")
            statement["Condition"]["StringEquals"]["aws:SourceAccount"].append(OUTSIDER)
    # When the organization grows past what fits
    inputs: dict[str, Any] = {"trail_accounts": ORGANIZATION[:400], "management_account": MGMT, "org_id": ORG_ID}
    result = merge_bucket_policy(parse_policy(existing), BUCKET, **inputs)
    # Then the grants of TrailGuard's form for the organization's accounts give way, the one naming the
    # outsider is kept as it was
    kept = [s for s in result.policy["Statement"] if s["Sid"] == "TrailGuardCloudTrailWrite"]
    assert len(kept) == 1
    assert OUTSIDER in kept[0]["Condition"]["StringEquals"]["aws:SourceAccount"]
    assert "TrailGuardCloudTrailAclCheck" not in sids(result.policy)
    assert policy_size(result.policy) <= S3_BUCKET_POLICY_LIMIT


def test_without_the_organization_id_a_merge_that_would_not_fit_is_refused_with_the_way_out() -> None:
    existing = parse_policy({"Statement": [ADMIN_STATEMENT]})
    with pytest.raises(PolicySizeError) as raised:
        merge_key_policy(existing, CENTRAL, management_account=MGMT, trail_accounts=ORGANIZATION, key_arn=KEY_ARN)
    assert "set the organization id (TRAILGUARD_ORG_ID for the guards, --org-id on the command line)" in str(
        raised.value
    )
    # And the per-account form asked for is refused even with the id
    with pytest.raises(PolicySizeError, match="--per-account"):
        merge_key_policy(
            existing,
            CENTRAL,
            management_account=MGMT,
            org_id=ORG_ID,
            trail_accounts=ORGANIZATION,
            key_arn=KEY_ARN,
            organization_wide=False,
        )
