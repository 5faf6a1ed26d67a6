"""What every guard shares: its dependencies, its outcome, and how violations become reported findings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from trailguard.catalogue import check
from trailguard.findings import Finding, Report, Resource, Status, Trigger, Violation
from trailguard.publisher import Publisher
from trailguard.sessions import SessionFactory
from trailguard.settings import Settings


@dataclass(frozen=True, slots=True)
class Outcome:
    result: str  # compliant | remediated | open | remediation_failed | exempt | ignored | dropped
    resource: str | None = None
    reason: str | None = None
    message_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


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


def publish(deps: Deps, resource: Resource, trigger: Trigger, findings: list[Finding]) -> Outcome:
    report = Report(resource, tuple(findings), trigger, deps.settings.mode.value)
    message_id = deps.publisher.publish(report)
    return Outcome(report.status.value.lower(), resource.arn, message_id=message_id)
