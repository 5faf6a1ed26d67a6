"""Why AWS refused the UpdateTrail that sets the central key, said precisely.

TrailGuard calls UpdateTrail with the central key without reading the key first. CloudTrail checks on every
such call that the key is Enabled, symmetric and in the region of the trail's bucket, that the key policy lets
CloudTrail use it for the trail and that the bucket policy lets CloudTrail deliver; otherwise it refuses the
call (InsufficientEncryptionPolicyException, KmsKeyDisabledException, KmsKeyNotFoundException,
InvalidKmsKeyIdException, KmsException, InsufficientS3BucketPolicyException...). That refusal is the safety
check, so a drifted trail costs no read of the key. Only after a refusal are the facts AWS judged read (the
central key's, or the bucket policy) and analysed, so that the finding names what is missing and the fix: the
key's state, spec or region, or the exact grant a policy lacks (`arn:<partition>:cloudtrail:*:<account>:trail/*`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from trailguard import policy
from trailguard.advice import explain
from trailguard.bucket.facts import read_bucket_policy
from trailguard.key.facts import CentralKey, Recorder, read_central_key
from trailguard.observability import logger
from trailguard.sessions import error_code, error_message
from trailguard.settings import Settings
from trailguard.trail.facts import Trail

if TYPE_CHECKING:
    from trailguard.resource import Deps

ACTION = "cloudtrail:UpdateTrail"

# The refusals that are about the central key (its facts are read to explain them), and those about the bucket
# the trail delivers to (the bucket policy is read).
KEY_REFUSALS = frozenset(
    {
        "InsufficientEncryptionPolicyException",
        "KmsKeyDisabledException",
        "KmsKeyNotFoundException",
        "InvalidKmsKeyIdException",
        "KmsException",
    }
)
BUCKET_REFUSALS = frozenset({"InsufficientS3BucketPolicyException", "S3BucketDoesNotExistException"})


def explain_refusal(trail: Trail, error: ClientError, deps: Deps) -> str:
    """What the finding says of a refused UpdateTrail: AWS's answer, then what the facts read now show is missing
    and the fix; or, when they show nothing wrong, what to check. Other errors get their advice only."""
    code = error_code(error)
    if code not in KEY_REFUSALS | BUCKET_REFUSALS:
        return explain(ACTION, error)
    about = "central key" if code in KEY_REFUSALS else "trail's bucket"
    try:
        gap = _read_key_gap(trail, deps) if code in KEY_REFUSALS else _read_bucket_gap(trail, deps)
    except (ClientError, BotoCoreError) as failure:  # a transient failure of the reads: say what AWS said
        reason = error_code(failure) if isinstance(failure, ClientError) else type(failure).__name__
        logger.warning("refusal not explained", trail_arn=trail.arn, error=code, read_error=reason)
        return f"{explain(ACTION, error)} TrailGuard could not read the {about} to say more ({reason})."
    logger.warning("trail update refused", trail_arn=trail.arn, error=code, gap=gap or "none found")
    if gap is not None:
        return f"{ACTION} failed with {code} ({error_message(error)}): {gap}"
    return f"{explain(ACTION, error)} {nothing_found(trail, code, deps.settings)}"


def nothing_found(trail: Trail, code: str, settings: Settings) -> str:
    """What to check when the facts read after a refusal do not explain it."""
    owner = trail.account
    if code in KEY_REFUSALS:
        return (
            f"The central key read after the refusal explains nothing (its state, spec, region and policy admit "
            f"{trail.arn}): it may have been fixed since (the next event or the sweep tries again), or a condition "
            f"TrailGuard does not model refuses the trail; compare the key policy with `python -m trailguard policy "
            f"key --key-arn {settings.central_key_arn} --key-account {settings.central_key.account} "
            f"--trail-account {owner}`."
        )
    return (
        f"The bucket policy read after the refusal explains nothing (it lets CloudTrail deliver for {trail.arn}): "
        f"it may have been fixed since (the next event or the sweep tries again), or a condition TrailGuard does "
        f"not model refuses the trail; compare it with `python -m trailguard policy bucket --bucket "
        f"{settings.log_bucket} --trail-account {owner}`."
    )


def key_gap(trail: Trail, central: CentralKey, settings: Settings) -> str | None:
    """Why CloudTrail cannot use the central key for this trail, with the fix; None when the facts show nothing."""
    key, facts = settings.central_key, central.facts
    if facts.state is None:
        return f"the central key {key.arn} could not be read ({'; '.join(facts.problems)})."
    if not facts.enabled:
        return (
            f"the central key is {facts.state}, and CloudTrail cannot use a key that is not Enabled; "
            f"enable it (key.state) before the trail can be repaired."
        )
    if facts.key_spec not in (None, "SYMMETRIC_DEFAULT"):
        return f"the central key is {facts.key_spec}; CloudTrail needs a symmetric (SYMMETRIC_DEFAULT) key."
    bucket_region = central.bucket_region if trail.s3_bucket == settings.log_bucket else None
    if bucket_region is not None and bucket_region != key.region:
        return (
            f"the central key is in {key.region} but the trail's bucket {trail.s3_bucket} is in {bucket_region}; "
            f"CloudTrail needs a key in the bucket's region (KmsKeyNotFoundException)."
        )
    if facts.policy is None:
        return f"the central key policy could not be read ({'; '.join(facts.problems)})."
    try:
        document = policy.parse_policy(facts.policy)
    except policy.PolicyParseError as error:
        return f"the central key policy cannot be parsed ({error})."
    # The trail belongs to an account of the organization: CloudTrail's request names it (aws:SourceOrgID), which
    # is what an organization-wide grant admits.
    encrypt = policy.cloudtrail_may_encrypt(document, key.arn, trail.arn, source_org_id=settings.org_id)
    if not encrypt.allowed:
        return _encrypt_gap(trail, encrypt, settings)
    describe = policy.cloudtrail_may_describe(document, key.arn, trail.arn, source_org_id=settings.org_id)
    if not describe.allowed:
        if describe.statements:
            reason = describe.reason.rstrip(".")
            return f"the central key policy denies CloudTrail kms:DescribeKey ({reason}); {_narrow(describe)}"
        return (
            f"the central key policy does not let cloudtrail.amazonaws.com DescribeKey "
            f"({describe.reason.rstrip('.')}); add a "
            f"statement allowing it kms:DescribeKey on the key (key.cloudtrail-describe)."
        )
    return None


def _encrypt_gap(trail: Trail, verdict: policy.Verdict, settings: Settings) -> str:
    key, owner = settings.central_key, trail.account
    if verdict.statements:
        return (
            f"the central key policy denies cloudtrail.amazonaws.com GenerateDataKey for {trail.arn} "
            f"({verdict.reason.rstrip('.')}); {_narrow(verdict)}"
        )
    who = f"the management account {owner} (organization trail)" if trail.organization_trail else f"account {owner}"
    unknown = (
        f" Conditions not understood: {', '.join(verdict.unknown_conditions)}." if verdict.unknown_conditions else ""
    )
    return (
        f"the central key policy does not let cloudtrail.amazonaws.com GenerateDataKey for {trail.arn} "
        f"({verdict.reason.rstrip('.')}); add arn:{key.partition}:cloudtrail:*:{owner}:trail/* for {who} to the "
        f"kms:EncryptionContext:aws:cloudtrail:arn condition of the CloudTrail encrypt statement "
        f"(`python -m trailguard policy key --trail-account {owner} ...` prints the policy), or set "
        f"TRAILGUARD_REPAIR_POLICIES=true: the key guard then admits every account of the organization.{unknown}"
    )


def _narrow(verdict: policy.Verdict) -> str:
    names = ", ".join(f'"{name}"' for name in verdict.statements)
    return f"narrow the Deny statement(s) {names} so that they no longer match CloudTrail's requests for this trail."


def _read_key_gap(trail: Trail, deps: Deps) -> str | None:
    """The central key's facts, read now (never the warm ones: AWS just judged the key as it is)."""
    return key_gap(trail, read_central_key(deps.sessions, deps.settings), deps.settings)


def _read_bucket_gap(trail: Trail, deps: Deps) -> str | None:
    """The bucket policy is read only when the trail delivers to the central bucket (another is not TrailGuard's)."""
    settings = deps.settings
    if trail.s3_bucket != settings.log_bucket:
        return bucket_gap(trail, None, (), settings)
    recorder = Recorder()
    text = read_bucket_policy(deps.sessions, settings, recorder)
    return bucket_gap(trail, text, tuple(recorder.problems), settings)


def bucket_gap(trail: Trail, bucket_policy: str | None, problems: tuple[str, ...], settings: Settings) -> str | None:
    """Why CloudTrail cannot deliver this trail's logs to the central bucket, with the fix; None when the policy
    shows nothing. `bucket_policy`: the policy JSON (None: unreadable, `problems` say why)."""
    bucket, owner = settings.log_bucket, trail.account
    if trail.s3_bucket != bucket:
        return (
            f"the trail delivers to {trail.s3_bucket}, not to the central bucket {bucket}, and TrailGuard does not "
            f"read that bucket; point the trail at {bucket} (trail.destination), or give {trail.s3_bucket} "
            f"CloudTrail's s3:GetBucketAcl and s3:PutObject statements."
        )
    if bucket_policy is None:
        return f"the central bucket {bucket} could not be read ({'; '.join(problems)})."
    try:
        document = policy.parse_policy(bucket_policy)
    except policy.PolicyParseError as error:
        return f"the central bucket policy cannot be parsed ({error})."
    admission = _bucket_admission(document, trail, settings)
    if admission.admitted:
        return None
    partition = trail.ref.partition
    fixes = "; ".join(dict.fromkeys(_bucket_fix(refusal, bucket, partition) for refusal in admission.refusals))
    lead = (
        f"the central bucket has no policy, so CloudTrail may not deliver for {trail.arn}"
        if not document.statements
        else f"the central bucket policy does not let CloudTrail deliver for {trail.arn} "
        f"({admission.refusals[0].reason.rstrip('.')})"
    )
    return (
        f"{lead}; {fixes} (`python -m trailguard policy bucket --bucket {bucket} --trail-account {owner} "
        f"--merge <the current policy>` prints the policy repaired)."
    )


def _bucket_admission(document: policy.PolicyDocument, trail: Trail, settings: Settings) -> policy.Admission:
    """The analyzer's answer for this one trail; an organization trail with its organization's folders when the
    organization id is known."""
    known = policy.KnownTrail(trail.arn, trail.s3_prefix)
    common = {"kms_key_arn": settings.central_key_arn, "partition": trail.ref.partition}
    if trail.organization_trail and settings.org_id is not None:
        return policy.bucket_admission(
            document, settings.log_bucket, [], organization_trail=known, org_id=settings.org_id, **common
        )
    return policy.bucket_admission(document, settings.log_bucket, [], trails=[known], **common)


def _bucket_fix(refusal: policy.Refusal, bucket: str, partition: str) -> str:
    if refusal.verdict.statements:
        return _narrow(refusal.verdict).rstrip(".")
    if refusal.action == "s3:GetBucketAcl":
        return f"allow cloudtrail.amazonaws.com s3:GetBucketAcl on arn:{partition}:s3:::{bucket}"
    return (
        f"allow cloudtrail.amazonaws.com s3:PutObject on arn:{partition}:s3:::{bucket}/{refusal.target}/* "
        f"with s3:x-amz-acl bucket-owner-full-control"
    )
