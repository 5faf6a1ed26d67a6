"""`make bench-peers` (and the peers part of `make bench`): TrailGuard, Cloud Custodian and Prowler side by side.

Starts a moto server, builds the organization, runs each tool against it (timing several runs), prints the verdict
table with every disagreement explained and TrailGuard beside each peer on the checks they share; then times the
cold import of every TrailGuard handler beside Custodian's Lambda handler and `import boto3`, in the same rounds.
A tool that cannot be installed or run is reported as such; the bench still compares the others.

The results are merged into bench/results.json under the keys of SECTIONS ("peers", "verdicts", "coldstart"):
what other writers keep there (`make bench`'s own figures) stays.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.coldstart_peers import coldstart, coldstart_section
from bench.coldstart_peers import render as render_coldstart
from bench.compare import PeerResult, disagreements, peers_section, ratios, render, rows, verdicts_section
from bench.peer_org import PeerOrg, build, moto_server
from bench.peers import run_custodian, run_prowler, run_trailguard
from bench.truth import expected_trail_verdicts
from bench.verdicts import CUSTODIAN, PROWLER, TRAILGUARD

RESULTS = Path(__file__).resolve().parent / "results.json"
SECTIONS = ("peers", "verdicts", "coldstart")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of TrailGuard and Custodian (default 5)")
    parser.add_argument("--prowler-runs", type=int, default=3, help="timed runs of Prowler (default 3; ~1 min each)")
    parser.add_argument("--coldstart-runs", type=int, default=9, help="cold-import rounds (default 9)")
    parser.add_argument(
        "--only", choices=("peers", "coldstart"), help="run one part only (the other's results stay in the file)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results file (JSON), merged into")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.lower().startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu": model,
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _context(org: PeerOrg, arguments: argparse.Namespace) -> dict[str, Any]:
    return {
        "generated": _now(),
        "machine": machine(),
        "simulator": f"moto {version('moto')}",
        "runs": {
            "trailguard": arguments.runs,
            "custodian": arguments.runs,
            "prowler": arguments.prowler_runs,
        },
        "organization": {
            "simulator": "moto server on 127.0.0.1 (one process; the tools reach it through AWS_ENDPOINT_URL)",
            "accounts": list(org.accounts),
            "regions": list(org.regions),
            "central_key": org.key_arn,
            "bucket": org.bucket,
            "trails": [
                {
                    "arn": spec.arn,
                    "state": spec.state,
                    "expected": {q.value: v.value for q, v in expected_trail_verdicts(spec).items()},
                }
                for spec in org.trails
            ],
        },
    }


def _shown(path: Path) -> Path:
    return path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path


def merge_results(path: Path, sections: Mapping[str, Any]) -> list[str]:
    """Write `sections` into the JSON object at `path`, keeping every other key; returns what was kept.

    A file that is not a JSON object is not silently replaced: it is kept beside, as <name>.unreadable.
    """
    kept: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            kept = loaded
        else:
            path.replace(path.with_name(path.name + ".unreadable"))
    others = [key for key in kept if key not in sections]
    merged = {**kept, **sections}
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(merged, indent=2) + "\n")
    partial.replace(path)  # atomic: a reader sees the old file or the new one
    return others


def run_peers(arguments: argparse.Namespace) -> dict[str, Any]:
    print("Building the simulated organization on a moto server ...", file=sys.stderr, flush=True)
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="bench-peers-") as work:
        org = build(endpoint)
        workdir = Path(work)
        peers: dict[str, PeerResult] = {
            TRAILGUARD: run_trailguard(org, arguments.runs, workdir),
            CUSTODIAN: run_custodian(org, arguments.runs, workdir),
            PROWLER: run_prowler(org, arguments.prowler_runs, workdir),
        }
    table = rows(org.trails, org.accounts, org.regions, {tool: peer.verdicts for tool, peer in peers.items()})
    found = disagreements(table)
    walls = {tool: peer.wall for tool, peer in peers.items() if peer.wall is not None}
    extra = ratios(walls)
    print(render(table, found, peers, extra))
    context = _context(org, arguments)
    return {
        "peers": peers_section(peers, extra, context),
        "verdicts": verdicts_section(table, found, peers, context["generated"]),
    }


def run_coldstart(arguments: argparse.Namespace) -> dict[str, Any]:
    print("Timing the cold import of every handler beside Custodian's ...", file=sys.stderr, flush=True)
    found, notes = coldstart(arguments.coldstart_runs, python=Path(sys.executable))
    print(render_coldstart(found, notes, arguments.coldstart_runs))
    context = {"generated": _now(), "machine": machine(), "runs": arguments.coldstart_runs}
    return {"coldstart": coldstart_section(found, notes, context)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    sections: dict[str, Any] = {}
    if arguments.only in (None, "peers"):
        sections.update(run_peers(arguments))
    if arguments.only in (None, "coldstart"):
        if sections:
            print()
        sections.update(run_coldstart(arguments))
    kept = merge_results(arguments.output, sections)
    print(
        f"\nResults merged into {_shown(arguments.output)}: {', '.join(sections)}"
        + (f" (kept: {', '.join(kept)})" if kept else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
