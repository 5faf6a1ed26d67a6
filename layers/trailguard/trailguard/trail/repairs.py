"""The trail repairs: UpdateTrail (the central key, log file validation) and StartLogging, in the trail's home
region with its owner's credentials; and the check made before UpdateTrail sets the central key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailguard.key.facts import CentralKey, central_key
from trailguard.policy import PolicyParseError, cloudtrail_may_encrypt, parse_policy
from trailguard.settings import Settings
from trailguard.trail.facts import Trail, TrailAdapter
from trailguard.warm import CENTRAL_KEY

if TYPE_CHECKING:
    from trailguard.resource import Attempts, Deps

# The UpdateTrail parameter that repairs each check.
UPDATE_FIELDS = {"trail.encryption": "KmsKeyId", "trail.log-file-validation": "EnableLogFileValidation"}


def repair(trail: Trail, checks: set[str], deps: Deps, attempts: Attempts) -> None:
    settings = deps.settings
    adapter = TrailAdapter(deps.sessions)
    changes: dict[str, Any] = {}
    if "trail.encryption" in checks:
        facts, cached = central_key(deps)
        gap = key_gap(trail, facts, settings)
        if gap is not None and cached:  # the key may have been fixed since: look again before refusing
            facts, _ = central_key(deps, fresh=True)
            gap = key_gap(trail, facts, settings)
        if gap is None:
            changes["KmsKeyId"] = settings.central_key_arn
        else:
            attempts.refuse(["trail.encryption"], f"UpdateTrail was not called: {gap}")
    if "trail.log-file-validation" in checks:
        changes["EnableLogFileValidation"] = True
    updating = [name for name, key in UPDATE_FIELDS.items() if key in changes]
    updated = bool(changes) and attempts.attempt(
        updating, "cloudtrail:UpdateTrail", lambda: adapter.update(trail.ref, **changes)
    )
    if changes and not updated and "KmsKeyId" in changes:
        deps.warm.drop(CENTRAL_KEY)  # the reused facts said yes and AWS said no: read them again next time
    if "trail.logging" in checks:
        attempts.attempt(["trail.logging"], "cloudtrail:StartLogging", lambda: adapter.start_logging(trail.ref))


def confirm(trail: Trail, attempts: Attempts, deps: Deps) -> Trail:
    """Read again what the repairs changed: the configuration after UpdateTrail, the status after StartLogging."""
    adapter = TrailAdapter(deps.sessions)
    actions = set(attempts.attempted.values())
    fresh = adapter.read_config(trail) if "cloudtrail:UpdateTrail" in actions else trail
    return adapter.read_status(fresh) if "cloudtrail:StartLogging" in actions else fresh


def key_gap(trail: Trail, central: CentralKey, settings: Settings) -> str | None:
    """Why setting the central key on this trail would fail or stop delivery, with the fix; None when it is safe.

    Real AWS rejects UpdateTrail with a disabled key, a key in another region than the bucket
    (KmsKeyNotFoundException) or a key policy without the CloudTrail grant
    (InsufficientEncryptionPolicyException); moto accepts all three, so the check is made here first.
    """
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
        # The trail belongs to an account of the organization: CloudTrail's request names it (aws:SourceOrgID),
        # which is what an organization-wide grant admits.
        verdict = cloudtrail_may_encrypt(parse_policy(facts.policy), key.arn, trail.arn, source_org_id=settings.org_id)
    except PolicyParseError as error:
        return f"the central key policy cannot be parsed ({error})."
    if verdict.allowed:
        return None
    owner = trail.account
    who = f"the management account {owner} (organization trail)" if trail.organization_trail else f"account {owner}"
    unknown = (
        f" Conditions not understood: {', '.join(verdict.unknown_conditions)}." if verdict.unknown_conditions else ""
    )
    return (
        f"the central key policy does not let cloudtrail.amazonaws.com GenerateDataKey for {trail.arn} "
        f"({verdict.reason}); add arn:{key.partition}:cloudtrail:*:{owner}:trail/* for {who} to the "
        f"kms:EncryptionContext:aws:cloudtrail:arn condition of the CloudTrail encrypt statement "
        f"(`python -m trailguard policy key --trail-account {owner} ...` prints the policy), or set "
        f"TRAILGUARD_REPAIR_POLICIES=true: the key guard then admits every account of the organization.{unknown}"
    )
