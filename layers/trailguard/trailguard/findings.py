"""Findings and the message that carries them (the schema is described in docs/findings.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from trailguard.arns import parse_trail_arn
from trailguard.catalogue import check
from trailguard.vocabulary import ResourceType, Severity, Status, TriggerType

__all__ = ["SCHEMA", "Finding", "Report", "Resource", "Status", "Trigger", "Violation"]

SCHEMA = "trailguard.finding/1"


@dataclass(frozen=True, slots=True)
class Violation:
    """What a pure check found wrong, before anything was done about it."""

    check: str
    summary: str
    observed: dict[str, Any]
    expected: dict[str, Any]
    level: Severity | None = None  # a severity other than the check's (a missing organization trail)


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: Status
    summary: str
    observed: dict[str, Any]
    expected: dict[str, Any]
    action: str | None = None
    error: str | None = None
    level: Severity | None = None

    @property
    def severity(self) -> Severity:
        return self.level or check(self.check).severity

    @classmethod
    def of(
        cls,
        violation: Violation,
        status: Status,
        *,
        action: str | None = None,
        error: str | None = None,
        summary: str | None = None,
    ) -> Finding:
        return cls(
            violation.check,
            status,
            summary or violation.summary,
            violation.observed,
            violation.expected,
            action,
            error,
            violation.level,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.name,
            "status": self.status.value,
            "summary": self.summary,
            "observed": self.observed,
            "expected": self.expected,
            "remediation": {"action": self.action, "error": self.error},
            "compliance": list(check(self.check).compliance),
        }


@dataclass(frozen=True, slots=True)
class Resource:
    """Which resource, where: the account that owns it and the region where it may be changed (a trail's
    home region)."""

    type: ResourceType
    arn: str
    account: str
    region: str
    name: str
    partition: str = "aws"

    @classmethod
    def trail(cls, arn: str) -> Resource:
        """The trail a full ARN names (its account owns it; its region is the home region)."""
        parsed = parse_trail_arn(arn)
        if parsed is None:
            raise ValueError(f"{arn!r} is not a trail ARN")
        return cls(ResourceType.TRAIL, parsed.arn, parsed.account, parsed.region, parsed.name, parsed.partition)


@dataclass(frozen=True, slots=True)
class Trigger:
    type: TriggerType
    event_id: str | None = None
    event_name: str | None = None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything TrailGuard has to say about one resource after one evaluation."""

    resource: Resource
    findings: tuple[Finding, ...]
    trigger: Trigger
    mode: str
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def severity(self) -> Severity:
        return max(finding.severity for finding in self.findings)

    @property
    def status(self) -> Status:
        statuses = {finding.status for finding in self.findings}
        for status in (Status.REMEDIATION_FAILED, Status.OPEN, Status.REMEDIATED):
            if status in statuses:
                return status
        return Status.RESOLVED

    def text(self) -> str:
        """One paragraph a person reads in five seconds: what, where, who, what was done, what to do."""
        resource = self.resource
        where = f"{resource.type} {resource.name} (account {resource.account}, {resource.region})"
        who = ""
        if self.trigger.type is TriggerType.EVENT:
            who = f" after {self.trigger.event_name} by {self.trigger.actor}"
        elif self.trigger.type is TriggerType.SWEEP:
            who = " found by the scheduled sweep"
        elif self.trigger.type is TriggerType.REMINDER:
            who = " (reminder: still open)"
        parts = [f"{self.severity.name}: {where}{who}."]
        for finding in self.findings:
            parts.append(f"{finding.summary} {_outcome(finding, self.mode)}")
        return " ".join(parts)

    def email(self) -> str:
        """The message as an e-mail subscriber reads it: what, where, who, what was done, what to do, and where to
        look in the console."""
        resource, trigger = self.resource, self.trigger
        who = {
            TriggerType.EVENT: f"{trigger.event_name} by {trigger.actor}",
            TriggerType.SWEEP: "found by the scheduled sweep",
            TriggerType.REMINDER: "a reminder: still open",
        }[trigger.type]
        lines = [
            self.subject(),
            "",
            f"Where: {resource.type} {resource.name}, account {resource.account}, {resource.region}",
            f"Who:   {who}",
            f"Mode:  {self.mode}",
            "",
        ]
        for finding in self.findings:
            lines += [
                f"- {finding.status.value} {finding.check} ({finding.severity.name})",
                f"  What: {finding.summary}",
                f"  Done: {_outcome(finding, self.mode)}",
            ]
        lines += ["", f"Console: {console_link(resource)}", f"Resource: {resource.arn}"]
        return "\n".join(lines) + "\n"

    def chat(self) -> dict[str, Any]:
        """An AWS Chatbot custom notification (Slack, Microsoft Teams)."""
        bullets = "\n".join(f"• *{f.status.value}* `{f.check}`: {f.summary}" for f in self.findings)
        return {
            "version": "1.0",
            "source": "custom",
            "content": {
                "textType": "client-markdown",
                "title": self.subject(),
                "description": f"{bullets}\n<{console_link(self.resource)}|Open in the console>",
            },
            "metadata": {
                "enableCustomActions": False,
                "additionalContext": {"account": self.resource.account, "resource": self.resource.arn},
            },
        }

    def subject(self) -> str:
        checks = ", ".join(dict.fromkeys(finding.check for finding in self.findings))
        subject = f"[{self.severity.name}] {self.status.value} {self.resource.type} {self.resource.name}: {checks}"
        subject = " ".join(subject.split())  # SNS subjects are one line
        return subject if len(subject) < 100 else subject[:96] + "..."

    def to_message(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "text": self.text(),
            "resource": {
                "type": self.resource.type.value,
                "arn": self.resource.arn,
                "account": self.resource.account,
                "region": self.resource.region,
            },
            "severity": self.severity.name,
            "status": self.status.value,
            "mode": self.mode,
            "findings": [finding.to_dict() for finding in self.findings],
            "trigger": {
                "type": self.trigger.type.value,
                "event_id": self.trigger.event_id,
                "event_name": self.trigger.event_name,
                "actor": self.trigger.actor,
            },
            "time": self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def attributes(self) -> dict[str, dict[str, str]]:
        checks = list(dict.fromkeys(finding.check for finding in self.findings))
        return {
            "severity": {"DataType": "String", "StringValue": self.severity.name},
            "status": {"DataType": "String", "StringValue": self.status.value},
            "account": {"DataType": "String", "StringValue": self.resource.account},
            "resource_type": {"DataType": "String", "StringValue": self.resource.type.value},
            "checks": {"DataType": "String.Array", "StringValue": json.dumps(checks)},
        }


def _outcome(finding: Finding, mode: str) -> str:
    fix = check(finding.check).fix
    if finding.status is Status.RESOLVED:
        return "It is no longer the case."
    if finding.status is Status.REMEDIATED:
        return f"TrailGuard repaired it ({finding.action}) and confirmed the repair."
    if finding.status is Status.REMEDIATION_FAILED:
        return f"TrailGuard could not repair it: {finding.error}"
    if mode == "report":
        return f"Report mode: nothing was changed. To fix: {fix}."
    return f"Not repaired automatically. To fix: {fix}."


def console_link(resource: Resource) -> str:
    """Where a person looks at the resource in the AWS console."""
    domain = {"aws-cn": "console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}.get(
        resource.partition, "console.aws.amazon.com"
    )
    region = resource.region
    if resource.type is ResourceType.TRAIL:
        return f"https://{domain}/cloudtrailv2/home?region={region}#/trails/{quote(resource.arn, safe='')}"
    if resource.type is ResourceType.KEY:
        return f"https://{domain}/kms/home?region={region}#/kms/keys/{resource.arn.rsplit('/', 1)[-1]}"
    if resource.type is ResourceType.BUCKET:
        return f"https://{domain}/s3/buckets/{resource.name}?region={region}&tab=permissions"
    return f"https://{domain}/cloudtrailv2/home?region={region}#/trails"


SWEEP_SCHEMA = "trailguard.sweep/1"


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """The one message a sweep ends with: what it covered, what it found, what changed, what it could not read."""

    summary: dict[str, Any]
    time: datetime

    def to_message(self) -> dict[str, Any]:
        body = {key: value for key, value in self.summary.items() if key not in ("result", "message_id")}
        return {"schema": SWEEP_SCHEMA, "text": self.text(), **body, "time": self.time.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def open_findings(self) -> int:
        return sum(
            number
            for statuses in self.summary["findings"].values()
            for status, number in statuses.items()
            if status in (Status.OPEN.value, Status.REMEDIATION_FAILED.value)
        )

    def subject(self) -> str:
        s = self.summary
        return (
            f"TrailGuard sweep: {s['accounts']} accounts, {s['trails']} trails, {self.open_findings()} open, "
            f"{len(s['changed'])} changed"
        )[:99]

    def text(self) -> str:
        s = self.summary
        lines = [
            self.subject(),
            "",
            f"Covered: {s['accounts']} accounts x {len(s['regions'])} regions ({', '.join(s['regions'])}); "
            f"{s['trails']} trails, the central key and the central bucket, in {s['seconds']} s.",
            "Outcomes: " + (", ".join(f"{name} {number}" for name, number in s["outcomes"].items()) or "none"),
        ]
        for check_id, statuses in s["findings"].items():
            lines.append(f"  {check_id}: " + ", ".join(f"{status} {n}" for status, n in statuses.items()))
        lines.append("Changed since the last sweep: " + (", ".join(s["changed"]) or "nothing"))
        if s["unreachable"]:
            lines.append("Not reached: " + "; ".join(s["unreachable"]))
        if s["failures"]:
            lines.append("Not evaluated: " + "; ".join(s["failures"]))
        return "\n".join(lines) + "\n"

    def attributes(self) -> dict[str, dict[str, str]]:
        status = "OPEN" if self.open_findings() else "OK"
        return {
            "resource_type": {"DataType": "String", "StringValue": "sweep"},
            "status": {"DataType": "String", "StringValue": status},
            "severity": {"DataType": "String", "StringValue": "LOW"},
        }
