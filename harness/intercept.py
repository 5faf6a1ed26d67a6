"""One way to watch or alter the AWS calls made through botocore: hooks run before each call.

`harness.calls` counts with it, `harness.faults` raises real AWS errors with it; hooks nest. A watcher
(`watch=True`) runs before every hook that may raise, whatever the order they were entered in: a call AWS
refuses was still made, so it is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.client

Hook = Callable[[Any, str, dict[str, Any]], None]  # (client, operation, params); may raise

_hooks: list[tuple[bool, Hook]] = []  # (watch, hook), in the order entered
_original: list[Any] = []  # botocore's own _make_api_call while any hook is in place


def _call(client: Any, operation: str, params: dict[str, Any]) -> Any:
    for _, hook in sorted(_hooks, key=lambda entry: not entry[0]):  # watchers first (a stable sort)
        hook(client, operation, params)
    return _original[0](client, operation, params)


@contextmanager
def intercepting(hook: Hook, *, watch: bool = False) -> Iterator[None]:
    entry = (watch, hook)
    if not _hooks:
        _original[:] = [botocore.client.BaseClient._make_api_call]
        botocore.client.BaseClient._make_api_call = _call
    _hooks.append(entry)
    try:
        yield
    finally:
        _hooks.remove(entry)
        if not _hooks:
            botocore.client.BaseClient._make_api_call = _original.pop()
