"""`make audit-demo`: `trailguard audit` against the benchmark's simulated organization on a local moto server.

The organization (four accounts, three regions, trails in every state) is served on the loopback; the audit runs
as an operator would run it, in its own process, reaching "AWS" through AWS_ENDPOINT_URL with the credentials of
a role in the central account. Options after `--` (or ARGS="..." for make) go to the audit, e.g.
`make audit-demo ARGS="--format json"` or `ARGS="--fix --yes"`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.peer_org import build, moto_server
from bench.peers import trailguard_command, trailguard_environment

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str]) -> int:
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as home:
        org = build(endpoint)
        env = trailguard_environment(org, Path(home))
        del env["TRAILGUARD_TOPIC_ARN"], env["TRAILGUARD_MODE"]  # the audit needs no topic; --fix chooses the mode
        command = [*(a for a in trailguard_command(org) if a not in ("--format", "json")), *argv]
        shown = " ".join(["trailguard", *command[3:]])
        print(f"$ {shown}   # against {endpoint}, accounts {', '.join(org.accounts)}", file=sys.stderr)
        done = subprocess.run(command, env=env, cwd=ROOT, check=False)  # noqa: S603 - this package's own command
    print(f"trailguard audit exited {done.returncode}", file=sys.stderr)
    return 0 if done.returncode in (0, 1) else done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
