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

    def applies(self, client: Any, operation: str, params: dict[str, Any]) -> bool:
        return (
            operation == self.operation
            and self.when in json.dumps(params, default=str)
            and self.region in (None, client.meta.region_name)
        )


class Faults:
    def __init__(self) -> None:
        self.active: list[Fault] = []

    def fail(
        self,
        operation: str,
        code: str,
        message: str = "",
        status: int = 400,
        *,
        when: str = "",
        region: str | None = None,
    ) -> None:
        self.active.append(Fault(operation, code, message or code, status, when, region))

    def clear(self) -> None:
        self.active.clear()


@contextmanager
def injecting() -> Iterator[Faults]:
    faults = Faults()

    def fail(client: Any, operation: str, params: dict[str, Any]) -> None:
        for fault in faults.active:
            if fault.applies(client, operation, params):
                raise ClientError(
                    {
                        "Error": {"Code": fault.code, "Message": fault.message},
                        "ResponseMetadata": {"HTTPStatusCode": fault.status},
                    },
                    operation,
                )

    with intercepting(fail):
        yield faults
