"""The session factory against a local endpoint (moto's server on 127.0.0.1): AWS_ENDPOINT_URL is honoured.

S3 Control is the case that needs care: AWS serves it at `<account>.s3-control...`, and botocore puts the account
in front of a configured endpoint's host too, which a local endpoint does not answer.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from trailguard.sessions import SessionFactory

OWN = "123456789012"  # moto's account for the fixture's fake credentials
MEMBER = "333333333333"
REGION = "eu-west-1"
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    try:
        yield url
    finally:
        server.stop()


@pytest.mark.parametrize("account", [OWN, MEMBER])
def test_account_public_access_block_is_read_and_written_through_the_factory(endpoint: str, account: str) -> None:
    factory = SessionFactory("TrailGuardRemediation")
    s3control = factory.client("s3control", account, REGION)

    s3control.put_public_access_block(AccountId=account, PublicAccessBlockConfiguration=BLOCK_ALL)
    read = s3control.get_public_access_block(AccountId=account)

    assert read["PublicAccessBlockConfiguration"] == BLOCK_ALL
    assert factory.own_account == OWN  # STS answered by the local endpoint too


def test_buckets_are_addressed_by_path_at_the_local_endpoint(endpoint: str) -> None:
    factory = SessionFactory("TrailGuardRemediation", own_account=OWN)
    s3 = factory.client("s3", OWN, REGION)
    urls: list[str] = []
    s3.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))

    s3.create_bucket(Bucket="trailguard-central-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket="trailguard-central-logs", VersioningConfiguration={"Status": "Enabled"})

    assert s3.get_bucket_versioning(Bucket="trailguard-central-logs")["Status"] == "Enabled"
    assert all(url.startswith(f"{endpoint}/trailguard-central-logs") for url in urls)
