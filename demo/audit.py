"""`make audit-demo`: `trailguard audit` against the benchmark's simulated organization on a local moto server.

The organization (four accounts, three regions, trails in every state) is served on the loopback; the audit runs
as an operator would run it, in its own process, reaching "AWS" through AWS_ENDPOINT_URL with the credentials of
a role in the central account. Without options it audits (exit 1: findings open), repairs with `--fix --yes`, and
audits again (exit 0). Options after `--` (or ARGS="..." for make) run one audit with them instead, e.g.
`make audit-demo ARGS="--format json"`.
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


STEPS = (  # without options: audit, repair, audit again (what an operator does the first time)
    ((), "the organization as it is: findings open, exit 1"),
    (("--fix", "--yes"), "the repairs remediate mode would make, applied"),
    ((), "again: nothing open, exit 0"),
)


def main(argv: Sequence[str]) -> int:
    steps = [(tuple(argv), "as asked")] if argv else list(STEPS)
    codes: list[int] = []
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as home:
        org = build(endpoint)
        env = trailguard_environment(org, Path(home))
        del env["TRAILGUARD_TOPIC_ARN"], env["TRAILGUARD_MODE"]  # the audit needs no topic; --fix chooses the mode
        base = [a for a in trailguard_command(org) if a not in ("--format", "json")]
        for options, purpose in steps:
            command = [*base, *options]
            shown = " ".join(["trailguard", *command[3:]])
            print(f"\n$ {shown}   # {purpose}; against {endpoint}", file=sys.stderr, flush=True)
            done = subprocess.run(command, env=env, cwd=ROOT, check=False)  # noqa: S603 - this package's own command
            print(f"trailguard audit exited {done.returncode}", file=sys.stderr, flush=True)
            codes.append(done.returncode)
    if argv:
        return 0 if codes[0] in (0, 1) else codes[0]
    expected = [1, 1, 0]  # the fix run still lists what it repaired, and the coverage it judged before
    print(f"\naudit-demo: exit codes {codes}, expected {expected}", file=sys.stderr)
    return 0 if codes == expected else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
