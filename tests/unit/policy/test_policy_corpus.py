"""Real policies (AWS documentation, console defaults, guides) and what the analyzer must say about them.

Each row: Given the corpus file, When the question is asked, Then the answer is the expected one, because WHY.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.unit.policy.policy_testkit import (
    BUCKET,
    BUCKET_ARN,
    CENTRAL,
    KEY_ARN,
    MEMBER,
    MGMT,
    ORG_ACCOUNTS,
    ORG_ID,
    ORG_TRAIL,
    OUTSIDER,
    ZERO,
    corpus,
    trail,
)
from trailguard.policy import (
    Caller,
    PolicyDocument,
    Request,
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    evaluate,
    external_grants,
    principal_may_decrypt,
    public_grants,
)

CONSOLE_TRAIL = trail(MEMBER, "management-events")
Question = Callable[[PolicyDocument], object]


@dataclass(frozen=True)
class Case:
    file: str
    question: str
    ask: Question
    expected: object
    why: str


def encrypt(trail_arn: str) -> Question:
    return lambda doc: cloudtrail_may_encrypt(doc, KEY_ARN, trail_arn).allowed


def describe(trail_arn: str) -> Question:
    return lambda doc: cloudtrail_may_describe(doc, KEY_ARN, trail_arn).allowed


def decrypt(principal: str, trail_arn: str) -> Question:
    return lambda doc: principal_may_decrypt(doc, KEY_ARN, principal, trail_arn).allowed


def acl(trail_arn: str) -> Question:
    return lambda doc: cloudtrail_may_get_bucket_acl(doc, BUCKET, trail_arn).allowed


def put(account: str, trail_arn: str, org_id: str | None = None, kms_key: str | None = None) -> Question:
    key = cloudtrail_object_key(account, org_id, region="eu-west-1")
    return lambda doc: cloudtrail_may_put_object(doc, BUCKET, key, trail_arn, kms_key_arn=kms_key).allowed


def public(resource: str = KEY_ARN) -> Question:
    return lambda doc: sorted(grant.statement for grant in public_grants(doc, resource))


def external() -> Question:
    return lambda doc: sorted(grant.statement for grant in external_grants(doc, ORG_ACCOUNTS, ORG_ID))


def insecure_get_denied() -> Question:
    request = Request(Caller.anonymous(), "s3:GetObject", f"{BUCKET_ARN}/AWSLogs/x", {"aws:SecureTransport": False})
    return lambda doc: evaluate(doc, request).denied_explicitly


def role(account: str, name: str = "LogReader") -> str:
    return f"arn:aws:sts::{account}:assumed-role/{name}/session"


CASES = [
    # The CloudTrail console's default key policy (one account, key and trail in 333333333333).
    Case(
        "kms_console_default.json",
        "encrypt for the trail it was created for",
        encrypt(CONSOLE_TRAIL),
        True,
        "aws:SourceArn names this trail and the encryption-context pattern names its account",
    ),
    Case(
        "kms_console_default.json",
        "encrypt for a new trail of the same account",
        encrypt(trail(MEMBER, "new")),
        False,
        "the console pins aws:SourceArn to the one trail it created, so a later trail is refused",
    ),
    Case(
        "kms_console_default.json",
        "describe the key",
        describe(CONSOLE_TRAIL),
        True,
        "the describe statement has no condition",
    ),
    Case(
        "kms_console_default.json",
        "public grants",
        public(),
        [],
        "the principal-* decrypt and alias statements are pinned by StringEquals kms:CallerAccount",
    ),
    Case(
        "kms_console_default.json",
        "external grants",
        external(),
        [],
        "every grant is to account 333333333333 or to the CloudTrail service",
    ),
    Case(
        "kms_console_default.json",
        "a role of the account decrypts logs",
        decrypt(role(MEMBER), CONSOLE_TRAIL),
        True,
        "kms:CallerAccount is the role's account and the context is a trail of that account",
    ),
    Case(
        "kms_console_default.json",
        "an outsider decrypts logs",
        decrypt(role(OUTSIDER), CONSOLE_TRAIL),
        False,
        "kms:CallerAccount of an outsider is not 333333333333",
    ),
    # The documented organization-trail key policy (key in 222222222222, org trail of 111111111111).
    Case(
        "kms_org_trail_documented.json",
        "encrypt for the organization trail",
        encrypt(ORG_TRAIL),
        True,
        "an organization trail's ARN uses the management account, which both conditions name",
    ),
    Case(
        "kms_org_trail_documented.json",
        "encrypt for a member's own trail",
        encrypt(trail(MEMBER)),
        False,
        "the encryption-context pattern names only the management account",
    ),
    Case(
        "kms_org_trail_documented.json",
        "encrypt for another trail of the management account",
        encrypt(trail(MGMT, "second", "us-east-1")),
        False,
        "aws:SourceArn names only the organization trail",
    ),
    Case(
        "kms_org_trail_documented.json",
        "describe for the organization trail",
        describe(ORG_TRAIL),
        True,
        "the describe statement's aws:SourceArn is the organization trail",
    ),
    Case(
        "kms_org_trail_documented.json",
        "public grants",
        public(),
        [],
        "the principal-* decrypt statement is pinned to kms:CallerAccount 222222222222",
    ),
    # Encryption-context only (the documented multi-account form): every trail of the listed accounts.
    Case(
        "kms_org_context_only.json",
        "encrypt for any trail of the management account",
        encrypt(trail(MGMT, "any-name", "ap-southeast-2")),
        True,
        "StringLike matches trail/* in any region",
    ),
    Case(
        "kms_org_context_only.json",
        "encrypt for a listed member",
        encrypt(trail(MEMBER)),
        True,
        "333333333333 is listed in the encryption-context patterns",
    ),
    Case(
        "kms_org_context_only.json",
        "encrypt for an account id with a leading zero",
        encrypt(trail(ZERO)),
        True,
        "012345678901 is kept as a 12-character string, so the pattern matches",
    ),
    Case(
        "kms_org_context_only.json",
        "encrypt for an unlisted account",
        encrypt(trail(OUTSIDER)),
        False,
        "999999999999 is not in the patterns",
    ),
    # A guide that grants the source account instead of the CloudTrail service.
    Case(
        "kms_guide_root_instead_of_service.json",
        "encrypt",
        encrypt(trail(MEMBER)),
        False,
        "CloudTrail (the service principal) is the caller, not account 333333333333",
    ),
    Case(
        "kms_guide_root_instead_of_service.json",
        "describe",
        describe(trail(MEMBER)),
        False,
        "no statement names cloudtrail.amazonaws.com",
    ),
    # A guide with two "StringEquals" keys in one Condition: AWS keeps only the last.
    Case(
        "kms_guide_duplicate_string_equals.json",
        "encrypt for another trail of the account",
        encrypt(trail(MEMBER, "other")),
        True,
        "the first StringEquals (aws:SourceArn = audit) is silently lost; only aws:SourceAccount is checked",
    ),
    Case(
        "kms_guide_duplicate_string_equals.json",
        "encrypt for an outsider's trail",
        encrypt(trail(OUTSIDER)),
        False,
        "the surviving StringEquals and the StringLike both name 333333333333",
    ),
    Case(
        "kms_guide_duplicate_string_equals.json",
        "warnings",
        lambda doc: len(doc.warnings),
        1,
        "the repeated StringEquals key is reported once",
    ),
    # Public and external grants.
    Case(
        "kms_public_star.json",
        "public grants",
        public(),
        ["AnyoneMayUseTheKey"],
        'principal "*" without any condition',
    ),
    Case(
        "kms_public_star.json",
        "encrypt",
        encrypt(trail(OUTSIDER)),
        True,
        '"*" names every principal, the CloudTrail service included',
    ),
    Case(
        "kms_external_account.json",
        "external grants",
        external(),
        ["AuditorDecrypt"],
        "999999999999 is not an account of the organization",
    ),
    Case("kms_external_account.json", "public grants", public(), [], "a named account is not the public"),
    Case(
        "kms_external_account.json",
        "the outsider decrypts",
        decrypt(role(OUTSIDER), ORG_TRAIL),
        True,
        "the account root grant covers every role session of that account",
    ),
    # Deny statements.
    Case(
        "kms_deny_outside_org_blocks_cloudtrail.json",
        "encrypt",
        encrypt(ORG_TRAIL),
        False,
        "StringNotEquals on aws:PrincipalOrgID is true when the key is absent, as it is for a service",
    ),
    Case(
        "kms_deny_outside_org_blocks_cloudtrail.json",
        "a member role decrypts",
        decrypt(role(MEMBER), ORG_TRAIL),
        False,
        "no Allow grants the member's role",
    ),
    Case(
        "kms_deny_outside_org_spares_services.json",
        "encrypt",
        encrypt(ORG_TRAIL),
        True,
        "IfExists spares a request without aws:PrincipalOrgID and aws:PrincipalIsAWSService is true",
    ),
    Case(
        "kms_not_principal_deny_blocks_cloudtrail.json",
        "encrypt",
        encrypt(trail(MGMT)),
        False,
        "a Deny with NotPrincipal denies every principal not listed, the CloudTrail service included",
    ),
    Case(
        "kms_not_principal_deny_blocks_cloudtrail.json",
        "the admin role decrypts",
        decrypt(role(CENTRAL, "KeyAdmin"), trail(MGMT)),
        True,
        "the root grant covers the role's sessions; the role and its account are both excluded from the Deny",
    ),
    Case(
        "kms_not_principal_deny_blocks_cloudtrail.json",
        "another role of the key account decrypts",
        decrypt(role(CENTRAL, "Other"), trail(MGMT)),
        False,
        "NotPrincipal excludes only the listed role: every other identity of the account is denied",
    ),
    Case(
        "kms_not_principal_deny_spares_cloudtrail.json",
        "encrypt",
        encrypt(trail(MGMT)),
        True,
        "NotAction (all but administration) covers GenerateDataKey and NotPrincipal lists the service",
    ),
    Case(
        "kms_not_principal_deny_spares_cloudtrail.json",
        "describe",
        describe(trail(MGMT)),
        True,
        "DescribeKey is in the Deny's NotAction list, so the Deny does not apply to it",
    ),
    Case(
        "kms_not_principal_deny_spares_cloudtrail.json",
        "public grants",
        public(),
        [],
        "NotPrincipal with Deny is a restriction, not a grant",
    ),
    Case(
        "kms_not_principal_allow_public.json",
        "public grants",
        public(),
        ["EveryoneButTheIntern"],
        "NotPrincipal with Allow grants everyone but the listed principals",
    ),
    # Unknown condition operators: conservative both ways.
    Case(
        "kms_unknown_operator.json",
        "encrypt",
        encrypt(trail(MGMT)),
        False,
        "an Allow whose condition the analyzer cannot evaluate is assumed not to match",
    ),
    Case(
        "kms_unknown_operator.json",
        "public grants",
        public(),
        ["AnyoneWithFutureOperator"],
        "a principal-* grant restricted only by an unknown operator is reported as public",
    ),
    # The documented CloudTrail bucket policy, one account.
    Case(
        "s3_cloudtrail_documented_single_account.json",
        "ACL check",
        acl(trail(MEMBER)),
        True,
        "aws:SourceArn names the trail",
    ),
    Case(
        "s3_cloudtrail_documented_single_account.json",
        "write",
        put(MEMBER, trail(MEMBER)),
        True,
        "AWSLogs/333333333333/* with bucket-owner-full-control and the trail's aws:SourceArn",
    ),
    Case(
        "s3_cloudtrail_documented_single_account.json",
        "write for another account",
        put(OUTSIDER, trail(OUTSIDER)),
        False,
        "neither the resource nor aws:SourceArn cover 999999999999",
    ),
    Case(
        "s3_cloudtrail_documented_single_account.json",
        "public grants",
        public(BUCKET_ARN),
        [],
        "only the CloudTrail service is granted",
    ),
    # The documented organization-trail bucket policy.
    Case(
        "s3_cloudtrail_documented_organization.json",
        "org trail writes a member's logs",
        put(MEMBER, ORG_TRAIL, ORG_ID),
        True,
        "AWSLogs/o-a1b2c3d4e5/* with the organization trail's aws:SourceArn",
    ),
    Case(
        "s3_cloudtrail_documented_organization.json",
        "org trail writes under the management account",
        put(MGMT, ORG_TRAIL),
        True,
        "AWSLogs/111111111111/* is granted for the organization trail",
    ),
    Case(
        "s3_cloudtrail_documented_organization.json",
        "a member's own trail writes",
        put(MEMBER, trail(MEMBER)),
        False,
        "aws:SourceArn admits only the organization trail",
    ),
    Case(
        "s3_cloudtrail_documented_organization.json",
        "ACL check for the org trail",
        acl(ORG_TRAIL),
        True,
        "the organization trail's ARN is the management account's",
    ),
    # Public bucket, TLS-only bucket, and a lost organization pin.
    Case(
        "s3_public_get_object.json",
        "public grants",
        public(BUCKET_ARN),
        ["PublicRead"],
        'principal "*" may s3:GetObject on every object',
    ),
    Case(
        "s3_public_get_object.json",
        "write",
        put(OUTSIDER, trail(OUTSIDER)),
        True,
        "the write grant has no account restriction (a confused-deputy risk, not public access)",
    ),
    Case(
        "s3_deny_insecure_transport.json",
        "write over TLS",
        put(MEMBER, trail(MEMBER)),
        True,
        "CloudTrail uses TLS, so the Deny of aws:SecureTransport false does not apply",
    ),
    Case(
        "s3_deny_insecure_transport.json",
        "a read without TLS",
        insecure_get_denied(),
        True,
        "Bool aws:SecureTransport false (a JSON boolean) matches the plain-HTTP request",
    ),
    Case(
        "s3_deny_insecure_transport.json",
        "public grants",
        public(BUCKET_ARN),
        [],
        'the principal "*" read grant is pinned by aws:PrincipalOrgID',
    ),
    Case(
        "s3_deny_insecure_transport.json",
        "external grants",
        external(),
        [],
        "the pin is the organization's own id",
    ),
    Case(
        "s3_guide_duplicate_lost_org_pin.json",
        "public grants",
        public(BUCKET_ARN),
        ["OrganizationMayReadTaggedLogs"],
        "the aws:PrincipalOrgID block is silently replaced by the second StringEquals: the grant is public",
    ),
    Case(
        "s3_encryption_deny_optional.json",
        "write before the trail has a key",
        put(MEMBER, trail(MEMBER)),
        False,
        "an upload without SSE-KMS headers is caught by the Deny of non-aws:kms uploads",
    ),
    Case(
        "s3_encryption_deny_optional.json",
        "write with the trail's key",
        put(MEMBER, trail(MEMBER), None, KEY_ARN),
        True,
        "SSE-KMS uploads carry s3:x-amz-server-side-encryption aws:kms",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.file}: {c.question}" for c in CASES])
def test_corpus_policy_answers_as_aws_would(case: Case) -> None:
    # Given a real policy
    doc = corpus(case.file)
    # When the question is asked
    answer = case.ask(doc)
    # Then the answer is the expected one
    assert answer == case.expected, case.why


def test_duplicate_condition_warning_names_the_key_and_the_loss() -> None:
    # Given the guide policy with two StringEquals blocks in one Condition
    doc = corpus("kms_guide_duplicate_string_equals.json")
    # Then the warning names the statement, the repeated key and that the first block is lost
    (warning,) = doc.warnings
    assert warning.startswith('statement #2 ("AllowCloudTrailEncrypt") Condition has the key "StringEquals" twice')
    assert "only the last is kept, the first is silently lost" in warning


def test_every_corpus_file_has_a_case() -> None:
    # Given the corpus folder, Then every file appears in the case table
    from tests.unit.policy.policy_testkit import CORPUS

    assert {p.name for p in CORPUS.glob("*.json")} == {c.file for c in CASES}


def test_unknown_operator_is_named_in_the_verdict() -> None:
    doc = corpus("kms_unknown_operator.json")
    verdict = cloudtrail_may_encrypt(doc, KEY_ARN, trail(MGMT))
    assert verdict.unknown_conditions == ("StringMatchesRegex",)
    assert "StringMatchesRegex" in verdict.reason
    (grant,) = public_grants(doc, KEY_ARN)
    assert grant.unknown_conditions == ("StringMatchesRegex",)


def test_deny_verdict_names_the_deny_statement() -> None:
    verdict = cloudtrail_may_encrypt(corpus("kms_deny_outside_org_blocks_cloudtrail.json"), KEY_ARN, ORG_TRAIL)
    assert verdict.statements == ("DenyOutsideTheOrganization",)
    assert verdict.reason == (
        f"CloudTrail may not call kms:GenerateDataKey on the key for trail {ORG_TRAIL}: "
        'explicitly denied by "DenyOutsideTheOrganization".'
    )
