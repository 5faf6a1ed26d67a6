"""The central bucket's checks: pure functions of the bucket's state (and the organization's trails that deliver
to it), each registered with its catalogue row."""

from __future__ import annotations

import json

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
from trailguard.context import Context, grants_violation, parsed_policy
from trailguard.findings import Resource, Violation
from trailguard.observability import logger
from trailguard.trail.facts import Trail
from trailguard.vocabulary import Repair, ResourceType, Severity

BUCKET = ResourceType.BUCKET
POLICY_READS = (*BUCKET_READS, *ORGANIZATION_READS)
_EMPTY = {"Version": "2012-10-17", "Statement": []}


def bucket_policy(state: BucketState) -> policy.PolicyDocument:
    """The bucket policy, parsed (an empty one when there is none or it cannot be parsed)."""
    parsed = parsed_policy(state.policy if state.policy is not None else json.dumps(_EMPTY))
    if isinstance(parsed, policy.PolicyParseError):
        logger.warning("bucket policy unparseable", error=str(parsed))
        return policy.parse_policy(_EMPTY)
    return parsed


def delivering(state: BucketState, context: Context) -> list[Trail]:
    """The trails that deliver to the bucket, or a probe for the management account's organization trail (else
    the central account's) when none does yet."""
    scope, settings = context.scope, context.settings
    trails = [trail for trail in (scope.trails if scope else ()) if trail.s3_bucket == state.name]
    if trails:
        return trails
    key = settings.central_key
    probe = Trail.from_api(
        Resource.trail(probe_trail_arn(key, settings.management_account_id or key.account)),
        {
            "IsOrganizationTrail": bool(settings.management_account_id and settings.org_id),
            "S3BucketName": state.name,
            "KmsKeyId": key.arn,
        },
    )
    return [probe]


def object_keys(trail: Trail, context: Context) -> list[str]:
    """Where CloudTrail writes this trail's logs: AWSLogs/<account>/..., and for an organization trail also
    AWSLogs/<org-id>/<member>/... for every member."""
    org_id, scope = context.settings.org_id, context.scope
    keys = [policy.cloudtrail_object_key(trail.account, prefix=trail.s3_prefix, region=trail.home_region)]
    if trail.organization_trail and org_id and scope is not None:
        keys += [
            policy.cloudtrail_object_key(account, org_id=org_id, prefix=trail.s3_prefix, region=trail.home_region)
            for account in sorted(scope.accounts)
        ]
    return keys


def _without_policy(state: BucketState) -> str:
    return " (there is no bucket policy)." if state.policy is None else "."


@register(
    "bucket.cloudtrail-acl-check",
    BUCKET,
    Severity.CRITICAL,
    title="Bucket policy lets CloudTrail GetBucketAcl",
    repair=Repair.POLICIES,
    action="s3:PutBucketPolicy",
    fix="Add the cloudtrail.amazonaws.com s3:GetBucketAcl statement",
    compliance=(f"{SECURITY_HUB} CloudTrail.1",),
    reads=POLICY_READS,
)
def cloudtrail_acl_check(state: BucketState, context: Context) -> Violation | None:
    document = bucket_policy(state)
    refused = [
        trail.arn
        for trail in delivering(state, context)
        if not policy.cloudtrail_may_get_bucket_acl(document, state.name, trail.arn).allowed
    ]
    if not refused:
        return None
    return Violation(
        "bucket.cloudtrail-acl-check",
        "The log bucket policy does not let CloudTrail GetBucketAcl" + _without_policy(state),
        {"refused_trails": refused},
        {"cloudtrail_may_get_bucket_acl": True},
    )


@register(
    "bucket.cloudtrail-write",
    BUCKET,
    Severity.CRITICAL,
    title="Bucket policy lets CloudTrail PutObject under AWSLogs/ for every account in scope",
    repair=Repair.POLICIES,
    action="s3:PutBucketPolicy",
    fix="Add the cloudtrail.amazonaws.com s3:PutObject statement on AWSLogs/<account>/* (and AWSLogs/<org-id>/*) "
    "with s3:x-amz-acl = bucket-owner-full-control",
    compliance=(f"{SECURITY_HUB} CloudTrail.1",),
    reads=POLICY_READS,
)
def cloudtrail_write(state: BucketState, context: Context) -> Violation | None:
    document = bucket_policy(state)
    refused: dict[str, str] = {}
    for trail in delivering(state, context):
        for object_key in object_keys(trail, context):
            verdict = policy.cloudtrail_may_put_object(
                document, state.name, object_key, trail.arn, kms_key_arn=trail.kms_key_id
            )
            if not verdict.allowed:
                refused.setdefault(object_key.rsplit("/CloudTrail/", 1)[0], verdict.reason)
    if not refused:
        return None
    return Violation(
        "bucket.cloudtrail-write",
        f"The log bucket policy does not let CloudTrail write {', '.join(sorted(refused))}" + _without_policy(state),
        {"refused_prefixes": sorted(refused)},
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
