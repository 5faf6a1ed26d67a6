"""Fixtures shared by every test: fake credentials, and under moto a simulated organization with the stack."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from harness.calls import ApiCalls, counting
from harness.faults import Faults, injecting
from harness.org import SimulatedOrg, build_org
from harness.stack import InProcessStack
from trailguard.observability import logger


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach AWS: fake credentials, a fixed region, tracing off."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")


@pytest.fixture
def org() -> Iterator[SimulatedOrg]:
    with mock_aws():
        yield build_org()


@pytest.fixture
def stack(org: SimulatedOrg, monkeypatch: pytest.MonkeyPatch) -> InProcessStack:
    return InProcessStack(org, monkeypatch.setenv)


@pytest.fixture
def api_calls() -> Iterator[ApiCalls]:
    with counting() as calls:
        yield calls


@pytest.fixture
def faults() -> Iterator[Faults]:
    with injecting() as injected:
        yield injected


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """What the package logger writes during the test."""
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        yield stream
    finally:
        logger.registered_handler.setStream(previous)


def only(findings: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(findings) == 1, json.dumps(findings, indent=1)[:3000]
    return findings[0]
