"""The central bucket's guard: which events name the bucket, and how its facts, checks and repairs plug into
the pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from trailguard.bucket import repairs
from trailguard.bucket.facts import BucketAdapter, BucketState, BucketUnreadable
from trailguard.context import Context
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource, Violation
from trailguard.resource import Attempts, Deps, Ignored, Phase, Unreadable, unreadable_findings
from trailguard.vocabulary import ResourceType

if TYPE_CHECKING:
    from trailguard.organization import Scope


class BucketGuard:
    type: ClassVar[ResourceType] = ResourceType.BUCKET
    events: ClassVar[Mapping[str, tuple[str, ...]]] = dict.fromkeys(
        (
            "PutBucketPolicy",
            "DeleteBucketPolicy",
            "PutBucketEncryption",
            "DeleteBucketEncryption",
            "PutBucketPublicAccessBlock",
            "DeleteBucketPublicAccessBlock",
            "PutBucketVersioning",
            "PutBucketAcl",
            "PutBucketOwnershipControls",
        ),
        ("bucket.cloudtrail-write",),
    )
    phases: ClassVar[tuple[Phase, ...]] = (Phase(needs_scope=True),)

    def target(self, event: ApiCallEvent, deps: Deps) -> None:
        if event.record.request("bucketName") != deps.settings.log_bucket:
            raise Ignored("the event is about another bucket")

    def read(self, target: None, deps: Deps) -> BucketState:
        adapter = BucketAdapter(deps.sessions, deps.settings)
        try:
            return adapter.read()
        except BucketUnreadable as error:
            # Lost access to the log bucket (a policy that denies TrailGuard, a deleted bucket): the most
            # critical state of all, so it is reported, never dropped.
            key = deps.settings.central_key
            resource = Resource(ResourceType.BUCKET, adapter.arn, key.account, key.region, adapter.name, key.partition)
            reason = (
                f"TrailGuard has lost access to the bucket (it expects it in the central key's account "
                f"{key.account}); restore the bucket policy's grant to the TrailGuard roles."
            )
            summary = f"TrailGuard cannot read the central log bucket: {error}"
            raise Unreadable(resource, unreadable_findings(["bucket.cloudtrail-write"], summary, reason)) from error

    def resource(self, state: BucketState, deps: Deps) -> Resource:
        return Resource(ResourceType.BUCKET, state.arn, state.account, state.region, state.name, state.partition)

    def ready(self, phase: Phase, state: BucketState) -> bool:
        return True

    def context(self, state: BucketState, deps: Deps, scope: Scope | None) -> Context:
        return Context(deps.settings, scope)

    def requests(self, state: BucketState, violations: list[Violation], deps: Deps) -> tuple[list[Violation], set[str]]:
        return [], set()

    def repair(self, state: BucketState, checks: set[str], context: Context, deps: Deps, attempts: Attempts) -> None:
        repairs.repair(state, checks, context, BucketAdapter(deps.sessions, deps.settings), attempts)

    def confirm(self, state: BucketState, attempts: Attempts, deps: Deps) -> BucketState:
        return BucketAdapter(deps.sessions, deps.settings).read()


GUARD = BucketGuard()
