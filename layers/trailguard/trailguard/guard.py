"""What every guard shares: its dependencies, its outcome, and how violations become reported findings."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from trailguard.advice import explain
from trailguard.catalogue import check
from trailguard.events import ApiCallEvent
from trailguard.findings import Finding, Report, Resource, Status, Trigger, Violation
from trailguard.publisher import Publisher
from trailguard.sessions import SessionFactory, is_transient
from trailguard.settings import Settings


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str  # compliant | remediated | open | remediation_failed | exempt | ignored | dropped
    resource: str | None = None
    reason: str | None = None
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(slots=True)
class Attempts:
    """The repairs of one evaluation: what ran, what failed and why, and a transient error to raise."""

    attempted: dict[str, str] = field(default_factory=dict)  # check -> the action that ran
    failed: dict[str, str] = field(default_factory=dict)  # check -> why it was not repaired
    retry: Exception | None = None  # a transient error: raised once the outcome is known

    def attempt(self, checks: Iterable[str], action: str, call: Callable[[], object]) -> bool:
        """Run one repair call for these checks; an AWS error becomes their failure (transient: also retried)."""
        names = list(checks)
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
class Deps:
    settings: Settings
    sessions: SessionFactory
    publisher: Publisher


def settle(
    violations: Iterable[Violation], attempted: Mapping[str, str], failed: Mapping[str, str], still: set[str]
) -> list[Finding]:
    """Each violation's final status: REMEDIATED only when the repair ran and a fresh read no longer shows it.

    attempted: check -> the action that ran; failed: check -> why the repair failed or was not tried;
    still: the checks a fresh read still finds violated.
    """
    findings: list[Finding] = []
    for violation in violations:
        name = violation.check
        if name in failed:
            findings.append(
                Finding.of(violation, Status.REMEDIATION_FAILED, action=check(name).action, error=failed[name])
            )
        elif name in attempted and name not in still:
            findings.append(Finding.of(violation, Status.REMEDIATED, action=attempted[name]))
        elif name in attempted:
            findings.append(
                Finding.of(
                    violation,
                    Status.REMEDIATION_FAILED,
                    action=attempted[name],
                    error=f"{attempted[name]} succeeded but a fresh read still shows the problem",
                )
            )
        else:
            findings.append(Finding.of(violation, Status.OPEN))
    return findings


def screen(event: ApiCallEvent, handled: Collection[str], kind: str) -> Outcome | None:
    """Why an event changes nothing and says nothing (not a call this guard handles, or a failed call); None
    when it is to be evaluated."""
    record = event.record
    if record.eventName not in handled:
        return Outcome("ignored", reason=f"{record.eventName} is not a {kind} event TrailGuard handles")
    if event.failed:
        return Outcome("ignored", reason=f"the call failed with {record.errorCode}")
    return None


def event_trigger(event: ApiCallEvent) -> Trigger:
    record = event.record
    return Trigger("event", record.eventID or event.id, record.eventName, record.userIdentity.actor)


def conclude(
    deps: Deps,
    resource: Resource,
    trigger: Trigger,
    violations: list[Violation],
    repair: Callable[[Attempts], Iterable[Violation]],
    *,
    attempts: Attempts | None = None,
) -> Outcome:
    """Report mode: publish the violations OPEN. Remediate mode: `repair` runs the repairs and returns what a
    fresh read of the resource still finds; each finding's status comes from that read. `attempts` holds
    repairs already made.

    A transient error is raised so that Lambda retries the event (then the dead-letter queue keeps it). If
    nothing was changed yet, nothing is published: the retry publishes the one message. If something was
    changed, the message is published first: a change TrailGuard made is never left unreported.
    """
    attempts = attempts or Attempts()
    if not deps.settings.remediate:
        return publish(deps, resource, trigger, settle(violations, {}, attempts.failed, set()))
    still = {violation.check for violation in repair(attempts)}
    if attempts.retry is not None and not attempts.attempted:
        raise attempts.retry
    outcome = publish(deps, resource, trigger, settle(violations, attempts.attempted, attempts.failed, still))
    if attempts.retry is not None:
        raise attempts.retry
    return outcome


def publish(deps: Deps, resource: Resource, trigger: Trigger, findings: list[Finding]) -> Outcome:
    report = Report(resource, tuple(findings), trigger, deps.settings.mode.value)
    message_id = deps.publisher.publish(report)
    return Outcome(report.status.value.lower(), resource.arn, message_id=message_id)
