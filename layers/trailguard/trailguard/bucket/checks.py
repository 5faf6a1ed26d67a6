"""The central bucket's checks: pure functions of the bucket's state (and the organization's accounts and the
trails that deliver to the bucket), each registered with its catalogue row.

The bucket must let CloudTrail check its ACL and write the logs of every active account of the organization,
and of the organization trail under ``AWSLogs/<org-id>/``: any trail of any account may be pointed at it.
Trails that deliver to it are asked about by their ARN and prefix, the other accounts by a probe trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from trailguard import policy
from trailguard.arns import probe_trail_arn
from trailguard.bucket.facts import BucketState
from trailguard.catalogue import (
    BUCKET_READS,
    CIS_PREVIOUS,
    ORGANIZATION_READS,
    SECURITY_HUB,
    UNDECIDED,
    Undecided,
    register,
)
from trailguard.context import (
    Admitted,
    Context,
    admitted_accounts,
    grants_violation,
    parsed_policy,
    refused_details,
    refused_phrase,
)
from trailguard.findings import Violation
from trailguard.observability import logger
from trailguard.vocabulary import Repair, ResourceType, Severity

# Every bucket event is judged by the policy analyzer: it is loaded with these checks (at a cold start's init),
# not at the first event.
policy.load()

BUCKET = ResourceType.BUCKET
POLICY_READS = (*BUCKET_READS, *ORGANIZATION_READS)
_EMPTY = {"Version": "2012-10-17", "Statement": []}


def bucket_policy(state: BucketState) -> policy.PolicyDocument:
    """The bucket policy, parsed (an empty one when there is none or it cannot be parsed)."""
    return bucket_policy_text(state.policy)


def bucket_policy_text(text: str | None) -> policy.PolicyDocument:
    parsed = parsed_policy(text if text is not None else json.dumps(_EMPTY))
    if isinstance(parsed, policy.PolicyParseError):
        logger.warning("bucket policy unparseable", error=str(parsed))
        return policy.parse_policy(_EMPTY)
    return parsed


@dataclass(frozen=True, slots=True)
class BucketQuestion:
    """What the bucket policy is asked (the bucket checks and the bucket repair ask exactly this)."""

    bucket: str
    admitted: Admitted
    trails: tuple[policy.KnownTrail, ...]  # the trails in scope that deliver to the bucket, with their prefix
    organization_trail: policy.KnownTrail | None  # the organization trail (known, or a probe), with an org id
    org_id: str | None
    prefix: str | None  # the prefix a probe trail writes under: the one prefix of the trails delivering here
    kms_key_arn: str  # the central key: CloudTrail's uploads carry its SSE-KMS headers
    partition: str
    region: str  # where a probe trail lives: the central key's region


def bucket_question(bucket: str, context: Context) -> BucketQuestion:
    settings, scope = context.settings, context.scope
    key, management, org_id = settings.central_key, settings.management_account_id, settings.org_id
    trails = [trail for trail in (scope.trails if scope is not None else ()) if trail.s3_bucket == bucket]
    prefixes = {trail.s3_prefix for trail in trails}
    organization_trail = None
    if management and org_id:
        known = [t for t in trails if t.organization_trail and t.account == management]
        organization_trail = (
            policy.KnownTrail(known[0].arn, known[0].s3_prefix)
            if known
            else policy.KnownTrail(probe_trail_arn(key, management))
        )
    return BucketQuestion(
        bucket,
        admitted_accounts(context, (trail.account for trail in trails)),
        tuple(dict.fromkeys(policy.KnownTrail(trail.arn, trail.s3_prefix) for trail in trails)),
        organization_trail,
        org_id,
        prefixes.pop() if len(prefixes) == 1 else None,
        key.arn,
        key.partition,
        key.region,
    )


@lru_cache(maxsize=8)
def bucket_answer(text: str | None, question: BucketQuestion) -> policy.Admission:
    """The bucket policy's answer for the question, computed once for the checks that read it."""
    return policy.bucket_admission(
        bucket_policy_text(text),
        question.bucket,
        question.admitted.accounts,
        trails=question.trails,
        organization_trail=question.organization_trail,
        org_id=question.org_id,
        prefix=question.prefix,
        kms_key_arn=question.kms_key_arn,
        partition=question.partition,
        region=question.region,
    )


def answer(state: BucketState, context: Context) -> tuple[policy.Admission, BucketQuestion]:
    question = bucket_question(state.name, context)
    return bucket_answer(state.policy, question), question


def _without_policy(state: BucketState) -> str:
    return " (there is no bucket policy)." if state.policy is None else "."


@register(
    "bucket.cloudtrail-acl-check",
    BUCKET,
    Severity.CRITICAL,
    title="Bucket policy lets CloudTrail GetBucketAcl for every active account of the organization",
    repair=Repair.POLICIES,
    action="s3:PutBucketPolicy",
    fix="Add the cloudtrail.amazonaws.com s3:GetBucketAcl statement",
    compliance=(f"{SECURITY_HUB} CloudTrail.1",),
    reads=POLICY_READS,
)
def cloudtrail_acl_check(state: BucketState, context: Context) -> Violation | None:
    admission, question = answer(state, context)
    refused = admission.refused("s3:GetBucketAcl")
    if not refused:
        return None
    return Violation(
        "bucket.cloudtrail-acl-check",
        f"The log bucket policy does not let CloudTrail GetBucketAcl for {refused_phrase(refused)}"
        + _without_policy(state),
        refused_details(refused, question.admitted),
        {"refused_accounts": []},
    )


@register(
    "bucket.cloudtrail-write",
    BUCKET,
    Severity.CRITICAL,
    title="Bucket policy lets CloudTrail PutObject under AWSLogs/ for every active account of the organization "
    "and the organization trail",
    repair=Repair.POLICIES,
    action="s3:PutBucketPolicy",
    fix="Add the cloudtrail.amazonaws.com s3:PutObject statement on AWSLogs/<account>/* (and AWSLogs/<org-id>/*) "
    "with s3:x-amz-acl = bucket-owner-full-control, or, where that list would not fit the bucket policy, one "
    "statement on AWSLogs/* pinned by aws:SourceOrgID to the organization",
    compliance=(f"{SECURITY_HUB} CloudTrail.1",),
    reads=POLICY_READS,
)
def cloudtrail_write(state: BucketState, context: Context) -> Violation | None:
    admission, question = answer(state, context)
    refused = admission.refused("s3:PutObject")
    if not refused:
        return None
    return Violation(
        "bucket.cloudtrail-write",
        f"The log bucket policy does not let CloudTrail write the logs of {refused_phrase(refused)}"
        + _without_policy(state),
        {
            **refused_details(refused, question.admitted),
            "refused_prefixes": sorted({refusal.target for refusal in refused}),
        },
        {"refused_prefixes": []},
    )


@register(
    "bucket.public",
    BUCKET,
    Severity.CRITICAL,
    title="Bucket policy grants nothing to an unpinned principal, and Block Public Access is on",
    repair=Repair.POLICIES,
    action="s3:PutBucketPolicy+s3:PutBucketPublicAccessBlock",
    fix="Remove the public statement (PutBucketPolicy) and turn Block Public Access on (PutBucketPublicAccessBlock)",
    compliance=(
        f"{CIS_PREVIOUS} 3.3",
        f"{SECURITY_HUB} CloudTrail.6",
        f"{SECURITY_HUB} S3.2",
        f"{SECURITY_HUB} S3.3",
    ),
    reads=BUCKET_READS,
)
def public(state: BucketState, context: Context) -> Violation | None:
    grants = policy.public_grants(bucket_policy(state), state.arn)
    acl_grants = () if state.public_access_block["IgnorePublicAcls"] else state.public_acl_grants
    open_flags = sorted(flag for flag, on in state.public_access_block.items() if not on)
    if not (grants or acl_grants or open_flags):
        return None
    parts = []
    if grants:
        parts.append("the bucket policy grants " + policy.describe_grants(grants))
    if acl_grants:
        parts.append("the bucket ACL grants " + ", ".join(acl_grants))
    if open_flags:
        parts.append("Block Public Access is off (" + ", ".join(open_flags) + ")")
    return Violation(
        "bucket.public",
        "The log bucket is open to the public: " + "; ".join(parts) + ".",
        {
            "policy_grants": [g.statement for g in grants],
            "acl_grants": list(acl_grants),
            "public_access_block_off": open_flags,
        },
        {"policy_grants": [], "acl_grants": [], "public_access_block_off": []},
    )


@register(
    "bucket.external-access",
    BUCKET,
    Severity.HIGH,
    title="Bucket policy grants nothing to accounts outside the organization",
    repair=Repair.NEVER,
    action=None,
    fix="Remove the grant unless the outside account is a known log reader",
    compliance=(f"{SECURITY_HUB} S3.6",),
    reads=POLICY_READS,
)
def external_access(state: BucketState, context: Context) -> Violation | Undecided | None:
    scope = context.scope
    # Without the organization's account list, every legitimate grant would look external.
    if scope is None or not scope.organization_known:
        return UNDECIDED
    grants = policy.external_grants(bucket_policy(state), scope.accounts, context.settings.org_id)
    return grants_violation(
        "bucket.external-access", "The log bucket policy grants accounts outside the organization: ", grants
    )


@register(
    "bucket.encryption",
    BUCKET,
    Severity.HIGH,
    title="Default encryption is SSE-KMS with the central key",
    repair=Repair.REMEDIATE,
    action="s3:PutEncryptionConfiguration",
    fix="PutBucketEncryption with aws:kms and the central key ARN",
    compliance=(f"{SECURITY_HUB} S3.17",),
    reads=BUCKET_READS,
)
def encryption(state: BucketState, context: Context) -> Violation | None:
    key = context.settings.central_key
    rule = (state.encryption or {}).get("ApplyServerSideEncryptionByDefault", {})
    configured = rule.get("KMSMasterKeyID")
    local = state.account == key.account and state.region == key.region
    if rule.get("SSEAlgorithm") == "aws:kms" and configured in ((key.arn, key.key_id) if local else (key.arn,)):
        return None
    return Violation(
        "bucket.encryption",
        f"Default encryption of the log bucket is {rule.get('SSEAlgorithm') or 'off'}"
        + (f" with {configured}" if configured else "")
        + ", not SSE-KMS with the central key.",
        {"SSEAlgorithm": rule.get("SSEAlgorithm"), "KMSMasterKeyID": configured},
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key.arn},
    )


@register(
    "bucket.tls-only",
    BUCKET,
    Severity.MEDIUM,
    title="Bucket policy denies requests without TLS",
    repair=Repair.POLICIES,
    action="s3:PutBucketPolicy",
    fix="Add a Deny for aws:SecureTransport = false",
    compliance=(f"{SECURITY_HUB} S3.5",),
    reads=BUCKET_READS,
)
def tls_only(state: BucketState, context: Context) -> Violation | None:
    insecure = policy.evaluate(
        bucket_policy(state),
        policy.Request(
            policy.Caller.aws(f"arn:{state.partition}:iam::{state.account}:root"),
            "s3:GetObject",
            f"{state.arn}/AWSLogs/x",
            {"aws:SecureTransport": "false"},
        ),
    )
    if insecure.denied_explicitly:
        return None
    return Violation(
        "bucket.tls-only",
        "The log bucket policy does not deny requests without TLS.",
        {"denies_insecure_transport": False},
        {"denies_insecure_transport": True},
    )


@register(
    "bucket.versioning",
    BUCKET,
    Severity.MEDIUM,
    title="Bucket versioning is enabled",
    repair=Repair.NEVER,
    action=None,
    fix="Enable versioning (PutBucketVersioning Status=Enabled); not automatic because it changes storage costs",
    compliance=(f"{SECURITY_HUB} S3.14",),
    reads=BUCKET_READS,
)
def versioning(state: BucketState, context: Context) -> Violation | None:
    if state.versioning == "Enabled":
        return None
    return Violation(
        "bucket.versioning",
        f"Versioning of the log bucket is {state.versioning or 'off'}.",
        {"Status": state.versioning},
        {"Status": "Enabled"},
    )
