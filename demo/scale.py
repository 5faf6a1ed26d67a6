"""The sweep, a key event and a bucket event on an organization of 100, 500 and 1,000 accounts x 17 regions.

    python -m demo.scale                               # 100, 500 and 1,000 accounts, 50 ms per AWS call
    python -m demo.scale --accounts 100 --latency-ms 0 --regions eu-west-1 us-east-1

For each size, a simulated organization (`demo.scale_org`: 1.5 trails per account on the central key, a few
drifted, a forwarding rule in every account and region) is seeded into a moto server in a process of its own.
This process then runs TrailGuard's functions as template.yaml wires them (`harness.stack.InProcessStack`),
against that server, and measures:

- **The sweep.** The schedule's event through the planner's handler; then the sweep queue drained as Lambda's
  SQS event source does it: up to `SweepWorkers` (the template's MaximumConcurrency) simulated containers at
  once, by default no more than two per core of this machine (`simulated_workers`; `--workers` sets any
  number), each a process of its own (its own interpreter, as each Lambda container has its own processor),
  started cold once and kept warm (`Warm`, hence its own `Deps` and session factory). This process is the
  event source: it hands each idle container a batch of up to BatchSize (5) messages, which the
  container runs through `trailguard.runtime.run_batch` and `trailguard.sweep.work`, the worker function's
  handler path; then it deletes the batch's messages, or makes those the invocation failed visible again.
  Receiving and deleting are the event source's work: neither counted nor delayed. The planner runs first
  and the workers after it (on AWS they would start while it sends).
- **A key event and a bucket event** (events/key/put_key_policy.json, events/bucket/put_bucket_policy_external.json,
  routed by the template's rules), in a cold container and again warm.
- **Peak memory of one invocation** (the planner; a worker batch of 5 accounts; the key event; the bucket event):
  each in a fresh interpreter against the same server, so moto's state is not in it. The interpreter imports
  every handler as Lambda's init phase does, collects garbage, resets its high-water mark
  (/proc/self/clear_refs) and reads its resident memory; the figure is the peak resident memory after the
  invocation (VmHWM) and its growth over that baseline.
- **Policy-check CPU**: `trailguard.policy.bench.policy_check_seconds` for that many accounts.

Latency: AWS answers every call the functions make (AssumeRole, TrailGuard's own DynamoDB table and SQS queue
included) in a fixed `--latency-ms` (50 ms), from the request sent to the answer received; the client's own
work (building the request, signing, parsing the answer) comes on top, as it does on AWS. The simulator's
answer counts within that latency, as AWS's servers' work counts within theirs: each call sleeps what the
simulator's answer left of the latency (a botocore hook in the invoking process). A call the simulator
answered more slowly than the latency is slower than AWS would be, and is counted ("over the latency"). 50 ms
is a plain figure for an AWS API call from Lambda; AssumeRole is nearer 150 ms, but one figure for every call
keeps the ideal simple. The ideal time of an invocation is its calls x the latency (its calls are sequential); the
ideal of the sweep is the planner's ideal plus the longer of (every worker call x latency / containers) and
the longest worker invocation's ideal. Efficiency = ideal / measured.

Where the time goes, summed over the worker invocations: the latency slept, the simulator's answers (the
seconds each request spent in moto's server, its wait for its turn included, which the server returns in a
header), the container's CPU (botocore building clients, signing, sending and parsing, and TrailGuard's code),
and waiting (the rest: sockets, and the machine's scheduler when the containers and the simulator want more
cores than it has). On AWS each container has a processor of its own; here they share the machine's cores
with each other and with the simulator ("cores the workers' CPU keeps busy"). So the table also gives an
estimate with a core per container: each invocation's ideal plus its own CPU. The machine's load average is
printed: other work on it slows every figure but the calls. The simulator answers one request at a time, so
the concurrency it can keep up with is bounded: about the latency / its time per answer, less the
containers' own CPU on a small machine; past it, its answers come later than the latency (counted as above).

Figures, not assertions: the targets are printed beside them with a verdict. The results are merged into
bench/results.json under "scale".
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, cast

import botocore.client
from botocore.exceptions import ClientError

from demo.memory import peak_rss_mib, rss_mib
from demo.scale_org import DEFAULT_REGIONS, FAKE_CREDENTIALS, LAYER, ROOT, SIMULATOR_HEADER, ScaleOrg, scale_server

SIZES = (100, 500, 1000)
LATENCY_MS = 50.0
RESULTS = ROOT / "bench" / "results.json"
OWN_STATE = ("dynamodb", "sqs")  # TrailGuard's own table and queue (as harness.calls counts them)
KEY_EVENT = "key/put_key_policy.json"
BUCKET_EVENT = "bucket/put_bucket_policy_external.json"
SCHEDULE_EVENT = "schedule/sweep.json"
MEMORY_KINDS = ("planner", "worker", "key", "bucket")
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_TRACE_DISABLED": "true"}
# The targets, at 1,000 accounts x 17 regions with 50 ms per call.
INVOCATION_LIMIT_S = 300.0
MEMORY_TOLERANCE = 0.20
EVENT_CALLS_LIMIT = 100
POLICY_LIMIT_S = 1.0
EFFICIENCY_FLOOR = 0.8
CONTAINERS_PER_CORE = 2  # simulated worker containers per core of this machine, by default (simulated_workers)


# ---------------------------------------------------------------------------------------------------------------
# Counting and delaying the calls of an invocation.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Invocation:
    """One function invocation: its AWS calls (service, operation) and where its wall time went."""

    kind: str
    calls: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0  # wall time
    cpu_seconds: float = 0.0  # this thread's CPU (botocore's and TrailGuard's work)
    slept_seconds: float = 0.0  # the injected latency
    simulator_seconds: float = 0.0  # in moto's server, waiting for its turn included (from its answers)
    simulator_by_operation: dict[str, float] = field(default_factory=dict)
    over_latency_calls: int = 0  # calls the simulator answered more slowly than the latency
    over_latency_seconds: float = 0.0  # by how much, summed
    records: int = 0
    failed: int = 0

    @classmethod
    def restored(cls, fields: dict[str, Any]) -> Invocation:
        """From `asdict` of an invocation measured in another process."""
        return cls(**{**fields, "calls": [(service, operation) for service, operation in fields["calls"]]})

    @property
    def total(self) -> int:
        return len(self.calls)

    def answered(self, operation: str, seconds: float) -> None:
        self.simulator_seconds += seconds
        self.simulator_by_operation[operation] = self.simulator_by_operation.get(operation, 0.0) + seconds

    @property
    def waiting_seconds(self) -> float:
        """The rest: sockets, and waiting for a core (the containers and the simulator share the machine's)."""
        return max(self.seconds - self.slept_seconds - self.simulator_seconds - self.cpu_seconds, 0.0)

    def ideal(self, latency: float) -> float:
        return self.total * latency

    def estimate(self, latency: float) -> float:
        """With a core of its own and AWS answering in exactly the latency: the ideal plus its CPU."""
        return self.ideal(latency) + self.cpu_seconds

    def figures(self, latency: float) -> dict[str, Any]:
        ideal = self.ideal(latency)
        return {
            "calls": calls_figures(self.calls),
            "seconds": round(self.seconds, 3),
            "ideal_seconds": round(ideal, 3),
            "efficiency": _ratio(ideal, self.seconds),
            "time": time_figures([self]),
            "estimate_seconds": round(self.estimate(latency), 3),
            "estimate_efficiency": _ratio(ideal, self.estimate(latency)),
        }


def time_figures(invocations: Sequence[Invocation]) -> dict[str, Any]:
    """Where the wall time of these invocations went, in seconds summed over them (the simulator's share by
    operation, the ten largest)."""
    by_operation: dict[str, float] = {}
    for item in invocations:
        for name, seconds in item.simulator_by_operation.items():
            by_operation[name] = by_operation.get(name, 0.0) + seconds
    largest = sorted(by_operation.items(), key=lambda entry: -entry[1])[:10]
    return {
        "latency": round(sum(item.slept_seconds for item in invocations), 3),
        "simulator": round(sum(item.simulator_seconds for item in invocations), 3),
        "cpu": round(sum(item.cpu_seconds for item in invocations), 3),
        "waiting": round(sum(item.waiting_seconds for item in invocations), 3),
        "over_latency_calls": sum(item.over_latency_calls for item in invocations),
        "over_latency_seconds": round(sum(item.over_latency_seconds for item in invocations), 3),
        "simulator_by_operation": {name: round(value, 3) for name, value in largest},
    }


def calls_figures(calls: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Every call, those on the guarded resources (and the organization, SNS, STS) and TrailGuard's own state
    apart, STS among the former, and the count of each operation."""
    own = sum(1 for service, _ in calls if service in OWN_STATE)
    return {
        "total": len(calls),
        "aws": len(calls) - own,
        "own_state": own,
        "sts": sum(1 for service, _ in calls if service == "sts"),
        "operations": dict(Counter(f"{service}:{operation}" for service, operation in calls).most_common()),
    }


def simulator_seconds(response: dict[str, Any]) -> float:
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return float(headers.get(SIMULATOR_HEADER, 0.0))


def _ratio(ideal: float, measured: float) -> float | None:
    """ideal / measured; None without an ideal (no latency injected) or a measure."""
    return round(ideal / measured, 3) if ideal > 0 and measured > 0 else None


class Meter:
    """While installed, every AWS call made in a thread that is inside `measure()` is recorded in that
    invocation and lasts the latency at least (`wait_out`); calls from other threads (the event source, the
    harness) pass untouched."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self._local = threading.local()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Meter]:
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def call(client: Any, operation: str, params: dict[str, Any]) -> Any:
            invocation: Invocation | None = getattr(meter._local, "invocation", None)
            if invocation is None:
                return original(client, operation, params)
            invocation.calls.append((client.meta.service_model.service_name, operation))
            name = f"{client.meta.service_model.service_name}:{operation}"
            answered = 0.0
            try:
                response = original(client, operation, params)
                answered = simulator_seconds(response)
                return response
            except ClientError as error:
                answered = simulator_seconds(error.response)
                raise
            finally:
                invocation.answered(name, answered)
                meter.wait_out(invocation, answered)

        botocore.client.BaseClient._make_api_call = call
        try:
            yield self
        finally:
            botocore.client.BaseClient._make_api_call = original

    def wait_out(self, invocation: Invocation, answered: float) -> None:
        """AWS answers a call in the latency: what the simulator's answer left of it is slept. A simulator slower
        than the latency delays the call beyond it, and is counted as such."""
        if not self.latency:
            return
        rest = self.latency - answered
        if rest > 0:
            time.sleep(rest)
            invocation.slept_seconds += rest
        else:
            invocation.over_latency_calls += 1
            invocation.over_latency_seconds -= rest

    @contextlib.contextmanager
    def measure(self, kind: str) -> Iterator[Invocation]:
        invocation = Invocation(kind)
        self._local.invocation = invocation
        cpu, start = time.thread_time(), time.perf_counter()
        try:
            yield invocation
        finally:
            invocation.seconds = time.perf_counter() - start
            invocation.cpu_seconds = time.thread_time() - cpu
            self._local.invocation = None


# ---------------------------------------------------------------------------------------------------------------
# The stack against the organization's server.
# ---------------------------------------------------------------------------------------------------------------


def use_server(org: ScaleOrg) -> None:
    """Point this process's AWS clients at the organization's server (fake base credentials; the stack then
    takes its function role's). boto3's default session is dropped: it keeps the credentials it first read."""
    import boto3

    boto3.DEFAULT_SESSION = None
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": org.endpoint,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_REGION": "eu-west-1",
        }
    )
    os.environ.update(QUIET)
    os.environ.pop("AWS_SESSION_TOKEN", None)


def new_stack(org: ScaleOrg) -> Any:
    """TrailGuard's functions as template.yaml wires them for this organization (every container cold)."""
    from harness.stack import InProcessStack
    from trailguard.observability import logger

    use_server(org)
    stack = InProcessStack(org)
    stack.configure(**QUIET)
    logger.setLevel(QUIET["POWERTOOLS_LOG_LEVEL"])  # the logger read the template's level at import
    return stack


@dataclass
class Sweep:
    planner: Invocation
    workers: list[Invocation]
    workers_seconds: float  # from the first batch handed out to the last invocation's end
    errors: list[str]  # the containers' failures (a handler that raised, a process that ended)
    concurrency: int  # simulated containers at once
    sweep_workers: int  # the template's SweepWorkers (the event source's MaximumConcurrency)
    summary: dict[str, Any] | None
    expected: int
    reported: int

    def figures(self, latency: float) -> dict[str, Any]:
        worker_calls = [call for invocation in self.workers for call in invocation.calls]
        longest = max(self.workers, key=lambda invocation: invocation.seconds, default=Invocation("worker"))
        workers_ideal = self._phase(latency, lambda invocation: invocation.ideal(latency))
        workers_estimate = self._phase(latency, lambda invocation: invocation.estimate(latency))
        ideal = self.planner.ideal(latency) + workers_ideal
        estimate = self.planner.estimate(latency) + workers_estimate
        wall = self.planner.seconds + self.workers_seconds
        summary = self.summary or {}
        return {
            "planner": self.planner.figures(latency),
            "workers": {
                "concurrency": self.concurrency,
                "sweep_workers": self.sweep_workers,
                "invocations": len(self.workers),
                "records": sum(invocation.records for invocation in self.workers),
                "failed_records": sum(invocation.failed for invocation in self.workers),
                "container_errors": {"count": len(self.errors), "first": self.errors[:5]},
                "calls": calls_figures(worker_calls),
                "calls_per_account": round(len(worker_calls) / max(self.expected, 1), 1),
                "longest": longest.figures(latency),
                "seconds": round(self.workers_seconds, 3),
                "ideal_seconds": round(workers_ideal, 3),
                "efficiency": _ratio(workers_ideal, self.workers_seconds),
                "time": time_figures(self.workers),
                "cores_wanted": _ratio(sum(item.cpu_seconds for item in self.workers), workers_estimate),
                "estimate_seconds": round(workers_estimate, 3),
                "estimate_efficiency": _ratio(workers_ideal, workers_estimate),
            },
            "calls": calls_figures([*self.planner.calls, *worker_calls]),
            "seconds": round(wall, 3),
            "ideal_seconds": round(ideal, 3),
            "efficiency": _ratio(ideal, wall),
            "estimate_seconds": round(estimate, 3),
            "estimate_efficiency": _ratio(ideal, estimate),
            "accounts_expected": self.expected,
            "accounts_reported": self.reported,
            "summary": {
                "published": self.summary is not None,
                "accounts": summary.get("accounts"),
                "trails": summary.get("trails"),
                "outcomes": summary.get("outcomes", {}),
                "changed": len(summary.get("changed", [])),
                "failures": len(summary.get("failures", [])),
                "unreachable": len(summary.get("unreachable", [])),
            },
        }

    def _phase(self, latency: float, length: Callable[[Invocation], float]) -> float:
        """The workers' phase if each invocation lasted `length`: the total spread over the concurrency, or the
        longest invocation if that is longer."""
        lengths = [length(invocation) for invocation in self.workers]
        return max(sum(lengths) / self.concurrency, max(lengths, default=0.0))


def container_main(description: str, latency: float, connection: Connection) -> None:
    """One simulated worker container, in a process of its own as Lambda gives each container its own processor
    and interpreter: started cold once (its `Warm`, its `Deps`, its session factory), then one invocation of
    the worker's handler path per batch the event source hands it, until it is handed None. Each invocation's
    figures (and the ids of the records it failed) go back to the event source."""
    from harness.routing import lambda_context
    from harness.stack import sqs_record
    from trailguard.runtime import run_batch
    from trailguard.sweep import work
    from trailguard.warm import Warm

    org = ScaleOrg.from_description(json.loads(description))
    stack = new_stack(org)
    spec, _ = stack.queue_consumer("SweepQueue")
    warm = Warm(clock=stack.clock, wall=stack.clock.wall)
    context = lambda_context(spec, account=org.central)
    queue_arn = org.queue_arn(org.sweep_queue_url)
    meter = Meter(latency)
    connection.send("ready")
    with meter.installed():
        while (received := connection.recv()) is not None:
            event = {"Records": [sqs_record(message, queue_arn) for message in received]}
            error = ""
            with meter.measure("worker") as invocation:
                try:
                    response = run_batch(event, context, work, warm)
                except Exception as failure:  # noqa: BLE001 - the handler failed: Lambda returns the whole batch
                    error = f"{type(failure).__name__}: {failure}"
                    response = {"batchItemFailures": [{"itemIdentifier": item["MessageId"]} for item in received]}
            failed = sorted({item["itemIdentifier"] for item in response.get("batchItemFailures", [])})
            invocation.records, invocation.failed = len(received), len(failed)
            connection.send({"failed": failed, "error": error, "invocation": asdict(invocation)})


def simulated_workers(configured: int) -> int:
    """How many containers this machine simulates at once by default: SweepWorkers, but no more than
    CONTAINERS_PER_CORE per core. Each container keeps about a tenth of a core busy with its own CPU, and the
    simulator, its HTTP server and the event source add to that; past two per core, the containers wait for a
    core rather than for AWS, and the sweep measures the machine instead of TrailGuard (`--workers` sets any
    number)."""
    return max(1, min(configured, CONTAINERS_PER_CORE * (os.cpu_count() or 1)))


def run_sweep(stack: Any, org: ScaleOrg, meter: Meter, workers: int | None = None) -> Sweep:
    """The planner, then the sweep queue drained as Lambda's SQS event source does it: up to `SweepWorkers` (or
    `workers`) simulated containers, each a process of its own, handed a batch at a time by this process."""
    from trailguard.inventory import TableInventory

    planner = stack.schedule_target()
    with meter.measure("planner") as planned:
        stack.invoke(planner.logical_id, org.event(SCHEDULE_EVENT))
    _, source = stack.queue_consumer("SweepQueue")
    inventory = TableInventory(lambda: org.client("dynamodb", org.central), org.state_table)
    latest = inventory.recent_sweeps(1)
    sent = latest[0].expected if latest else 0
    # Lambda adds pollers and containers as the queue fills; no more containers than batches to hand out.
    configured = int(source.maximum_concurrency or 1)
    concurrency = max(1, min(workers or simulated_workers(configured), -(-sent // source.batch_size)))
    sqs = org.client("sqs", org.central)  # the event source's calls: neither counted nor delayed
    batch = min(source.batch_size, 10)
    context = multiprocessing.get_context("spawn")
    containers: list[tuple[Any, Connection]] = []
    try:
        for _ in range(concurrency):
            ours, theirs = context.Pipe()
            process = context.Process(target=container_main, args=(json.dumps(org.describe()), meter.latency, theirs))
            process.start()
            theirs.close()  # the container's end is the container's alone: its end of life reads here as EOF
            containers.append((process, ours))
        for process, connection in containers:  # every container started cold before the clock starts
            if not _started(connection):
                process.join(timeout=5)
                raise RuntimeError(f"a simulated worker container did not start (exit code {process.exitcode})")
        connections = [connection for _, connection in containers]
        invocations, workers_seconds, errors = drain_queue(sqs, org.sweep_queue_url, batch, connections)
    finally:
        for process, connection in containers:
            with contextlib.suppress(OSError):
                connection.send(None)
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
            connection.close()
    latest = inventory.recent_sweeps(1)
    expected, reported = (latest[0].expected, latest[0].reported) if latest else (0, 0)
    return Sweep(
        planned, invocations, workers_seconds, errors, concurrency, configured, org.latest_summary(), expected, reported
    )


def _started(connection: Connection) -> bool:
    """Whether the container said it is ready within two minutes (False: it ended or said nothing)."""
    try:
        return bool(connection.poll(120)) and connection.recv() == "ready"
    except (EOFError, OSError):
        return False


def drain_queue(
    sqs: Any, queue_url: str, batch: int, connections: list[Connection]
) -> tuple[list[Invocation], float, list[str]]:
    """The event source: while the queue holds messages, a batch to each idle container; after each
    invocation, `harness.stack.settle` deletes the batch's messages and makes those it failed visible again at
    once (SQS would after the visibility timeout). Ends when the queue is empty and no container holds a batch.
    Returns the invocations, the wall time from the first batch to the last one's end, and the containers'
    failures."""
    from harness.stack import settle

    idle, busy = list(connections), {}
    invocations: list[Invocation] = []
    errors: list[str] = []
    start = time.perf_counter()
    while True:
        while idle:
            received = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=batch, AttributeNames=["All"], VisibilityTimeout=900
            ).get("Messages", [])
            if not received:
                break
            connection = idle.pop()
            try:
                connection.send(received)
            except OSError as lost:  # the container's process has ended: the batch goes back, the container too
                errors.append(f"a container ended: {type(lost).__name__}")
                settle(sqs, queue_url, received, {message["MessageId"] for message in received})
                continue
            busy[connection] = received
        if not busy:
            if not idle:  # every container has ended: what the queue still holds is left, and said so
                errors.append("every container has ended; the sweep queue was not drained")
            break
        for ready in wait(list(busy)):
            connection = cast(Connection, ready)
            received = busy.pop(connection)
            try:
                answer = connection.recv()
            except (EOFError, OSError) as lost:  # the container's process ended: its batch goes back
                errors.append(f"a container ended: {type(lost).__name__}")
                answer = {"failed": [message["MessageId"] for message in received], "error": "", "invocation": None}
            else:
                idle.append(connection)
            if answer["invocation"] is not None:
                invocations.append(Invocation.restored(answer["invocation"]))
            if answer["error"]:
                errors.append(answer["error"])
            settle(sqs, queue_url, received, set(answer["failed"]))
    return invocations, time.perf_counter() - start, errors


def run_event(stack: Any, org: ScaleOrg, meter: Meter, name: str, kind: str) -> Invocation:
    with meter.measure(kind) as invocation:
        stack.send(org.event(name))
    org.findings()  # drained, not measured
    return invocation


# ---------------------------------------------------------------------------------------------------------------
# Memory: one invocation in a fresh interpreter.
# ---------------------------------------------------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset this process's resident-memory high-water mark (Linux: /proc/self/clear_refs, "5")."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_child(kind: str, org: ScaleOrg) -> dict[str, Any]:
    """In this fresh interpreter: the stack (every handler imported), then one invocation of `kind`."""
    from harness.stack import sqs_record

    stack = new_stack(org)
    if kind == "worker":  # what the event source hands the function: not part of its memory
        received = org.client("sqs", org.central).receive_message(
            QueueUrl=org.sweep_queue_url, MaxNumberOfMessages=5, AttributeNames=["All"], VisibilityTimeout=900
        )["Messages"]
        queue_arn = org.queue_arn(org.sweep_queue_url)
        run: Callable[[], Any] = lambda: stack.invoke(  # noqa: E731
            "SweepWorkerFunction", {"Records": [sqs_record(message, queue_arn) for message in received]}
        )
    elif kind == "planner":
        event = org.event(SCHEDULE_EVENT)
        run = lambda: stack.invoke(stack.schedule_target().logical_id, event)  # noqa: E731
    else:
        event = org.event(KEY_EVENT if kind == "key" else BUCKET_EVENT)
        run = lambda: stack.send(event)  # noqa: E731
    gc.collect()
    reset = reset_peak()
    baseline = rss_mib()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    return {
        "baseline_mib": round(baseline, 1),
        "peak_mib": round(peak, 1),
        "growth_mib": round(peak - baseline, 1),
        "seconds": round(seconds, 3),
        "peak_reset": reset,
    }


def measure_memory(org: ScaleOrg) -> dict[str, dict[str, Any]]:
    """Each kind in its own fresh interpreter, in order: the planner fills the queue the worker then reads."""
    environment = {
        **os.environ,
        **FAKE_CREDENTIALS,
        **QUIET,
        "AWS_ENDPOINT_URL": org.endpoint,
        "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)]),
    }
    environment.pop("AWS_SESSION_TOKEN", None)
    figures: dict[str, dict[str, Any]] = {}
    for kind in MEMORY_KINDS:
        output = subprocess.run(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "demo.scale", "--child", kind],
            input=json.dumps(org.describe()),
            capture_output=True,
            text=True,
            env=environment,
            check=True,
            cwd=ROOT,
        )
        figures[kind] = json.loads(output.stdout.strip().splitlines()[-1])
    return figures


# ---------------------------------------------------------------------------------------------------------------
# One size, then the report.
# ---------------------------------------------------------------------------------------------------------------


def policy_seconds(accounts: int) -> dict[str, float]:
    from trailguard.policy.bench import policy_check_seconds

    with contextlib.redirect_stdout(io.StringIO()):  # it prints its own lines; the table below says it all
        seconds = policy_check_seconds(accounts)
    return {name: round(value, 4) for name, value in seconds.items()}


def measure_size(
    accounts: int, regions: Sequence[str], latency: float, *, memory: bool = True, workers: int | None = None
) -> dict[str, Any]:
    """Every figure for one organization size, on a server of its own."""
    note(f"{accounts} accounts x {len(regions)} regions: seeding the simulated organization ...")
    with scale_server(accounts, regions) as org:
        stack = new_stack(org)
        load = load_average()
        meter = Meter(latency)
        with meter.installed():
            note("  the sweep (planner, then the workers) ...")
            sweep = run_sweep(stack, org, meter, workers)
            note("  a key event and a bucket event ...")
            events = {
                "key_event": {
                    "cold": run_event(stack, org, meter, KEY_EVENT, "key").figures(latency),
                    "warm": run_event(stack, org, meter, KEY_EVENT, "key").figures(latency),
                },
                "bucket_event": {
                    "cold": run_event(stack, org, meter, BUCKET_EVENT, "bucket").figures(latency),
                    "warm": run_event(stack, org, meter, BUCKET_EVENT, "bucket").figures(latency),
                },
            }
        load = max(load, load_average())
        if memory:
            note("  peak memory of each invocation (fresh interpreters) ...")
        figures_memory = measure_memory(org) if memory else {}
        note("  policy checks ...")
        return {
            "accounts": accounts,
            "regions": len(regions),
            "trails": len(org.trails),
            "drifted_trails": len(org.drifted),
            "latency_ms": latency * 1000,
            "load_average": load,
            "sweep": sweep.figures(latency),
            **events,
            "memory": figures_memory,
            "policy_check_seconds": policy_seconds(accounts),
            "policy_forms": {"key": org.key_policy_form, "bucket": org.bucket_policy_form},
        }


def load_average() -> float:
    """The machine's one-minute load average (how many processes wanted a core), where the system tells it."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def longest_invocation(size: dict[str, Any]) -> float:
    sweep = size["sweep"]
    events = [size[name][state]["seconds"] for name in ("key_event", "bucket_event") for state in ("cold", "warm")]
    return float(max(sweep["planner"]["seconds"], sweep["workers"]["longest"]["seconds"], *events))


def event_calls(size: dict[str, Any]) -> int:
    return max(
        int(size[name][state]["calls"]["total"]) for name in ("key_event", "bucket_event") for state in ("cold", "warm")
    )


def verdicts(sizes: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each target at the largest size measured (memory: from the smallest to the largest)."""
    if not sizes:
        return {}
    low, high = min(sizes), max(sizes)
    top = sizes[high]
    found: dict[str, dict[str, Any]] = {}

    def verdict(name: str, target: str, figure: Any, met: bool | None, note: str = "") -> None:
        state = "not measured" if met is None else ("met" if met else "not met")
        found[name] = {"target": target, "figure": figure, "verdict": state, "accounts": high, "note": note}

    longest = longest_invocation(top)
    verdict(
        "invocation_seconds", f"no invocation over {INVOCATION_LIMIT_S:.0f} s", longest, longest <= INVOCATION_LIMIT_S
    )
    growth: dict[str, Any] = {}
    flat: bool | None = None
    grown: list[str] = []
    if low != high and top["memory"] and sizes[low]["memory"]:
        flat = True
        for kind in MEMORY_KINDS:
            before, after = sizes[low]["memory"][kind], top["memory"][kind]
            growth[kind] = round(after["peak_mib"] / before["peak_mib"] - 1, 3)
            flat = flat and after["peak_mib"] <= before["peak_mib"] * (1 + MEMORY_TOLERANCE)
            grown.append(f"{kind} {before['growth_mib']:g} -> {after['growth_mib']:g}")
    verdict(
        "memory_flat",
        f"peak memory of each invocation within {MEMORY_TOLERANCE:.0%} from {low} to {high} accounts",
        growth,
        flat,
        "growth over the baseline, MiB: " + ", ".join(grown) if grown else "",
    )
    calls = event_calls(top)
    verdict("event_calls", f"a key or bucket event under {EVENT_CALLS_LIMIT} calls", calls, calls < EVENT_CALLS_LIMIT)
    policy = max(top["policy_check_seconds"].values())
    verdict("policy_seconds", f"each policy check under {POLICY_LIMIT_S:.0f} s", policy, policy < POLICY_LIMIT_S)
    sweep = top["sweep"]
    efficiency, estimate = sweep["efficiency"], sweep["estimate_efficiency"]
    workers = sweep["workers"]
    # A sweep that lost a container or an account did less work in less time: its ratio judges nothing.
    whole = not workers["container_errors"]["count"] and sweep["accounts_reported"] == sweep["accounts_expected"]
    verdict(
        "sweep_efficiency",
        f"sweep efficiency at least {EFFICIENCY_FLOOR}",
        efficiency,
        None if efficiency is None or not whole else efficiency >= EFFICIENCY_FLOOR,
        f"{workers['concurrency']} worker containers at once (SweepWorkers {workers['sweep_workers']})"
        + ("" if estimate is None else f"; with a core per container (ideal + CPU): {estimate:.2f}")
        + ("" if whole else "; not judged: the sweep lost a container or an account"),
    )
    return found


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _pair(figures: dict[str, Any]) -> str:
    efficiency = figures["efficiency"]
    return f"{_seconds(figures['ideal_seconds'])} / " + ("-" if efficiency is None else f"{efficiency:.2f}")


def _estimate(figures: dict[str, Any]) -> str:
    efficiency = figures["estimate_efficiency"]
    return f"{_seconds(figures['estimate_seconds'])} / " + ("-" if efficiency is None else f"{efficiency:.2f}")


def _reported(sweep: dict[str, Any]) -> str:
    return f"{sweep['accounts_reported']:,}/{sweep['accounts_expected']:,}"


def _calls(calls: dict[str, Any]) -> str:
    return f"{calls['total']} ({calls['own_state']})"


def _memory(figure: dict[str, Any] | None) -> str:
    return "-" if not figure else f"{figure['peak_mib']:.0f} (+{figure['growth_mib']:.1f})"


def _figure(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{kind} {change:+.0%}" for kind, change in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _count(value: int) -> str:
    return f"{value:,}"


def _fine(value: float) -> str:
    return f"{value:.3f}"


def _forms(forms: dict[str, str]) -> str:
    short = {"per account": "acct", "organization-wide": "org"}
    return "/".join(short.get(forms.get(name, ""), "?") for name in ("key", "bucket"))


Cell = Callable[[Any], str]
# The table: a label, the path of a figure in one size's results, and how to show it ("" and None: a heading).
ROWS: tuple[tuple[str, tuple[str, ...] | None, Cell | None], ...] = (
    ("accounts", ("accounts",), _count),
    ("load average of the machine (cores: {cores})", ("load_average",), str),
    ("trails", ("trails",), _count),
    ("  drifted (repaired by the sweep)", ("drifted_trails",), str),
    ("sweep", None, None),
    ("  AWS calls: total", ("sweep", "calls", "total"), _count),
    ("  guarded resources, organization, SNS, STS", ("sweep", "calls", "aws"), _count),
    ("    of which STS (AssumeRole, GetCallerIdentity)", ("sweep", "calls", "sts"), _count),
    ("  TrailGuard's own table and queue", ("sweep", "calls", "own_state"), _count),
    ("  worker calls per account", ("sweep", "workers", "calls_per_account"), str),
    ("  planner: calls", ("sweep", "planner", "calls", "total"), _count),
    ("  planner: wall, s", ("sweep", "planner", "seconds"), _seconds),
    ("  planner: ideal, s / efficiency", ("sweep", "planner"), _pair),
    ("  worker invocations (up to 5 accounts each)", ("sweep", "workers", "invocations"), _count),
    ("  longest worker invocation: calls", ("sweep", "workers", "longest", "calls", "total"), str),
    ("  longest worker invocation: wall, s", ("sweep", "workers", "longest", "seconds"), _seconds),
    ("  longest worker invocation: ideal, s / efficiency", ("sweep", "workers", "longest"), _pair),
    ("  worker containers at once", ("sweep", "workers", "concurrency"), str),
    ("  workers: wall, s", ("sweep", "workers", "seconds"), _seconds),
    ("  workers: ideal, s / efficiency", ("sweep", "workers"), _pair),
    ("  workers' time, s summed: latency slept", ("sweep", "workers", "time", "latency"), _seconds),
    ("    the simulator's answers (queue included)", ("sweep", "workers", "time", "simulator"), _seconds),
    ("    the containers' CPU (botocore, TrailGuard)", ("sweep", "workers", "time", "cpu"), _seconds),
    ("    waiting (sockets, a core)", ("sweep", "workers", "time", "waiting"), _seconds),
    ("    calls answered more slowly than the latency", ("sweep", "workers", "time", "over_latency_calls"), _count),
    ("    by, s summed", ("sweep", "workers", "time", "over_latency_seconds"), _seconds),
    ("    cores the workers' CPU keeps busy at that pace", ("sweep", "workers", "cores_wanted"), str),
    ("  whole sweep: wall, s", ("sweep", "seconds"), _seconds),
    ("  whole sweep: ideal, s / efficiency", ("sweep",), _pair),
    ("  estimate with a core per container: s / efficiency", ("sweep",), _estimate),
    ("  accounts reported / expected", ("sweep",), _reported),
    ("key event (PutKeyPolicy)", None, None),
    ("  cold container: calls (own state)", ("key_event", "cold", "calls"), _calls),
    ("  cold container: wall, s", ("key_event", "cold", "seconds"), _seconds),
    ("  warm container: calls (own state)", ("key_event", "warm", "calls"), _calls),
    ("  warm container: wall, s", ("key_event", "warm", "seconds"), _seconds),
    ("bucket event (PutBucketPolicy)", None, None),
    ("  cold container: calls (own state)", ("bucket_event", "cold", "calls"), _calls),
    ("  cold container: wall, s", ("bucket_event", "cold", "seconds"), _seconds),
    ("  warm container: calls (own state)", ("bucket_event", "warm", "calls"), _calls),
    ("  warm container: wall, s", ("bucket_event", "warm", "seconds"), _seconds),
    ("peak memory of one invocation, MiB: peak (+ growth over the baseline)", None, None),
    ("  planner", ("memory", "planner"), _memory),
    ("  worker, a batch of 5 accounts", ("memory", "worker"), _memory),
    ("  key event", ("memory", "key"), _memory),
    ("  bucket event", ("memory", "bucket"), _memory),
    ("policy-check CPU, s (parse, every account admitted, public and external grants)", None, None),
    ("  key policy, per account", ("policy_check_seconds", "key"), _fine),
    ("  bucket policy, per account", ("policy_check_seconds", "bucket"), _fine),
    ("  key policy, organization-wide", ("policy_check_seconds", "key_organization"), _fine),
    ("  bucket policy, organization-wide", ("policy_check_seconds", "bucket_organization"), _fine),
    ("  the forms the policies were seeded in (key, bucket)", ("policy_forms",), _forms),
)
WIDTH = 14


def _at(figures: Any, path: Sequence[str]) -> Any:
    for name in path:
        if not isinstance(figures, dict) or name not in figures:
            return None
        figures = figures[name]
    return figures


def render(sizes: dict[int, dict[str, Any]], found: dict[str, dict[str, Any]]) -> str:
    """The table: one column per size, then the targets with their verdicts."""
    if not sizes:
        return "no size measured"
    counts = sorted(sizes)
    first = sizes[counts[0]]
    lines = [
        f"Scale: the sweep, a key event and a bucket event, {first['regions']} regions, "
        f"AWS answering every call in {first['latency_ms']:g} ms",
        f"(moto server in a process of its own; {first['sweep']['workers']['concurrency']} simulated worker "
        f"containers at once, each a process of its own, SweepWorkers {first['sweep']['workers']['sweep_workers']}; "
        "memory: one invocation in a fresh interpreter)",
    ]
    for label, path, show in ROWS:
        label = label.replace("{cores}", str(os.cpu_count()))
        if path is None or show is None:
            lines.append(f"  {label}")
            continue
        cells = [_at(sizes[count], path) for count in counts]
        lines.append(f"  {label:62}" + "".join(f"{'-' if c is None else show(c):>{WIDTH}}" for c in cells))
    lines.append(f"Targets (at {counts[-1]:,} accounts; memory from {counts[0]:,} to {counts[-1]:,}):")
    for item in found.values():
        lines.append(f"  {item['target']:70} {_figure(item['figure']):>34}  {item['verdict']}")
        if item["note"]:
            lines.append(f"    ({item['note']})")
    return "\n".join(lines)


def document(sizes: dict[int, dict[str, Any]], found: dict[str, dict[str, Any]], latency: float) -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "moto": version("moto")},
        "method": {
            "simulator": "moto server in a process of its own, seeded in its backends (demo/scale_org.py)",
            "latency": f"AWS answers every call of a function (AssumeRole, DynamoDB and SQS included) in "
            f"{latency * 1000:g} ms: the simulator's answer counts within it, the rest is slept (a botocore hook "
            "in the invoking process); a slower answer is counted as over the latency",
            "workers": "up to SweepWorkers processes (by default at most 2 per core), one warm container each, "
            "handed batches by the event source "
            "(the measuring process), through trailguard.runtime.run_batch",
            "ideal": "calls x latency per invocation; sweep = planner + max(worker calls x latency / containers, "
            "longest worker invocation)",
            "memory": "one invocation in a fresh interpreter after importing every handler: peak resident memory "
            "(VmHWM, reset before the invocation) and its growth over the resident memory before it",
            "policy": "trailguard.policy.bench.policy_check_seconds (best of 3)",
            "time": "per invocation: latency slept, the simulator's answers (its header), the container's CPU, "
            "the rest waiting; estimate = ideal + CPU (a core per container)",
        },
        "sizes": {str(count): sizes[count] for count in sorted(sizes)},
        "targets": found,
    }


def merge_results(path: Path, section: dict[str, Any]) -> None:
    """Write the scale section into `path`, keeping whatever else the file holds."""
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            existing = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            existing = {}
    existing["scale"] = section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2) + "\n")


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """What the measures change in this process (the environment, boto3's default session, the functions' log
    level), as it was before them."""
    import boto3

    from trailguard.observability import logger

    environment, session, level = dict(os.environ), boto3.DEFAULT_SESSION, logger.log_level
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environment)
        boto3.DEFAULT_SESSION = session
        logger.setLevel(level)


def run(
    counts: Sequence[int],
    regions: Sequence[str],
    latency_ms: float,
    output: Path | None,
    *,
    memory: bool = True,
    workers: int | None = None,
) -> dict[str, Any]:
    """Measure each size, print the table, merge the results into `output` (None: not written). The caller's
    environment, boto3 default session and log level are left as they were."""
    latency = latency_ms / 1000
    with isolated():
        sizes = {count: measure_size(count, regions, latency, memory=memory, workers=workers) for count in counts}
    found = verdicts(sizes)
    section = document(sizes, found, latency)
    print(render(sizes, found))
    if output is not None:
        merge_results(output, section)
        print(f'Results merged into {output} under "scale"')
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--regions", nargs="+", default=list(DEFAULT_REGIONS))
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-memory", action="store_true", help="skip the fresh-interpreter memory figures")
    parser.add_argument(
        "--workers",
        type=int,
        help=f"simulated worker containers at once (default: SweepWorkers, at most {CONTAINERS_PER_CORE} per core)",
    )
    parser.add_argument("--child", choices=MEMORY_KINDS, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        org = ScaleOrg.from_description(json.loads(sys.stdin.read()))
        print(json.dumps(memory_child(arguments.child, org)))
        return 0
    if min(arguments.accounts) < 2:
        parser.error("--accounts: at least 2 (the management and central accounts)")
    run(
        arguments.accounts,
        arguments.regions,
        arguments.latency_ms,
        arguments.output,
        memory=not arguments.no_memory,
        workers=arguments.workers,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
