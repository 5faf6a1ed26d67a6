"""The scale benchmark's pure parts: the simulated organization's trails, the verdicts, the results file."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import asdict
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from demo.scale import Invocation, drain_queue, merge_results, simulated_workers, verdicts
from demo.scale_org import DEFAULT_REGIONS, account_ids, plan_trails
from harness.org import CENTRAL, HOME, MANAGEMENT


def test_the_organization_has_one_and_a_half_trails_per_account_a_few_drifted() -> None:
    accounts = account_ids(1000)
    plans = plan_trails(accounts, DEFAULT_REGIONS)

    assert accounts[:2] == [MANAGEMENT, CENTRAL]
    assert len(set(accounts)) == 1000
    assert len(plans) == 1500
    assert len({plan.arn for plan in plans}) == 1500
    drifted = [plan for plan in plans if plan.drifted]
    assert 0 < len(drifted) <= len(plans) * 0.1
    assert [plan.name for plan in plans if plan.account == MANAGEMENT] == ["organization"]
    assert all(plan.organization == (plan.account == MANAGEMENT) for plan in plans)
    regional = [plan for plan in plans if not plan.multi_region]
    assert regional
    assert all(plan.region != HOME for plan in regional)
    assert {plan.region for plan in regional} == set(DEFAULT_REGIONS) - {HOME}


def size(accounts: int, *, efficiency: float, memory: float, calls: int = 20, policy: float = 0.1) -> dict[str, Any]:
    """The figures `verdicts` reads, for one size."""
    event = {"calls": {"total": calls}, "seconds": 1.0}
    return {
        "sweep": {
            "planner": {"seconds": 5.0},
            "workers": {
                "longest": {"seconds": 40.0},
                "concurrency": 4,
                "sweep_workers": 10,
                "container_errors": {"count": 0, "first": []},
            },
            "accounts_expected": accounts,
            "accounts_reported": accounts,
            "efficiency": efficiency,
            "estimate_efficiency": 0.9,
        },
        "key_event": {"cold": event, "warm": event},
        "bucket_event": {"cold": event, "warm": event},
        "memory": {
            kind: {"peak_mib": memory, "growth_mib": memory / 4} for kind in ("planner", "worker", "key", "bucket")
        },
        "policy_check_seconds": {"key": policy, "bucket": policy},
    }


def test_each_target_is_judged_at_the_largest_size_and_memory_from_the_smallest() -> None:
    found = verdicts({100: size(100, efficiency=0.3, memory=100.0), 1000: size(1000, efficiency=0.9, memory=119.0)})

    assert {name: item["verdict"] for name, item in found.items()} == {
        "invocation_seconds": "met",
        "memory_flat": "met",
        "event_calls": "met",
        "policy_seconds": "met",
        "sweep_efficiency": "met",
    }
    assert found["invocation_seconds"]["figure"] == 40.0
    assert found["sweep_efficiency"]["note"].startswith("4 worker containers at once (SweepWorkers 10)")
    assert found["memory_flat"]["figure"]["worker"] == 0.19


def test_a_target_missed_is_said_so_and_one_size_cannot_judge_flatness() -> None:
    missed = verdicts({100: size(100, efficiency=0.9, memory=100.0), 1000: size(1000, efficiency=0.5, memory=130.0)})
    alone = verdicts({1000: size(1000, efficiency=0.9, memory=100.0, calls=100, policy=1.5)})

    assert missed["memory_flat"]["verdict"] == "not met"
    assert missed["sweep_efficiency"]["verdict"] == "not met"
    assert alone["memory_flat"]["verdict"] == "not measured"
    assert alone["event_calls"]["verdict"] == "not met"  # under 100, not 100
    assert alone["policy_seconds"]["verdict"] == "not met"


def test_a_sweep_that_lost_a_container_or_an_account_is_not_judged() -> None:
    lost = size(1000, efficiency=0.95, memory=100.0)
    lost["sweep"]["workers"]["container_errors"] = {"count": 1, "first": ["a container ended: EOFError"]}
    short = size(1000, efficiency=0.95, memory=100.0)
    short["sweep"]["accounts_reported"] = 999

    for figures in (lost, short):
        found = verdicts({1000: figures})["sweep_efficiency"]
        assert found["verdict"] == "not measured"
        assert "not judged" in found["note"]


def test_the_results_file_keeps_its_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"peers": {"trailguard": 1}, "scale": {"old": True}}))

    merge_results(path, {"sizes": {}})

    assert json.loads(path.read_text()) == {"peers": {"trailguard": 1}, "scale": {"sizes": {}}}


def test_the_machine_simulates_at_most_two_containers_per_core_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert simulated_workers(10) == 4
    assert simulated_workers(3) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert simulated_workers(10) == 2


class Queue:
    """The sweep queue as the event source sees it: receive (messages in flight until deleted or made visible
    again), delete, make visible again."""

    def __init__(self, count: int) -> None:
        self.visible = [{"MessageId": f"m{n}", "ReceiptHandle": f"r{n}", "Body": "{}"} for n in range(count)]
        self.in_flight: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def receive_message(self, **request: Any) -> dict[str, Any]:
        taken, self.visible = (
            self.visible[: request["MaxNumberOfMessages"]],
            self.visible[request["MaxNumberOfMessages"] :],
        )
        self.in_flight.update({message["ReceiptHandle"]: message for message in taken})
        return {"Messages": taken}

    def delete_message(self, **request: Any) -> None:
        self.deleted.append(self.in_flight.pop(request["ReceiptHandle"])["MessageId"])

    def change_message_visibility(self, **request: Any) -> None:
        assert request["VisibilityTimeout"] == 0
        self.visible.append(self.in_flight.pop(request["ReceiptHandle"]))


def container(connection: Connection, *, fail_first: bool) -> None:
    """A simulated container: the first batch's handler raises (when told), every later batch succeeds."""
    failing = fail_first
    while (received := connection.recv()) is not None:
        failed = [message["MessageId"] for message in received] if failing else []
        invocation = asdict(Invocation("worker", calls=[("cloudtrail", "ListTrails")], records=len(received)))
        connection.send({"failed": failed, "error": "RuntimeError: boom" if failing else "", "invocation": invocation})
        failing = False


def test_the_event_source_hands_out_every_message_and_survives_a_failed_handler_and_a_lost_container() -> None:
    queue = Queue(23)
    failing, failing_end = Pipe()
    lost, lost_end = Pipe()
    worker = threading.Thread(target=container, args=(failing_end,), kwargs={"fail_first": True})
    worker.start()
    lost_end.close()  # this container's process has ended before its first batch

    try:
        invocations, seconds, errors = drain_queue(queue, "https://sqs.example/queue", 5, [lost, failing])
    finally:
        failing.send(None)
        worker.join(timeout=10)

    assert sorted(queue.deleted, key=lambda name: int(name[1:])) == [f"m{n}" for n in range(23)]
    assert not queue.in_flight
    assert not queue.visible
    assert len(errors) == 2
    assert errors[0].startswith("a container ended: ")  # handed a batch, which went back to the queue
    assert errors[1] == "RuntimeError: boom"
    assert sum(invocation.records for invocation in invocations) == 23 + 5  # the failed batch, then again
    assert all(invocation.calls == [("cloudtrail", "ListTrails")] for invocation in invocations)
    assert seconds > 0


def dies_with_its_batch(connection: Connection) -> None:
    """A container whose process ends in the middle of its first invocation."""
    connection.recv()
    connection.close()


def test_a_container_that_ends_mid_batch_loses_no_message_and_the_last_one_lost_is_said() -> None:
    queue = Queue(12)
    one, one_end = Pipe()
    other, other_end = Pipe()
    first = threading.Thread(target=dies_with_its_batch, args=(one_end,))
    second = threading.Thread(target=container, args=(other_end,), kwargs={"fail_first": False})
    first.start()
    second.start()
    try:
        invocations, _, errors = drain_queue(queue, "https://sqs.example/queue", 5, [one, other])
    finally:
        with contextlib.suppress(OSError):
            other.send(None)
        first.join(timeout=10)
        second.join(timeout=10)

    assert sorted(queue.deleted, key=lambda name: int(name[1:])) == [f"m{n}" for n in range(12)]
    assert errors == ["a container ended: EOFError"]
    assert sum(invocation.records for invocation in invocations) == 12

    alone, alone_end = Pipe()
    lone = threading.Thread(target=dies_with_its_batch, args=(alone_end,))
    lone.start()
    left = Queue(7)
    invocations, _, errors = drain_queue(left, "https://sqs.example/queue", 5, [alone])
    lone.join(timeout=10)

    assert invocations == []
    assert errors == ["a container ended: EOFError", "every container has ended; the sweep queue was not drained"]
    assert len(left.visible) == 7  # nothing deleted, nothing lost: back in the queue
