"""The deployed stack, in-process: events go through template.yaml's rules to the real handlers.

Used by the integration tests and by `make demo`, so both take the path production takes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.org import SimulatedOrg
from harness.routing import invoke, lambda_context, load_module, route
from harness.template import FunctionSpec, functions, load_template
from trailguard.settings import Settings
from trailguard.warm import Warm

SetEnv = Callable[[str, str], None]
_SETTINGS = [field.alias for field in Settings.model_fields.values() if field.alias]


class Clock:
    """The time a simulated container sees: the real time, moved forward only when a test or the demo says so."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.ahead = timedelta()

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.ahead += timedelta(seconds=seconds)


def _setenv(name: str, value: str) -> None:
    os.environ[name] = value


class InProcessStack:
    def __init__(self, org: SimulatedOrg, setenv: SetEnv = _setenv) -> None:
        self.org = org
        self._setenv = setenv
        self.specs: list[FunctionSpec] = functions(load_template(), parameters=org.parameters())
        self.specs_by_id = {spec.logical_id: spec for spec in self.specs}
        self.configure()
        for name, value in org.function_credentials().items():
            setenv(name, value)
        self.clock = Clock()
        self.cold_start()

    def cold_start(self) -> None:
        """A new deployment: every function starts in a cold container (nothing kept from an earlier stack)."""
        for spec in self.specs:
            module = load_module(spec)
            if isinstance(getattr(module, "CONTAINER", None), Warm):
                setattr(module, "CONTAINER", Warm(clock=self.clock, wall=self.clock.wall))  # noqa: B010 - the handler module's own name

    def later(self, seconds: float) -> None:
        """Let time pass for the warm containers (what they keep expires)."""
        self.clock.advance(seconds)

    def configure(self, **overrides: str) -> None:
        """Set the functions' environment as template.yaml wires it from the parameters, then the overrides
        (the variables of docs/configuration.md), e.g. configure(TRAILGUARD_MODE="report")."""
        environment = dict(self.specs[0].environment)
        unresolved = sorted(name for name, value in environment.items() if not isinstance(value, str))
        if unresolved:
            raise ValueError(f"template environment variables left unresolved: {unresolved}")
        environment.update(overrides)
        for name in _SETTINGS:  # a variable an earlier configure() set and this one does not: unset
            environment.setdefault(name, "")
        for name, value in environment.items():
            self._setenv(name, value)

    def targets(self, event: dict[str, Any]) -> list[FunctionSpec]:
        return route(event, self.specs)

    def send(self, event: dict[str, Any] | str) -> dict[str, Any]:
        """Route one event (a dict, or a path under events/); it must reach exactly one function."""
        if isinstance(event, str):
            event = self.org.event(event)
        targets = self.targets(event)
        if len(targets) != 1:
            raise AssertionError(f"event routes to {[t.logical_id for t in targets]}, not to exactly one function")
        return self.invoke(targets[0].logical_id, event)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Call one function directly, as a retry or a redelivery would."""
        spec = self.specs_by_id[logical_id]
        result: dict[str, Any] = invoke(spec, event, lambda_context(spec, account=self.org.central))
        return result
