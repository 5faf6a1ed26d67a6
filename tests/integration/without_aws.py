"""Deciding about an event without AWS: `runtime.run` and a function's guard, with sessions whose clients
refuse every call. What must be decided from the event alone (garbage is dropped, a failed call or another
resource is ignored) comes back as the handler's result; an event that gets as far as reading AWS raises
AwsRefused, and counts as 'evaluated'."""

from __future__ import annotations

from typing import Any

from trailguard.account.guard import GUARD as ACCOUNT
from trailguard.bucket.guard import GUARD as BUCKET
from trailguard.key.guard import GUARD as KEY
from trailguard.observability import metrics
from trailguard.resource import Guard
from trailguard.runtime import run
from trailguard.trail.guard import GUARD as TRAIL
from trailguard.warm import Warm

# template.yaml's functions and the guards each one runs (see functions/<name>/app.py)
GUARDS: dict[str, Guard[Any, Any] | tuple[Guard[Any, Any], ...]] = {
    "TrailGuardFunction": (TRAIL, ACCOUNT),
    "KeyGuardFunction": KEY,
    "BucketGuardFunction": BUCKET,
}


class AwsRefused(Exception):
    """The event needed AWS: it got past parsing and screening."""


class RefusingClient:
    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, operation: str) -> Any:
        raise AwsRefused(f"{self._service}.{operation}")


class RefusingSessions:
    """Sessions that hand out clients which refuse every call."""

    def client(self, service: str, account: str, region: str) -> RefusingClient:
        return RefusingClient(service)

    def __getattr__(self, name: str) -> Any:
        raise AwsRefused(f"sessions.{name}")


def decide(event: Any, function: str) -> str:
    """The result of `function`'s guard for `event` (the environment is the functions'), or 'evaluated'."""
    try:
        result = run(event, None, GUARDS[function], Warm(), sessions=RefusingSessions())  # type: ignore[arg-type]
    except AwsRefused:
        return "evaluated"
    finally:
        metrics.clear_metrics()
    return str(result["result"])
