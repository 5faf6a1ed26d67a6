"""The account check: every region of the scope is recorded by a logging multi-region trail."""

from __future__ import annotations

from trailguard.account.facts import Coverage
from trailguard.catalogue import CIS, CIS_PREVIOUS, SECURITY_HUB, UNDECIDED, Undecided, register
from trailguard.context import Context
from trailguard.findings import Violation
from trailguard.vocabulary import Repair, ResourceType, Severity


@register(
    "account.coverage",
    ResourceType.ACCOUNT,
    Severity.HIGH,
    title="Every region of the account is recorded by a logging multi-region trail (its own or the "
    "organization trail); CRITICAL when the organization trail is missing or stopped",
    repair=Repair.NEVER,
    action=None,
    fix="Create (or start) a multi-region trail for the account, or the organization trail in the management "
    "account; not automatic because creating a trail chooses where logs go and what they cost",
    compliance=(f"{CIS} 3.1", f"{CIS_PREVIOUS} 3.1", f"{SECURITY_HUB} CloudTrail.1"),
    # The trails come from DescribeTrails after an event, from the sweep's inventory otherwise.
    reads=("cloudtrail:GetTrailStatus",),
)
def coverage(facts: Coverage, context: Context) -> Violation | Undecided | None:
    if facts.problems:
        return UNDECIDED  # unreadable: the sweep names it among the accounts it could not read
    if facts.recorded_by():
        return None
    stopped = [trail.arn for trail in facts.organization if not (trail.status and trail.status.is_logging)]
    organization_broken = facts.management or bool(stopped)
    if stopped:
        why = f"the organization trail {', '.join(stopped)} is not logging"
    elif facts.management:
        why = "there is no organization trail, and the management account has no logging multi-region trail"
    else:
        why = "it has no logging multi-region trail and no organization trail records it"
    return Violation(
        "account.coverage",
        f"Account {facts.account} is not recorded by CloudTrail in {len(facts.regions)} region(s) "
        f"({', '.join(facts.regions)}): {why}.",
        {
            "uncovered_regions": list(facts.regions),
            "own_multi_region_trails": [trail.arn for trail in facts.own],
            "organization_trails": [trail.arn for trail in facts.organization],
        },
        {"recorded_by": "a logging multi-region trail in every region"},
        Severity.CRITICAL if organization_broken else None,
    )


@register(
    "account.forwarding",
    ResourceType.ACCOUNT,
    Severity.HIGH,
    title="The account's events reach TrailGuard: in every region its forwarding rule exists, is enabled and "
    "targets the central bus",
    repair=Repair.NEVER,
    action=None,
    fix="Redeploy the member stack (templates/member.yaml) in the account and regions named, or re-enable its "
    "forwarding rule; until then only the sweep sees that account's changes",
    reads=("events:DescribeRule", "events:ListTargetsByRule"),
)
def forwarding(facts: Coverage, context: Context) -> Violation | Undecided | None:
    if facts.forwarding is None:
        return UNDECIDED  # not verified (outside the sweep)
    if not facts.forwarding:
        return None
    regions = sorted(facts.forwarding)
    return Violation(
        "account.forwarding",
        f"Events of account {facts.account} do not reach TrailGuard from {len(regions)} region(s): "
        + "; ".join(f"{region}: {facts.forwarding[region]}" for region in regions)
        + ".",
        {"regions": dict(sorted(facts.forwarding.items()))},
        {"regions": {}},
    )
