"""Counting AWS API calls: every operation that goes through botocore, in order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from harness.intercept import intercepting

READS = ("Get", "List", "Describe", "AssumeRole", "Publish", "Receive", "Head")


class ApiCalls:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def reset(self) -> None:
        self.calls.clear()

    def count(self, *, excluding: tuple[str, ...] = ("AssumeRole",)) -> int:
        return sum(1 for call in self.calls if call not in excluding)

    def writes(self) -> list[str]:
        """The calls that change something (SNS Publish and STS AssumeRole are not counted as changes)."""
        return [call for call in self.calls if not call.startswith(READS)]

    def counter(self) -> Counter[str]:
        return Counter(self.calls)


@contextmanager
def counting() -> Iterator[ApiCalls]:
    calls = ApiCalls()
    with intercepting(lambda client, operation, params: calls.calls.append(operation)):
        yield calls
