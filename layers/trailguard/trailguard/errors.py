"""Errors the domain raises, each with a message a person can act on."""

from __future__ import annotations

from typing import Any

# A reason names the problem; it never carries the event's values whole.
MAX_REASON_CHARS = 512
MAX_SHOWN_CHARS = 64


class TrailGuardError(Exception):
    """Base class of the errors TrailGuard raises on purpose."""


class ConfigurationError(TrailGuardError):
    """A configuration variable is missing or invalid; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class EventParseError(TrailGuardError):
    """An event that cannot be understood; retrying cannot fix it. The reason is capped at
    MAX_REASON_CHARS and its lone surrogates escaped, so that it can be logged and returned as it is."""

    def __init__(self, reason: str) -> None:
        super().__init__(_capped(reason, MAX_REASON_CHARS))


def shown(value: Any) -> str:
    """A value from an event, as a reason quotes it: a short escaped repr of a string, the type otherwise."""
    if isinstance(value, str):
        extra = len(value) - MAX_SHOWN_CHARS
        return repr(value[:MAX_SHOWN_CHARS]) + (f"... (+{extra} chars)" if extra > 0 else "")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit integer"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def escaped(text: str) -> str:
    """`text` with its lone surrogates (which UTF-8 cannot encode) written out as \\udXXX escapes."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _capped(text: str, limit: int) -> str:
    if len(text) > limit:
        text = f"{text[:limit]}... (+{len(text) - limit} chars)"
    return escaped(text)
