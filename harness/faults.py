"""Real AWS failures where moto is lenient or cannot fail (docs/aws-facts.md): refusals, throttling.

`faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException")` makes every UpdateTrail fail as AWS
would; `when=` limits it to calls whose parameters mention a string, `region=` to clients of one region.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from harness.intercept import intercepting


@dataclass(frozen=True)
class Fault:
    operation: str
    code: str
    message: str
    status: int
    when: str
    region: str | None
    after: int = 0  # matching calls let through first (a confirming read after a first read succeeded)

    def applies(self, client: Any, operation: str, params: dict[str, Any]) -> bool:
        return (
            operation == self.operation
            and self.when in json.dumps(params, default=str)
            and self.region in (None, client.meta.region_name)
        )


class Faults:
    def __init__(self) -> None:
        self.active: list[Fault] = []
        self.seen: dict[int, int] = {}  # fault index -> matching calls so far

    def fail(
        self,
        operation: str,
        code: str,
        message: str = "",
        status: int = 400,
        *,
        when: str = "",
        region: str | None = None,
        after: int = 0,
    ) -> None:
        self.active.append(Fault(operation, code, message or code, status, when, region, after))
        self.seen[len(self.active) - 1] = 0

    def clear(self) -> None:
        self.active.clear()
        self.seen.clear()


@contextmanager
def injecting() -> Iterator[Faults]:
    faults = Faults()

    def fail(client: Any, operation: str, params: dict[str, Any]) -> None:
        for index, fault in enumerate(faults.active):
            if not fault.applies(client, operation, params):
                continue
            faults.seen[index] = faults.seen.get(index, 0) + 1
            if faults.seen[index] > fault.after:
                raise ClientError(
                    {
                        "Error": {"Code": fault.code, "Message": fault.message},
                        "ResponseMetadata": {"HTTPStatusCode": fault.status},
                    },
                    operation,
                )

    with intercepting(fail):
        yield faults
