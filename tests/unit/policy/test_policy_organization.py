"""Policies for an organization of any size: the organization-wide form, admission of 1,000 accounts at once,
and a clear refusal (which limit, what size, what to do) where a policy would not fit."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.unit.policy.policy_testkit import CENTRAL, KEY_ARN, MEMBER, MGMT, ORG_ID, ORG_TRAIL, OUTSIDER, trail
from trailguard.cli import main
from trailguard.policy import (
    KMS_KEY_POLICY_LIMIT,
    S3_BUCKET_POLICY_LIMIT,
    KnownTrail,
    PolicyInputError,
    PolicySizeError,
    bucket_admission,
    bucket_policy,
    cloudtrail_may_encrypt,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    external_grants,
    key_admission,
    key_policy,
    parse_policy,
    policy_size,
    probe_trail_arn,
    public_grants,
)
from trailguard.policy.bench import main as bench_main
from trailguard.policy.bench import policy_check_seconds
from trailguard.policy.builder import bucket_policy_spec, bucket_statements, key_policy_spec, key_statements

BUCKET = "central-trail-logs"
OTHER_ORG = "o-zzzzzzzzzz"
ACCOUNTS = [f"{n:012d}" for n in range(100_000_000_000, 100_000_001_000)]  # 1,000 accounts
ORGANIZATION = [MGMT, CENTRAL, *ACCOUNTS]


def org_key_policy(accounts: list[str] = ACCOUNTS) -> dict[str, Any]:
    return key_policy(
        CENTRAL,
        management_account=MGMT,
        org_id=ORG_ID,
        trail_accounts=accounts,
        key_arn=KEY_ARN,
        organization_wide=True,
    )


def org_bucket_policy(accounts: list[str] = ACCOUNTS, prefix: str | None = None) -> dict[str, Any]:
    return bucket_policy(BUCKET, accounts, MGMT, ORG_ID, prefix, organization_wide=True)


def per_account_policies(accounts: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The per-account key and bucket policies, assembled without the builder's size limit."""
    members = [a for a in accounts if a != MGMT]
    key_spec = key_policy_spec(CENTRAL, management_account=MGMT, org_id=ORG_ID, trail_accounts=members, key_arn=KEY_ARN)
    bucket_spec = bucket_policy_spec(BUCKET, members, MGMT, ORG_ID)
    return (
        {"Version": "2012-10-17", "Statement": key_statements(key_spec)},
        {"Version": "2012-10-17", "Statement": bucket_statements(bucket_spec)},
    )


# --- the organization-wide form ----------------------------------------------------------------------------


def test_the_organization_wide_key_policy_admits_every_account_of_1000_and_the_organization_trail() -> None:
    # Given the key policy built for an organization of 1,000 member accounts
    policy = org_key_policy()
    doc = parse_policy(policy)
    # Then it is far below the KMS limit, and the same size as for three accounts: it grows with nothing
    assert policy_size(policy) < KMS_KEY_POLICY_LIMIT // 20
    assert policy_size(policy) == policy_size(org_key_policy([MEMBER]))
    # And CloudTrail is admitted for every account's trails and for the organization trail
    admission = key_admission(doc, KEY_ARN, ORGANIZATION, organization_trail=ORG_TRAIL, org_id=ORG_ID)
    assert admission.admitted, admission.summary()
    assert (admission.accounts, admission.trails) == (len(ORGANIZATION), len(ORGANIZATION) + 1)
    # And an account that joins later is admitted too, while nothing is public or external
    assert cloudtrail_may_encrypt(doc, KEY_ARN, trail("123123123123"), source_org_id=ORG_ID).allowed
    assert public_grants(doc, KEY_ARN) == []
    assert external_grants(doc, ORGANIZATION, ORG_ID) == []


def test_the_organization_wide_key_policy_refuses_other_organizations_and_unknown_sources() -> None:
    doc = parse_policy(org_key_policy())
    # A trail of another organization, or a request that names no organization, is refused
    other = key_admission(doc, KEY_ARN, [OUTSIDER], org_id=OTHER_ORG)
    assert other.refused_accounts == (OUTSIDER,)
    assert not cloudtrail_may_encrypt(doc, KEY_ARN, trail(MEMBER)).allowed
    # The encryption context must still name a CloudTrail trail of the partition
    assert not cloudtrail_may_encrypt(
        doc, KEY_ARN, "arn:aws-cn:cloudtrail:cn-north-1:111111111111:trail/t", source_org_id=ORG_ID
    ).allowed


def test_the_organization_wide_bucket_policy_admits_every_account_of_1000_and_the_organization_trail() -> None:
    # Given the bucket policy built for 1,000 member accounts, with a prefix
    policy = org_bucket_policy(prefix="org")
    doc = parse_policy(policy)
    assert policy_size(policy) < S3_BUCKET_POLICY_LIMIT // 20
    # Then every account's own trails and the organization trail (AWSLogs/<org-id>/<account>/ for each
    # account, and the management account's folder) may check the ACL and write
    admission = bucket_admission(
        doc, BUCKET, ORGANIZATION, organization_trail=ORG_TRAIL, org_id=ORG_ID, prefix="org", kms_key_arn=KEY_ARN
    )
    assert admission.admitted, admission.summary()
    # But not another organization's trails, nor outside the prefix
    assert bucket_admission(doc, BUCKET, [OUTSIDER], org_id=OTHER_ORG, prefix="org").refused_accounts == (OUTSIDER,)
    assert not cloudtrail_may_put_object(
        doc, BUCKET, cloudtrail_object_key(MEMBER), trail(MEMBER), source_org_id=ORG_ID
    ).allowed
    assert public_grants(doc, f"arn:aws:s3:::{BUCKET}") == []
    assert external_grants(doc, ORGANIZATION, ORG_ID) == []


def test_the_organization_wide_form_needs_the_organization_id() -> None:
    with pytest.raises(PolicyInputError, match="organization-wide form needs the organization id"):
        key_policy(CENTRAL, management_account=MGMT, organization_wide=True)
    with pytest.raises(PolicyInputError, match="organization-wide form needs the organization id"):
        bucket_policy(BUCKET, [MEMBER], organization_wide=True)


# --- a policy that would not fit ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "limit", "what"),
    [
        (lambda org: key_policy(CENTRAL, management_account=MGMT, trail_accounts=ACCOUNTS, **org), 32768, "KMS key"),
        (lambda org: bucket_policy(BUCKET, ACCOUNTS, MGMT, **org), 20480, "S3 bucket"),
    ],
)
@pytest.mark.parametrize("with_org", [False, True])
def test_1000_accounts_one_by_one_are_refused_with_the_limit_the_size_and_the_way_out(
    build: Any, limit: int, what: str, with_org: bool
) -> None:
    # Given 1,000 accounts listed one by one: without the organization id, or with it and the per-account
    # form asked for
    # When the policy is built, Then it is refused before AWS would be
    with pytest.raises(PolicySizeError) as raised:
        build({"org_id": ORG_ID, "organization_wide": False} if with_org else {})
    error = raised.value
    assert error.limit == limit
    assert error.size > limit
    message = str(error)
    assert f"over the {what} policy limit of {limit:,} bytes" in message
    assert f"{error.size:,} bytes" in message
    assert "1,001 accounts one by one" in message
    if with_org:
        assert (
            f"let TrailGuard use the organization-wide form, one grant for every account of organization {ORG_ID}"
            in (message)
        )
        assert "drop organization_wide=False, --per-account on the command line" in message
    else:
        assert "set the organization id (TRAILGUARD_ORG_ID for the guards, --org-id on the command line)" in message


@pytest.mark.parametrize("count", [100, 500, 1000])
def test_policies_built_for_an_organization_fit_and_admit_every_account_and_the_organization_trail(
    count: int,
) -> None:
    # Given an organization of `count` accounts (the management and central accounts among them), its id known
    members = ACCOUNTS[: count - 2]
    organization = [MGMT, CENTRAL, *members]
    # When the key and bucket policies are built in the form TrailGuard chooses
    key = key_policy(CENTRAL, management_account=MGMT, org_id=ORG_ID, trail_accounts=organization, key_arn=KEY_ARN)
    bucket = bucket_policy(BUCKET, organization, MGMT, ORG_ID)
    # Then both are within their limits
    assert policy_size(key) <= KMS_KEY_POLICY_LIMIT
    assert policy_size(bucket) <= S3_BUCKET_POLICY_LIMIT
    # And the answer is "admitted" for every account's trails and for the organization trail
    key_answer = key_admission(parse_policy(key), KEY_ARN, organization, organization_trail=ORG_TRAIL, org_id=ORG_ID)
    bucket_answer = bucket_admission(
        parse_policy(bucket), BUCKET, organization, organization_trail=ORG_TRAIL, org_id=ORG_ID, kms_key_arn=KEY_ARN
    )
    for answer in (key_answer, bucket_answer):
        assert answer.admitted, answer.summary()
        assert (answer.accounts, answer.trails) == (count, count + 1)
    # The per-account form is kept while it fits: the key until about 730 accounts, the bucket about 180
    assert ("aws:SourceOrgID" in json.dumps(key)) is (count > 730)
    assert ("aws:SourceOrgID" in json.dumps(bucket)) is (count > 180)


def test_a_member_trail_is_admitted_by_the_organization_wide_forms_through_its_request_context() -> None:
    # Given the organization-wide policies, and the request CloudTrail makes for a member's trail: the trail
    # ARN as source, aws:SourceAccount the member, aws:SourceOrgID the organization of the member
    key = parse_policy(org_key_policy())
    bucket = parse_policy(org_bucket_policy())
    member_trail = trail(ACCOUNTS[7], "never-used-the-key", "ap-southeast-2")
    # Then it is admitted; the same trail of an account of another organization is not
    assert cloudtrail_may_encrypt(key, KEY_ARN, member_trail, source_org_id=ORG_ID).allowed
    assert not cloudtrail_may_encrypt(key, KEY_ARN, member_trail, source_org_id=OTHER_ORG).allowed
    folder = cloudtrail_object_key(ACCOUNTS[7], region="ap-southeast-2")
    assert cloudtrail_may_put_object(bucket, BUCKET, folder, member_trail, source_org_id=ORG_ID).allowed
    assert not cloudtrail_may_put_object(bucket, BUCKET, folder, member_trail, source_org_id=OTHER_ORG).allowed


# --- per-account forms keep their answers, at any scale ----------------------------------------------------


def test_per_account_policies_of_1000_accounts_admit_exactly_the_accounts_they_list() -> None:
    # Given per-account key and bucket policies listing 1,000 accounts but one
    missing = ACCOUNTS[500]
    key, bucket = per_account_policies([MGMT, *(a for a in ACCOUNTS if a != missing)])
    # When the whole organization is checked
    key_answer = key_admission(parse_policy(key), KEY_ARN, ORGANIZATION, organization_trail=ORG_TRAIL)
    bucket_answer = bucket_admission(
        parse_policy(bucket), BUCKET, ORGANIZATION, organization_trail=ORG_TRAIL, org_id=ORG_ID
    )
    # Then the one account left out is named (and the central account, which was not listed either)
    assert key_answer.refused_accounts == tuple(sorted([CENTRAL, missing]))
    assert bucket_answer.refused_accounts == tuple(sorted([CENTRAL, missing]))
    assert {r.action for r in key_answer.refusals} == {"kms:GenerateDataKey"}, "DescribeKey is open to CloudTrail"
    refused = key_answer.refused("kms:GenerateDataKey")
    assert all(r.probe and r.trail == probe_trail_arn(r.account, region="eu-west-1") for r in refused)
    assert missing in key_answer.summary()
    # And the organization trail still writes under AWSLogs/<org-id>/ for that account: its grant is the
    # management account's
    assert not [r for r in bucket_answer.refusals if r.organization_trail]


def test_a_deny_for_one_account_of_an_organization_wide_policy_is_named() -> None:
    # Given the organization-wide key policy and a Deny of one member's trails
    blocked = ACCOUNTS[42]
    policy = org_key_policy()
    policy["Statement"].append(
        {
            "Sid": "NotThisOne",
            "Effect": "Deny",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": blocked}},
        }
    )
    # When the organization is checked, Then only that account is refused, and the reason names the Deny
    admission = key_admission(parse_policy(policy), KEY_ARN, ORGANIZATION, org_id=ORG_ID)
    assert admission.refused_accounts == (blocked,)
    assert '"NotThisOne"' in admission.refusals[0].reason
    assert blocked in admission.summary()


def test_known_trails_are_asked_about_instead_of_a_probe() -> None:
    # Given a grant pinned to the trails of one region
    context = f"arn:aws:cloudtrail:eu-west-1:{MEMBER}:trail/*"
    cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
    pinned = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": cloudtrail,
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": context}},
            },
            {"Effect": "Allow", "Principal": cloudtrail, "Action": "kms:DescribeKey", "Resource": "*"},
        ]
    }
    doc = parse_policy(pinned)
    # Then the probe (in the key's region) is admitted, a known trail homed elsewhere is not
    assert key_admission(doc, KEY_ARN, [MEMBER]).admitted
    elsewhere = trail(MEMBER, "audit", "us-east-1")
    admission = key_admission(doc, KEY_ARN, [MEMBER], trails=[KnownTrail(elsewhere)])
    assert admission.refused_trails == (elsewhere,)
    assert not admission.refusals[0].probe


# --- the command line and the benchmark --------------------------------------------------------------------


def test_the_command_line_prints_the_organization_wide_policies(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["policy", "key", "--key-account", CENTRAL, "--key-arn", KEY_ARN, "--management-account", MGMT]
    assert main([*argv, "--org-id", ORG_ID, "--organization-wide"]) == 0
    doc = parse_policy(json.loads(capsys.readouterr().out))
    assert key_admission(doc, KEY_ARN, ORGANIZATION[:50], org_id=ORG_ID, organization_trail=ORG_TRAIL).admitted
    bucket_argv = ["policy", "bucket", "--bucket", BUCKET, "--management-account", MGMT, "--org-id", ORG_ID]
    assert main([*bucket_argv, "--organization-wide"]) == 0
    doc = parse_policy(json.loads(capsys.readouterr().out))
    assert bucket_admission(doc, BUCKET, ORGANIZATION[:50], org_id=ORG_ID, organization_trail=ORG_TRAIL).admitted
    # Without the organization id it is one line on stderr and exit 2
    assert main([*argv, "--organization-wide"]) == 2
    assert "organization-wide form needs the organization id" in capsys.readouterr().err


def test_the_command_line_chooses_the_form_that_fits(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    # Given the organization's 1,002 accounts in a file, as `aws organizations list-accounts` prints them
    listed = tmp_path / "accounts.txt"
    listed.write_text("\t".join(ORGANIZATION) + "\n")
    argv = ["policy", "key", "--key-account", CENTRAL, "--key-arn", KEY_ARN, "--management-account", MGMT]
    argv += ["--accounts-file", str(listed)]
    # When the key policy is printed with the organization id, Then it is organization-wide, and stderr says why
    assert main([*argv, "--org-id", ORG_ID]) == 0
    out, err = capsys.readouterr()
    doc = parse_policy(json.loads(out))
    assert key_admission(doc, KEY_ARN, ORGANIZATION, org_id=ORG_ID, organization_trail=ORG_TRAIL).admitted
    assert "the organization-wide form (aws:SourceOrgID = o-a1b2c3d4e5) is printed" in err
    # For 100 accounts it stays per account
    listed.write_text(",".join(ORGANIZATION[:100]))
    assert main([*argv, "--org-id", ORG_ID]) == 0
    out, err = capsys.readouterr()
    assert "aws:SourceOrgID" not in out
    assert err == ""
    # --per-account keeps the per-account form, and is refused where it does not fit
    listed.write_text("\n".join(ORGANIZATION))
    assert main([*argv, "--org-id", ORG_ID, "--per-account"]) == 2
    assert "over the KMS key policy limit" in capsys.readouterr().err
    # A file with something else than account ids is a usage error
    listed.write_text("111111111111 not-an-account")
    assert main([*argv, "--org-id", ORG_ID]) == 2
    assert "'not-an-account' is not a 12-digit AWS account id" in capsys.readouterr().err


def test_the_benchmark_times_both_policies_in_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    seconds = policy_check_seconds(30)
    assert set(seconds) == {"key", "bucket", "key_organization", "bucket_organization"}
    assert all(value > 0 for value in seconds.values())
    printed = capsys.readouterr().out
    assert "Policy checks for 30 accounts" in printed
    assert len(re.findall(r"\d\.\d{3} s", printed)) == 4
    assert printed.count("(the form TrailGuard builds)") == 2


def test_the_checks_of_1000_accounts_take_under_a_second(capsys: pytest.CaptureFixture[str]) -> None:
    # The target the guards are held to: every account of an organization of 1,000 and its organization trail
    # asked about in well under a second, whichever form the policy takes (best of three runs)
    seconds = policy_check_seconds(1000)
    assert max(seconds.values()) < 1.0, seconds
    assert bench_main(["1000"]) == 0
    assert "Policy checks for 1,000 accounts" in capsys.readouterr().out
