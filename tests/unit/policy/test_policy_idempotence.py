"""A merge is a fixed point after one step: merging its result again changes nothing and says so.

A merge that reports a change it did not make (or makes one a check does not need) makes a guard write the
policy again on the event of its own write, forever. These tests merge a range of existing policies (the
corpus, grants pinned to one region or one trail, policies TrailGuard built) with a range of inputs, and
check that the second merge says ``changed=False`` with no changes and returns the policy unchanged, and
that the check the guards run (``key_admission``/``bucket_admission`` with the same inputs) then admits
every trail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.policy.policy_testkit import (
    ADMIN_STATEMENT,
    BUCKET,
    CENTRAL,
    CORPUS,
    KEY_ARN,
    MEMBER,
    MGMT,
    ORG_ID,
    ZERO,
    trail,
)
from trailguard.policy import (
    KnownTrail,
    MergeResult,
    PolicyRepairError,
    bucket_admission,
    bucket_policy,
    key_admission,
    key_policy,
    merge_bucket_policy,
    merge_key_policy,
    parse_policy,
)

CLOUDTRAIL = {"Service": "cloudtrail.amazonaws.com"}
CONTEXT_KEY = "kms:EncryptionContext:aws:cloudtrail:arn"
ELSEWHERE = trail(MEMBER, "audit", "us-east-1")  # a trail homed outside the key's region (eu-west-1)
DESCRIBE = {"Sid": "Describe", "Effect": "Allow", "Principal": CLOUDTRAIL, "Action": "kms:DescribeKey", "Resource": "*"}


def encrypt_grant(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Sid": "Encrypt",
        "Effect": "Allow",
        "Principal": CLOUDTRAIL,
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": condition,
    }


def key_with(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [ADMIN_STATEMENT, *statements]}


REGION_PINNED_KEY = key_with(
    encrypt_grant({"StringLike": {CONTEXT_KEY: f"arn:aws:cloudtrail:eu-west-1:{MEMBER}:trail/*"}}), DESCRIBE
)
KEY_POLICIES: dict[str, dict[str, Any]] = {
    **{path.stem: parse_policy(path.read_text()).to_dict() for path in sorted(CORPUS.glob("kms_*.json"))},
    "region_pinned": REGION_PINNED_KEY,
    "region_pinned_other_region": key_with(
        encrypt_grant({"StringLike": {CONTEXT_KEY: f"arn:aws:cloudtrail:us-east-1:{MEMBER}:trail/*"}}), DESCRIBE
    ),
    "one_trail_by_source_arn": key_with(
        encrypt_grant(
            {
                "StringLike": {CONTEXT_KEY: f"arn:aws:cloudtrail:*:{MEMBER}:trail/*"},
                "StringEquals": {"aws:SourceArn": trail(MEMBER)},
            }
        ),
        DESCRIBE,
    ),
    "admin_only": key_with(),
    "built_per_account": key_policy(CENTRAL, trail_accounts=[MEMBER], key_arn=KEY_ARN),
    "built_organization_wide": key_policy(
        CENTRAL, management_account=MGMT, org_id=ORG_ID, key_arn=KEY_ARN, organization_wide=True
    ),
}
KEY_INPUTS: dict[str, dict[str, Any]] = {
    "one_account": {"trail_accounts": [MEMBER], "key_arn": KEY_ARN},
    "organization": {
        "management_account": MGMT,
        "org_id": ORG_ID,
        "trail_accounts": [MEMBER, ZERO],
        "key_arn": KEY_ARN,
    },
    "organization_wide": {
        "management_account": MGMT,
        "org_id": ORG_ID,
        "trail_accounts": [MEMBER, ZERO],
        "key_arn": KEY_ARN,
        "organization_wide": True,
    },
    "known_trail_elsewhere": {"trail_accounts": [MEMBER], "key_arn": KEY_ARN, "trails": [ELSEWHERE]},
    "readers": {
        "trail_accounts": [MEMBER],
        "key_arn": KEY_ARN,
        "log_readers": [f"arn:aws:iam::{CENTRAL}:role/Reader"],
        "trails": [KnownTrail(trail(MEMBER))],
    },
}


def merge_twice(merge: Any, existing: dict[str, Any], *args: Any, **inputs: Any) -> tuple[MergeResult, MergeResult]:
    first = merge(parse_policy(existing), *args, **inputs)
    second = merge(parse_policy(first.policy), *args, **inputs)
    return first, second


def assert_fixed_point(existing: dict[str, Any], first: MergeResult, second: MergeResult) -> None:
    if not first.changed:
        assert first.changes == ()
        assert first.policy == parse_policy(existing).to_dict()
    assert second.changes == ()
    assert not second.changed
    assert second.policy == first.policy


@pytest.mark.parametrize("inputs", KEY_INPUTS.values(), ids=KEY_INPUTS.keys())
@pytest.mark.parametrize("existing", KEY_POLICIES.values(), ids=KEY_POLICIES.keys())
def test_a_key_merge_is_a_fixed_point_after_one_step(existing: dict[str, Any], inputs: dict[str, Any]) -> None:
    try:
        first, second = merge_twice(merge_key_policy, existing, CENTRAL, **inputs)
    except PolicyRepairError:
        return  # a refusal is stable too: nothing is written
    assert_fixed_point(existing, first, second)
    # And the check the key guard runs with the same inputs admits every trail of the merged policy
    accounts = [*inputs["trail_accounts"], *([MGMT] if "management_account" in inputs else [])]
    admission = key_admission(
        parse_policy(first.policy),
        KEY_ARN,
        accounts,
        trails=inputs.get("trails", ()),
        org_id=inputs.get("org_id"),
    )
    assert admission.admitted, admission.summary()


def test_a_region_pinned_grant_that_serves_is_not_rewritten() -> None:
    # Given a key whose CloudTrail grant is pinned to its own region, and no trail known elsewhere
    result = merge_key_policy(parse_policy(REGION_PINNED_KEY), CENTRAL, trail_accounts=[MEMBER], key_arn=KEY_ARN)
    # Then the merge changes nothing and says so: the guard must not write PutKeyPolicy
    assert result.changes == ()
    assert not result.changed
    assert result.policy == parse_policy(REGION_PINNED_KEY).to_dict()


def test_a_region_pinned_grant_gains_an_account_wide_grant_once_for_a_trail_elsewhere() -> None:
    # Given the same key, and a trail of the account homed in another region that the check refuses
    doc = parse_policy(REGION_PINNED_KEY)
    assert key_admission(doc, KEY_ARN, [MEMBER], trails=[ELSEWHERE]).refused_trails == (ELSEWHERE,)
    # When it is merged with that trail known, Then the account-wide grant is added once
    first, second = merge_twice(
        merge_key_policy, REGION_PINNED_KEY, CENTRAL, trail_accounts=[MEMBER], key_arn=KEY_ARN, trails=[ELSEWHERE]
    )
    assert first.changes == (
        'added statement "TrailGuardCloudTrailEncrypt": '
        f"CloudTrail may encrypt log files of trails in account {MEMBER}",
    )
    assert key_admission(parse_policy(first.policy), KEY_ARN, [MEMBER], trails=[ELSEWHERE]).admitted
    assert second.changes == ()
    assert second.policy == first.policy


def test_an_organization_wide_merge_adds_one_grant_for_every_account() -> None:
    # Given a per-account key policy for two accounts, and an organization of 1,000
    accounts = [f"{n:012d}" for n in range(100_000_000_000, 100_000_001_000)]
    existing = key_policy(CENTRAL, trail_accounts=[MEMBER, ZERO], key_arn=KEY_ARN)
    inputs: dict[str, Any] = {
        "management_account": MGMT,
        "org_id": ORG_ID,
        "trail_accounts": accounts,
        "key_arn": KEY_ARN,
        "organization_wide": True,
    }
    first, second = merge_twice(merge_key_policy, existing, CENTRAL, **inputs)
    # Then one organization-wide grant is added (the per-account one is kept), once
    assert first.changes == (
        'added statement "TrailGuardCloudTrailEncryptOrganization": '
        f"CloudTrail may encrypt log files of every trail of organization {ORG_ID}",
    )
    assert second.changes == ()
    admission = key_admission(parse_policy(first.policy), KEY_ARN, [MGMT, *accounts], org_id=ORG_ID)
    assert admission.admitted


# --- the bucket --------------------------------------------------------------------------------------------


def bucket_with(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ACL = {
    "Sid": "Acl",
    "Effect": "Allow",
    "Principal": CLOUDTRAIL,
    "Action": "s3:GetBucketAcl",
    "Resource": f"arn:aws:s3:::{BUCKET}",
}
REGION_PINNED_BUCKET = bucket_with(
    ACL,
    {
        "Sid": "WriteOneRegion",
        "Effect": "Allow",
        "Principal": CLOUDTRAIL,
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/AWSLogs/{MEMBER}/CloudTrail/us-east-1/*",
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
    },
    {
        "Sid": "TLS",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    },
)
BUCKET_POLICIES: dict[str, dict[str, Any]] = {
    **{path.stem: parse_policy(path.read_text()).to_dict() for path in sorted(Path(CORPUS).glob("s3_*.json"))},
    "region_pinned_folder": REGION_PINNED_BUCKET,
    "empty": bucket_with(),
    "built_per_account": bucket_policy(BUCKET, [MEMBER], MGMT, ORG_ID),
    "built_organization_wide": bucket_policy(BUCKET, [], MGMT, ORG_ID, organization_wide=True),
}
BUCKET_INPUTS: dict[str, dict[str, Any]] = {
    "one_account": {"trail_accounts": [MEMBER]},
    "organization": {"trail_accounts": [MEMBER, ZERO], "management_account": MGMT, "org_id": ORG_ID},
    "organization_wide": {
        "trail_accounts": [MEMBER, ZERO],
        "management_account": MGMT,
        "org_id": ORG_ID,
        "organization_wide": True,
    },
    "known_trail_elsewhere": {"trail_accounts": [MEMBER], "trails": [ELSEWHERE], "kms_key_arn": KEY_ARN},
    "prefixed": {"trail_accounts": [MEMBER], "prefix": "org", "trails": [KnownTrail(trail(MEMBER), "org")]},
}


@pytest.mark.parametrize("inputs", BUCKET_INPUTS.values(), ids=BUCKET_INPUTS.keys())
@pytest.mark.parametrize("existing", BUCKET_POLICIES.values(), ids=BUCKET_POLICIES.keys())
def test_a_bucket_merge_is_a_fixed_point_after_one_step(existing: dict[str, Any], inputs: dict[str, Any]) -> None:
    try:
        first, second = merge_twice(merge_bucket_policy, existing, BUCKET, **inputs)
    except PolicyRepairError:
        return
    assert_fixed_point(existing, first, second)
    accounts = [*inputs["trail_accounts"], *([MGMT] if "management_account" in inputs else [])]
    org_trail = trail(MGMT, "trailguard-probe", "us-east-1") if "org_id" in inputs else None
    admission = bucket_admission(
        parse_policy(first.policy),
        BUCKET,
        accounts,
        trails=inputs.get("trails", ()),
        organization_trail=org_trail,
        org_id=inputs.get("org_id"),
        prefix=inputs.get("prefix"),
        kms_key_arn=inputs.get("kms_key_arn"),
    )
    assert admission.admitted, admission.summary()


def test_a_folder_pinned_to_one_region_is_left_alone_unless_a_trail_elsewhere_is_known() -> None:
    # The probe writes in us-east-1 (the bucket spec's region without a key): the pinned grant serves it
    alone = merge_bucket_policy(parse_policy(REGION_PINNED_BUCKET), BUCKET, [MEMBER])
    assert alone.changes == ()
    # A trail homed in eu-west-1 writes under .../CloudTrail/eu-west-1/: one grant is added, once
    homed = trail(MEMBER, "audit", "eu-west-1")
    first, second = merge_twice(merge_bucket_policy, REGION_PINNED_BUCKET, BUCKET, [MEMBER], trails=[homed])
    assert first.changes == (
        f'added statement "TrailGuardCloudTrailWrite": CloudTrail may write logs of account {MEMBER}',
    )
    assert second.changes == ()
