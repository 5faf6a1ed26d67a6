"""Pure trail checks: a Trail in, the violations out. No AWS inside."""

from __future__ import annotations

from collections.abc import Callable

from trailguard.arns import same_key
from trailguard.centralkey import KeyFacts
from trailguard.findings import Violation
from trailguard.policy import PolicyParseError, cloudtrail_may_encrypt, parse_policy
from trailguard.settings import Settings
from trailguard.trail import Trail

TrailCheck = Callable[[Trail, Settings], Violation | None]


def _encryption(trail: Trail, settings: Settings) -> Violation | None:
    if same_key(trail.kms_key_id, settings.central_key):
        return None
    if trail.kms_key_id is None:
        summary = f"Trail {trail.ref.name} is not encrypted with SSE-KMS (no KMS key)."
    else:
        summary = f"Trail {trail.ref.name} is encrypted with {trail.kms_key_id}, not the central key."
    return Violation(
        "trail.encryption", summary, {"KmsKeyId": trail.kms_key_id}, {"KmsKeyId": settings.central_key_arn}
    )


def _logging(trail: Trail, settings: Settings) -> Violation | None:
    if trail.status.is_logging:
        return None
    return Violation(
        "trail.logging", f"Trail {trail.ref.name} is not logging.", {"IsLogging": False}, {"IsLogging": True}
    )


def _log_file_validation(trail: Trail, settings: Settings) -> Violation | None:
    if trail.log_file_validation:
        return None
    return Violation(
        "trail.log-file-validation",
        f"Trail {trail.ref.name} has log file validation off.",
        {"LogFileValidationEnabled": False},
        {"LogFileValidationEnabled": True},
    )


def _multi_region(trail: Trail, settings: Settings) -> Violation | None:
    if trail.multi_region:
        return None
    return Violation(
        "trail.multi-region",
        f"Trail {trail.ref.name} records only {trail.home_region}.",
        {"IsMultiRegionTrail": False},
        {"IsMultiRegionTrail": True},
    )


def _destination(trail: Trail, settings: Settings) -> Violation | None:
    if trail.s3_bucket == settings.log_bucket:
        return None
    return Violation(
        "trail.destination",
        f"Trail {trail.ref.name} delivers to bucket {trail.s3_bucket}, not the central log bucket.",
        {"S3BucketName": trail.s3_bucket},
        {"S3BucketName": settings.log_bucket},
    )


def _delivery(trail: Trail, settings: Settings) -> Violation | None:
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


TRAIL_CHECKS: tuple[TrailCheck, ...] = (
    _encryption,
    _logging,
    _log_file_validation,
    _multi_region,
    _destination,
    _delivery,
)


def evaluate_trail(trail: Trail, settings: Settings) -> list[Violation]:
    return [violation for check in TRAIL_CHECKS if (violation := check(trail, settings)) is not None]


def deleted(name: str, arn: str) -> Violation:
    return Violation(
        "trail.deleted", f"Trail {name} was deleted.", {"exists": False, "TrailARN": arn}, {"exists": True}
    )


def key_gap(trail: Trail, facts: KeyFacts, settings: Settings) -> str | None:
    """Why setting the central key on this trail would fail or stop delivery, with the fix; None when it is safe.

    Real AWS rejects UpdateTrail with a disabled key, a key in another region than the bucket
    (KmsKeyNotFoundException) or a key policy without the CloudTrail grant
    (InsufficientEncryptionPolicyException); moto accepts all three, so the check is made here first.
    """
    key = settings.central_key
    if facts.state is None:
        return f"the central key {key.arn} could not be read ({'; '.join(facts.problems)})."
    if not facts.enabled:
        return (
            f"the central key is {facts.state}, and CloudTrail cannot use a key that is not Enabled; "
            f"enable it (key.state) before the trail can be repaired."
        )
    if facts.key_spec not in (None, "SYMMETRIC_DEFAULT"):
        return f"the central key is {facts.key_spec}; CloudTrail needs a symmetric (SYMMETRIC_DEFAULT) key."
    bucket_region = facts.bucket_region if trail.s3_bucket == settings.log_bucket else None
    if bucket_region is not None and bucket_region != key.region:
        return (
            f"the central key is in {key.region} but the trail's bucket {trail.s3_bucket} is in {bucket_region}; "
            f"CloudTrail needs a key in the bucket's region (KmsKeyNotFoundException)."
        )
    if facts.policy is None:
        return f"the central key policy could not be read ({'; '.join(facts.problems)})."
    try:
        verdict = cloudtrail_may_encrypt(parse_policy(facts.policy), key.arn, trail.ref.arn)
    except PolicyParseError as error:
        return f"the central key policy cannot be parsed ({error})."
    if verdict.allowed:
        return None
    owner = trail.ref.account
    who = f"the management account {owner} (organization trail)" if trail.organization_trail else f"account {owner}"
    unknown = (
        f" Conditions not understood: {', '.join(verdict.unknown_conditions)}." if verdict.unknown_conditions else ""
    )
    return (
        f"the central key policy does not let cloudtrail.amazonaws.com GenerateDataKey for {trail.ref.arn} "
        f"({verdict.reason}); add arn:{key.partition}:cloudtrail:*:{owner}:trail/* for {who} to the "
        f"kms:EncryptionContext:aws:cloudtrail:arn condition of the CloudTrail encrypt statement "
        f"(`python -m trailguard policy key --trail-account {owner} ...` prints the policy).{unknown}"
    )
