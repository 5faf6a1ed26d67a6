"""The central key's checks: pure functions of the key's facts (and, for the policy, the organization's accounts
and trails), each registered with its catalogue row. The state checks form a phase of their own: they are
repaired before the organization is scanned for the policy checks.

The key must let CloudTrail encrypt for every active account of the organization, not only for the accounts
whose trails already use it: the trail guard moves any trail of any account onto the key, and AWS refuses
that move when the key policy does not admit the trail. Known trails are asked about by their ARN (a grant
pinned to trails by ``aws:SourceArn`` is checked trail by trail), the other accounts by a probe trail, and
the organization trail besides."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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
from trailguard.key.facts import CentralKey
from trailguard.vocabulary import Repair, ResourceType, Severity

# Every key event is judged by the policy analyzer: it is loaded with these checks (at a cold start's init),
# not at the first event.
policy.load()

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


@dataclass(frozen=True, slots=True)
class KeyQuestion:
    """What the key policy is asked (the key check and the key repair ask exactly this): CloudTrail's
    requests for every admitted account, by the ARN of each known trail, and for the organization trail."""

    key_arn: str
    admitted: Admitted
    trails: tuple[str, ...]  # the trails in scope, asked about by ARN
    organization_trail: str | None  # the management account's organization trail (known, or a probe)
    org_id: str | None  # the organization CloudTrail's requests name (aws:SourceOrgID)


def key_question(context: Context) -> KeyQuestion:
    settings, scope = context.settings, context.scope
    key, management = settings.central_key, settings.management_account_id
    trails = scope.trails if scope is not None else ()
    organization_trail = next((t.arn for t in trails if t.organization_trail and t.account == management), None)
    if organization_trail is None and management:
        organization_trail = probe_trail_arn(key, management)
    return KeyQuestion(
        key.arn,
        admitted_accounts(context, (trail.account for trail in trails)),
        tuple(dict.fromkeys(trail.arn for trail in trails)),
        organization_trail,
        settings.org_id,
    )


@lru_cache(maxsize=8)
def key_answer(text: str, question: KeyQuestion) -> policy.Admission | None:
    """The key policy's answer for the question (None when it cannot be parsed), computed once for the
    checks that read it."""
    parsed = parsed_policy(text)
    if isinstance(parsed, policy.PolicyParseError):
        return None
    return policy.key_admission(
        parsed,
        question.key_arn,
        question.admitted.accounts,
        trails=question.trails,
        organization_trail=question.organization_trail,
        org_id=question.org_id,
    )


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
    title="Key policy lets CloudTrail GenerateDataKey for every active account of the organization "
    "and the organization trail",
    repair=Repair.POLICIES,
    action="kms:PutKeyPolicy",
    fix="Add the cloudtrail.amazonaws.com kms:GenerateDataKey* grant with the encryption-context pattern "
    "arn:aws:cloudtrail:*:<account>:trail/* for each account (the management account for organization trails), "
    "or, where that list would not fit the key policy, one grant pinned by aws:SourceOrgID to the organization",
    compliance=(f"{CIS} 3.5", f"{SECURITY_HUB} CloudTrail.2"),
    reads=POLICY_READS,
    phase=POLICY,
)
def cloudtrail_encrypt(central: CentralKey, context: Context) -> Violation | Undecided | None:
    facts = central.facts
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
    question = key_question(context)
    answer = key_answer(facts.policy, question)
    refused = answer.refused("kms:GenerateDataKey") if answer is not None else ()
    if not refused:
        return None
    scope = context.scope
    return Violation(
        "key.cloudtrail-encrypt",
        f"The central key policy does not let CloudTrail encrypt logs for {refused_phrase(refused)}: "
        f"{refused[0].reason}",
        {
            **refused_details(refused, question.admitted),
            "unknown_conditions": sorted({c for r in refused for c in r.verdict.unknown_conditions}),
            "scope_problems": list(scope.problems) if scope else [],
        },
        {"refused_accounts": []},
    )


@register(
    "key.cloudtrail-describe",
    KEY,
    Severity.HIGH,
    title="Key policy lets CloudTrail DescribeKey for every active account of the organization",
    repair=Repair.POLICIES,
    action="kms:PutKeyPolicy",
    fix="Add the cloudtrail.amazonaws.com kms:DescribeKey grant",
    compliance=(f"{CIS} 3.5",),
    reads=POLICY_READS,
    phase=POLICY,
)
def cloudtrail_describe(central: CentralKey, context: Context) -> Violation | Undecided | None:
    if central.facts.policy is None or central.facts.state is None:
        return UNDECIDED
    question = key_question(context)
    answer = key_answer(central.facts.policy, question)
    if answer is None:
        return UNDECIDED  # key.cloudtrail-encrypt says the policy cannot be parsed
    refused = answer.refused("kms:DescribeKey")
    if not refused:
        return None
    return Violation(
        "key.cloudtrail-describe",
        f"The central key policy does not let CloudTrail DescribeKey for {refused_phrase(refused)}.",
        refused_details(refused, question.admitted),
        {"refused_accounts": []},
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
