"""The check catalogue: one row per check id (CONTRACT.md section 4).

The code reads severity, repair and compliance mapping from here, and the README's table is rendered
from it (`python -m trailguard catalogue`), so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class Repair(StrEnum):
    """When TrailGuard repairs a check by itself."""

    REMEDIATE = "remediate"  # in remediate mode
    POLICIES = "policies"  # in remediate mode with TRAILGUARD_REPAIR_POLICIES=true
    NEVER = "never"  # reported only: a person must decide


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    resource: str
    severity: Severity
    title: str
    repair: Repair
    action: str | None
    fix: str
    compliance: tuple[str, ...]


_CIS = "CIS AWS Foundations"
_CIS_PREVIOUS = "CIS AWS Foundations v1.4"

CHECKS: dict[str, Check] = {
    check.id: check
    for check in (
        Check(
            "trail.encryption",
            "trail",
            Severity.HIGH,
            "Trail logs are encrypted with SSE-KMS under the central key",
            Repair.REMEDIATE,
            "cloudtrail:UpdateTrail",
            "UpdateTrail with KmsKeyId set to the central key ARN, after checking the key is enabled, in the "
            "bucket's region and admits the trail",
            (f"{_CIS} 3.5", f"{_CIS_PREVIOUS} 3.7", "AWS Security Hub CloudTrail.2"),
        ),
        Check(
            "trail.logging",
            "trail",
            Severity.HIGH,
            "Trail is logging",
            Repair.REMEDIATE,
            "cloudtrail:StartLogging",
            "StartLogging in the trail's home region",
            (f"{_CIS} 3.1", f"{_CIS_PREVIOUS} 3.1", "AWS Security Hub CloudTrail.1", "AWS Security Hub CloudTrail.3"),
        ),
        Check(
            "trail.log-file-validation",
            "trail",
            Severity.MEDIUM,
            "Log file integrity validation is on",
            Repair.REMEDIATE,
            "cloudtrail:UpdateTrail",
            "UpdateTrail with EnableLogFileValidation",
            (f"{_CIS} 3.2", f"{_CIS_PREVIOUS} 3.2", "AWS Security Hub CloudTrail.4"),
        ),
        Check(
            "trail.multi-region",
            "trail",
            Severity.MEDIUM,
            "Trail records every region",
            Repair.NEVER,
            None,
            "Make the trail multi-region (UpdateTrail IsMultiRegionTrail) if it is meant to be the account's audit "
            "trail; not automatic because it changes what the trail collects and costs",
            (f"{_CIS} 3.1", f"{_CIS_PREVIOUS} 3.1", "AWS Security Hub CloudTrail.1"),
        ),
        Check(
            "trail.destination",
            "trail",
            Severity.MEDIUM,
            "Trail delivers to the central log bucket",
            Repair.NEVER,
            None,
            "Point the trail at the central bucket (UpdateTrail S3BucketName); not automatic because the central "
            "bucket policy must first admit the account and the old destination may be relied on",
            ("AWS Security Hub CloudTrail.1",),
        ),
        Check(
            "trail.delivery",
            "trail",
            Severity.HIGH,
            "CloudTrail reports no delivery error",
            Repair.NEVER,
            None,
            "Read LatestDeliveryError: an AccessDenied from KMS or S3 means the key or bucket policy no longer "
            "admits the trail (see the key.* and bucket.* findings)",
            ("AWS Security Hub CloudTrail.1",),
        ),
        Check(
            "trail.deleted",
            "trail",
            Severity.HIGH,
            "Trail was deleted",
            Repair.NEVER,
            None,
            "Recreate the trail from its infrastructure code, or confirm the deletion was intended",
            (f"{_CIS} 3.1", "AWS Security Hub CloudTrail.3"),
        ),
        Check(
            "key.state",
            "key",
            Severity.CRITICAL,
            "Central key is Enabled",
            Repair.REMEDIATE,
            "kms:CancelKeyDeletion+kms:EnableKey",
            "CancelKeyDeletion (if pending deletion) then EnableKey",
            ("AWS Security Hub KMS.3",),
        ),
        Check(
            "key.rotation",
            "key",
            Severity.MEDIUM,
            "Central key rotates automatically",
            Repair.REMEDIATE,
            "kms:EnableKeyRotation",
            "EnableKeyRotation",
            (f"{_CIS} 3.6", f"{_CIS_PREVIOUS} 3.8", "AWS Security Hub KMS.4"),
        ),
        Check(
            "key.cloudtrail-encrypt",
            "key",
            Severity.CRITICAL,
            "Key policy lets CloudTrail GenerateDataKey for every trail in scope",
            Repair.POLICIES,
            "kms:PutKeyPolicy",
            "Add the cloudtrail.amazonaws.com kms:GenerateDataKey* grant with the encryption-context pattern "
            "arn:aws:cloudtrail:*:<account>:trail/* for each account (the management account for organization trails)",
            (f"{_CIS} 3.5", "AWS Security Hub CloudTrail.2"),
        ),
        Check(
            "key.cloudtrail-describe",
            "key",
            Severity.HIGH,
            "Key policy lets CloudTrail DescribeKey",
            Repair.POLICIES,
            "kms:PutKeyPolicy",
            "Add the cloudtrail.amazonaws.com kms:DescribeKey grant",
            (f"{_CIS} 3.5",),
        ),
        Check(
            "key.public",
            "key",
            Severity.CRITICAL,
            "Key policy grants nothing to an unpinned principal",
            Repair.POLICIES,
            "kms:PutKeyPolicy",
            "Remove the grant, or pin it with aws:PrincipalOrgID, kms:CallerAccount or aws:SourceArn",
            ("AWS Security Hub KMS.5",),
        ),
        Check(
            "key.external-access",
            "key",
            Severity.HIGH,
            "Key policy grants nothing to accounts outside the organization",
            Repair.NEVER,
            None,
            "Remove the grant unless the outside account is a known log reader",
            ("AWS Security Hub KMS.5",),
        ),
        Check(
            "key.region",
            "key",
            Severity.HIGH,
            "Central key is in the central bucket's region",
            Repair.NEVER,
            None,
            "Create the key (or a multi-Region replica) in the bucket's region and point "
            "TRAILGUARD_CENTRAL_KEY_ARN at it",
            (),
        ),
        Check(
            "bucket.cloudtrail-acl-check",
            "bucket",
            Severity.CRITICAL,
            "Bucket policy lets CloudTrail GetBucketAcl",
            Repair.POLICIES,
            "s3:PutBucketPolicy",
            "Add the cloudtrail.amazonaws.com s3:GetBucketAcl statement",
            ("AWS Security Hub CloudTrail.1",),
        ),
        Check(
            "bucket.cloudtrail-write",
            "bucket",
            Severity.CRITICAL,
            "Bucket policy lets CloudTrail PutObject under AWSLogs/ for every account in scope",
            Repair.POLICIES,
            "s3:PutBucketPolicy",
            "Add the cloudtrail.amazonaws.com s3:PutObject statement on AWSLogs/<account>/* (and AWSLogs/<org-id>/*) "
            "with s3:x-amz-acl = bucket-owner-full-control",
            ("AWS Security Hub CloudTrail.1",),
        ),
        Check(
            "bucket.public",
            "bucket",
            Severity.CRITICAL,
            "Bucket policy grants nothing to an unpinned principal",
            Repair.POLICIES,
            "s3:PutBucketPolicy",
            "Remove the public statement; keep Block Public Access on",
            (f"{_CIS_PREVIOUS} 3.3", "AWS Security Hub CloudTrail.6", "AWS Security Hub S3.2", "AWS Security Hub S3.3"),
        ),
        Check(
            "bucket.external-access",
            "bucket",
            Severity.HIGH,
            "Bucket policy grants nothing to accounts outside the organization",
            Repair.NEVER,
            None,
            "Remove the grant unless the outside account is a known log reader",
            ("AWS Security Hub S3.6",),
        ),
        Check(
            "bucket.encryption",
            "bucket",
            Severity.HIGH,
            "Default encryption is SSE-KMS with the central key",
            Repair.REMEDIATE,
            "s3:PutEncryptionConfiguration",
            "PutBucketEncryption with aws:kms and the central key ARN",
            ("AWS Security Hub S3.17",),
        ),
        Check(
            "bucket.tls-only",
            "bucket",
            Severity.MEDIUM,
            "Bucket policy denies requests without TLS",
            Repair.POLICIES,
            "s3:PutBucketPolicy",
            "Add a Deny for aws:SecureTransport = false",
            ("AWS Security Hub S3.5",),
        ),
        Check(
            "bucket.versioning",
            "bucket",
            Severity.MEDIUM,
            "Bucket versioning is enabled",
            Repair.NEVER,
            None,
            "Enable versioning (PutBucketVersioning Status=Enabled); not automatic because it changes storage costs",
            ("AWS Security Hub S3.14",),
        ),
    )
}


def check(check_id: str) -> Check:
    return CHECKS[check_id]


def markdown_table() -> str:
    """The README's check catalogue table."""
    repair_words = {
        Repair.REMEDIATE: "automatic in `remediate` mode",
        Repair.POLICIES: "automatic with `TRAILGUARD_REPAIR_POLICIES=true`",
        Repair.NEVER: "reported only",
    }
    lines = [
        "| check | severity | what it verifies | repair | how to fix | compliance |",
        "|---|---|---|---|---|---|",
    ]
    for item in CHECKS.values():
        lines.append(
            f"| `{item.id}` | {item.severity.name} | {item.title} | {repair_words[item.repair]} | {item.fix} | "
            f"{', '.join(item.compliance) or '-'} |"
        )
    return "\n".join(lines)
