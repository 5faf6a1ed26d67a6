"""Deliver an event the way EventBridge and Lambda would: match the rules, then run the handler in-process.

- `route(event, specs)`: the functions whose rule patterns (from template.yaml) match the event.
- `invoke(spec, event, context)`: import the function's handler from its CodeUri, with the layers'
  import roots on `sys.path` (as Lambda puts /opt/python there), and call it.

Each function's modules are imported under their own names (`_trailguard_fn.<LogicalId>.app`), so two
functions' `app.py` never clash, and a module is loaded once per function and process (no reloads:
clients are never created at import time).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.pattern import matches
from harness.template import FunctionSpec, RuleSpec

_PACKAGE = "_trailguard_fn"


def matching_rules(event: Mapping[str, Any], spec: FunctionSpec) -> list[RuleSpec]:
    """The rules of `spec` whose pattern matches `event`."""
    return [rule for rule in spec.rules if matches(rule.pattern, event)]


def route(event: Mapping[str, Any], specs: Iterable[FunctionSpec]) -> list[FunctionSpec]:
    """The functions EventBridge would invoke for `event` (each once, even if several of its rules match).

    All rules of the stack live on the central bus, where every forwarded event arrives, so the bus
    is not part of the match.
    """
    return [spec for spec in specs if matching_rules(event, spec)]


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = ""
    log_stream_name: str = "2026/01/01/[$LATEST]00000000000000000000000000000000"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def lambda_context(
    spec: FunctionSpec,
    *,
    account: str = "222222222222",
    region: str = "eu-west-1",
    request_id: str | None = None,
) -> LambdaContext:
    """A context for `spec` as deployed in the central account (function name = the logical id)."""
    return LambdaContext(
        function_name=spec.logical_id,
        invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{spec.logical_id}",
        memory_limit_in_mb=int(spec.properties.get("MemorySize", 128)),
        aws_request_id=request_id or LambdaContext.aws_request_id,
        log_group_name=f"/aws/lambda/{spec.logical_id}",
        remaining_ms=int(spec.properties.get("Timeout", 3)) * 1000,
    )


def invoke(
    spec: FunctionSpec,
    event: Mapping[str, Any],
    context: Any = None,
    *,
    environment: Mapping[str, Any] | None = None,
) -> Any:
    """Run `spec`'s handler in-process on `event` and return what it returns (exceptions propagate).

    `context` defaults to `lambda_context(spec)`. `environment`, if given, is set in `os.environ` for
    the duration of the call (and restored after): e.g. the spec's resolved variables plus the ARNs
    of the moto resources standing in for the stack's topic and table.
    """
    handler = load_handler(spec)
    with _environ(environment or {}), _on_sys_path(spec.code_uri):
        return handler(dict(event), context if context is not None else lambda_context(spec))


def load_handler(spec: FunctionSpec) -> Any:
    """The handler callable of `spec`, imported from its CodeUri with its layers importable."""
    for folder in reversed(spec.layers_dirs):
        _prepend_sys_path(folder)
    module = _load_module(spec)
    handler = getattr(module, spec.handler_function, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {spec.handler_file} has no callable {spec.handler_function!r}")
    return handler


def load_module(spec: FunctionSpec) -> ModuleType:
    """The handler module of `spec` (imported once per function and process, as a warm container keeps it)."""
    load_handler(spec)
    return _load_module(spec)


def _load_module(spec: FunctionSpec) -> ModuleType:
    package = _function_package(spec)
    name = f"{package.__name__}.{spec.handler_module}"
    if name in sys.modules:
        return sys.modules[name]
    path = spec.handler_file
    if not path.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler file {path} does not exist (Handler {spec.handler})")
    for parent in _parents(spec.handler_module):
        _package(f"{package.__name__}.{parent}", spec.code_uri.joinpath(*parent.split(".")))
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    before = set(sys.modules)
    try:
        with _on_sys_path(spec.code_uri):  # Lambda's task root: `import sibling` works as deployed
            module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        _forget_siblings(set(sys.modules) - before - {name}, spec.code_uri)
    return module


def _forget_siblings(names: set[str], code_uri: Path) -> None:
    """Drop from sys.modules the modules a handler imported from its own folder (`import helpers`).

    The handler keeps its references; the next function with a `helpers.py` imports its own.
    """
    for module_name in names:
        file = getattr(sys.modules.get(module_name), "__file__", None)
        if file and Path(file).resolve().is_relative_to(code_uri):
            del sys.modules[module_name]


def _function_package(spec: FunctionSpec) -> ModuleType:
    """A package per function whose path is the CodeUri: the handler's relative imports resolve there."""
    _package(_PACKAGE, None)
    return _package(f"{_PACKAGE}.{spec.logical_id}", spec.code_uri)


def _package(name: str, folder: Path | None) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    package = ModuleType(name)
    package.__path__ = [str(folder)] if folder is not None else []
    package.__package__ = name
    sys.modules[name] = package
    return package


def _parents(module: str) -> list[str]:
    parts = module.split(".")[:-1]
    return [".".join(parts[: index + 1]) for index in range(len(parts))]


def _prepend_sys_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)


@contextmanager
def _on_sys_path(folder: Path) -> Iterator[None]:
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


@contextmanager
def _environ(values: Mapping[str, Any]) -> Iterator[None]:
    unresolved = sorted(name for name, value in values.items() if not isinstance(value, (str, int, float)))
    if unresolved:
        raise ValueError(
            f"environment variables without a value: {unresolved} (give functions() values for the "
            "resources they refer to, e.g. parameters={'FindingsTopic': topic_arn, 'IdempotencyTable': name})"
        )
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: str(value) for name, value in values.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
