"""The central key's checks: pure functions of the key's facts (and, for the policy, the organization's trails),
each registered with its catalogue row. The state checks form a phase of their own: they are repaired before
the organization is scanned for the policy checks."""

from __future__ import annotations

from trailguard import policy
from trailguard.arns import probe_trail_arn
from trailguard.catalogue import (
    CIS,
    CIS_PREVIOUS,
    KEY_READS,
    ORGANIZATION_READS,
    SECURITY_HUB,
    UNDECIDED,
    Undecided,
    register,
)
from trailguard.context import Context, grants_violation, parsed_policy
from trailguard.findings import Violation
from trailguard.key.facts import CentralKey
from trailguard.vocabulary import Repair, ResourceType, Severity

KEY = ResourceType.KEY
STATE = "state"
POLICY = "policy"
POLICY_READS = (*KEY_READS, *ORGANIZATION_READS)


def key_policy(central: CentralKey) -> policy.PolicyDocument | None:
    """The key policy, parsed; None when it cannot be read or parsed (key.cloudtrail-encrypt says why)."""
    if central.facts.policy is None:
        return None
    parsed = parsed_policy(central.facts.policy)
    return None if isinstance(parsed, policy.PolicyParseError) else parsed


def probe_trails(context: Context) -> list[str]:
    """The trail ARNs the key must admit: every trail in scope, or a probe for the management account's
    organization trail (else the central account) when no trail uses the key yet."""
    scope, settings = context.scope, context.settings
    if scope is not None and scope.trails:
        return [trail.arn for trail in scope.trails]
    return [probe_trail_arn(settings.central_key, settings.management_account_id or settings.central_key.account)]


@register(
    "key.state",
    KEY,
    Severity.CRITICAL,
    title="Central key is Enabled",
    repair=Repair.REMEDIATE,
    action="kms:CancelKeyDeletion+kms:EnableKey",
    fix="CancelKeyDeletion (if pending deletion) then EnableKey",
    compliance=(f"{SECURITY_HUB} KMS.3",),
    reads=KEY_READS,
    phase=STATE,
)
def state(central: CentralKey, context: Context) -> Violation | None:
    facts = central.facts
    if facts.state is None:
        return Violation(
            "key.state",
            "TrailGuard cannot read the central key: " + "; ".join(facts.problems) + ".",
            {"readable": False},
            {"readable": True, "KeyState": "Enabled"},
        )
    if facts.state == "Enabled":
        return None
    return Violation(
        "key.state",
        f"The central key is {facts.state}; CloudTrail stops delivering logs encrypted with a key that is not Enabled.",
        {"KeyState": facts.state},
        {"KeyState": "Enabled"},
    )


@register(
    "key.rotation",
    KEY,
    Severity.MEDIUM,
    title="Central key rotates automatically",
    repair=Repair.REMEDIATE,
    action="kms:EnableKeyRotation",
    fix="EnableKeyRotation",
    compliance=(f"{CIS} 3.6", f"{CIS_PREVIOUS} 3.8", f"{SECURITY_HUB} KMS.4"),
    reads=KEY_READS,
    phase=STATE,
)
def rotation(central: CentralKey, context: Context) -> Violation | Undecided | None:
    if central.facts.rotation is None:
        return UNDECIDED  # unknown: a key that is not Enabled cannot say
    if central.facts.rotation:
        return None
    return Violation(
        "key.rotation",
        "Automatic rotation of the central key is off.",
        {"KeyRotationEnabled": False},
        {"KeyRotationEnabled": True},
    )


@register(
    "key.region",
    KEY,
    Severity.HIGH,
    title="Central key is in the central bucket's region",
    repair=Repair.NEVER,
    action=None,
    fix="Create the key (or a multi-Region replica) in the bucket's region and point TRAILGUARD_CENTRAL_KEY_ARN at it",
    reads=(*KEY_READS, "s3:GetBucketLocation"),
    phase=STATE,
)
def region(central: CentralKey, context: Context) -> Violation | None:
    key = context.settings.central_key
    if central.bucket_region is None or central.bucket_region == key.region:
        return None
    return Violation(
        "key.region",
        f"The central key is in {key.region} but the log bucket is in {central.bucket_region}.",
        {"KeyRegion": key.region},
        {"KeyRegion": central.bucket_region},
    )


@register(
    "key.cloudtrail-encrypt",
    KEY,
    Severity.CRITICAL,
    title="Key policy lets CloudTrail GenerateDataKey for every trail in scope",
    repair=Repair.POLICIES,
    action="kms:PutKeyPolicy",
    fix="Add the cloudtrail.amazonaws.com kms:GenerateDataKey* grant with the encryption-context pattern "
    "arn:aws:cloudtrail:*:<account>:trail/* for each account (the management account for organization trails)",
    compliance=(f"{CIS} 3.5", f"{SECURITY_HUB} CloudTrail.2"),
    reads=POLICY_READS,
    phase=POLICY,
)
def cloudtrail_encrypt(central: CentralKey, context: Context) -> Violation | Undecided | None:
    facts, key = central.facts, context.settings.central_key
    if facts.state is None:
        return UNDECIDED  # nothing is readable: key.state says so
    if facts.policy is None:
        return Violation(
            "key.cloudtrail-encrypt",
            "TrailGuard cannot read the central key policy: " + "; ".join(facts.problems) + ".",
            {"readable": False},
            {"readable": True},
        )
    parsed = parsed_policy(facts.policy)
    if isinstance(parsed, policy.PolicyParseError):
        return Violation(
            "key.cloudtrail-encrypt",
            f"The central key policy cannot be parsed: {parsed}.",
            {"policy": "unparseable"},
            {"policy": "valid JSON key policy"},
        )
    refused = {
        arn: verdict
        for arn in probe_trails(context)
        if not (verdict := policy.cloudtrail_may_encrypt(parsed, key.arn, arn)).allowed
    }
    if not refused:
        return None
    scope = context.scope
    accounts = sorted({arn.split(":")[4] for arn in refused})
    first = next(iter(refused.values()))
    return Violation(
        "key.cloudtrail-encrypt",
        f"The central key policy does not let CloudTrail encrypt logs for account(s) {', '.join(accounts)}: "
        f"{first.reason}",
        {
            "refused_trails": sorted(refused),
            "unknown_conditions": sorted({c for v in refused.values() for c in v.unknown_conditions}),
            "scope_problems": list(scope.problems) if scope else [],
        },
        {"admitted_accounts": list(scope.trail_accounts if scope else ()) or accounts},
    )


@register(
    "key.cloudtrail-describe",
    KEY,
    Severity.HIGH,
    title="Key policy lets CloudTrail DescribeKey",
    repair=Repair.POLICIES,
    action="kms:PutKeyPolicy",
    fix="Add the cloudtrail.amazonaws.com kms:DescribeKey grant",
    compliance=(f"{CIS} 3.5",),
    reads=POLICY_READS,
    phase=POLICY,
)
def cloudtrail_describe(central: CentralKey, context: Context) -> Violation | Undecided | None:
    document, key = key_policy(central), context.settings.central_key
    if document is None or central.facts.state is None:
        return UNDECIDED
    refused = [
        arn for arn in probe_trails(context) if not policy.cloudtrail_may_describe(document, key.arn, arn).allowed
    ]
    if not refused:
        return None
    return Violation(
        "key.cloudtrail-describe",
        "The central key policy does not let CloudTrail DescribeKey.",
        {"refused_trails": sorted(refused)},
        {"cloudtrail_may_describe": True},
    )


@register(
    "key.public",
    KEY,
    Severity.CRITICAL,
    title="Key policy grants nothing to an unpinned principal",
    repair=Repair.POLICIES,
    action="kms:PutKeyPolicy",
    fix="Remove the grant, or pin it with aws:PrincipalOrgID, kms:CallerAccount or aws:SourceArn",
    compliance=(f"{SECURITY_HUB} KMS.5",),
    reads=KEY_READS,
    phase=POLICY,
)
def public(central: CentralKey, context: Context) -> Violation | Undecided | None:
    document = key_policy(central)
    if document is None or central.facts.state is None:
        return UNDECIDED
    grants = policy.public_grants(document, context.settings.central_key.arn)
    return grants_violation("key.public", "The central key policy grants ", grants)


@register(
    "key.external-access",
    KEY,
    Severity.HIGH,
    title="Key policy grants nothing to accounts outside the organization",
    repair=Repair.NEVER,
    action=None,
    fix="Remove the grant unless the outside account is a known log reader",
    compliance=(f"{SECURITY_HUB} KMS.5",),
    reads=POLICY_READS,
    phase=POLICY,
)
def external_access(central: CentralKey, context: Context) -> Violation | Undecided | None:
    document, scope = key_policy(central), context.scope
    # Without the organization's account list, every legitimate grant would look external.
    if document is None or central.facts.state is None or scope is None or not scope.organization_known:
        return UNDECIDED
    grants = policy.external_grants(document, scope.accounts, context.settings.org_id)
    return grants_violation(
        "key.external-access", "The central key policy grants accounts outside the organization: ", grants
    )
