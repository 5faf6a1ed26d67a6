"""The account's guard: DeleteTrail and StopLogging put the account's coverage in doubt; the sweep evaluates
every account of the organization."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from trailguard.account import repairs
from trailguard.account.facts import Coverage, account_resource, read_coverage
from trailguard.context import Context
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource, Violation
from trailguard.resource import Attempts, Deps, Phase
from trailguard.trail.facts import Trail
from trailguard.trail.guard import followed_trail
from trailguard.vocabulary import ResourceType

if TYPE_CHECKING:
    from trailguard.organization import Scope


@dataclass(frozen=True, slots=True)
class AccountTarget:
    account: str
    own: tuple[Trail, ...] | None = None  # the account's trails, already read (the sweep's inventory)
    organization: tuple[Trail, ...] | None = None  # the organization trails with their status, already read
    forwarding: bool = False  # also verify the account's forwarding rules (the sweep)


class AccountGuard:
    type: ClassVar[ResourceType] = ResourceType.ACCOUNT
    events: ClassVar[Mapping[str, tuple[str, ...]]] = dict.fromkeys(
        ("DeleteTrail", "StopLogging"), ("account.coverage",)
    )
    phases: ClassVar[tuple[Phase, ...]] = (Phase(),)

    def target(self, event: ApiCallEvent, deps: Deps) -> AccountTarget:
        return AccountTarget(followed_trail(event, deps).account)

    def read(self, target: AccountTarget, deps: Deps) -> Coverage:
        return read_coverage(deps, target.account, target.own, target.organization, forwarding=target.forwarding)

    def resource(self, coverage: Coverage, deps: Deps) -> Resource:
        return account_resource(deps, coverage.account)

    def ready(self, phase: Phase, coverage: Coverage) -> bool:
        return True

    def context(self, coverage: Coverage, deps: Deps, scope: Scope | None) -> Context:
        return Context(deps.settings, scope)

    def requests(self, coverage: Coverage, violations: list[Violation], deps: Deps) -> tuple[list[Violation], set[str]]:
        return [], set()

    def repair(self, coverage: Coverage, checks: set[str], context: Context, deps: Deps, attempts: Attempts) -> None:
        repairs.repair(coverage, checks, attempts)

    def confirm(self, coverage: Coverage, attempts: Attempts, deps: Deps) -> Coverage:
        return coverage


GUARD = AccountGuard()
