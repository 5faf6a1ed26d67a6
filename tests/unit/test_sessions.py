"""The session factory: one AssumeRole per account while its credentials last, parallel across accounts, bounded.

AWS is moto (in-process); the harness's interception hook counts AssumeRole calls, slows them down to let
threads meet, and raises the refusals AWS would.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from harness.calls import ApiCalls
from harness.faults import Faults
from harness.intercept import intercepting
from trailguard.sessions import (
    CLIENT_CONFIG,
    AccessError,
    SessionFactory,
    client_config,
    is_transient,
    without_account_host,
)

ROLE = "TrailGuardRemediation"
OWN = "123456789012"  # moto's account for the fixture's fake credentials
MEMBER = "333333333333"
OTHER_MEMBER = "012345678901"
HOME = "eu-west-1"


class Clock:
    """A clock the test moves by hand; it starts at the real time, as moto's credential expiry does."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def factory(aws: None, clock: Clock) -> SessionFactory:
    return SessionFactory(ROLE, clock=clock)


def assume_roles(calls: ApiCalls) -> int:
    return calls.counter()["AssumeRole"]


def test_one_assume_role_per_account_serves_every_service_and_region(
    factory: SessionFactory, api_calls: ApiCalls
) -> None:
    cloudtrail = factory.client("cloudtrail", MEMBER, HOME)
    factory.client("cloudtrail", MEMBER, "us-east-1")
    factory.client("kms", MEMBER, HOME)

    assert factory.client("cloudtrail", MEMBER, HOME) is cloudtrail
    assert assume_roles(api_calls) == 1


def test_clients_of_another_account_act_as_its_remediation_role(factory: SessionFactory) -> None:
    identity = factory.client("sts", MEMBER, HOME).get_caller_identity()

    assert identity["Account"] == MEMBER
    assert identity["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/{ROLE}/trailguard"


def test_own_account_is_asked_once_and_served_with_the_function_credentials(
    factory: SessionFactory, api_calls: ApiCalls
) -> None:
    assert factory.own_account == OWN
    identity = factory.client("sts", OWN, HOME).get_caller_identity()
    factory.client("cloudtrail", OWN, HOME)

    assert factory.own_account == OWN
    assert identity["Arn"].endswith(":user/moto")  # the function's own identity, no role assumed
    assert assume_roles(api_calls) == 0
    assert api_calls.counter()["GetCallerIdentity"] == 2  # the factory's one, and the test's


def test_a_given_own_account_needs_no_call(aws: None, api_calls: ApiCalls) -> None:
    factory = SessionFactory(ROLE, own_account="222222222222")

    assert factory.own_account == "222222222222"
    assert api_calls.calls == []


def test_credentials_are_kept_until_shortly_before_they_expire(
    factory: SessionFactory, clock: Clock, api_calls: ApiCalls
) -> None:
    first = factory.client("cloudtrail", MEMBER, HOME)

    clock.advance(minutes=44)  # one hour credentials, renewed 15 minutes before they expire
    assert factory.client("cloudtrail", MEMBER, HOME) is first
    assert assume_roles(api_calls) == 1

    clock.advance(minutes=2)
    renewed = factory.client("cloudtrail", MEMBER, HOME)
    assert renewed is not first  # a client signs with the keys it was built with
    assert assume_roles(api_calls) == 2
    assert renewed.describe_trails()["trailList"] == []


def test_credentials_are_asked_for_one_hour(factory: SessionFactory) -> None:
    seen: list[dict[str, Any]] = []
    with intercepting(lambda client, operation, params: seen.append(params) if operation == "AssumeRole" else None):
        factory.client("cloudtrail", MEMBER, HOME)

    assert seen == [
        {"RoleArn": f"arn:aws:iam::{MEMBER}:role/{ROLE}", "RoleSessionName": "trailguard", "DurationSeconds": 3600}
    ]


def test_release_drops_the_clients_of_an_account_and_keeps_its_credentials(
    factory: SessionFactory, api_calls: ApiCalls
) -> None:
    client = factory.client("cloudtrail", MEMBER, HOME)
    released = weakref.ref(client)
    del client

    factory.release(MEMBER)
    gc.collect()

    assert released() is None  # nothing in the factory holds it any more
    factory.client("cloudtrail", MEMBER, HOME)
    assert assume_roles(api_calls) == 1


def test_release_of_the_own_account_keeps_its_clients(aws: None) -> None:
    factory = SessionFactory(ROLE, own_account=OWN)
    sns = factory.client("sns", OWN, HOME)

    factory.release(OWN)

    assert factory.client("sns", OWN, HOME) is sns


def test_only_the_most_recently_used_accounts_stay_warm(aws: None, api_calls: ApiCalls) -> None:
    factory = SessionFactory(ROLE, own_account=OWN, max_accounts=2)
    for account in (MEMBER, OTHER_MEMBER, "444444444444"):
        factory.client("cloudtrail", account, HOME)

    assert factory.warm_accounts() == [OTHER_MEMBER, "444444444444"]
    factory.client("cloudtrail", MEMBER, HOME)
    assert assume_roles(api_calls) == 4


def test_a_refused_assume_role_is_an_access_error_naming_the_account(factory: SessionFactory, faults: Faults) -> None:
    faults.fail("AssumeRole", "AccessDenied", "User is not authorized to perform: sts:AssumeRole", 403)

    with pytest.raises(AccessError) as refused:
        factory.client("cloudtrail", MEMBER, HOME)

    assert refused.value.account == MEMBER
    assert refused.value.role == f"arn:aws:iam::{MEMBER}:role/{ROLE}"
    assert refused.value.code == "AccessDenied"
    assert "templates/member.yaml" in str(refused.value)
    faults.clear()  # the member stack is deployed: the next event gets through
    assert factory.client("cloudtrail", MEMBER, HOME).describe_trails()["trailList"] == []


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("ServiceUnavailable", 503), ("Unknown", 500)])
def test_a_transient_refusal_is_raised_for_lambda_to_retry(
    factory: SessionFactory, faults: Faults, code: str, status: int
) -> None:
    faults.fail("AssumeRole", code, status=status)

    with pytest.raises(ClientError) as raised:
        factory.client("cloudtrail", MEMBER, HOME)

    assert not isinstance(raised.value, AccessError)
    assert is_transient(raised.value)


class SlowAssumeRole:
    """AssumeRole takes `seconds`; each call's (account, start, end) is recorded."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[tuple[str, float, float]] = []

    def __call__(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        if operation == "AssumeRole":
            start = time.monotonic()
            time.sleep(self.seconds)
            self.calls.append((params["RoleArn"].split(":")[4], start, time.monotonic()))


def in_threads(*calls: Any) -> list[Any]:
    """Run the calls at once, one thread each; their results in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_threads_asking_for_one_account_assume_its_role_once(aws: None) -> None:
    factory = SessionFactory(ROLE, own_account=OWN)
    slow = SlowAssumeRole(0.3)

    with intercepting(slow):
        first, second = in_threads(
            lambda: factory.client("cloudtrail", MEMBER, HOME), lambda: factory.client("cloudtrail", MEMBER, HOME)
        )

    assert len(slow.calls) == 1
    assert first is second


def test_different_accounts_assume_their_roles_in_parallel(aws: None) -> None:
    factory = SessionFactory(ROLE, own_account=OWN)
    factory.client("sts", OWN, HOME)  # the STS client both threads use
    slow = SlowAssumeRole(0.5)

    with intercepting(slow):
        in_threads(
            lambda: factory.client("cloudtrail", MEMBER, HOME),
            lambda: factory.client("cloudtrail", OTHER_MEMBER, HOME),
        )

    first, second = sorted(slow.calls, key=lambda call: call[1])
    assert {first[0], second[0]} == {MEMBER, OTHER_MEMBER}
    assert second[1] < first[2]  # the second began while the first was still waiting for STS


def test_clients_are_built_from_the_given_session(aws: None) -> None:
    base = boto3.Session(region_name=HOME)
    operations: list[str] = []
    base.events.register("before-call", lambda model, **_: operations.append(model.name))
    factory = SessionFactory(ROLE, base=base)

    factory.client("cloudtrail", MEMBER, HOME).describe_trails()

    assert operations == ["GetCallerIdentity", "AssumeRole", "DescribeTrails"]


def test_the_duration_must_outlast_the_refresh_margin() -> None:
    with pytest.raises(ValueError, match="refresh_margin"):
        SessionFactory(ROLE, duration=timedelta(minutes=15))


def test_s3_at_a_configured_endpoint_uses_path_style_addressing() -> None:
    assert client_config("s3", "http://127.0.0.1:5000").s3 == {"addressing_style": "path"}
    assert client_config("s3", None) is CLIENT_CONFIG
    assert client_config("cloudtrail", "http://127.0.0.1:5000") is CLIENT_CONFIG


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://123456789012.127.0.0.1:5000/v20180820/configuration/publicAccessBlock",
            "http://127.0.0.1:5000/v20180820/configuration/publicAccessBlock",
        ),
        ("http://127.0.0.1:5000/v20180820/configuration", "http://127.0.0.1:5000/v20180820/configuration"),
        (
            "https://123456789012.s3-control.eu-west-1.amazonaws.com/v20180820/configuration",
            "https://123456789012.s3-control.eu-west-1.amazonaws.com/v20180820/configuration",
        ),
    ],
)
def test_s3_control_requests_go_to_the_configured_endpoint_itself(url: str, expected: str) -> None:
    assert without_account_host(url, "http://127.0.0.1:5000") == expected
