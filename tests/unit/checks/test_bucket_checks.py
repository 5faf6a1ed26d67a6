"""The central bucket's checks, one by one, without AWS."""

from __future__ import annotations

import json

import pytest

from tests.unit.checks.fixtures import (
    CENTRAL,
    CONTEXT,
    KEY,
    MEMBER,
    ORGANIZATION,
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
NO_ACL = bucket_policy(*ORGANIZATION).replace('"s3:GetBucketAcl"', '"s3:GetBucketLocation"')

# One bucket per drift, and the one check it must fail.
CASES: dict[str, list[BucketState]] = {
    "bucket.cloudtrail-acl-check": [bucket(policy=NO_ACL)],
    "bucket.cloudtrail-write": [bucket(policy=bucket_policy(CENTRAL))],
    "bucket.public": [
        bucket(policy=bucket_policy(*ORGANIZATION, extra=[{**PUBLIC, "Resource": f"arn:aws:s3:::{bucket().name}/*"}])),
        bucket(public_access_block={**BLOCK_ALL, "BlockPublicPolicy": False}),
        bucket(
            public_access_block={**BLOCK_ALL, "IgnorePublicAcls": False},
            public_acl_grants=("READ to http://acs.amazonaws.com/groups/global/AllUsers",),
        ),
    ],
    "bucket.external-access": [bucket(policy=bucket_policy(*ORGANIZATION, extra=[EXTERNAL]))],
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
    "bucket.tls-only": [bucket(policy=bucket_policy(*ORGANIZATION, tls=False))],
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


def test_every_account_of_the_organization_must_be_able_to_deliver_with_or_without_trails() -> None:
    # Given an organization of the central account and a member, neither with a trail in scope
    context = Context(CONTEXT.settings, Scope(SCOPE.accounts, ()), "eu-west-1")

    # Then the bucket must admit both
    found = list(evaluate(ResourceType.BUCKET, bucket(policy=bucket_policy(MEMBER)), context))
    assert [v.check for v in found] == ["bucket.cloudtrail-write"]
    assert found[0].summary.startswith(
        f"The log bucket policy does not let CloudTrail write the logs of account {CENTRAL}"
    )
    assert found[0].observed["refused_prefixes"] == [f"AWSLogs/{CENTRAL}"]
    assert checks(bucket(policy=bucket_policy(*ORGANIZATION)), context) == []


def test_without_the_organization_only_the_accounts_delivering_here_are_required_and_the_finding_says_so() -> None:
    unknown = Context(CONTEXT.settings, Scope(SCOPE.accounts, SCOPE.trails, organization_known=False))

    assert checks(bucket(policy=bucket_policy(MEMBER)), unknown) == []
    (violation,) = [
        v
        for v in evaluate(ResourceType.BUCKET, bucket(policy=bucket_policy(CENTRAL)), unknown)
        if v.check == "bucket.cloudtrail-write"
    ]
    assert violation.observed["refused_accounts"] == [MEMBER]
    assert "only the accounts with trails in scope" in violation.observed["required_accounts"]


THOUSAND = [f"{n:012d}" for n in range(100_000_000_000, 100_000_001_000)]


def test_a_bucket_finding_about_1000_accounts_stays_readable() -> None:
    context = Context(CONTEXT.settings, Scope(frozenset({CENTRAL, *THOUSAND}), ()))

    found = {v.check: v for v in evaluate(ResourceType.BUCKET, bucket(policy=bucket_policy(CENTRAL)), context)}

    write = found["bucket.cloudtrail-write"]
    assert f"1,000 accounts ({', '.join(THOUSAND[:10])} and 990 more)" in write.summary
    assert len(write.summary) < 400
    assert write.observed["refused_accounts"] == THOUSAND
    assert len(write.observed["refused_prefixes"]) == 1000


def test_an_organization_wide_bucket_policy_admits_every_account_and_the_organization_trail() -> None:
    from trailguard.policy import bucket_policy as build

    management, org_id = "111111111111", "o-a1b2c3d4e5"
    settings = CONTEXT.settings.model_copy(update={"management_account_id": management, "org_id": org_id})
    organization = frozenset({CENTRAL, management, *THOUSAND})
    context = Context(settings, Scope(organization, SCOPE.trails))
    built = build(bucket().name, sorted(organization), management, org_id)
    assert "aws:SourceOrgID" in json.dumps(built), "1,002 accounts one by one would not fit: the builder chose"

    assert checks(bucket(policy=json.dumps(built)), context) == []
    # And a per-account policy without the organization trail's folder is refused for that trail
    (write,) = [
        v
        for v in evaluate(ResourceType.BUCKET, bucket(policy=bucket_policy(*ORGANIZATION, management)), context)
        if v.check == "bucket.cloudtrail-write"
    ]
    assert write.observed["organization_trail_refused"] is True
    assert f"AWSLogs/{org_id}/{MEMBER}" in write.observed["refused_prefixes"]
