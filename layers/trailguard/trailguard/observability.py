"""The one logger, tracer and metrics of the package (Powertools for AWS Lambda)."""

from __future__ import annotations

import functools
import os
import threading
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
    """The Powertools Tracer where X-Ray receives traces, built at first use; nothing at all elsewhere.

    In Lambda with tracing on, the Tracer is built when the handler is first invoked, before it runs: building it
    imports the X-Ray SDK and patches botocore (every AWS call goes through it; the patch is on the client class,
    so a client made before it is traced too). That cost is the first invocation's, once per container, not the
    import's: the handler module imports the same with tracing on or off. Only botocore is patched:
    TrailGuard talks to nothing else, and patching every library X-Ray knows would import each one found (requests,
    sqlite3, sqlalchemy...). Elsewhere (tests, the CLI, `make demo`, `sam local`) or with
    POWERTOOLS_TRACE_DISABLED, the X-Ray SDK is never imported (a disabled Tracer still imports it, and outside
    Lambda its recorder builds a sampler that creates a botocore client).
    """

    def __init__(self, service: str, environ: Mapping[str, str] = os.environ) -> None:
        self.service = service
        self.enabled = tracing_enabled(environ)
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def tracer(self) -> Tracer | None:
        """The Powertools Tracer when tracing is on (built by the first call), else None."""
        return self._built() if self.enabled else None

    def _built(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                self._tracer = Tracer(service=self.service, patch_modules=PATCHED)
            return self._tracer

    def capture_lambda_handler(self, handler: Traced) -> Traced:
        """The handler, traced from its first invocation on when tracing is on; as it is otherwise."""
        if not self.enabled:
            return handler
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def first_use(event: Any, context: Any, **kwargs: Any) -> Any:
            if not traced:
                traced.append(self._built().capture_lambda_handler(handler))
            return traced[0](event, context, **kwargs)

        return cast("Traced", first_use)

    def capture_method(self, method: Traced) -> Traced:
        """A traced method (the Tracer is built when this decorator is applied, tracing on)."""
        tracer = self.tracer
        if tracer is None:
            return method
        return tracer.capture_method(method)


# Every line goes through log_line: values capped and escaped once, here, for every call site.
logger = Logger(service="trailguard", json_serializer=log_line, json_deserializer=keep_message)
tracer = LambdaTracer(service="trailguard")
metrics = Metrics(namespace="TrailGuard", service="trailguard")


def count(outcome: str) -> None:
    """One metric per outcome (compliant, remediated, open, remediation_failed, exempt, ignored, dropped...)."""
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
