"""Errors the domain raises, each with a message a person can act on."""

from __future__ import annotations


class TrailGuardError(Exception):
    """Base class of the errors TrailGuard raises on purpose."""


class ConfigurationError(TrailGuardError):
    """A configuration variable is missing or invalid; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class EventParseError(TrailGuardError):
    """An event that cannot be understood; retrying cannot fix it."""
