"""The trail pipeline: event -> trail -> checks -> repairs -> one finding message."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from trailguard import centralkey
from trailguard.advice import explain
from trailguard.arns import parse_trail_arn, partition_of, trail_arn
from trailguard.catalogue import check
from trailguard.errors import EventParseError
from trailguard.events import ApiCallEvent
from trailguard.findings import Finding, Resource, Status, Trigger
from trailguard.guard import Attempts, Deps, Outcome, conclude, event_trigger, publish, screen
from trailguard.observability import logger
from trailguard.sessions import AccessError, error_code, is_transient
from trailguard.trail import Trail, TrailAdapter, TrailNotFound, TrailRef
from trailguard.trail_checks import deleted, evaluate_trail, key_gap

# The UpdateTrail parameter that repairs each check.
UPDATE_FIELDS = {"trail.encryption": "KmsKeyId", "trail.log-file-validation": "EnableLogFileValidation"}

# What each event means for the trail it names, and which checks it puts in doubt if the trail cannot be read.
TRAIL_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CreateTrail": ("evaluate", ("trail.encryption", "trail.logging")),
    "UpdateTrail": ("evaluate", ("trail.encryption",)),
    "StopLogging": ("evaluate", ("trail.logging",)),
    "DeleteTrail": ("deleted", ("trail.deleted",)),
}


def trail_ref(event: ApiCallEvent) -> TrailRef:
    """The trail an event names: a bare name or a full ARN (console), or the ARN in the response."""
    record = event.record
    name = record.response("trailARN") or record.request("name")
    if not isinstance(name, str) or not name.strip():
        raise EventParseError(f"{record.eventName} event has no requestParameters.name")
    if parse_trail_arn(name.strip()) is not None:
        return TrailRef.of(name.strip())
    if ":" in name or "/" in name:
        raise EventParseError(f"requestParameters.name {name!r} is neither a trail name nor a trail ARN")
    partition = partition_of(record.awsRegion)
    arn = trail_arn(partition, record.awsRegion, event.account_id, name.strip())
    return TrailRef(arn, event.account_id, record.awsRegion, name.strip(), partition)


def handle_trail_event(event: ApiCallEvent, deps: Deps) -> Outcome:
    skipped = screen(event, TRAIL_EVENTS, "trail")
    if skipped is not None:
        return skipped
    meaning = TRAIL_EVENTS[event.record.eventName]
    ref = trail_ref(event)
    trigger = event_trigger(event)
    adapter = TrailAdapter(deps.sessions)
    try:
        trail = adapter.read(ref)
    except TrailNotFound:
        if meaning[0] == "deleted":
            violation = deleted(ref.name, ref.arn)
            return _publish(deps, ref, trigger, [Finding.of(violation, Status.OPEN)])
        return Outcome("ignored", ref.arn, "the trail no longer exists; its DeleteTrail event reports it")
    except (AccessError, ClientError) as error:
        return report_unreadable(deps, ref, trigger, meaning[1], error)
    return guard_trail(trail, trigger, deps, adapter)


def guard_trail(trail: Trail, trigger: Trigger, deps: Deps, adapter: TrailAdapter) -> Outcome:
    """Check a freshly read trail; repair what may be repaired; report what is still wrong."""
    settings = deps.settings
    violations = evaluate_trail(trail, settings)
    if not violations:
        logger.info("trail compliant", trail_arn=trail.ref.arn)
        return Outcome("compliant", trail.ref.arn)
    try:
        tags = adapter.tags(trail.ref)
    except ClientError as error:
        return report_unreadable(deps, trail.ref, trigger, tuple(v.check for v in violations), error)
    if tags.get(settings.exempt_tag, "").strip().lower() == "true":
        logger.info("trail exempt", trail_arn=trail.ref.arn, tag=settings.exempt_tag)
        return Outcome("exempt", trail.ref.arn)
    resource = Resource("trail", trail.ref.arn, trail.ref.account, trail.ref.region, trail.ref.name)
    checks = {violation.check for violation in violations}
    return conclude(
        deps,
        resource,
        trigger,
        violations,
        lambda attempts: evaluate_trail(_repair(trail, checks, deps, adapter, attempts), settings),
    )


def _repair(trail: Trail, checks: set[str], deps: Deps, adapter: TrailAdapter, attempts: Attempts) -> Trail:
    """UpdateTrail (central key, log file validation) and StartLogging; returns the trail read again."""
    settings = deps.settings
    changes: dict[str, Any] = {}
    if "trail.encryption" in checks:
        facts, cached = centralkey.key_facts(deps.sessions, settings.central_key, settings.log_bucket)
        gap = key_gap(trail, facts, settings)
        if gap is not None and cached:  # the key may have been fixed since: look again before refusing
            facts, _ = centralkey.key_facts(deps.sessions, settings.central_key, settings.log_bucket, fresh=True)
            gap = key_gap(trail, facts, settings)
        if gap is None:
            changes["KmsKeyId"] = settings.central_key_arn
        else:
            attempts.refuse(["trail.encryption"], f"UpdateTrail was not called: {gap}")
    if "trail.log-file-validation" in checks:
        changes["EnableLogFileValidation"] = True
    updating = [name for name, key in UPDATE_FIELDS.items() if key in changes]
    updated = bool(changes) and attempts.attempt(
        updating, "cloudtrail:UpdateTrail", lambda: adapter.update(trail.ref, **changes)
    )
    if changes and not updated and "KmsKeyId" in changes:
        centralkey.forget()  # the cached key facts said yes and AWS said no: read them again next time
    started = "trail.logging" in checks and attempts.attempt(
        ["trail.logging"], "cloudtrail:StartLogging", lambda: adapter.start_logging(trail.ref)
    )
    fresh = adapter.read_config(trail) if updated else trail
    return adapter.read_status(fresh) if started else fresh


def report_unreadable(
    deps: Deps, ref: TrailRef, trigger: Trigger, checks: tuple[str, ...], error: AccessError | ClientError
) -> Outcome:
    """The trail could not be read: a real problem may hide behind it, so it is reported, never dropped."""
    if is_transient(error):
        raise error
    reason = explain("Reading the trail", error) if isinstance(error, ClientError) else str(error)
    logger.warning("trail unreadable", trail_arn=ref.arn, error=error_code(error), reason=reason)
    findings = [
        Finding(
            name,
            Status.REMEDIATION_FAILED,
            f"TrailGuard could not verify trail {ref.name} after {trigger.event_name}.",
            {"readable": False},
            {"readable": True},
            check(name).action,
            reason,
        )
        for name in checks
    ]
    return _publish(deps, ref, trigger, findings)


def _publish(deps: Deps, ref: TrailRef, trigger: Trigger, findings: list[Finding]) -> Outcome:
    return publish(deps, Resource("trail", ref.arn, ref.account, ref.region, ref.name), trigger, findings)
