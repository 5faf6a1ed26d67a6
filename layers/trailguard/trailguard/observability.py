"""The one logger, tracer and metrics of the package (Powertools for AWS Lambda)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from trailguard.logline import keep_message, log_line

Traced = TypeVar("Traced", bound=Callable[..., Any])
TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})
PATCHED = ("botocore",)  # the libraries X-Ray traces: every AWS call goes through botocore


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    """As Powertools decides: in Lambda (not `sam local`, not Chalice's), unless POWERTOOLS_TRACE_DISABLED is true."""
    if environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in TRUE:
        return False
    in_emulator = environ.get("AWS_SAM_LOCAL") or environ.get("AWS_CHALICE_CLI_MODE")
    return bool(environ.get("LAMBDA_TASK_ROOT")) and not in_emulator


class LambdaTracer:
    """The Powertools Tracer where X-Ray receives traces, and nothing at all elsewhere.

    In Lambda with tracing on, the Tracer is built at import, as Powertools intends: the init phase imports the
    X-Ray SDK and patches botocore, so that every AWS call of every invocation is traced. Only botocore: TrailGuard
    talks to nothing else, and patching every library X-Ray knows would import each one found (requests, sqlite3,
    sqlalchemy...). Elsewhere (tests, the CLI, `make demo`, `sam local`) or with POWERTOOLS_TRACE_DISABLED, the
    X-Ray SDK is never imported (a disabled Tracer still imports it, and outside Lambda its recorder builds a
    sampler that creates a botocore client).
    """

    def __init__(self, service: str, environ: Mapping[str, str] = os.environ) -> None:
        self.service = service
        traced = tracing_enabled(environ)
        self.tracer: Tracer | None = Tracer(service=service, patch_modules=PATCHED) if traced else None

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def capture_lambda_handler(self, handler: Traced) -> Traced:
        if self.tracer is None:
            return handler
        return cast("Traced", self.tracer.capture_lambda_handler(handler))

    def capture_method(self, method: Traced) -> Traced:
        if self.tracer is None:
            return method
        return self.tracer.capture_method(method)


# Every line goes through log_line: values capped and escaped once, here, for every call site.
logger = Logger(service="trailguard", json_serializer=log_line, json_deserializer=keep_message)
tracer = LambdaTracer(service="trailguard")
metrics = Metrics(namespace="TrailGuard", service="trailguard")


def count(outcome: str) -> None:
    """One metric per outcome (compliant, remediated, open, remediation_failed, exempt, ignored, dropped...)."""
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
