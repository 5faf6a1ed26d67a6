"""The builder writes the CloudTrail grants; whatever it builds must pass the analyzer's questions."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.policy.policy_testkit import CENTRAL, KEY_ARN, MEMBER, MGMT, ORG_ID, OUTSIDER, ZERO, trail
from trailguard.policy import (
    PolicyInputError,
    PolicySizeError,
    bucket_policy,
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    external_grants,
    key_admin_statements,
    key_policy,
    parse_policy,
    policy_size,
    principal_may_decrypt,
    public_grants,
    required_key_statements,
)

ACCOUNT_IDS = st.from_regex(r"[0-9]{12}", fullmatch=True)
READERS = st.one_of(
    ACCOUNT_IDS,
    ACCOUNT_IDS.map(lambda a: f"arn:aws:iam::{a}:role/LogReader"),
    ACCOUNT_IDS.map(lambda a: f"arn:aws:sts::{a}:assumed-role/Auditor/jane"),
)


def test_required_key_statements_for_an_organization() -> None:
    # Given the central key account, the management account and one member with its own trails
    statements = required_key_statements(
        CENTRAL,
        management_account=MGMT,
        org_id=ORG_ID,
        trail_accounts=[MEMBER],
        log_readers=[f"arn:aws:iam::{CENTRAL}:role/R"],
    )
    # Then: admin, encrypt (management first), describe, readers — all with TrailGuard Sids
    assert [s["Sid"] for s in statements] == [
        "TrailGuardKeyAdministration",
        "TrailGuardCloudTrailEncrypt",
        "TrailGuardCloudTrailDescribeKey",
        "TrailGuardLogReadersDecrypt",
    ]
    encrypt = statements[1]
    assert encrypt["Condition"] == {
        "StringLike": {
            "kms:EncryptionContext:aws:cloudtrail:arn": [
                f"arn:aws:cloudtrail:*:{MGMT}:trail/*",
                f"arn:aws:cloudtrail:*:{MEMBER}:trail/*",
            ]
        }
    }
    assert "aws:SourceArn" not in json.dumps(statements), "a fixed trail list would break new trails"
    assert statements[3]["Action"] == "kms:Decrypt"
    assert statements[3]["Condition"] == {"Null": {"kms:EncryptionContext:aws:cloudtrail:arn": "false"}}


def test_without_readers_there_is_no_decrypt_statement() -> None:
    statements = required_key_statements(CENTRAL, trail_accounts=[MEMBER])
    assert "kms:Decrypt" not in json.dumps(statements)


def test_key_policy_serves_new_trails_and_nothing_else() -> None:
    doc = parse_policy(
        key_policy(CENTRAL, management_account=MGMT, org_id=ORG_ID, trail_accounts=[ZERO], key_arn=KEY_ARN)
    )
    assert cloudtrail_may_encrypt(doc, KEY_ARN, trail(MGMT, "created-next-year", "ap-south-1")).allowed
    assert cloudtrail_may_encrypt(doc, KEY_ARN, trail(ZERO)).allowed
    assert not cloudtrail_may_encrypt(doc, KEY_ARN, trail(MEMBER)).allowed
    assert not cloudtrail_may_encrypt(doc, KEY_ARN, trail(OUTSIDER)).allowed
    assert public_grants(doc, KEY_ARN) == []
    assert key_admin_statements(doc, CENTRAL) == ("TrailGuardKeyAdministration",)


def test_bucket_policy_for_an_organization_with_a_prefix() -> None:
    policy = bucket_policy("central-logs", [MEMBER], MGMT, ORG_ID, prefix="/org/")
    doc = parse_policy(policy)
    org_trail = trail(MGMT, "org", "us-east-1")
    assert cloudtrail_may_get_bucket_acl(doc, "central-logs", org_trail).allowed
    assert cloudtrail_may_put_object(
        doc, "central-logs", cloudtrail_object_key(OUTSIDER, ORG_ID, "org"), org_trail
    ).allowed
    assert cloudtrail_may_put_object(doc, "central-logs", cloudtrail_object_key(MGMT, None, "org"), org_trail).allowed
    assert cloudtrail_may_put_object(
        doc, "central-logs", cloudtrail_object_key(MEMBER, None, "org"), trail(MEMBER)
    ).allowed
    assert not cloudtrail_may_put_object(doc, "central-logs", cloudtrail_object_key(MEMBER), trail(MEMBER)).allowed
    assert not cloudtrail_may_put_object(
        doc, "central-logs", cloudtrail_object_key(MEMBER, None, "org"), trail(OUTSIDER)
    ).allowed, "aws:SourceAccount keeps another account's trail out of a member's folder"
    assert public_grants(doc, "arn:aws:s3:::central-logs") == []
    assert policy["Statement"][-1]["Sid"] == "TrailGuardDenyInsecureTransport"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: key_policy("12345"), "key account must be a 12-digit AWS account id, got '12345'"),
        (lambda: key_policy(CENTRAL), "nothing to grant"),
        (lambda: key_policy(CENTRAL, org_id=ORG_ID, trail_accounts=[MEMBER]), "needs the management account"),
        (lambda: key_policy(CENTRAL, management_account=MGMT, org_id="o-short"), "must look like o-"),
        (lambda: key_policy(CENTRAL, trail_accounts=[MEMBER], key_arn="alias/x"), "not a KMS key ARN"),
        (
            lambda: key_policy(CENTRAL, trail_accounts=[MEMBER], key_arn=KEY_ARN.replace(CENTRAL, MEMBER)),
            "not in the key account",
        ),
        (lambda: key_policy(CENTRAL, trail_accounts=[MEMBER], log_readers=["bob"]), "log reader must be"),
        (lambda: key_policy(CENTRAL, trail_accounts=["1234567890123"]), "trail account must be"),
        (lambda: bucket_policy("Bad_Bucket", [MEMBER]), "bucket must be an S3 bucket name"),
        (lambda: bucket_policy("logs", [MEMBER], prefix="a*"), "prefix must not contain wildcards"),
    ],
)
def test_invalid_inputs_are_refused_with_a_clear_message(call: object, message: str) -> None:
    with pytest.raises(PolicyInputError) as raised:
        call()  # type: ignore[operator]
    assert message in str(raised.value)


def test_a_policy_over_the_size_limit_is_refused_without_the_organization_id() -> None:
    # Given more trail-owning accounts than a 20 KiB bucket policy can list, and no organization id
    accounts = [f"{n:012d}" for n in range(400)]
    # Then the builder refuses rather than returning a policy AWS would reject, and says to give the id
    with pytest.raises(PolicySizeError, match="over the S3 bucket policy limit of 20,480 bytes") as raised:
        bucket_policy("central-logs", accounts, MGMT)
    assert "set the organization id" in str(raised.value)
    assert policy_size(key_policy(CENTRAL, trail_accounts=accounts[:300])) < 32 * 1024


def test_with_the_organization_id_the_form_that_fits_is_chosen() -> None:
    accounts = [f"{n:012d}" for n in range(400)]
    # Given 400 accounts and the organization id: the bucket policy is organization-wide (per account it
    # would not fit), the key policy still per account (it fits)
    bucket = bucket_policy("central-logs", accounts, MGMT, ORG_ID)
    key = key_policy(CENTRAL, management_account=MGMT, org_id=ORG_ID, trail_accounts=accounts, key_arn=KEY_ARN)
    assert "aws:SourceOrgID" in json.dumps(bucket)
    assert "aws:SourceOrgID" not in json.dumps(key)
    assert policy_size(bucket) < 20 * 1024
    assert policy_size(key) < 32 * 1024
    # And the per-account form asked for is refused, with the way out
    with pytest.raises(PolicySizeError, match="let TrailGuard use the organization-wide form"):
        bucket_policy("central-logs", accounts, MGMT, ORG_ID, organization_wide=False)


@settings(max_examples=200, deadline=None)
@given(
    key_account=ACCOUNT_IDS,
    management=st.one_of(st.none(), ACCOUNT_IDS),
    with_org=st.booleans(),
    accounts=st.lists(ACCOUNT_IDS, max_size=6),
    readers=st.lists(READERS, max_size=3),
)
def test_built_key_policies_always_pass(
    key_account: str, management: str | None, with_org: bool, accounts: list[str], readers: list[str]
) -> None:
    # Given any valid inputs (at least one account whose trails use the key)
    if management is None and not accounts:
        accounts = [key_account]
    org_id = ORG_ID if with_org and management else None
    key_arn = f"arn:aws:kms:eu-west-1:{key_account}:key/k"
    # When the key policy is built
    doc = parse_policy(
        key_policy(
            key_account,
            management_account=management,
            org_id=org_id,
            trail_accounts=accounts,
            log_readers=readers,
            key_arn=key_arn,
        )
    )
    # Then CloudTrail may encrypt and describe for every trail of every account, readers may decrypt,
    # nothing is public, and the key account administers the key
    owners = [*accounts, *([management] if management else [])]
    for account in owners:
        arn = trail(account, "any", "sa-east-1")
        assert cloudtrail_may_encrypt(doc, key_arn, arn).allowed
        assert cloudtrail_may_describe(doc, key_arn, arn).allowed
    for reader in readers:
        principal = f"arn:aws:iam::{reader}:root" if reader.isdigit() else reader
        assert principal_may_decrypt(doc, key_arn, principal, trail(owners[0])).allowed
    assert public_grants(doc, key_arn) == []
    assert key_admin_statements(doc, key_account)
    everyone = frozenset({key_account, *owners, *(r.split(":")[4] if ":" in r else r for r in readers)})
    assert external_grants(doc, everyone, org_id) == []


@settings(max_examples=200, deadline=None)
@given(
    management=st.one_of(st.none(), ACCOUNT_IDS),
    with_org=st.booleans(),
    accounts=st.lists(ACCOUNT_IDS, max_size=6),
    prefix=st.one_of(st.none(), st.sampled_from(["logs", "a/b", "/x/"])),
)
def test_built_bucket_policies_always_pass(
    management: str | None, with_org: bool, accounts: list[str], prefix: str | None
) -> None:
    if management is None and not accounts:
        accounts = [MEMBER]
    org_id = ORG_ID if with_org and management else None
    doc = parse_policy(bucket_policy("central-logs", accounts, management, org_id, prefix))
    clean = prefix.strip("/") if prefix else None
    for account in [*accounts, *([management] if management else [])]:
        arn = trail(account)
        assert cloudtrail_may_get_bucket_acl(doc, "central-logs", arn).allowed
        assert cloudtrail_may_put_object(doc, "central-logs", cloudtrail_object_key(account, None, clean), arn).allowed
        if org_id and management:
            key = cloudtrail_object_key(account, org_id, clean)
            assert cloudtrail_may_put_object(doc, "central-logs", key, trail(management, "org")).allowed
    assert public_grants(doc, "arn:aws:s3:::central-logs") == []
