"""One way to watch or alter the AWS calls made through botocore: a hook runs before each call.

`harness.calls` counts with it, `harness.faults` raises real AWS errors with it; hooks nest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client

Hook = Callable[[Any, str, dict[str, Any]], None]  # (client, operation, params); may raise


@contextmanager
def intercepting(hook: Hook) -> Iterator[None]:
    original = botocore.client.BaseClient._make_api_call

    def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        hook(client, operation, params)
        return original(client, operation, params)

    botocore.client.BaseClient._make_api_call = call
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = original
