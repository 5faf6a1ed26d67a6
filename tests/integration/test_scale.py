"""The scale benchmark end to end at a tiny size: its figures have their shape and the sweep covers every account.

No timing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from demo.scale import MEMORY_KINDS, run
from demo.scale_org import account_ids, plan_trails
from trailguard.observability import logger

ACCOUNTS = 3
REGIONS = ("eu-west-1", "us-east-1")


def test_a_tiny_organization_is_swept_entirely_and_every_figure_is_there(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    output.write_text(json.dumps({"peers": {"kept": True}}))
    environment, level = dict(os.environ), logger.log_level

    section = run([ACCOUNTS], REGIONS, 0.0, output)

    assert dict(os.environ) == environment
    assert logger.log_level == level
    written = json.loads(output.read_text())
    assert written["peers"] == {"kept": True}
    assert written["scale"] == section
    figures = section["sizes"][str(ACCOUNTS)]
    sweep = figures["sweep"]
    trails = len(plan_trails(account_ids(ACCOUNTS), REGIONS))
    assert (figures["accounts"], figures["regions"], figures["trails"]) == (ACCOUNTS, len(REGIONS), trails)
    assert sweep["accounts_expected"] == sweep["accounts_reported"] == ACCOUNTS
    assert sweep["summary"]["published"]
    assert sweep["summary"]["accounts"] == ACCOUNTS
    assert sweep["summary"]["trails"] == trails
    assert sweep["summary"]["failures"] == 0
    assert sweep["workers"]["records"] == ACCOUNTS
    assert sweep["workers"]["failed_records"] == 0
    assert sweep["workers"]["container_errors"]["count"] == 0  # each container a process of its own
    worker_calls = sweep["workers"]["calls"]["operations"]
    assert worker_calls["cloudtrail:ListTrails"] == ACCOUNTS  # one per account
    assert worker_calls["events:DescribeRule"] == ACCOUNTS * len(REGIONS)  # the forwarding rule, every region
    calls = sweep["calls"]
    assert (
        calls["total"]
        == calls["aws"] + calls["own_state"]
        == sweep["planner"]["calls"]["total"] + sum(worker_calls.values())
    )
    assert calls["own_state"] > 0
    assert calls["sts"] > 0
    assert sweep["efficiency"] is None  # no latency injected: no ideal to compare with
    for event in ("key_event", "bucket_event"):
        for state in ("cold", "warm"):
            assert 0 < figures[event][state]["calls"]["total"] < 100
    assert set(figures["memory"]) == set(MEMORY_KINDS)
    for memory in figures["memory"].values():
        assert memory["peak_mib"] >= memory["baseline_mib"] > 0
    assert set(figures["policy_check_seconds"]) == {"key", "bucket", "key_organization", "bucket_organization"}
    assert set(section["targets"]) == {
        "invocation_seconds",
        "memory_flat",
        "event_calls",
        "policy_seconds",
        "sweep_efficiency",
    }
    assert section["targets"]["memory_flat"]["verdict"] == "not measured"  # one size
    assert section["targets"]["event_calls"]["verdict"] == "met"
