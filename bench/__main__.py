"""`make bench-peers`: TrailGuard, Cloud Custodian and Prowler on one simulated organization.

Starts a moto server, builds the organization, runs each tool against it (timing several runs), times
Custodian's Lambda cold import, prints the verdict table with every disagreement explained, and writes
bench/results.json. A tool that cannot be installed or run is reported as such; the bench still
compares the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.coldstart_peers import custodian_coldstart
from bench.compare import Figure, PeerResult, disagreements, ratios, render, results_document, rows
from bench.peer_org import PeerOrg, build, moto_server
from bench.peers import PeerFailed, run_custodian, run_prowler, run_trailguard
from bench.truth import expected_trail_verdicts
from bench.verdicts import CUSTODIAN, PROWLER, TRAILGUARD

RESULTS = Path(__file__).resolve().parent / "results.json"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of TrailGuard and Custodian (default 5)")
    parser.add_argument("--prowler-runs", type=int, default=3, help="timed runs of Prowler (default 3; ~1 min each)")
    parser.add_argument("--coldstart-runs", type=int, default=7, help="cold-import samples (default 7)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the results (JSON)")
    return parser.parse_args(argv)


def _context(org: PeerOrg, arguments: argparse.Namespace) -> dict[str, Any]:
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "moto": version("moto")},
        "runs": {
            "trailguard": arguments.runs,
            "custodian": arguments.runs,
            "prowler": arguments.prowler_runs,
            "coldstart": arguments.coldstart_runs,
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


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    print("Building the simulated organization on a moto server ...", file=sys.stderr, flush=True)
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="bench-peers-") as work:
        org = build(endpoint)
        workdir = Path(work)
        peers: dict[str, PeerResult] = {
            TRAILGUARD: run_trailguard(org, arguments.runs, workdir),
            CUSTODIAN: run_custodian(org, arguments.runs, workdir),
            PROWLER: run_prowler(org, arguments.prowler_runs, workdir),
        }
    print("Timing Custodian's Lambda cold import ...", file=sys.stderr, flush=True)
    coldstart: list[Figure] = []
    try:
        coldstart = custodian_coldstart(arguments.coldstart_runs)
    except PeerFailed as error:
        peers[CUSTODIAN].notes.append(f"cold import not measured: {error}")

    table = rows(org.trails, org.accounts, org.regions, {tool: peer.verdicts for tool, peer in peers.items()})
    found = disagreements(table)
    walls = {tool: peer.wall for tool, peer in peers.items() if peer.wall is not None}
    extra = ratios(walls)
    print(render(table, found, peers, coldstart, extra))
    document = results_document(table, found, peers, coldstart, extra, _context(org, arguments))
    arguments.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nResults written to {_shown(arguments.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
