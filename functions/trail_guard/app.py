"""Trail guard: CreateTrail, UpdateTrail, StopLogging and DeleteTrail events from anywhere in the organization;
after StopLogging and DeleteTrail, the coverage of the trail's account too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trailguard.account.guard import GUARD as ACCOUNT
from trailguard.observability import logger, metrics, tracer
from trailguard.runtime import run
from trailguard.trail.guard import GUARD as TRAIL
from trailguard.warm import Warm

CONTAINER = Warm()  # what this warm container keeps between invocations

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run(event, context, (TRAIL, ACCOUNT), CONTAINER)
