"""Sweep worker: takes the sweep queue's messages in batches, one account each: its trails, coverage and
forwarding rules; the worker that completes a sweep publishes its summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailguard.observability import logger, metrics, tracer
from trailguard.runtime import run_batch
from trailguard.sweep import work
from trailguard.warm import Warm

CONTAINER = Warm()  # what this warm container keeps between invocations

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_batch(event, context, work, CONTAINER)
