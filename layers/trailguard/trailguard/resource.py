"""What a guarded resource supplies to the pipeline, and what the pipeline carries: the dependencies, the
outcome, the phases, the repairs' bookkeeping, and the exceptions that end an evaluation early."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from botocore.exceptions import ClientError

from trailguard import catalogue
from trailguard.advice import explain
from trailguard.context import Context
from trailguard.events import ApiCallEvent
from trailguard.findings import Finding, Resource, Status, Violation
from trailguard.inventory import Inventory, NoInventory
from trailguard.ledger import Ledger, NoLedger
from trailguard.publisher import Publisher
from trailguard.sessions import SessionFactory, is_transient
from trailguard.settings import Settings
from trailguard.vocabulary import ResourceType, Result
from trailguard.warm import Warm

if TYPE_CHECKING:
    from trailguard.organization import Scope


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    sessions: SessionFactory
    publisher: Publisher
    warm: Warm = field(default_factory=Warm)
    ledger: Ledger = field(default_factory=NoLedger)
    now: Callable[[], datetime] = _utc_now  # wall-clock time: the lifecycle, the write budget, exemption expiry
    inventory: Inventory = field(default_factory=NoInventory)  # the organization's trails between sweeps


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    resource: str | None = None
    reason: str | None = None
    message_id: str | None = None
    findings: Mapping[str, str] = field(default_factory=dict)  # check -> status, resolved ones included

    def to_dict(self) -> dict[str, Any]:
        return {
            key: (value.value if isinstance(value, Result) else value)
            for key, value in asdict(self).items()
            if value is not None and value != {}
        }


class Ignored(Exception):
    """The event or resource needs no evaluation; the reason is said in the outcome."""

    def __init__(self, reason: str, resource: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.resource = resource


class Unreadable(Exception):
    """The resource could not be read for a lasting reason: a real problem may hide behind it, so it is
    reported (REMEDIATION_FAILED with the reason), never dropped."""

    def __init__(self, resource: Resource, findings: list[Finding]) -> None:
        super().__init__(resource.arn)
        self.resource = resource
        self.findings = findings


# Before each write: why it must not happen (None: it may). The pipeline stores the report it will owe and
# spends the resource's write budget here.
WriteGate = Callable[[list[str], str], "str | None"]


@dataclass(slots=True)
class Attempts:
    """The repairs of one evaluation: what ran, what failed and why, and a transient error to raise."""

    attempted: dict[str, str] = field(default_factory=dict)  # check -> the action that ran
    failed: dict[str, str] = field(default_factory=dict)  # check -> why it was not repaired
    retry: Exception | None = None  # a transient error: raised once the outcome is known
    gate: WriteGate | None = None

    def attempt(self, checks: Iterable[str], action: str, call: Any) -> bool:
        """Run one repair call for these checks; an AWS error becomes their failure (transient: also retried)."""
        names = list(checks)
        refusal = self.gate(names, action) if self.gate is not None else None
        if refusal is not None:
            self.refuse(names, refusal)
            return False
        try:
            call()
        except ClientError as error:
            if is_transient(error):
                self.retry = error
            self.failed.update(dict.fromkeys(names, explain(action, error)))
            return False
        self.attempted.update(dict.fromkeys(names, action))
        return True

    def refuse(self, checks: Iterable[str], reason: str) -> None:
        self.failed.update(dict.fromkeys(checks, reason))


@dataclass(frozen=True, slots=True)
class Phase:
    """A group of checks evaluated together. `needs_scope`: its checks look at the organization's trails.
    `repair_first`: its repairs run before the next phase is evaluated (the key's state, before the
    organization scan that its policy checks need)."""

    name: str = "main"
    needs_scope: bool = False
    repair_first: bool = False


class Guard[T, S](Protocol):
    """What a resource supplies to the pipeline. T: what an event or the sweep names (the target to read);
    S: what reading it gives (the resource's facts, the subject of its checks)."""

    type: ClassVar[ResourceType]
    events: ClassVar[Mapping[str, tuple[str, ...]]]  # eventName -> the checks it puts in doubt
    phases: ClassVar[tuple[Phase, ...]]

    def target(self, event: ApiCallEvent, deps: Deps) -> T:
        """What the event names (raises Ignored when it is not TrailGuard's resource)."""
        ...

    def read(self, target: T, deps: Deps) -> S:
        """The resource's facts (raises Ignored, Unreadable; a transient AWS error propagates)."""
        ...

    def resource(self, subject: S, deps: Deps) -> Resource: ...

    def ready(self, phase: Phase, subject: S) -> bool:
        """Whether a phase can be evaluated on these facts (the key's policy, not when nothing is readable)."""
        ...

    def context(self, subject: S, deps: Deps, scope: Scope | None) -> Context: ...

    def requests(self, subject: S, violations: list[Violation], deps: Deps) -> tuple[list[Violation], set[str]]:
        """What the resource's owner asks of TrailGuard, reported (a member's exemption request); and the ids of
        the request checks that could decide."""
        ...

    def repair(self, subject: S, checks: set[str], context: Context, deps: Deps, attempts: Attempts) -> None:
        """Apply the repairs of `checks` through `attempts` (each write once, only when it changes something)."""
        ...

    def confirm(self, subject: S, attempts: Attempts, deps: Deps) -> S:
        """A fresh read of what the repairs changed."""
        ...


def unreadable_findings(
    checks: Iterable[str], summary: str, reason: str, observed: dict[str, Any] | None = None
) -> list[Finding]:
    """The findings of a resource TrailGuard could not read: each check in doubt, with why."""
    return [
        Finding(
            name,
            Status.REMEDIATION_FAILED,
            summary,
            observed or {"readable": False},
            {"readable": True},
            catalogue.check(name).action,
            reason,
        )
        for name in checks
    ]
