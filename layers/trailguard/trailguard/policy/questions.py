"""The questions TrailGuard asks of a key or bucket policy, each answered with a ``Verdict``.

Each question builds the request AWS would see (principal, action, resource, and the request context the
calling service sends) and evaluates it. Unknown condition operators make an Allow statement not match and
a Deny statement match; they are named in the verdict.

CloudTrail's requests carry the trail as their source: ``aws:SourceArn`` (the trail ARN) and
``aws:SourceAccount`` (the trail's owner; the management account for an organization trail). When the
owner belongs to an organization, AWS also sets ``aws:SourceOrgID`` from that account: pass it as
``source_org_id`` (the organization of the trail's account) so that organization-wide grants are
understood. Without it the request carries no ``aws:SourceOrgID`` and such grants do not match.
"""

from __future__ import annotations

from dataclasses import dataclass

from trailguard.policy.document import PolicyDocument
from trailguard.policy.evaluation import ContextValue, Decision, Request, evaluate
from trailguard.policy.ids import (
    TrailArn,
    normalise_prefix,
    parse_trail_arn,
    require_account_id,
    require_org_id,
)
from trailguard.policy.matching import Caller

CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"
CLOUDTRAIL_CONTEXT_KEY = "kms:EncryptionContext:aws:cloudtrail:arn"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one question. ``statements``: the Deny statements that decided a refusal, or the
    Allow statements that grant; ``reason``: one human sentence."""

    allowed: bool
    reason: str
    statements: tuple[str, ...]
    unknown_conditions: tuple[str, ...]


def _names(labels: tuple[str, ...]) -> str:
    return ", ".join(f'"{label}"' for label in labels)


def verdict_of(decision: Decision, subject: str, what: str) -> Verdict:
    """Turn a ``Decision`` into a ``Verdict`` whose reason reads "<subject> may [not] <what>: <why>"."""
    unknown = decision.unknown_conditions
    unknown_note = (
        f" (statements using condition operators the analyzer does not know, {', '.join(unknown)}, "
        "were assumed not to grant and to deny)"
        if unknown
        else ""
    )
    if decision.denied_explicitly:
        labels = decision.matched_deny
        reason = f"{subject} may not {what}: explicitly denied by {_names(labels)}{unknown_note}."
    elif decision.allowed:
        labels = decision.matched_allow
        reason = f"{subject} may {what}: allowed by {_names(labels)}{unknown_note}."
    else:
        labels = ()
        reason = f"{subject} may not {what}: no statement allows it{unknown_note}."
    return Verdict(decision.allowed, reason, labels, unknown)


def _ask(doc: PolicyDocument, request: Request, subject: str, what: str) -> Verdict:
    return verdict_of(evaluate(doc, request), subject, what)


def _source(trail: TrailArn, source_org_id: str | None) -> dict[str, ContextValue]:
    """The keys that name the trail a CloudTrail request is made for."""
    context: dict[str, ContextValue] = {"aws:SourceArn": trail.arn, "aws:SourceAccount": trail.account}
    if source_org_id is not None:
        context["aws:SourceOrgID"] = require_org_id(source_org_id, "source organization id")
    return context


def cloudtrail_may_encrypt(
    doc: PolicyDocument, key_arn: str, trail_arn: str, *, source_org_id: str | None = None
) -> Verdict:
    """May CloudTrail call ``kms:GenerateDataKey`` on the key for this trail's log files?

    For an organization trail pass the management account's trail ARN: it is the ARN in every member.
    """
    trail = parse_trail_arn(trail_arn)
    context: dict[str, ContextValue] = {
        CLOUDTRAIL_CONTEXT_KEY: trail.arn,
        "kms:EncryptionContextKeys": ["aws:cloudtrail:arn", "aws:s3:arn"],
        "kms:CallerAccount": trail.account,
        **_source(trail, source_org_id),
    }
    request = Request(Caller.service(CLOUDTRAIL_SERVICE), "kms:GenerateDataKey", key_arn, context)
    return _ask(doc, request, "CloudTrail", f"call kms:GenerateDataKey on the key for trail {trail.arn}")


def cloudtrail_may_describe(
    doc: PolicyDocument, key_arn: str, trail_arn: str, *, source_org_id: str | None = None
) -> Verdict:
    """May CloudTrail call ``kms:DescribeKey`` on the key when this trail is created or updated?"""
    trail = parse_trail_arn(trail_arn)
    context = _source(trail, source_org_id)
    request = Request(Caller.service(CLOUDTRAIL_SERVICE), "kms:DescribeKey", key_arn, context)
    return _ask(doc, request, "CloudTrail", f"call kms:DescribeKey on the key for trail {trail.arn}")


def principal_may_decrypt(doc: PolicyDocument, key_arn: str, principal_arn: str, trail_arn: str) -> Verdict:
    """May this IAM principal call ``kms:Decrypt`` on a log file that this trail encrypted with the key?"""
    trail = parse_trail_arn(trail_arn)
    caller = Caller.aws(principal_arn)
    context: dict[str, ContextValue] = {
        CLOUDTRAIL_CONTEXT_KEY: trail.arn,
        "kms:EncryptionContextKeys": ["aws:cloudtrail:arn", "aws:s3:arn"],
        "aws:PrincipalArn": caller.principal_arn,
    }
    if caller.account:
        context["kms:CallerAccount"] = caller.account
        context["aws:PrincipalAccount"] = caller.account
    request = Request(caller, "kms:Decrypt", key_arn, context)
    return _ask(doc, request, caller.id, f"call kms:Decrypt on the key for log files of trail {trail.arn}")


def cloudtrail_may_get_bucket_acl(
    doc: PolicyDocument, bucket: str, trail_arn: str, *, source_org_id: str | None = None
) -> Verdict:
    """May CloudTrail call ``s3:GetBucketAcl`` on the bucket for this trail?"""
    trail = parse_trail_arn(trail_arn)
    context = _source(trail, source_org_id)
    resource = f"arn:{trail.partition}:s3:::{bucket}"
    request = Request(Caller.service(CLOUDTRAIL_SERVICE), "s3:GetBucketAcl", resource, context)
    return _ask(doc, request, "CloudTrail", f"call s3:GetBucketAcl on {resource} for trail {trail.arn}")


def cloudtrail_may_put_object(
    doc: PolicyDocument,
    bucket: str,
    object_key: str,
    trail_arn: str,
    *,
    kms_key_arn: str | None = None,
    source_org_id: str | None = None,
) -> Verdict:
    """May CloudTrail call ``s3:PutObject`` for this object key of this trail?

    With ``kms_key_arn`` the request carries the SSE-KMS headers of a trail encrypted with that key, so a
    Deny of uploads that are not ``aws:kms`` is taken into account.
    """
    trail = parse_trail_arn(trail_arn)
    context: dict[str, ContextValue] = {
        "s3:x-amz-acl": "bucket-owner-full-control",
        **_source(trail, source_org_id),
        "aws:SecureTransport": True,
    }
    if kms_key_arn is not None:
        context["s3:x-amz-server-side-encryption"] = "aws:kms"
        context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = kms_key_arn
    resource = f"arn:{trail.partition}:s3:::{bucket}/{object_key}"
    request = Request(Caller.service(CLOUDTRAIL_SERVICE), "s3:PutObject", resource, context)
    return _ask(doc, request, "CloudTrail", f"call s3:PutObject on {resource} for trail {trail.arn}")


def cloudtrail_object_key(
    account: str, org_id: str | None = None, prefix: str | None = None, region: str = "us-east-1"
) -> str:
    """The key of a log file CloudTrail writes for ``account``:
    ``[prefix/]AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/2026/01/01/ACCOUNT_CloudTrail_REGION_...json.gz``."""
    require_account_id(account)
    folder = f"{require_org_id(org_id)}/{account}" if org_id is not None else account
    clean_prefix = normalise_prefix(prefix)
    head = f"{clean_prefix}/" if clean_prefix else ""
    name = f"{account}_CloudTrail_{region}_20260101T0000Z_TrailGuardProbe0.json.gz"
    return f"{head}AWSLogs/{folder}/CloudTrail/{region}/2026/01/01/{name}"
