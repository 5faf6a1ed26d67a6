"""The check registry: every check is a small pure function registered with its catalogue row.

A row says what the check verifies, how severe a violation is, whether and how TrailGuard repairs it, what a
person should do, the compliance controls it maps to and the read permissions it relies on. The README table
(`python -m trailguard catalogue`), docs/checks.md, the finding message and the tests all read the rows
from here; the rows are declared next to their functions in `trailguard.<resource>.checks`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trailguard.vocabulary import Repair, ResourceType, Severity

if TYPE_CHECKING:
    from trailguard.context import Context
    from trailguard.findings import Violation

__all__ = ["Check", "Repair", "Severity", "check", "checks_for", "markdown_table", "register", "registered"]

CIS = "CIS AWS Foundations"
CIS_PREVIOUS = "CIS AWS Foundations v1.4"
SECURITY_HUB = "AWS Security Hub"

# The rooms whose `checks` modules register checks, in the order the catalogue lists them.
ROOMS = ("account", "trail", "key", "bucket")


class Undecided:
    """What a check returns when its facts cannot tell (unread, unknown): neither a violation nor compliance, so
    an open finding of that check is not resolved by it."""

    def __repr__(self) -> str:
        return "UNDECIDED"


UNDECIDED = Undecided()

CheckFunction = Callable[[Any, "Context"], "Violation | Undecided | None"]


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    resource: ResourceType
    severity: Severity
    title: str  # what it verifies
    repair: Repair
    action: str | None  # the AWS call that repairs it, None when reported only
    fix: str  # what a person does about it
    compliance: tuple[str, ...]
    reads: tuple[str, ...]  # the read permissions the check's facts need
    phase: str = "main"  # the pipeline phase that evaluates it (the key repairs its state before its policy)
    function: CheckFunction | None = None


_REGISTRY: dict[str, Check] = {}


def register(
    check_id: str,
    resource: ResourceType,
    severity: Severity,
    *,
    title: str,
    repair: Repair,
    action: str | None,
    fix: str,
    compliance: tuple[str, ...] = (),
    reads: tuple[str, ...] = (),
    phase: str = "main",
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as the check `check_id`, with its catalogue row."""

    def decorate(function: CheckFunction) -> CheckFunction:
        if check_id in _REGISTRY and _REGISTRY[check_id].function is not function:
            raise ValueError(f"check {check_id} is registered twice")
        if not check_id.startswith(f"{resource.value}."):
            raise ValueError(f"check {check_id} must be named after its resource type {resource.value}")
        if (repair is Repair.NEVER) != (action is None):
            raise ValueError(f"check {check_id}: a repaired check names its action, a reported one none")
        _REGISTRY[check_id] = Check(
            check_id, resource, severity, title, repair, action, fix, compliance, reads, phase, function
        )
        return function

    return decorate


def _load() -> dict[str, Check]:
    for room in ROOMS:
        importlib.import_module(f"trailguard.{room}.checks")
    return _REGISTRY


def registered() -> dict[str, Check]:
    """Every check, by id, in catalogue order."""
    registry = _load()
    order = {room: index for index, room in enumerate(ROOMS)}
    return dict(sorted(registry.items(), key=lambda item: order.get(item[1].resource.value, len(order))))


def check(check_id: str) -> Check:
    registry = _REGISTRY if check_id in _REGISTRY else _load()
    return registry[check_id]


def checks_for(resource: ResourceType, phase: str | None = None) -> Iterator[Check]:
    for item in registered().values():
        if item.resource is resource and (phase is None or item.phase == phase):
            yield item


def evaluate(resource: ResourceType, subject: Any, context: Context, phase: str | None = None) -> list[Violation]:
    """Run every registered check of `resource` (of one phase) on `subject`: the violations, in catalogue order."""
    return decide(resource, subject, context, phase)[0]


def decide(
    resource: ResourceType, subject: Any, context: Context, phase: str | None = None
) -> tuple[list[Violation], set[str]]:
    """The violations, and the ids of the checks that could decide (found a violation, or found none)."""
    found: list[Violation] = []
    decided: set[str] = set()
    for item in checks_for(resource, phase):
        assert item.function is not None
        verdict = item.function(subject, context)
        if isinstance(verdict, Undecided):
            continue
        decided.add(item.id)
        if verdict is not None:
            found.append(verdict)
    return found, decided


REPAIR_WORDS = {
    Repair.REMEDIATE: "automatic in `remediate` mode",
    Repair.POLICIES: "automatic with `TRAILGUARD_REPAIR_POLICIES=true`",
    Repair.NEVER: "reported only",
}


def markdown_table() -> str:
    """The README's check catalogue table (and docs/checks.md's)."""
    lines = [
        "| check | severity | what it verifies | repair | how to fix | compliance |",
        "|---|---|---|---|---|---|",
    ]
    for item in registered().values():
        lines.append(
            f"| `{item.id}` | {item.severity.name} | {item.title} | {REPAIR_WORDS[item.repair]} | {item.fix} | "
            f"{', '.join(item.compliance) or '-'} |"
        )
    return "\n".join(lines)


# The read permissions of the facts each resource's checks are evaluated on.
TRAIL_READS = ("cloudtrail:GetTrail", "cloudtrail:GetTrailStatus")
KEY_READS = ("kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:GetKeyPolicy")
BUCKET_READS = (
    "s3:GetBucketPolicy",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetAccountPublicAccessBlock",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
)
# The organization's accounts, and its trails from the inventory the sweep keeps in the state table.
ORGANIZATION_READS = ("organizations:ListAccounts", "dynamodb:GetItem", "dynamodb:Query")
