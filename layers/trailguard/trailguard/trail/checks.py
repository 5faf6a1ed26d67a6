"""The trail checks: pure functions of a Trail (and the settings), each registered with its catalogue row."""

from __future__ import annotations

from trailguard.arns import same_key
from trailguard.catalogue import CIS, CIS_PREVIOUS, SECURITY_HUB, TRAIL_READS, UNDECIDED, Undecided, register
from trailguard.context import Context
from trailguard.findings import Violation
from trailguard.trail.facts import Trail
from trailguard.vocabulary import Repair, ResourceType, Severity

TRAIL = ResourceType.TRAIL


@register(
    "trail.encryption",
    TRAIL,
    Severity.HIGH,
    title="Trail logs are encrypted with SSE-KMS under the central key",
    repair=Repair.REMEDIATE,
    action="cloudtrail:UpdateTrail",
    fix="UpdateTrail with KmsKeyId set to the central key ARN; if AWS refuses it, the key's facts are read and the "
    "finding names what is missing (the key's state or region, the policy grant for the trail's account)",
    compliance=(f"{CIS} 3.5", f"{CIS_PREVIOUS} 3.7", f"{SECURITY_HUB} CloudTrail.2"),
    reads=TRAIL_READS,
)
def encryption(trail: Trail, context: Context) -> Violation | None:
    settings = context.settings
    if not trail.exists or same_key(trail.kms_key_id, settings.central_key):
        return None
    if trail.kms_key_id is None:
        summary = f"Trail {trail.ref.name} is not encrypted with SSE-KMS (no KMS key)."
    else:
        summary = f"Trail {trail.ref.name} is encrypted with {trail.kms_key_id}, not the central key."
    return Violation(
        "trail.encryption", summary, {"KmsKeyId": trail.kms_key_id}, {"KmsKeyId": settings.central_key_arn}
    )


@register(
    "trail.logging",
    TRAIL,
    Severity.HIGH,
    title="Trail is logging",
    repair=Repair.REMEDIATE,
    action="cloudtrail:StartLogging",
    fix="StartLogging in the trail's home region",
    compliance=(f"{CIS} 3.1", f"{CIS_PREVIOUS} 3.1", f"{SECURITY_HUB} CloudTrail.1", f"{SECURITY_HUB} CloudTrail.3"),
    reads=TRAIL_READS,
)
def logging(trail: Trail, context: Context) -> Violation | Undecided | None:
    if trail.exists and trail.status is None:
        return UNDECIDED  # status not read
    if not trail.exists or trail.status is None or trail.status.is_logging:
        return None
    return Violation(
        "trail.logging", f"Trail {trail.ref.name} is not logging.", {"IsLogging": False}, {"IsLogging": True}
    )


@register(
    "trail.log-file-validation",
    TRAIL,
    Severity.MEDIUM,
    title="Log file integrity validation is on",
    repair=Repair.REMEDIATE,
    action="cloudtrail:UpdateTrail",
    fix="UpdateTrail with EnableLogFileValidation",
    compliance=(f"{CIS} 3.2", f"{CIS_PREVIOUS} 3.2", f"{SECURITY_HUB} CloudTrail.4"),
    reads=TRAIL_READS,
)
def log_file_validation(trail: Trail, context: Context) -> Violation | None:
    if not trail.exists or trail.log_file_validation:
        return None
    return Violation(
        "trail.log-file-validation",
        f"Trail {trail.ref.name} has log file validation off.",
        {"LogFileValidationEnabled": False},
        {"LogFileValidationEnabled": True},
    )


@register(
    "trail.destination",
    TRAIL,
    Severity.MEDIUM,
    title="Trail delivers to the central log bucket",
    repair=Repair.NEVER,
    action=None,
    fix="Point the trail at the central bucket (UpdateTrail S3BucketName); not automatic because the central "
    "bucket policy must first admit the account and the old destination may be relied on",
    compliance=(f"{SECURITY_HUB} CloudTrail.1",),
    reads=TRAIL_READS,
)
def destination(trail: Trail, context: Context) -> Violation | None:
    bucket = context.settings.log_bucket
    if not trail.exists or trail.s3_bucket == bucket:
        return None
    return Violation(
        "trail.destination",
        f"Trail {trail.ref.name} delivers to bucket {trail.s3_bucket}, not the central log bucket.",
        {"S3BucketName": trail.s3_bucket},
        {"S3BucketName": bucket},
    )


@register(
    "trail.delivery",
    TRAIL,
    Severity.HIGH,
    title="CloudTrail reports no delivery error",
    repair=Repair.NEVER,
    action=None,
    fix="Read LatestDeliveryError: an AccessDenied from KMS or S3 means the key or bucket policy no longer "
    "admits the trail (see the key.* and bucket.* findings)",
    compliance=(f"{SECURITY_HUB} CloudTrail.1",),
    reads=TRAIL_READS,
)
def delivery(trail: Trail, context: Context) -> Violation | Undecided | None:
    if trail.exists and trail.status is None:
        return UNDECIDED
    if not trail.exists or trail.status is None:
        return None
    errors = {
        name: value
        for name, value in (
            ("LatestDeliveryError", trail.status.delivery_error),
            ("LatestDigestDeliveryError", trail.status.digest_delivery_error),
        )
        if value
    }
    if not errors:
        return None
    first = next(iter(errors.values()))
    return Violation(
        "trail.delivery",
        f"CloudTrail cannot deliver logs of trail {trail.ref.name}: {first}.",
        errors,
        {"LatestDeliveryError": None},
    )


@register(
    "trail.deleted",
    TRAIL,
    Severity.HIGH,
    title="Trail was deleted",
    repair=Repair.NEVER,
    action=None,
    fix="Recreate the trail from its infrastructure code, or confirm the deletion was intended",
    compliance=(f"{CIS} 3.1", f"{SECURITY_HUB} CloudTrail.3"),
    reads=("cloudtrail:GetTrail",),
)
def deleted(trail: Trail, context: Context) -> Violation | None:
    if trail.exists:
        return None
    return Violation(
        "trail.deleted",
        f"Trail {trail.ref.name} was deleted.",
        {"exists": False, "TrailARN": trail.arn},
        {"exists": True},
    )


@register(
    "trail.exemption-requested",
    TRAIL,
    Severity.LOW,
    title="The trail's owner has not tagged it to ask for an exemption",
    repair=Repair.NEVER,
    action=None,
    fix="The tag exempts nothing: if the trail is to be left alone, the security team adds it to "
    "TRAILGUARD_EXEMPT_TRAILS (ExemptTrails) with a reason and an expiry; otherwise remove the tag",
    reads=("cloudtrail:ListTags",),
)
def exemption_requested(trail: Trail, context: Context) -> Violation | Undecided | None:
    tag = context.settings.exempt_tag
    if trail.exists and trail.tags is None:
        return UNDECIDED  # tags not read
    if not trail.exists or trail.tags is None or trail.tags.get(tag, "").strip().lower() != "true":
        return None
    return Violation(
        "trail.exemption-requested",
        f"Trail {trail.ref.name} is tagged {tag}=true: its owner asks for an exemption. The tag exempts nothing; "
        "TrailGuard keeps guarding the trail.",
        {tag: trail.tags.get(tag)},
        {"exemption": "granted by the security team in TRAILGUARD_EXEMPT_TRAILS, or no tag"},
    )
