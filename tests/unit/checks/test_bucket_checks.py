"""The central bucket's checks, one by one, without AWS."""

from __future__ import annotations

import pytest

from tests.unit.checks.fixtures import (
    CENTRAL,
    CONTEXT,
    KEY,
    MEMBER,
    OUTSIDER,
    SCOPE,
    bucket,
    bucket_policy,
)
from trailguard.bucket.facts import BLOCK_ALL, BucketState
from trailguard.catalogue import evaluate
from trailguard.context import Context
from trailguard.organization import Scope
from trailguard.vocabulary import ResourceType

PUBLIC = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
EXTERNAL = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"},
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::trailguard-central-logs-{CENTRAL}/*",
}
NO_ACL = bucket_policy(MEMBER).replace('"s3:GetBucketAcl"', '"s3:GetBucketLocation"')

# One bucket per drift, and the one check it must fail.
CASES: dict[str, list[BucketState]] = {
    "bucket.cloudtrail-acl-check": [bucket(policy=NO_ACL)],
    "bucket.cloudtrail-write": [bucket(policy=bucket_policy(CENTRAL))],
    "bucket.public": [
        bucket(policy=bucket_policy(MEMBER, extra=[{**PUBLIC, "Resource": f"arn:aws:s3:::{bucket().name}/*"}])),
        bucket(public_access_block={**BLOCK_ALL, "BlockPublicPolicy": False}),
        bucket(
            public_access_block={**BLOCK_ALL, "IgnorePublicAcls": False},
            public_acl_grants=("READ to http://acs.amazonaws.com/groups/global/AllUsers",),
        ),
    ],
    "bucket.external-access": [bucket(policy=bucket_policy(MEMBER, extra=[EXTERNAL]))],
    "bucket.encryption": [
        bucket(encryption=None),
        bucket(encryption={"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}),
        bucket(
            encryption={
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": KEY.replace("1234abcd", "9999abcd"),
                }
            }
        ),
    ],
    "bucket.tls-only": [bucket(policy=bucket_policy(MEMBER, tls=False))],
    "bucket.versioning": [bucket(versioning=None), bucket(versioning="Suspended")],
}


def checks(state: BucketState, context: Context = CONTEXT) -> list[str]:
    return [violation.check for violation in evaluate(ResourceType.BUCKET, state, context)]


def test_compliant_bucket_has_no_violation() -> None:
    assert checks(bucket()) == []


@pytest.mark.parametrize(("expected", "state"), [(name, state) for name, states in CASES.items() for state in states])
def test_each_drift_is_one_violation(expected: str, state: BucketState) -> None:
    assert checks(state) == [expected]


def test_no_policy_refuses_cloudtrail_and_allows_plain_text() -> None:
    found = checks(bucket(policy=None))

    assert found == ["bucket.cloudtrail-acl-check", "bucket.cloudtrail-write", "bucket.tls-only"]


def test_the_key_id_counts_as_the_central_key_only_in_the_key_s_own_account_and_region() -> None:
    key_id = KEY.rsplit("/", 1)[1]
    by_id = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}

    assert checks(bucket(encryption=by_id)) == []
    assert checks(bucket(encryption=by_id, region="us-east-1")) == ["bucket.encryption"]


def test_organization_trail_needs_the_organization_prefix_for_every_member() -> None:
    settings = CONTEXT.settings.model_copy(update={"org_id": "o-a1b2c3d4e5", "management_account_id": CENTRAL})
    org_trail = SCOPE.trails[0].__class__(SCOPE.trails[0].ref, "eu-west-1", KEY, True, True, True, bucket().name, None)
    context = Context(settings, Scope(SCOPE.accounts, (org_trail,)), "eu-west-1")

    (violation,) = [v for v in evaluate(ResourceType.BUCKET, bucket(), context) if v.check == "bucket.cloudtrail-write"]

    assert any("AWSLogs/o-a1b2c3d4e5/" in prefix for prefix in violation.observed["refused_prefixes"])
