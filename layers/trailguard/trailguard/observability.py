"""The one logger, tracer and metrics of the package (Powertools for AWS Lambda)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from trailguard.logline import keep_message, log_line

# Every line goes through log_line: values capped and escaped once, here, for every call site.
logger = Logger(service="trailguard", json_serializer=log_line, json_deserializer=keep_message)
tracer = Tracer(service="trailguard")
metrics = Metrics(namespace="TrailGuard", service="trailguard")


def count(outcome: str) -> None:
    """One metric per outcome (compliant, remediated, open, remediation_failed, exempt, ignored, dropped...)."""
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
