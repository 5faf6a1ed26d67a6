"""Counting AWS API calls: every operation that goes through botocore, in order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from harness.intercept import intercepting

READS = ("Get", "List", "Describe", "AssumeRole", "Publish", "Receive", "Head")


# TrailGuard's own state (the ledger, the inventory, the idempotency records, the sweep's queue): not a guarded
# resource.
OWN_STATE = ("dynamodb", "sqs")


class ApiCalls:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.services: list[str] = []  # the service of each call

    def reset(self) -> None:
        self.calls.clear()
        self.services.clear()

    def record(self, service: str, operation: str) -> None:
        self.services.append(service)
        self.calls.append(operation)

    def count(self, *, excluding: tuple[str, ...] = ("AssumeRole",), own_state: bool = True) -> int:
        """Calls, but those named in `excluding` (and, own_state=False, those to TrailGuard's own tables)."""
        return sum(
            1
            for call, service in zip(self.calls, self.services, strict=True)
            if call not in excluding and (own_state or service not in OWN_STATE)
        )

    def state(self) -> int:
        """Calls to TrailGuard's own tables."""
        return sum(1 for service in self.services if service in OWN_STATE)

    def writes(self) -> list[str]:
        """The calls that change a guarded resource (SNS Publish, STS AssumeRole and TrailGuard's own tables are
        not counted as changes)."""
        return [
            call
            for call, service in zip(self.calls, self.services, strict=True)
            if not call.startswith(READS) and service not in OWN_STATE
        ]

    def counter(self) -> Counter[str]:
        return Counter(self.calls)


@contextmanager
def counting() -> Iterator[ApiCalls]:
    calls = ApiCalls()
    with intercepting(
        lambda client, operation, params: calls.record(client.meta.service_model.service_name, operation), watch=True
    ):
        yield calls
