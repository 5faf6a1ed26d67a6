"""Cold import of Cloud Custodian's Lambda handler, as a Lambda init phase runs it.

A policy Custodian deploys to Lambda imports `c7n.handler` and loads the resource types of its policy
before the first event; for a CloudTrail policy that is aws.cloudtrail and the KMS resources. Each
sample is a fresh interpreter of .venv-custodian with LAMBDA_TASK_ROOT set, as on Lambda; `import
boto3` alone in the same environment is the floor every Python function pays.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.compare import Figure, median_figure
from bench.peers import CUSTODIAN_VENV, PeerFailed

RESOURCES = ("aws.cloudtrail", "aws.kms", "aws.kms-key")

HANDLER_PROBE = f"""
import json, time
start = time.perf_counter()
import c7n.handler
imported = time.perf_counter()
from c7n.resources import load_resources
missing = load_resources({RESOURCES!r})
loaded = time.perf_counter()
print(json.dumps({{"handler": imported - start, "resources": loaded - imported, "missing": missing}}))
"""

BOTO3_PROBE = """
import json, time
start = time.perf_counter()
import boto3
print(json.dumps({"boto3": time.perf_counter() - start}))
"""

Probe = Callable[[str], dict[str, float]]


def _probe(python: Path, task_root: Path) -> Probe:
    def run(code: str) -> dict[str, float]:
        env = {"LAMBDA_TASK_ROOT": str(task_root), "AWS_DEFAULT_REGION": "eu-west-1", "PYTHONDONTWRITEBYTECODE": "0"}
        done = subprocess.run(  # noqa: S603 - this environment's interpreter, a fixed probe
            [str(python), "-c", code], env=env, cwd=task_root, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["(no output)"]
            raise PeerFailed(f"the cold-import probe failed: {lines[-1]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result.get("missing"):
            raise PeerFailed(f"c7n does not know the resource types {result['missing']}")
        return {k: float(v) for k, v in result.items() if k != "missing"}

    return run


def coldstart_figures(samples: list[dict[str, float]], boto3: list[dict[str, float]]) -> list[Figure]:
    """Median figures from the probes' samples (the first, bytecode-compiling run already dropped)."""
    method = "fresh interpreter of .venv-custodian, LAMBDA_TASK_ROOT set, bytecode compiled beforehand"
    handler = [s["handler"] * 1000 for s in samples]
    resources = [s["resources"] * 1000 for s in samples]
    total = [(s["handler"] + s["resources"]) * 1000 for s in samples]
    floor = [s["boto3"] * 1000 for s in boto3]
    return [
        median_figure("Custodian cold import: import c7n.handler", handler, "ms", method),
        median_figure(
            "Custodian cold import: load_resources(cloudtrail, kms)", resources, "ms", f"{method}; {RESOURCES}"
        ),
        median_figure("Custodian cold import: handler + resources", total, "ms", method),
        median_figure("import boto3 alone (same environment)", floor, "ms", method),
    ]


def custodian_coldstart(runs: int = 7) -> list[Figure]:
    """Time Custodian's Lambda cold import `runs` times (plus one run to compile bytecode, not counted).

    Raises PeerFailed when .venv-custodian is missing or the probe fails.
    """
    python = CUSTODIAN_VENV / "bin" / "python"
    if not python.exists():
        raise PeerFailed("c7n is not installed in .venv-custodian (make bench-peers installs it)")
    with tempfile.TemporaryDirectory(prefix="c7n-task-root-") as root:
        probe = _probe(python, Path(root))
        handler = [probe(HANDLER_PROBE) for _ in range(runs + 1)][1:]
        boto3 = [probe(BOTO3_PROBE) for _ in range(runs + 1)][1:]
    return coldstart_figures(handler, boto3)
