"""Sweep planner: on a schedule, lists the organization, judges the central key and bucket, and sends one
message per account to the sweep queue, where the sweep workers take them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailguard.observability import logger, metrics, tracer
from trailguard.runtime import run_scheduled
from trailguard.sweep import plan
from trailguard.warm import Warm

CONTAINER = Warm()  # what this warm container keeps between invocations

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_scheduled(event, context, plan, CONTAINER)
