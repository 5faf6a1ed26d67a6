"""A handler's memory does not grow with the organization: clients for N accounts x R regions, one factory.

`measure_memory()` starts moto's server in a process of its own (its state is not ours to count), then, for
each N, a fresh interpreter asks one SessionFactory for clients in N accounts x R regions the way the sweep
does (one call per client, the account released when its work is done) and reports its peak RSS growth.
`creation_times()` compares building a client from the factory's shared botocore session with building it
from a new boto3.Session per account, as TrailGuard did before.

    python -m demo.memory                     # N = 10, 100, 1000; 2 regions
    python -m demo.memory --accounts 10 50 --regions eu-west-1 us-east-1 eu-central-1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "trailguard"
ACCOUNTS = (10, 100, 1000)
REGIONS = ("eu-west-1", "us-east-1")
OWN_ACCOUNT = "123456789012"  # moto's account for the fake credentials below
ROLE = "TrailGuardRemediation"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# One cheap read per client, as the sweep reads each account and region.
CALLS: dict[str, Callable[[Any], object]] = {
    "cloudtrail": lambda client: client.describe_trails(includeShadowTrails=False),
    "kms": lambda client: client.list_aliases(Limit=1),
}


@dataclass(frozen=True)
class MemoryFigure:
    accounts: int
    regions: int
    clients: int
    baseline_mib: float  # RSS once imports are done, before the first client
    growth_mib: float  # peak RSS minus the baseline
    seconds: float  # the whole sweep
    client_seconds: float  # in SessionFactory.client (AssumeRole included)

    @property
    def ms_per_client(self) -> float:
        return self.client_seconds * 1000 / self.clients

    @property
    def ms_per_call(self) -> float:
        return (self.seconds - self.client_seconds) * 1000 / self.clients

    def line(self) -> str:
        return (
            f"{self.accounts:6} accounts x {self.regions} regions: {self.clients:5} clients, "
            f"peak RSS growth {self.growth_mib:6.1f} MiB (baseline {self.baseline_mib:.1f} MiB), "
            f"{self.ms_per_client:5.1f} ms per client (AssumeRole included), {self.ms_per_call:5.1f} ms per call"
        )


def account_ids(count: int) -> list[str]:
    return [f"{100000000000 + number:012d}" for number in range(1, count + 1)]


def rss_mib() -> float:
    """Resident memory now."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """The highest resident memory of this interpreter so far.

    Read from /proc (the high-water mark of this process image): getrusage's ru_maxrss would carry the peak of
    the process that started this one across exec.
    """
    return _status_mib("VmHWM")


def _status_mib(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: the peak, in KiB (bytes on macOS)
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def scan(factory: Any, accounts: Sequence[str], regions: Sequence[str]) -> tuple[int, float]:
    """What the sweep does to each account: a client per service and region, one call each, then release.

    Returns the number of clients and the seconds spent getting them (AssumeRole included, calls excluded).
    """
    clients, seconds = 0, 0.0
    for account in accounts:
        for region in regions:
            for service, call in CALLS.items():
                start = time.perf_counter()
                client = factory.client(service, account, region)
                seconds += time.perf_counter() - start
                call(client)
                clients += 1
        factory.release(account)
    return clients, seconds


def child(accounts: int, regions: Sequence[str]) -> MemoryFigure:
    """In this (fresh) interpreter, against the endpoint in AWS_ENDPOINT_URL: one sweep of `accounts` accounts."""
    import gc

    from trailguard.sessions import SessionFactory

    gc.collect()
    baseline = rss_mib()
    factory = SessionFactory(ROLE, own_account=OWN_ACCOUNT)
    start = time.perf_counter()
    clients, client_seconds = scan(factory, account_ids(accounts), regions)
    seconds = time.perf_counter() - start
    return MemoryFigure(accounts, len(regions), clients, baseline, peak_rss_mib() - baseline, seconds, client_seconds)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free local port, in a process of its own; yields its URL."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - this interpreter, moto's own entry point
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure_memory(counts: Sequence[int] = ACCOUNTS, regions: Sequence[str] = REGIONS) -> dict[int, MemoryFigure]:
    """Peak RSS growth of one sweep through the factory, for each number of accounts (fresh interpreter each)."""
    figures: dict[int, MemoryFigure] = {}
    with moto_server() as endpoint:
        environment = {
            **os.environ,
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": regions[0],
            "AWS_REGION": regions[0],
            "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)]),
        }
        for count in counts:
            output = subprocess.run(  # noqa: S603 - this interpreter, this module
                [sys.executable, "-m", "demo.memory", "--child", str(count), "--regions", *regions],
                capture_output=True,
                text=True,
                env=environment,
                check=True,
                cwd=ROOT,
            )
            figures[count] = MemoryFigure(**json.loads(output.stdout.strip().splitlines()[-1]))
    return figures


def creation_times(services: Sequence[str] = ("cloudtrail", "kms", "s3"), repeat: int = 10) -> dict[str, float]:
    """Milliseconds to build one client for another account (credentials already assumed), median per service.

    `factory <service>`: the SessionFactory, from its shared botocore session; `boto3.Session <service>`: a new
    boto3.Session with the account's keys, then its client (the previous design, once per account).
    """
    import boto3
    from moto import mock_aws

    from trailguard.sessions import CLIENT_CONFIG, SessionFactory

    os.environ.update({**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGIONS[0], "AWS_REGION": REGIONS[0]})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    member = account_ids(1)[0]
    times: dict[str, float] = {}
    with mock_aws():
        factory = SessionFactory(ROLE, own_account=OWN_ACCOUNT)
        for service in services:
            factory.client(service, member, REGIONS[0])  # assumes the role, loads the service model
            samples = []
            for _ in range(repeat):
                factory.release(member)
                start = time.perf_counter()
                factory.client(service, member, REGIONS[0])
                samples.append(time.perf_counter() - start)
            times[f"factory {service}"] = statistics.median(samples) * 1000
        keys = {"aws_access_key_id": "ASIA0000", "aws_secret_access_key": "secret", "aws_session_token": "token"}
        for service in services:
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                boto3.Session(**keys).client(service, region_name=REGIONS[0], config=CLIENT_CONFIG)
                samples.append(time.perf_counter() - start)
            times[f"boto3.Session {service}"] = statistics.median(samples) * 1000
    return times


def flat(figures: dict[int, MemoryFigure], low: int, high: int, tolerance: float = 0.2) -> bool:
    """Growth at `high` accounts within `tolerance` of the growth at `low` accounts."""
    return figures[high].growth_mib <= figures[low].growth_mib * (1 + tolerance)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, nargs="+", default=list(ACCOUNTS))
    parser.add_argument("--regions", nargs="+", default=list(REGIONS))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child is not None:
        figure = child(arguments.child, arguments.regions)
        print(json.dumps(figure.__dict__))
        return 0

    print("Client creation for another account (credentials assumed; median of 10)")
    for label, milliseconds in creation_times().items():
        print(f"  {label:26} {milliseconds:7.1f} ms")
    print(f"\nPeak RSS growth of one sweep through the SessionFactory (moto server; {', '.join(CALLS)} per region)")
    figures = measure_memory(arguments.accounts, arguments.regions)
    for figure in figures.values():
        print(f"  {figure.line()}")
    counts = sorted(figures)
    if len(counts) >= 2:
        verdict = "yes" if flat(figures, counts[-2], counts[-1]) else "NO"
        print(f"  flat within 20 % from {counts[-2]} to {counts[-1]} accounts: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
