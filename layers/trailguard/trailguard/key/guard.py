"""The central key's guard: which events name the key, and how its facts, checks and repairs plug into the
pipeline. Two phases: the key's state is repaired first (a disabled key stops every trail's delivery), then its
policy is checked against the organization's trails."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from trailguard.context import Context
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource, Violation
from trailguard.key import repairs
from trailguard.key.checks import POLICY, STATE
from trailguard.key.facts import CentralKey, KeyAdapter, names_central_key, read_central_key
from trailguard.resource import Attempts, Deps, Ignored, Phase
from trailguard.vocabulary import ResourceType

if TYPE_CHECKING:
    from trailguard.organization import Scope

_DOUBTED = ("key.state", "key.cloudtrail-encrypt")


class KeyGuard:
    type: ClassVar[ResourceType] = ResourceType.KEY
    events: ClassVar[Mapping[str, tuple[str, ...]]] = dict.fromkeys(
        (
            "PutKeyPolicy",
            "DisableKey",
            "ScheduleKeyDeletion",
            "DisableKeyRotation",
            "DeleteImportedKeyMaterial",
            "UpdatePrimaryRegion",
        ),
        _DOUBTED,
    )
    phases: ClassVar[tuple[Phase, ...]] = (Phase(STATE, repair_first=True), Phase(POLICY, needs_scope=True))

    def target(self, event: ApiCallEvent, deps: Deps) -> None:
        if not names_central_key(event, deps.settings, KeyAdapter(deps.sessions, deps.settings.central_key)):
            raise Ignored("the event is about another key")

    def read(self, target: None, deps: Deps) -> CentralKey:
        return read_central_key(deps.sessions, deps.settings)

    def resource(self, central: CentralKey, deps: Deps) -> Resource:
        key = deps.settings.central_key
        return Resource(ResourceType.KEY, key.arn, key.account, key.region, key.key_id, key.partition)

    def ready(self, phase: Phase, central: CentralKey) -> bool:
        return phase.name != POLICY or central.facts.state is not None

    def context(self, central: CentralKey, deps: Deps, scope: Scope | None) -> Context:
        return Context(deps.settings, scope, central.bucket_region)

    def requests(
        self, central: CentralKey, violations: list[Violation], deps: Deps
    ) -> tuple[list[Violation], set[str]]:
        return [], set()

    def repair(self, central: CentralKey, checks: set[str], context: Context, deps: Deps, attempts: Attempts) -> None:
        adapter = KeyAdapter(deps.sessions, deps.settings.central_key)
        if checks & {"key.state", "key.rotation"}:
            repairs.repair_state(central, checks, adapter, attempts)
        if checks & set(repairs.policy_checks()):
            repairs.repair_policy(central, checks, context, adapter, attempts)

    def confirm(self, central: CentralKey, attempts: Attempts, deps: Deps) -> CentralKey:
        return read_central_key(deps.sessions, deps.settings)


GUARD = KeyGuard()
