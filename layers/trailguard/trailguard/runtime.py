"""What every handler does around its guard: settings, parsing, idempotency, outcome metrics.

A handler is `return run(event, context, GUARD, CONTAINER)`: the guard is the only difference, and
CONTAINER is what the warm container keeps between invocations (`trailguard.warm.Warm`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from trailguard.errors import EventParseError
from trailguard.events import EVENT_KEY_JMESPATH, parse_api_call
from trailguard.inventory import Inventory, NoInventory, TableInventory
from trailguard.ledger import Ledger, NoLedger, TableLedger
from trailguard.observability import count, logger, metrics
from trailguard.pipeline import handle_event
from trailguard.publisher import SnsPublisher
from trailguard.resource import Deps, Guard, Outcome
from trailguard.securityhub import SecurityHubMirror, product_arn
from trailguard.sessions import SessionFactory
from trailguard.settings import Settings
from trailguard.vocabulary import Result
from trailguard.warm import SESSIONS_TTL, Warm


def dependencies(settings: Settings, container: Warm, sessions: SessionFactory | None = None) -> Deps:
    if sessions is None:
        role, partition = settings.remediation_role_name, settings.central_key.partition
        # One factory per warm container: one botocore session, credentials kept per account until near expiry.
        sessions = container.value(
            f"sessions:{role}:{partition}", SESSIONS_TTL, lambda: SessionFactory(role, partition=partition)
        )
    ledger: Ledger = NoLedger()
    inventory: Inventory = NoInventory()
    if settings.state_table:
        key = settings.central_key  # the table is in the stack's own account and region, beside the key
        factory = sessions

        def table() -> Any:
            return factory.client("dynamodb", factory.own_account, key.region)

        ledger = TableLedger(table, settings.state_table)
        inventory = TableInventory(table, settings.state_table)
    hub = None
    if settings.security_hub:
        key, own = settings.central_key, sessions.own_account
        client = sessions.client("securityhub", own, key.region)
        hub = SecurityHubMirror(client, product_arn(key.partition, key.region, own))
    publisher = SnsPublisher(sessions, settings.topic_arn, chat=settings.chat_format, hub=hub)
    return Deps(settings, sessions, publisher, container, ledger, container.wall, inventory)


def run(
    event: Any,
    context: Any,
    guard: Guard[Any, Any] | tuple[Guard[Any, Any], ...],
    container: Warm,
    *,
    sessions: SessionFactory | None = None,
) -> dict[str, Any]:
    """Handle one event with the function's guard (or guards: the trail function also evaluates the coverage of
    the account whose trail was stopped or deleted). The first guard's outcome is the result; the others' are
    listed under `also`."""
    guards = guard if isinstance(guard, tuple) else (guard,)
    settings = Settings.from_env(os.environ)  # invalid configuration fails fast, naming the variable
    try:
        parsed = parse_api_call(event)
    except EventParseError as error:
        # One line; the logger caps and escapes what comes from the event. Retrying cannot help: return.
        logger.error("event dropped: cannot be parsed", reason=str(error), **_ids(event))
        count(Result.DROPPED)
        return {"result": Result.DROPPED.value, "reason": str(error)}
    logger.append_keys(
        event_id=parsed.event_key,
        event_name=parsed.record.eventName,
        account=parsed.account_id,
        region=parsed.record.awsRegion,
    )
    deps = dependencies(settings, container, sessions)

    def process(event: dict[str, Any]) -> dict[str, Any]:
        try:
            outcomes = [handle_event(parsed, deps, each) for each in guards]
        except EventParseError as error:
            logger.error("event dropped: cannot be understood", reason=str(error))
            outcomes = [Outcome(Result.DROPPED, reason=str(error))]
        except Exception as error:
            # Transient AWS failures and defects: raised, so that Lambda retries and the DLQ keeps the event.
            count("failed")
            logger.exception("event failed; Lambda will retry it", error=type(error).__name__)
            raise
        for outcome in outcomes:
            count(outcome.result)
        result = outcomes[0].to_dict()
        also = [outcome.to_dict() for outcome in outcomes[1:] if outcome.result is not Result.IGNORED]
        if also:
            result["also"] = also
        logger.info("event handled", **result)
        return result

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


def run_scheduled(event: Any, context: Any, job: Callable[[Deps], dict[str, Any]], container: Warm) -> dict[str, Any]:
    """A scheduled job (the sweep's planner): the same settings, credentials and publisher as the event handlers."""
    result = job(dependencies(Settings.from_env(os.environ), container))
    metrics.add_metric(name="sweep_planned", unit=MetricUnit.Count, value=1)
    return result


RECORD_TIME_MS = 60_000  # the time one sweep record (one account) may need, at most


def run_batch(
    event: Any, context: Any, job: Callable[[Deps, str, int], dict[str, Any]], container: Warm
) -> dict[str, Any]:
    """An SQS batch (the sweep's workers): each record is one job, a record that fails is reported alone
    (partial batch response) so that SQS delivers only it again, up to the queue's dead-letter queue."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    settings = Settings.from_env(os.environ)
    deps = dependencies(settings, container)
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    def handle(record: SQSRecord) -> dict[str, Any]:  # Powertools passes the record by this name
        attempt = int(record.attributes.approximate_receive_count or 1)
        remaining = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
        if remaining is not None and remaining < RECORD_TIME_MS and attempt < settings.sweep_attempts:
            # Not started rather than cut off by the timeout: this record alone is delivered again.
            logger.warning("record left for its next delivery: too little time left", remaining_ms=remaining)
            raise TimeoutError(f"{remaining} ms left in this invocation, less than a record may need")
        try:
            result = job(deps, record.body, attempt)
        except Exception as error:
            # Reported as this record's failure (SQS delivers it again); the reason is in the log.
            count("failed")
            logger.exception("record failed", message_id=record.message_id, attempt=attempt, error=type(error).__name__)
            raise
        if "summary" in result:
            summary_metrics(result["summary"])
        return result

    response = process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
    return dict(response)


def summary_metrics(summary: dict[str, Any]) -> None:
    """A sweep's summary as metrics, alarmed on in template.yaml: a resource the sweep could not evaluate, an
    account it could not read, and the heartbeat of completed sweeps."""
    for outcome, number in summary.get("outcomes", {}).items():
        metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=number)
    metrics.add_metric(name="sweep_failures", unit=MetricUnit.Count, value=len(summary.get("failures", [])))
    metrics.add_metric(name="sweep_unreachable", unit=MetricUnit.Count, value=len(summary.get("unreachable", [])))
    metrics.add_metric(name="sweep_completed", unit=MetricUnit.Count, value=1)
