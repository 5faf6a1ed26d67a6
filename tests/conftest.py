"""Fixtures shared by every test: fake credentials, and under moto a simulated organization with the stack."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest
from moto import mock_aws

from harness.org import SimulatedOrg, build_org
from harness.stack import InProcessStack


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test can reach AWS: fake credentials, a fixed region, tracing off; caches start empty."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_DEV", "false")
    from trailguard import centralkey, sessions

    centralkey.forget()
    sessions._CALLER_ACCOUNT.clear()
    yield
    centralkey.forget()


@pytest.fixture
def org() -> Iterator[SimulatedOrg]:
    with mock_aws():
        yield build_org()


@pytest.fixture
def stack(org: SimulatedOrg, monkeypatch: pytest.MonkeyPatch) -> InProcessStack:
    return InProcessStack(org, monkeypatch.setenv)


class ApiCalls:
    """Counts every AWS API call made through botocore (operation names, in order)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def reset(self) -> None:
        self.calls.clear()

    def count(self, *, excluding: tuple[str, ...] = ("AssumeRole",)) -> int:
        return sum(1 for call in self.calls if call not in excluding)

    def writes(self) -> list[str]:
        prefixes = ("Get", "List", "Describe", "AssumeRole", "Publish", "Receive", "Head")
        return [call for call in self.calls if not call.startswith(prefixes)]

    def counter(self) -> Counter[str]:
        return Counter(self.calls)


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> ApiCalls:
    calls = ApiCalls()
    original = botocore.client.BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    return calls


def only(findings: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(findings) == 1, json.dumps(findings, indent=1)[:3000]
    return findings[0]
