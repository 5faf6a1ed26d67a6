"""`make bench`: AWS API calls per event, cold-start import time of each handler, warm handler latency.

Figures, not assertions: the targets (a drifted trail in at most 6 calls even from a cold container, a
compliant one in at most 3; STS and TrailGuard's own tables not counted) are stated beside what is measured.
The central key is read only when AWS refuses it: that row is measured too, with the refusal injected.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from demo.__main__ import _environment
from harness.calls import ApiCalls

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "trailguard"
RUNS = 7


def import_seconds(code_uri: Path) -> list[float]:
    """Time `import app` in a fresh interpreter, as Lambda's init phase does (the layer on sys.path)."""
    probe = (
        f"import sys, time; sys.path[:0] = [{str(code_uri)!r}, {str(LAYER)!r}]; t = time.perf_counter(); import app; "
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "PYTHONDONTWRITEBYTECODE": "0"}
    results = []
    for _ in range(RUNS + 1):
        output = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
        )
        results.append(float(output.stdout.strip()))
    return results[1:]  # the first run compiles bytecode


def split(calls: ApiCalls) -> tuple[int, str]:
    """Calls to AWS about the guarded resources, and apart: STS, and TrailGuard's own tables (ledger)."""
    aws = calls.count(excluding=("AssumeRole", "GetCallerIdentity"), own_state=False)
    sts = calls.count(excluding=()) - calls.count(excluding=("AssumeRole", "GetCallerIdentity"))
    extra = [f"+{sts} STS"] if sts else []
    extra += [f"+{calls.state()} ledger"] if calls.state() else []
    return aws, " ".join(extra)


def main() -> int:
    quiet = _environment(verbose=False)
    from moto import mock_aws

    from harness.calls import counting
    from harness.faults import injecting
    from harness.org import MEMBER_A, MEMBER_B, OTHER, build_org
    from harness.stack import InProcessStack

    print("Cold-start import time of each handler (fresh interpreter, median of", RUNS, "runs)")
    from harness.template import functions, load_template

    for spec in functions(load_template(), parameters={"LogBucketName": "bucket"}):
        seconds = import_seconds(spec.code_uri)
        print(
            f"  {spec.logical_id:22} {statistics.median(seconds) * 1000:7.1f} ms "
            f"(min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f})"
        )

    print("\nAWS API calls per event (STS and TrailGuard's own ledger table listed apart)")
    rows: list[tuple[str, str, int, str]] = []
    with mock_aws(), counting() as calls, injecting() as faults:
        org = build_org()
        stack = InProcessStack(org)
        # Several repairs of one trail within minutes: the write budget (3 an hour) would stop the later ones.
        stack.configure(**quiet, TRAILGUARD_WRITE_BUDGET="100")
        cloudtrail_a = org.client("cloudtrail", MEMBER_A)

        def measure(label: str, target: str, event: str) -> None:
            calls.reset()
            stack.send(event)
            rows.append((label, target, *split(calls)))
            org.findings()

        org.create_trail(MEMBER_B, "audit-trail", OTHER, key=None)
        measure("drifted trail, cold container", "<= 6", "trail/create_trail_us_east_1.json")
        org.create_trail(MEMBER_A, "audit-trail", key=None)
        # What real AWS answers a key policy without the account (moto accepts it): the key is read to say why.
        faults.fail("UpdateTrail", "InsufficientEncryptionPolicyException", "Insufficient permissions")
        measure("drifted trail, AWS refuses the key (then reads it)", "-", "trail/create_trail_no_key.json")
        faults.clear()
        measure("drifted trail (no key), warm container", "<= 6", "trail/update_trail_remove_key_console.json")
        measure("compliant trail", "<= 3", "trail/create_trail_central_key.json")
        cloudtrail_a.stop_logging(Name="audit-trail")
        measure("stopped trail", "<= 6", "trail/stop_logging.json")
        cloudtrail_a.update_trail(Name="audit-trail", KmsKeyId="")
        cloudtrail_a.stop_logging(Name="audit-trail")
        measure("no key and stopped (two repairs)", "-", "trail/update_trail_remove_key_console.json")
        measure("key event, compliant key (4 accounts x 2 regions)", "-", "key/put_key_policy.json")
        measure("bucket event, compliant bucket", "-", "bucket/put_bucket_versioning_suspended.json")
        calls.reset()
        stack.sweep(org.event("schedule/sweep.json"))
        rows.append(("sweep (4 accounts x 2 regions, 2 trails, coverage, forwarders)", "-", *split(calls)))

        for label, target, count, extra in rows:
            print(f"  {label:62} {count:3} calls {extra:22} target {target}")

        print("\nWarm handler latency in-process under moto (compliant trail event, median of 20)")
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            stack.send("trail/create_trail_central_key.json")
            samples.append(time.perf_counter() - start)
        print(f"  TrailGuardFunction      {statistics.median(samples) * 1000:7.1f} ms (moto's own time included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
