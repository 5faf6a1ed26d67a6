"""What each AWS error a repair can meet means, and what to do next (docs/aws-facts.md)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from trailguard.sessions import error_code, error_message

_MISSING_PERMISSION = (
    "the role TrailGuard used lacks this permission; redeploy the stack (and templates/member.yaml in member accounts)"
)

ADVICE: dict[str, str] = {
    "InsufficientEncryptionPolicyException": (
        "the central key policy does not let CloudTrail use the key for this trail; add the CloudTrail "
        "GenerateDataKey* and DescribeKey grants for the trail's account (see key.cloudtrail-encrypt)"
    ),
    "KmsKeyNotFoundException": (
        "the central key does not exist or is not in the region of the trail's bucket; use a key "
        "(or multi-Region replica) in the bucket's region"
    ),
    "InvalidKmsKeyIdException": "TRAILGUARD_CENTRAL_KEY_ARN is not a valid key for CloudTrail; correct the setting",
    "KmsKeyDisabledException": "the central key is disabled; enable it (see key.state)",
    "KmsException": "KMS refused the key for this trail; check the key's state and policy (see key.* findings)",
    "InsufficientS3BucketPolicyException": (
        "the trail's bucket policy does not let CloudTrail write; add the CloudTrail GetBucketAcl and "
        "PutObject statements (see bucket.cloudtrail-write)"
    ),
    "S3BucketDoesNotExistException": "the trail's bucket does not exist; point the trail at the central log bucket",
    "TrailNotFoundException": "the trail no longer exists (deleted while TrailGuard was repairing it)",
    "InvalidHomeRegionException": "the call was not made in the trail's home region; this is a TrailGuard defect",
    "NotOrganizationMasterAccountException": "organization trails can only be changed from the management account; set "
    "TRAILGUARD_MANAGEMENT_ACCOUNT_ID and deploy the member stack there",
    "OrganizationNotInAllFeaturesModeException": "the organization must have all features enabled",
    "OperationNotPermittedException": "CloudTrail does not permit this change on this trail (e.g. a service-linked "
    "trail); change it by hand or exempt it",
    "CloudTrailAccessNotEnabledException": "trusted access for CloudTrail is not enabled in the organization",
    "ThrottlingException": "CloudTrail throttled the call after retries; TrailGuard will retry the event",
    "ConflictException": "the trail was being changed by another call; TrailGuard will retry the event",
    "AccessDenied": _MISSING_PERMISSION,
    "AccessDeniedException": _MISSING_PERMISSION,
    "UnauthorizedOperation": _MISSING_PERMISSION,
}


def explain(action: str, error: ClientError) -> str:
    """One sentence: which call failed, with which error, and (when known) what it means and what to do."""
    code = error_code(error)
    advice = ADVICE.get(code)
    return f"{action} failed with {code} ({error_message(error)})" + (f": {advice}." if advice else ".")
