"""An organization of N accounts x R regions on a moto server of its own, for `demo.scale`.

`python -m demo.scale_org --accounts 1000` applies `harness.moto_fixes`, builds the central stack's resources
as `harness.org.build_org` does (the central key, bucket, topic, state table and sweep queues, through boto3
under an in-process mock), then seeds the organization straight into moto's backends (Organizations, every
account's forwarding rule in every region, the trails), prints one JSON line describing it and serves it over
HTTP until it is terminated. Seeding the backends directly takes seconds where 17,000 forwarding rules through
HTTP calls would take minutes; what TrailGuard then reads is moto's ordinary answer to its ordinary calls.

The server runs in a process of its own so that its state and its CPU are not the measured process's (a Lambda
function does not hold AWS's state either). It answers one request at a time (a lock around moto's WSGI
application): moto's backends are not written for concurrent requests (two UpdateItem ADD on one item at once
could lose one), and the measured latency is injected on the client side anyway. `quicken_moto` removes four
per-request costs of moto's that grow with the simulated organization rather than with TrailGuard's requests.

The organization (`plan_trails`): the management account owns a multi-region organization trail; every other
account a multi-region trail "audit" in the central key's region, and every second account a single-region
trail "regional" in one of the other regions: 1.5 trails per account on average, all on the central key and
delivering to the central bucket, but a few drifted ones (`DRIFT_NO_KEY`, `DRIFT_STOPPED`). The key and bucket
policies are those `trailguard policy` prints for the organization: per account while that fits AWS's size
limits, else organization-wide.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.org import (
    CENTRAL,
    FORWARDER,
    HOME,
    MANAGEMENT,
    STACK_NAME,
    SimulatedOrg,
)

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "trailguard"
# The 17 regions an AWS account has enabled by default (the opt-in regions are not).
DEFAULT_REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
ORGANIZATION_TRAIL = "organization"
# The drifted "audit" trails: accounts whose index is 19 modulo 20 have no key (TrailGuard puts the central key
# back), 9 modulo 40 do not log (TrailGuard starts it): 8 trails of 150 at 100 accounts.
DRIFT_NO_KEY = (20, 19)
DRIFT_STOPPED = (40, 9)
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True, slots=True)
class TrailPlan:
    account: str
    name: str
    region: str
    multi_region: bool = True
    central_key: bool = True
    logging: bool = True
    organization: bool = False

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudtrail:{self.region}:{self.account}:trail/{self.name}"

    @property
    def drifted(self) -> bool:
        return not (self.central_key and self.logging)


def account_ids(count: int) -> list[str]:
    """`count` accounts (at least the management and central accounts), management first."""
    members = [f"{400_000_000_000 + number:012d}" for number in range(max(count - 2, 0))]
    return [MANAGEMENT, CENTRAL, *members]


def plan_trails(accounts: Sequence[str], regions: Sequence[str]) -> list[TrailPlan]:
    """The trails of the simulated organization (see the module's docstring)."""
    others = [region for region in regions if region != HOME] or [HOME]
    plans: list[TrailPlan] = []
    for index, account in enumerate(accounts):
        if account == MANAGEMENT:
            plans.append(TrailPlan(account, ORGANIZATION_TRAIL, HOME, organization=True))
            continue
        plans.append(
            TrailPlan(
                account,
                "audit",
                HOME,
                central_key=index % DRIFT_NO_KEY[0] != DRIFT_NO_KEY[1],
                logging=index % DRIFT_STOPPED[0] != DRIFT_STOPPED[1],
            )
        )
        if index % 2 == 1:
            plans.append(TrailPlan(account, "regional", others[index // 2 % len(others)], multi_region=False))
    return plans


@dataclass
class ScaleOrg(SimulatedOrg):
    """The simulated organization at scale: listed through Organizations (TRAILGUARD_ACCOUNTS stays empty, as
    Lambda's 4 KB of environment could not hold 1,000 account ids) and swept in `regions`."""

    regions: tuple[str, ...] = (HOME,)
    endpoint: str = ""
    trails: tuple[str, ...] = ()  # ARNs
    drifted: tuple[str, ...] = ()
    key_policy_form: str = ""  # per account, or organization-wide
    bucket_policy_form: str = ""

    def parameters(self) -> dict[str, str]:
        return {**super().parameters(), "Accounts": "", "Regions": ",".join(self.regions)}

    def describe(self) -> dict[str, Any]:
        """What the server prints and the measuring process rebuilds the organization from."""
        data = asdict(self)
        for name in ("sessions", "summaries", "held"):
            data.pop(name)
        return data

    @classmethod
    def from_description(cls, data: dict[str, Any]) -> ScaleOrg:
        tuples = ("members", "regions", "trails", "drifted")
        values: dict[str, Any] = {name: tuple(value) if name in tuples else value for name, value in data.items()}
        return cls(**values)


# ---------------------------------------------------------------------------------------------------------------
# In the server's process: build, seed, serve.
# ---------------------------------------------------------------------------------------------------------------


def seed(base: SimulatedOrg, accounts: Sequence[str], regions: Sequence[str]) -> list[TrailPlan]:
    """The organization, forwarding rules and trails, straight into moto's backends (an active mock's, or this
    server's: they are the same objects). Returns the trails."""
    from moto.cloudtrail.models import cloudtrail_backends
    from moto.events.models import events_backends
    from moto.organizations.models import organizations_backends

    organizations = organizations_backends[MANAGEMENT]["aws"]
    organizations.create_organization(region="us-east-1", FeatureSet="ALL")
    assert organizations.org is not None
    organizations.org.id = base.org_id  # the id the policies name
    for account in accounts:
        if account == MANAGEMENT:
            continue
        organizations.create_account(AccountName=f"account-{account}", Email=f"aws+{account}@example.com")
        created = organizations.accounts[-1]  # moto draws a random id: the simulation's id replaces it
        organizations_backends.master_accounts[account] = organizations_backends.master_accounts.pop(created.id)
        created.id = account
    for member in organizations.accounts:
        member.organization_id = base.org_id
    pattern = json.dumps({"source": ["aws.cloudtrail"]})
    for account in accounts:
        for region in regions:
            rule = f"{STACK_NAME}-forward" if (account, region) == (base.central, HOME) else FORWARDER
            backend = events_backends[account][region]
            backend.put_rule(rule, event_pattern=pattern, state="ENABLED")
            backend.put_targets(rule, None, [{"Id": "central-bus", "Arn": base.bus_arn}])
    plans = plan_trails(accounts, regions)
    for plan in plans:
        trail = cloudtrail_backends[plan.account][plan.region].create_trail(
            plan.name,
            base.bucket,
            "",
            "",
            True,
            plan.multi_region,
            True,
            plan.organization,
            "",
            "",
            base.key_arn if plan.central_key else "",
            [],
        )
        if plan.logging:
            trail.start_logging()
    return plans


def fitting_policies(base: SimulatedOrg, accounts: Sequence[str]) -> tuple[str, str]:
    """The key and bucket policies `trailguard policy` prints for these accounts (the form that fits: per account
    while the policy fits, else organization-wide), in place of build_org's; returns the two forms."""
    from trailguard.policy import bucket_policy, key_policy

    members = [account for account in accounts if account != MANAGEMENT]
    key = key_policy(
        CENTRAL, management_account=MANAGEMENT, org_id=base.org_id, trail_accounts=members, key_arn=base.key_arn
    )
    bucket = bucket_policy(base.bucket, members, MANAGEMENT, base.org_id)
    base.client("kms", CENTRAL).put_key_policy(KeyId=base.key_arn, PolicyName="default", Policy=json.dumps(key))
    base.client("s3", CENTRAL).put_bucket_policy(Bucket=base.bucket, Policy=json.dumps(bucket))
    return policy_form(key), policy_form(bucket)


def policy_form(policy: dict[str, Any]) -> str:
    return "organization-wide" if "aws:SourceOrgID" in json.dumps(policy) else "per account"


def build(count: int, regions: Sequence[str]) -> ScaleOrg:
    """The organization in this process's moto backends (call under an active mock)."""
    from harness.org import build_org

    base = build_org()
    accounts = account_ids(count)
    key_form, bucket_form = fitting_policies(base, accounts)
    plans = seed(base, accounts, regions)
    return ScaleOrg(
        key_arn=base.key_arn,
        topic_arn=base.topic_arn,
        queue_url=base.queue_url,
        sweep_queue_url=base.sweep_queue_url,
        sweep_dead_letter_url=base.sweep_dead_letter_url,
        members=tuple(accounts[2:]),
        regions=tuple(regions),
        trails=tuple(plan.arn for plan in plans),
        drifted=tuple(plan.arn for plan in plans if plan.drifted),
        key_policy_form=key_form,
        bucket_policy_form=bucket_form,
    )


SIMULATOR_HEADER = "x-simulator-seconds"  # from a request's arrival in moto's application to its answer


class _OneAtATime:
    """moto's WSGI application, one request at a time (see the module's docstring). Each answer carries, in
    SIMULATOR_HEADER, the seconds the request spent in the server (waiting for its turn included), so that the
    measuring process can tell the simulator's time from its own."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        arrived = time.perf_counter()
        answer: list[Any] = []
        written: list[bytes] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers, exc_info]
            return written.append

        with self._lock:
            body = list(self._app(environ, start))
        status, headers, exc_info = answer
        start_response(status, [*headers, (SIMULATOR_HEADER, f"{time.perf_counter() - arrived:.6f}")], exc_info)
        return [*written, *body]


def quicken_moto() -> None:
    """Costs moto's server pays per request that grow with the simulation rather than with what TrailGuard asks
    (real AWS does not pay them):

    - finding the account of an access key scans every account's IAM backend (at 1,000 accounts, a few thousand
      lookups per request): a key's account, once found, is remembered (keys are unique; an unknown key is
      looked up again);
    - telling a module name from a host name lists moto's package folder: listed once;
    - Query reads every item of the table (`_query_one_partition`);
    - SendMessage and ReceiveMessage read every attribute of the queue, its approximate message counts among
      them, three passes over every message in the queue for each message sent or received (at 1,000 messages,
      8 s for the planner's sends and 0.2 s per receive, while the server answers nothing else): the counts are
      computed only when GetQueueAttributes is answered."""
    from moto import backends
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam import models

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    scan = models.get_account_id_from
    known: dict[str, str] = {}

    def account_of(access_key: str) -> str:
        account = known.get(access_key)
        if account is None:
            account = scan(access_key)
            if account != DEFAULT_ACCOUNT_ID:
                known[access_key] = account
        return account

    models.get_account_id_from = account_of

    from moto.sqs import models as sqs
    from moto.sqs import responses

    counting = threading.local()
    for name in COUNTS:
        _count_when_asked(sqs.Queue, name, counting)
    answer = responses.SQSResponse.get_queue_attributes

    def get_queue_attributes(response: Any) -> Any:
        counting.active = True
        try:
            return answer(response)
        finally:
            counting.active = False

    responses.SQSResponse.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign,assignment]
    _query_one_partition()


def _query_one_partition() -> None:
    """moto's Query reads the table's every item, sorted, then keeps the partition's: with a state table of a
    few thousand items (the inventory, the ledger, the sweeps' rows), 50 ms per Query. Here a Query of the
    table itself (not of an index) reads the partition alone, which is what it keeps anyway."""
    from moto.dynamodb.models import table as dynamodb

    partition = threading.local()
    every = dynamodb.Table.all_items
    ask = dynamodb.Table.query

    def all_items(table: Any) -> Any:
        key = getattr(partition, "key", None)
        if key is None:
            return every(table)
        return sorted(table.items.get(key, {}).values(), key=lambda item: item.range_key)

    def query(table: Any, hash_key: Any, *arguments: Any, **keywords: Any) -> Any:
        index_name = arguments[6] if len(arguments) > 6 else keywords.get("index_name")
        if index_name is None and hash_key is not None and table.range_key_attr:
            partition.key = hash_key
        try:
            return ask(table, hash_key, *arguments, **keywords)
        finally:
            partition.key = None

    dynamodb.Table.all_items = all_items  # type: ignore[method-assign,assignment]
    dynamodb.Table.query = query  # type: ignore[method-assign,assignment]


# A queue's approximate message counts: a pass over every message each (moto).
COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _count_when_asked(queue: type, name: str, counting: threading.local) -> None:
    """The property `name` of moto's queue: counted when GetQueueAttributes is being answered, else 0."""
    counted: Any = queue.__dict__[name]

    def count(self: Any) -> int:
        return int(counted.fget(self)) if getattr(counting, "active", False) else 0

    setattr(queue, name, property(count))


def serve(count: int, regions: Sequence[str]) -> None:
    """Build and seed, print the organization as one JSON line, then serve until terminated."""
    import logging

    from moto import mock_aws
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from harness import moto_fixes

    moto_fixes.apply()
    quicken_moto()
    os.environ.update({**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": HOME, "AWS_REGION": HOME})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    mock = mock_aws()
    mock.start()
    org = build(count, regions)
    mock.stop(remove_data=False)  # the backends stay; the server answers from them
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(
        "127.0.0.1",
        0,
        _OneAtATime(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    host, port = server.server_address[:2]
    org.endpoint = f"http://{host!s}:{port}"
    print(json.dumps(org.describe()), flush=True)
    server.serve_forever()


# ---------------------------------------------------------------------------------------------------------------
# In the measuring process.
# ---------------------------------------------------------------------------------------------------------------


@contextmanager
def scale_server(count: int, regions: Sequence[str]) -> Iterator[ScaleOrg]:
    """A seeded server in a process of its own for the duration of the block; yields its organization."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)])}
    environment.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "demo.scale_org", "--accounts", str(count), "--regions", *regions],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            error = process.stderr.read() if process.stderr else ""
            raise RuntimeError(f"the simulated organization did not start: {error.strip()[-2000:]}")
        yield ScaleOrg.from_description(json.loads(line))
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--regions", nargs="+", default=list(DEFAULT_REGIONS))
    arguments = parser.parse_args(argv)
    serve(arguments.accounts, arguments.regions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
