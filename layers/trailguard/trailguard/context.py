"""What a check may know besides the resource it looks at, and what the checks of several rooms share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from trailguard import policy
from trailguard.findings import Violation
from trailguard.settings import Settings

if TYPE_CHECKING:
    from trailguard.organization import Scope


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    scope: Scope | None = None  # the organization and the trails using the key or bucket (key and bucket checks)
    bucket_region: str | None = None  # the central bucket's region, when known (key.region)


@lru_cache(maxsize=16)
def parsed_policy(text: str) -> policy.PolicyDocument | policy.PolicyParseError:
    """A policy document parsed once for all the checks that read it (or why it cannot be parsed)."""
    try:
        return policy.parse_policy(text)
    except policy.PolicyParseError as error:
        return error


def grants_violation(check: str, lead: str, grants: list[policy.Grant]) -> Violation | None:
    """A policy check that finds grants it does not accept (public, external): they are named, and expected gone."""
    if not grants:
        return None
    return Violation(
        check, lead + policy.describe_grants(grants) + ".", {"grants": [g.to_dict() for g in grants]}, {"grants": []}
    )


LISTED_ACCOUNTS = 10  # accounts named in a finding's sentence; the details list them all


@dataclass(frozen=True, slots=True)
class Admitted:
    """The accounts whose trails the central key and bucket must admit, and on what basis."""

    accounts: tuple[str, ...]
    organization_known: bool  # False: only the accounts with trails in scope (the organization is not known)

    @property
    def basis(self) -> str:
        if self.organization_known:
            return f"every active account of the organization ({len(self.accounts)})"
        return (
            "only the accounts with trails in scope: the organization's accounts could not be listed "
            "(set TRAILGUARD_ACCOUNTS, or let TrailGuard list the organization)"
        )


def admitted_accounts(context: Context, trail_owners: Iterable[str]) -> Admitted:
    """Every active account of the organization (the central and management accounts always among them), so
    that any trail of any account can be moved onto the central key and bucket. When the organization is not
    known: the owners of the trails in scope, else the management account (for its organization trail) or
    the central account."""
    scope, settings = context.scope, context.settings
    if scope is not None and scope.organization_known:
        return Admitted(tuple(sorted(scope.accounts)), True)
    owners = tuple(sorted(set(trail_owners)))
    return Admitted(owners or (settings.management_account_id or settings.central_key.account,), False)


def accounts_phrase(accounts: Sequence[str], limit: int = LISTED_ACCOUNTS) -> str:
    """The first accounts and how many more, for a sentence that stays readable with a thousand of them."""
    shown = ", ".join(accounts[:limit])
    more = len(accounts) - limit
    return shown + (f" and {more:,} more" if more > 0 else "")


def refused_details(refusals: tuple[policy.Refusal, ...], admitted: Admitted) -> dict[str, object]:
    """What a finding lists in full: the refused accounts, the known trails refused (an account without a
    known trail is asked about through a probe trail, which is not listed), and which accounts must be
    admitted."""
    probe = f":trail/{policy.PROBE_TRAIL_NAME}"
    return {
        "refused_accounts": sorted({refusal.account for refusal in refusals}),
        "refused_trails": sorted({r.trail for r in refusals if not r.trail.endswith(probe)}),
        "organization_trail_refused": any(refusal.organization_trail for refusal in refusals),
        "required_accounts": admitted.basis,
    }


def refused_phrase(refusals: tuple[policy.Refusal, ...]) -> str:
    """``account A``, ``1,000 accounts (A, B, ... and 990 more)``, with ``and the organization trail`` when it
    is refused: a sentence that stays readable whatever the size of the organization."""
    accounts = sorted({refusal.account for refusal in refusals if not refusal.organization_trail})
    organization = " and the organization trail" if any(r.organization_trail for r in refusals) else ""
    if not accounts:
        return "the organization trail"
    if len(accounts) == 1:
        return f"account {accounts[0]}{organization}"
    return f"{len(accounts):,} accounts ({accounts_phrase(accounts)}){organization}"
