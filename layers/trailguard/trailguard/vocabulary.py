"""The words every part of TrailGuard shares: modes, resource types, triggers, statuses and outcomes."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Mode(StrEnum):
    REMEDIATE = "remediate"  # repair and report
    REPORT = "report"  # report only, change nothing


class ResourceType(StrEnum):
    TRAIL = "trail"
    KEY = "key"
    BUCKET = "bucket"
    ACCOUNT = "account"


class TriggerType(StrEnum):
    EVENT = "event"
    SWEEP = "sweep"
    REMINDER = "reminder"


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class Status(StrEnum):
    """A finding's status in the message."""

    REMEDIATED = "REMEDIATED"
    OPEN = "OPEN"
    REMEDIATION_FAILED = "REMEDIATION_FAILED"
    RESOLVED = "RESOLVED"  # a finding that was open is now clear, by whatever means


class Repair(StrEnum):
    """When TrailGuard repairs a check by itself."""

    REMEDIATE = "remediate"  # in remediate mode
    POLICIES = "policies"  # in remediate mode with TRAILGUARD_REPAIR_POLICIES=true
    NEVER = "never"  # reported only: a person must decide


class Result(StrEnum):
    """What one evaluation came to: the handler's return value and the metric it counts."""

    COMPLIANT = "compliant"
    REMEDIATED = "remediated"
    OPEN = "open"
    REMEDIATION_FAILED = "remediation_failed"
    EXEMPT = "exempt"
    IGNORED = "ignored"
    DROPPED = "dropped"
    RESOLVED = "resolved"
    UNCHANGED = "unchanged"  # still not compliant, already notified: nothing published
