"""What TrailGuard says after AWS refuses the UpdateTrail that sets the central key, from the facts read then."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.checks.fixtures import (
    BUCKET,
    CENTRAL,
    GOOD_TRAIL,
    MEMBER,
    SETTINGS,
    bucket_policy,
    central_key,
    key_policy,
)
from trailguard.bucket.facts import NO_POLICY
from trailguard.findings import Resource
from trailguard.trail.refusals import bucket_gap, key_gap

NO_KEY = replace(GOOD_TRAIL, kms_key_id=None)
ORG_ID = "o-a1b2c3d4e5"


def test_key_that_admits_the_account_has_no_gap() -> None:
    assert key_gap(NO_KEY, central_key(key_policy(MEMBER)), SETTINGS) is None


def test_key_policy_without_the_account_is_a_gap_naming_the_pattern() -> None:
    gap = key_gap(NO_KEY, central_key(key_policy("012345678901")), SETTINGS)

    assert gap is not None
    assert "arn:aws:cloudtrail:*:333333333333:trail/*" in gap
    assert "for account 333333333333" in gap


def test_organization_trail_names_the_management_account() -> None:
    trail = replace(
        NO_KEY, ref=Resource.trail(f"arn:aws:cloudtrail:eu-west-1:{CENTRAL}:trail/org"), organization_trail=True
    )

    gap = key_gap(trail, central_key(key_policy(MEMBER)), SETTINGS)

    assert gap is not None
    assert f"arn:aws:cloudtrail:*:{CENTRAL}:trail/* for the management account {CENTRAL}" in gap


@pytest.mark.parametrize("state", ["Disabled", "PendingDeletion", "PendingImport"])
def test_key_not_enabled_is_a_gap(state: str) -> None:
    gap = key_gap(GOOD_TRAIL, central_key(state=state), SETTINGS)

    assert gap is not None
    assert f"the central key is {state}" in gap
    assert "enable it" in gap


def test_key_in_another_region_than_the_bucket_is_a_gap() -> None:
    gap = key_gap(GOOD_TRAIL, central_key(bucket_region="us-east-1"), SETTINGS)

    assert gap is not None
    assert "KmsKeyNotFoundException" in gap


def test_unreadable_or_unparseable_policy_is_a_gap() -> None:
    assert key_gap(GOOD_TRAIL, central_key(""), SETTINGS) is not None
    assert key_gap(GOOD_TRAIL, central_key("{not json"), SETTINGS) is not None


def test_unreadable_key_is_a_gap() -> None:
    gap = key_gap(GOOD_TRAIL, central_key(state=None), SETTINGS)

    assert gap is not None
    assert "could not be read" in gap


def test_key_policy_without_describe_is_a_gap_naming_the_grant() -> None:
    gap = key_gap(NO_KEY, central_key(key_policy(MEMBER, describe=False)), SETTINGS)

    assert gap is not None
    assert "kms:DescribeKey" in gap
    assert "key.cloudtrail-describe" in gap


def test_a_deny_that_refuses_the_trail_is_named_to_be_narrowed() -> None:
    deny = {
        "Sid": "NoCloudTrail",
        "Effect": "Deny",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
    }

    gap = key_gap(NO_KEY, central_key(key_policy(MEMBER, extra=[deny])), SETTINGS)

    assert gap is not None
    assert 'narrow the Deny statement(s) "NoCloudTrail"' in gap
    assert "trail/*" not in gap  # adding the account would not help


def test_bucket_that_admits_the_trail_has_no_gap() -> None:
    assert bucket_gap(NO_KEY, bucket_policy(MEMBER), (), SETTINGS) is None


def test_bucket_policy_without_the_account_names_the_statement_to_add() -> None:
    gap = bucket_gap(NO_KEY, bucket_policy("012345678901"), (), SETTINGS)

    assert gap is not None
    assert f"s3:PutObject on arn:aws:s3:::{BUCKET}/AWSLogs/{MEMBER}/*" in gap
    assert "bucket-owner-full-control" in gap
    assert f"--trail-account {MEMBER}" in gap


def test_bucket_without_a_policy_says_so() -> None:
    gap = bucket_gap(NO_KEY, NO_POLICY, (), SETTINGS)

    assert gap is not None
    assert gap.startswith("the central bucket has no policy")
    assert f"s3:GetBucketAcl on arn:aws:s3:::{BUCKET}" in gap


def test_an_organization_trail_needs_its_organization_folder() -> None:
    trail = replace(
        NO_KEY, ref=Resource.trail(f"arn:aws:cloudtrail:eu-west-1:{CENTRAL}:trail/org"), organization_trail=True
    )
    settings = SETTINGS.model_copy(update={"org_id": ORG_ID})

    gap = bucket_gap(trail, bucket_policy(CENTRAL), (), settings)

    assert gap is not None
    assert f"AWSLogs/{ORG_ID}/{CENTRAL}/*" in gap


def test_unreadable_or_unparseable_bucket_policy_is_a_gap() -> None:
    problem = f"GetBucketPolicy on {BUCKET} failed (NoSuchBucket: The specified bucket does not exist)"

    assert "NoSuchBucket" in (bucket_gap(NO_KEY, None, (problem,), SETTINGS) or "")
    assert "cannot be parsed" in (bucket_gap(NO_KEY, "{not json", (), SETTINGS) or "")


def test_a_trail_delivering_elsewhere_is_pointed_at_the_central_bucket() -> None:
    gap = bucket_gap(replace(NO_KEY, s3_bucket="someone-elses-bucket"), None, (), SETTINGS)

    assert gap is not None
    assert "not to the central bucket" in gap
    assert "trail.destination" in gap
