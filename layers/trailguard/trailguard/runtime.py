"""What every handler does around its guard: settings, parsing, idempotency, outcome metrics.

A handler is `return run(event, context, handle_trail_event)`: the guard function is the only difference.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from trailguard.errors import EventParseError
from trailguard.events import EVENT_KEY_JMESPATH, ApiCallEvent, parse_api_call
from trailguard.guard import Deps, Outcome
from trailguard.observability import count, logger, metrics
from trailguard.publisher import SnsPublisher
from trailguard.sessions import SessionFactory
from trailguard.settings import Settings

Guard = Callable[[ApiCallEvent, Deps], Outcome]


def run(event: Any, context: Any, guard: Guard, *, sessions: SessionFactory | None = None) -> dict[str, Any]:
    settings = Settings.from_env(os.environ)  # invalid configuration fails fast, naming the variable
    try:
        parsed = parse_api_call(event)
    except EventParseError as error:
        # One line; the logger caps and escapes what comes from the event. Retrying cannot help: return.
        logger.error("event dropped: cannot be parsed", reason=str(error), **_ids(event))
        count("dropped")
        return {"result": "dropped", "reason": str(error)}
    logger.append_keys(
        event_id=parsed.id,
        event_name=parsed.record.eventName,
        account=parsed.account_id,
        region=parsed.record.awsRegion,
    )
    sessions = sessions or SessionFactory(settings.remediation_role_name, partition=settings.central_key.partition)
    deps = Deps(settings, sessions, SnsPublisher(sessions, settings.topic_arn))

    def process(event: dict[str, Any]) -> dict[str, Any]:
        try:
            outcome = guard(parsed, deps)
        except EventParseError as error:
            logger.error("event dropped: cannot be understood", reason=str(error))
            outcome = Outcome("dropped", reason=str(error))
        except Exception as error:
            # Transient AWS failures and defects: raised, so that Lambda retries and the DLQ keeps the event.
            count("failed")
            logger.exception("event failed; Lambda will retry it", error=type(error).__name__)
            raise
        count(outcome.result)
        logger.info("event handled", **outcome.to_dict())
        return outcome.to_dict()

    if settings.idempotency_table:
        return _idempotent(process, settings.idempotency_table, context)(event=event)
    return process(event)


def _idempotent(
    process: Callable[[dict[str, Any]], dict[str, Any]], table: str, context: Any
) -> Callable[..., dict[str, Any]]:
    """The same CloudTrail event twice -> handled once (Powertools Idempotency on DynamoDB). The key is the
    CloudTrail eventID, else the envelope id (EVENT_KEY_JMESPATH, the rule of ApiCallEvent.event_key): the
    same call redelivered in a new envelope is the same event. Parsing has refused events with neither."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath=EVENT_KEY_JMESPATH, raise_on_no_idempotency_key=True, expires_after_seconds=24 * 3600
    )
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)
    persistence = DynamoDBPersistenceLayer(table_name=table)
    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        data_keyword_argument="event", config=config, persistence_store=persistence
    )(process)
    return wrapped


def _ids(event: Any) -> dict[str, Any]:
    """The ids of an event that could not be parsed, whatever their type, for its one log line."""
    if not isinstance(event, dict):
        return {}
    detail = event.get("detail")
    return {
        "event_id": event.get("id"),
        "cloudtrail_event_id": detail.get("eventID") if isinstance(detail, dict) else None,
    }


def run_scheduled(event: Any, context: Any, job: Callable[[Deps], dict[str, Any]]) -> dict[str, Any]:
    """A scheduled job (the sweep): the same settings, credentials and publisher as the event handlers."""
    settings = Settings.from_env(os.environ)
    sessions = SessionFactory(settings.remediation_role_name, partition=settings.central_key.partition)
    deps = Deps(settings, sessions, SnsPublisher(sessions, settings.topic_arn))
    summary = job(deps)
    for outcome, number in summary.get("outcomes", {}).items():
        metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=number)
    # Alarmed on in template.yaml: a resource the sweep could not evaluate, an account it could not read.
    metrics.add_metric(name="sweep_failures", unit=MetricUnit.Count, value=len(summary.get("failures", [])))
    metrics.add_metric(name="sweep_unreachable", unit=MetricUnit.Count, value=len(summary.get("unreachable", [])))
    return summary
