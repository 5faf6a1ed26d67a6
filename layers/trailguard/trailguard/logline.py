"""Every log line, capped and escaped in one place: the serializer of the package's logger.

Logged values often come from events (ids, names, reasons), and an event can carry anything: a
megabyte-long name, a lone surrogate that UTF-8 cannot encode (the line would be lost when written), a
structure nested a thousand deep. Here every string is escaped and capped at MAX_VALUE_CHARS (tracebacks
at MAX_TRACE_CHARS), every container at MAX_ITEMS and MAX_DEPTH, and the whole line at MAX_LINE_CHARS,
so that no call site has to think about it and no line is ever dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from trailguard.errors import escaped

MAX_VALUE_CHARS = 1024
MAX_TRACE_CHARS = 8192  # the traceback Powertools adds under "exception" when logging an exception
MAX_KEY_CHARS = 128
MAX_ITEMS = 50
MAX_DEPTH = 6
MAX_LINE_CHARS = 32 * 1024
TRACE_KEYS = frozenset({"exception"})
MAX_INT_BITS = 128

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


class _Budget:
    """What is left of MAX_LINE_CHARS while one line is built."""

    def __init__(self, chars: int) -> None:
        self.chars = chars

    def text(self, value: str, limit: int) -> str:
        limit = max(0, min(limit, self.chars))
        if len(value) > limit:
            value = f"{value[:limit]}...(+{len(value) - limit} chars)"
        self.chars -= len(value)
        return escaped(value)


def log_line(record: Mapping[str, Any]) -> str:
    """The JSON line of one log record (Powertools `json_serializer`)."""
    budget = _Budget(MAX_LINE_CHARS)
    line = {
        budget.text(str(key), MAX_KEY_CHARS): safe_value(
            value, budget, MAX_TRACE_CHARS if key in TRACE_KEYS else MAX_VALUE_CHARS
        )
        for key, value in record.items()
    }
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def keep_message(message: Any) -> Any:
    """Powertools `json_deserializer`: a message is plain text, never parsed as JSON."""
    return message


def safe_value(value: Any, budget: _Budget, limit: int = MAX_VALUE_CHARS, depth: int = 0) -> JsonValue:
    """`value` as JSON-ready data within the caps; anything that is not JSON becomes its (capped) text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, int):
        return value if value.bit_length() <= MAX_INT_BITS else f"<{value.bit_length()}-bit integer>"
    if isinstance(value, str):
        return budget.text(value, limit)
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        if depth >= MAX_DEPTH:
            return f"<{type(value).__name__} nested deeper than {MAX_DEPTH}>"
        return _container(value, budget, limit, depth)
    return budget.text(_text(value), limit)


def _container(value: Any, budget: _Budget, limit: int, depth: int) -> JsonValue:
    items = list(value.items()) if isinstance(value, Mapping) else list(enumerate(value))
    kept = items[:MAX_ITEMS]
    if isinstance(value, Mapping):
        result: dict[str, JsonValue] = {
            budget.text(_text(key), MAX_KEY_CHARS): safe_value(item, budget, limit, depth + 1) for key, item in kept
        }
        if len(items) > MAX_ITEMS:
            result["..."] = f"+{len(items) - MAX_ITEMS} more"
        return result
    listed: list[JsonValue] = [safe_value(item, budget, limit, depth + 1) for _, item in kept]
    if len(items) > MAX_ITEMS:
        listed.append(f"...+{len(items) - MAX_ITEMS} more")
    return listed


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001 -- a value that cannot be shown must not cost the log line
        return f"<{type(value).__name__}>"
