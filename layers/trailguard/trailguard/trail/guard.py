"""The trail's guard: which events name a trail, and how its facts, checks and repairs plug into the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from botocore.exceptions import ClientError

from trailguard.advice import explain
from trailguard.catalogue import check
from trailguard.context import Context
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource, Violation
from trailguard.observability import logger
from trailguard.resource import Attempts, Deps, Ignored, Phase, Unreadable, unreadable_findings
from trailguard.sessions import AccessError, error_code, is_transient
from trailguard.trail import repairs
from trailguard.trail.facts import Trail, TrailAdapter, TrailNotFound, named_trail
from trailguard.vocabulary import ResourceType

if TYPE_CHECKING:
    from trailguard.organization import Scope


@dataclass(frozen=True, slots=True)
class TrailTarget:
    """A trail to evaluate: the one an event names (and the checks the event puts in doubt), or one the sweep
    already read the configuration of."""

    ref: Resource
    doubted: tuple[str, ...] = ("trail.encryption", "trail.logging")
    deleted: bool = False  # the event deleted it: its absence is the finding
    known: Trail | None = None  # the configuration, already read (the sweep's inventory)
    event_name: str | None = None


def followed_trail(event: ApiCallEvent, deps: Deps) -> Resource:
    """The trail an event names, when TrailGuard may follow it. A trail is changed by its own account (an
    organization trail by the management account, whose ARN it carries everywhere): an event naming another
    account's trail is not followed, nor one naming an account outside the organization."""
    ref = named_trail(event)
    settings = deps.settings
    if ref.account not in (event.account_id, settings.management_account_id):
        raise Ignored(f"the event in {event.account_id} names a trail of account {ref.account}", ref.arn)
    if settings.accounts is not None and ref.account not in settings.accounts:
        raise Ignored(f"account {ref.account} is outside the organization (TRAILGUARD_ACCOUNTS)", ref.arn)
    return ref


class TrailGuard:
    type: ClassVar[ResourceType] = ResourceType.TRAIL
    # What each event puts in doubt for the trail it names (reported if the trail cannot be read).
    events: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "CreateTrail": ("trail.encryption", "trail.logging"),
        "UpdateTrail": ("trail.encryption",),
        "StopLogging": ("trail.logging",),
        "DeleteTrail": ("trail.deleted",),
    }

    phases: ClassVar[tuple[Phase, ...]] = (Phase(),)

    def target(self, event: ApiCallEvent, deps: Deps) -> TrailTarget:
        name = event.record.eventName
        ref = followed_trail(event, deps)
        return TrailTarget(ref, self.events[name], name == "DeleteTrail", event_name=name)

    def read(self, target: TrailTarget, deps: Deps) -> Trail:
        adapter = TrailAdapter(deps.sessions)
        try:
            if target.known is not None:  # the configuration already read; its status too, when it was
                return target.known if target.known.status is not None else adapter.read_status(target.known)
            trail = adapter.read(target.ref)
            deps.inventory.keep_trail(trail, deps.now())  # the key and bucket guards read the inventory
            return trail
        except TrailNotFound:
            deps.inventory.forget_trail(target.ref.account, target.ref.arn)
            if target.deleted:
                return Trail.gone(target.ref)
            raise Ignored("the trail no longer exists; its DeleteTrail event reports it", target.ref.arn) from None
        except (AccessError, ClientError) as error:
            if is_transient(error):
                raise
            reason = explain("Reading the trail", error) if isinstance(error, ClientError) else str(error)
            logger.warning("trail unreadable", trail_arn=target.ref.arn, error=error_code(error), reason=reason)
            when = f"after {target.event_name}" if target.event_name else "during the sweep"
            summary = f"TrailGuard could not verify trail {target.ref.name} {when}."
            raise Unreadable(target.ref, unreadable_findings(target.doubted, summary, reason)) from error

    def resource(self, trail: Trail, deps: Deps) -> Resource:
        return trail.ref

    def ready(self, phase: Phase, trail: Trail) -> bool:
        return True

    def context(self, trail: Trail, deps: Deps, scope: Scope | None) -> Context:
        return Context(deps.settings, scope)

    def requests(self, trail: Trail, violations: list[Violation], deps: Deps) -> tuple[list[Violation], set[str]]:
        """A member may tag its trail to ask for an exemption; the tag exempts nothing (the security team's
        TRAILGUARD_EXEMPT_TRAILS does), the request is reported. Tags are read only when there is something
        the request would be about."""
        if not trail.exists:
            return [], set()
        try:
            tags = TrailAdapter(deps.sessions).tags(trail.ref)
        except ClientError as error:
            if is_transient(error):
                raise
            logger.warning("trail tags unreadable", trail_arn=trail.arn, error=error_code(error))
            return [], set()
        found = check("trail.exemption-requested").function
        assert found is not None
        violation = found(replace(trail, tags=tags), Context(deps.settings))
        return ([violation] if isinstance(violation, Violation) else []), {"trail.exemption-requested"}

    def repair(self, trail: Trail, checks: set[str], context: Context, deps: Deps, attempts: Attempts) -> None:
        repairs.repair(trail, checks, deps, attempts)

    def confirm(self, trail: Trail, attempts: Attempts, deps: Deps) -> Trail:
        fresh = repairs.confirm(trail, attempts, deps)
        if fresh.kms_key_id != trail.kms_key_id:
            deps.inventory.keep_trail(fresh, deps.now())
        return fresh


GUARD = TrailGuard()
