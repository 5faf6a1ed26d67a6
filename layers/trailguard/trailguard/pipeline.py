"""The one pipeline every guarded resource goes through, calling only downward:

    read -> evaluate (per phase) -> exemption -> repair -> confirming read -> settle -> publish

A resource (trail, key, bucket) supplies a `Guard`: which events it handles and what resource each names, how
its facts are read, its phases, and how its violations are repaired and confirmed. The checks come from the
registry (`trailguard.catalogue`). The pipeline owns the order, the report mode, transient errors and the
one message per evaluated resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trailguard import catalogue
from trailguard.context import Context
from trailguard.events import ApiCallEvent
from trailguard.findings import Finding, Report, Resource, Status, Trigger, Violation
from trailguard.ledger import Pending, Record, lifecycle, stamp
from trailguard.observability import count, logger
from trailguard.organization import Scope, discover
from trailguard.resource import Attempts, Deps, Guard, Ignored, Outcome, Phase, Unreadable
from trailguard.sessions import is_transient
from trailguard.vocabulary import Result, TriggerType

SWEEP = Trigger(TriggerType.SWEEP)


def screen(event: ApiCallEvent, guard: Guard[Any, Any]) -> Outcome | None:
    """Why an event changes nothing and says nothing (not a call this guard handles, or a failed call); None
    when it is to be evaluated."""
    record = event.record
    if record.eventName not in guard.events:
        return Outcome(Result.IGNORED, reason=f"{record.eventName} is not a {guard.type} event TrailGuard handles")
    if event.failed:
        return Outcome(Result.IGNORED, reason=f"the call failed with {record.errorCode}")
    return None


def own_change(event: ApiCallEvent, deps: Deps) -> Outcome | None:
    """An event TrailGuard's own repair produced (its remediation role, or a function's role): nothing to do and
    nothing more to say, since the repair was reported by the evaluation that made it."""
    identity = event.record.userIdentity
    if deps.settings.is_own_role(identity.role_arn, identity.role_name, event.account_id):
        role = identity.role_arn or identity.role_name
        return Outcome(Result.IGNORED, reason=f"the change was TrailGuard's own ({role})")
    return None


def event_trigger(event: ApiCallEvent) -> Trigger:
    record = event.record
    return Trigger(TriggerType.EVENT, event.event_key, record.eventName, record.userIdentity.actor)


def handle_event(event: ApiCallEvent, deps: Deps, guard: Guard[Any, Any]) -> Outcome:
    """An event: screen it, find what it names, and evaluate that."""
    skipped = screen(event, guard) or own_change(event, deps)
    if skipped is not None:
        return skipped
    try:
        target = guard.target(event, deps)
    except Ignored as ignored:
        return Outcome(Result.IGNORED, ignored.resource, ignored.reason)
    return evaluate(guard, target, event_trigger(event), deps)


def evaluate[T, S](
    guard: Guard[T, S], target: T, trigger: Trigger, deps: Deps, *, scope: Scope | None = None
) -> Outcome:
    """Read, evaluate, repair, confirm, settle and publish one resource."""
    settings = deps.settings
    try:
        subject = guard.read(target, deps)
    except Ignored as ignored:
        return Outcome(Result.IGNORED, ignored.resource, ignored.reason)
    except Unreadable as unreadable:
        exempt = _exempt(deps, unreadable.resource)
        if exempt is not None:
            return exempt
        record = deps.ledger.load(unreadable.resource.arn)
        doubted = {finding.check for finding in unreadable.findings}
        # A report owed for an earlier write stays owed: the next read that succeeds confirms and reports it.
        return conclude(deps, unreadable.resource, trigger, unreadable.findings, record, doubted, owed=True)
    resource = guard.resource(subject, deps)
    exempt = _exempt(deps, resource)
    if exempt is not None:
        return exempt
    record = deps.ledger.load(resource.arn)
    attempts = Attempts()
    violations: list[Violation] = []
    evaluated: set[str] = set()
    attempts.gate = _WriteGate(deps, resource, trigger, violations)
    contexts: list[tuple[Phase, Context]] = []
    for phase in guard.phases:
        if not guard.ready(phase, subject):
            continue
        try:
            if phase.needs_scope and scope is None:
                scope = discover(deps)
            context = guard.context(subject, deps, scope if phase.needs_scope else None)
        except (ClientError, BotoCoreError) as error:
            if not (attempts.attempted and is_transient(error)):
                raise
            # Something was already changed: report that now, and let the retry evaluate the rest.
            attempts.retry = error
            logger.warning("organization scan failed after a repair", error=str(error), phase=phase.name)
            break
        found, decided = catalogue.decide(guard.type, subject, context, phase.name)
        evaluated |= decided  # a check that could not decide resolves nothing
        violations += found
        contexts.append((phase, context))
        if phase.repair_first and found and settings.remediate:
            guard.repair(subject, {violation.check for violation in found}, context, deps, attempts)
    if violations or record.known:
        requested, decided = guard.requests(subject, violations, deps)
        violations += requested
        evaluated |= decided
    carried = _carried(record, violations, attempts)
    if carried and not violations and record.pending is not None:
        trigger = record.pending.trigger  # only an earlier change to report: as the event that caused it
    violations[:0] = carried
    evaluated |= {violation.check for violation in carried}
    if not violations and not record.known:
        logger.info("resource compliant", resource_type=guard.type.value, resource_arn=resource.arn)
        return Outcome(Result.COMPLIANT, resource.arn)
    if not settings.remediate:
        repaired = {v.check: attempts.attempted[v.check] for v in carried}  # an earlier write, confirmed now
        return conclude(
            deps, resource, trigger, settle(violations, repaired, attempts.failed, set()), record, evaluated
        )
    checks = {violation.check for violation in violations}
    for phase, context in contexts:
        if not phase.repair_first:
            phase_checks = {v.check for v in violations if catalogue.check(v.check).phase == phase.name} - {
                v.check for v in carried
            }
            if phase_checks:
                guard.repair(subject, phase_checks, context, deps, attempts)
    still: set[str] = set()
    if set(attempts.attempted) - {v.check for v in carried}:
        still, violations = _confirm(guard, subject, contexts, violations, checks, deps, attempts)
    if attempts.retry is not None and not attempts.attempted:
        raise attempts.retry
    findings = settle(violations, attempts.attempted, attempts.failed, still)
    outcome = conclude(deps, resource, trigger, findings, record, evaluated)
    if attempts.retry is not None:
        raise attempts.retry
    return outcome


def _exempt(deps: Deps, resource: Resource) -> Outcome | None:
    """The security team's exemption of this resource, if any: never changed, never reported, even unreadable."""
    exemption = deps.settings.exemption(resource.arn, deps.now().date())
    if exemption is None:
        return None
    logger.info("resource exempt", resource_arn=resource.arn, reason=exemption.reason, pattern=exemption.pattern)
    return Outcome(Result.EXEMPT, resource.arn, exemption.reason)


def _carried(record: Record, violations: list[Violation], attempts: Attempts) -> list[Violation]:
    """What an earlier invocation repaired and could not report (a failure after its write): the violations
    this read no longer finds are reported now, repaired and confirmed by this read."""
    if record.pending is None:
        return []
    current = {violation.check for violation in violations}
    carried = [
        violation
        for violation in record.pending.violations
        if violation.check not in current and violation.check in record.pending.actions
    ]
    attempts.attempted.update({violation.check: record.pending.actions[violation.check] for violation in carried})
    if carried:
        logger.info("reporting an earlier repair", checks=[violation.check for violation in carried])
    return carried


class _WriteGate:
    """Before each write: the report it will owe is stored (the outbox), and the resource's write budget is
    spent; an exhausted budget stops the write (something keeps undoing TrailGuard's repairs, or TrailGuard
    loops), with an alarm."""

    def __init__(self, deps: Deps, resource: Resource, trigger: Trigger, violations: list[Violation]) -> None:
        self._deps = deps
        self._resource = resource
        self._trigger = trigger
        self._violations = violations  # the pipeline's list: the phases evaluated so far
        self._actions: dict[str, str] = {}
        self._held: set[str] = set()

    def __call__(self, checks: list[str], action: str) -> str | None:
        deps, arn = self._deps, self._resource.arn
        now = deps.now()
        writes = deps.ledger.count_write(arn, now.strftime("%Y-%m-%dT%H"))
        budget = deps.settings.write_budget
        if writes > budget:
            count("write_budget_exceeded")
            logger.error("write budget exhausted", resource_arn=arn, writes=writes, budget=budget, action=action)
            return (
                f"{action} was not called: TrailGuard already wrote to this resource {budget} times this hour "
                "(TRAILGUARD_WRITE_BUDGET). Something keeps undoing its repairs, or TrailGuard loops: find the "
                "cause; repairs resume next hour."
            )
        self._actions.update(dict.fromkeys(checks, action))
        owed = {violation.check for violation in self._violations} | set(self._actions)
        if not owed <= self._held:
            deps.ledger.hold(arn, Pending(self._trigger, tuple(self._violations), dict(self._actions), stamp(now)))
            self._held = owed
        return None


def conclude(
    deps: Deps,
    resource: Resource,
    trigger: Trigger,
    findings: list[Finding],
    record: Record,
    evaluated: set[str],
    *,
    owed: bool = False,
) -> Outcome:
    """The lifecycle decides what to publish (a change, or a reminder); then the ledger keeps what is open and
    forgets the report it owed (unless `owed`: the report of an earlier write is still to be confirmed)."""
    settings = deps.settings
    notice = lifecycle(findings, record, evaluated, trigger, deps.now(), settings.remind_hours)
    outcome = publish(deps, resource, notice.trigger, notice.findings) if notice.trigger else None
    settled = not owed and (record.pending is not None or bool(findings))
    deps.ledger.commit(resource.arn, notice.known, notice.forgotten, settled=settled)
    if outcome is not None:
        return outcome
    statuses = {finding.check: finding.status.value for finding in findings}
    if not findings:
        return Outcome(Result.COMPLIANT, resource.arn)
    logger.info("findings unchanged since notified", resource_arn=resource.arn, checks=list(statuses))
    return Outcome(
        Result.UNCHANGED, resource.arn, "the open findings are unchanged and were already notified", None, statuses
    )


def _confirm[S](
    guard: Guard[Any, S],
    subject: S,
    contexts: list[tuple[Phase, Context]],
    violations: list[Violation],
    checks: set[str],
    deps: Deps,
    attempts: Attempts,
) -> tuple[set[str], list[Violation]]:
    """A fresh read after the repairs. A violation the first read could not see (a disabled key cannot say
    whether it rotates) is repaired once and read again."""
    fresh = guard.confirm(subject, attempts, deps)
    again = _evaluate_all(guard, fresh, contexts)
    new = [violation for violation in again if violation.check not in checks]
    if new:
        violations = violations + new
        by_phase = {phase.name: context for phase, context in contexts}
        before = dict(attempts.attempted)
        for name, context in by_phase.items():
            phase_checks = {v.check for v in new if catalogue.check(v.check).phase == name}
            if phase_checks:
                guard.repair(fresh, phase_checks, context, deps, attempts)
        if attempts.attempted != before:
            again = _evaluate_all(guard, guard.confirm(fresh, attempts, deps), contexts)
    return {violation.check for violation in again}, violations


def _evaluate_all[S](guard: Guard[Any, S], subject: S, contexts: list[tuple[Phase, Context]]) -> list[Violation]:
    return [v for phase, context in contexts for v in catalogue.evaluate(guard.type, subject, context, phase.name)]


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
                Finding.of(
                    violation, Status.REMEDIATION_FAILED, action=catalogue.check(name).action, error=failed[name]
                )
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


def publish(deps: Deps, resource: Resource, trigger: Trigger, findings: list[Finding]) -> Outcome:
    report = Report(resource, tuple(findings), trigger, deps.settings.mode.value, deps.now())
    message_id = deps.publisher.publish(report)
    statuses = {finding.check: finding.status.value for finding in findings}
    return Outcome(Result(report.status.value.lower()), resource.arn, message_id=message_id, findings=statuses)
