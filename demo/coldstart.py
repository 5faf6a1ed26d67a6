"""Cold-start import time of each handler, as Lambda's init phase imports it, next to a bare `import boto3`.

`measure_imports()` imports each function's handler module in a fresh interpreter, several times, with what
Lambda gives it: the function's folder and the layer on `sys.path`, `LAMBDA_TASK_ROOT`,
`AWS_LAMBDA_FUNCTION_NAME` and the variables template.yaml sets. With `in_lambda=False` the same import runs as
the tests, the CLI and `make demo` run it (no Lambda variables). Each result also names the heavy optional
modules the import pulled in, so that an import that should be lazy is seen.

    python -m demo.coldstart            # both environments, median of 7 runs
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9
# Modules worth knowing about when they are imported at init: each costs tens to hundreds of milliseconds.
WATCHED = (
    "boto3",
    "botocore.session",
    "aws_xray_sdk.core",
    "pydantic",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.idempotency",
)
BASELINE = "import boto3"


@dataclass(frozen=True)
class ImportTiming:
    """Wall-clock and CPU seconds of each run (the first, which compiles bytecode, is left out) and the watched
    modules imported. CPU time is the steadier figure on a busy machine; Lambda bills the wall clock."""

    label: str
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]
    modules: tuple[str, ...]

    @property
    def cpu_median_ms(self) -> float:
        return statistics.median(self.cpu_seconds) * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.seconds) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.seconds) * 1000

    def line(self) -> str:
        imported = ", ".join(self.modules) or "-"
        return (
            f"{self.label:24} {self.median_ms:7.1f} ms (min {self.min_ms:6.1f}, max {self.max_ms:6.1f}), "
            f"CPU {self.cpu_median_ms:6.1f} ms  imports: {imported}"
        )


@dataclass(frozen=True)
class Target:
    """What to import, from where, with which environment."""

    label: str
    module: str
    paths: tuple[str, ...]
    environment: dict[str, str]


def probe(target: Target) -> str:
    """Python source that imports the target and prints its import time and the watched modules, as JSON."""
    return (
        "import json, sys, time\n"
        f"sys.path[:0] = {list(target.paths)!r}\n"
        "start, cpu = time.perf_counter(), time.process_time()\n"
        f"import {target.module}\n"
        "seconds, cpu = time.perf_counter() - start, time.process_time() - cpu\n"
        f"modules = [m for m in {list(WATCHED)!r} if m in sys.modules]\n"
        "print(json.dumps({'seconds': seconds, 'cpu': cpu, 'modules': modules}))\n"
    )


def lambda_environment(function_name: str, code_uri: Path, variables: dict[str, str]) -> dict[str, str]:
    """The variables Lambda's Python runtime sets before the init phase, plus the function's own."""
    return {
        "LAMBDA_TASK_ROOT": str(code_uri),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        **variables,
    }


def targets(*, in_lambda: bool) -> list[Target]:
    """The baseline (`import boto3`) and every function of template.yaml, with its layer and variables."""
    from harness.template import functions, load_template

    found = [Target("import boto3 (baseline)", "boto3", (), {"AWS_REGION": "eu-west-1"})]
    for spec in functions(load_template(), parameters={"LogBucketName": "bucket"}):
        variables = {name: value for name, value in spec.environment.items() if isinstance(value, str)}
        environment = (
            lambda_environment(spec.logical_id, spec.code_uri, variables)
            if in_lambda
            else {"AWS_REGION": "eu-west-1", **variables}
        )
        paths = (str(spec.code_uri), *(str(folder) for folder in spec.layers_dirs))
        found.append(Target(spec.logical_id, spec.handler_module, paths, environment))
    return found


def run_once(target: Target) -> tuple[float, float, tuple[str, ...]]:
    """Import the target in a fresh interpreter: seconds taken, CPU seconds, the watched modules it imported."""
    inherited = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    environment = {**inherited, **target.environment}
    output = subprocess.run(  # noqa: S603 - this interpreter, a probe built from the template
        [sys.executable, "-c", probe(target)], capture_output=True, text=True, env=environment, check=True, cwd=ROOT
    )
    result = json.loads(output.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), float(result["cpu"]), tuple(result["modules"])


def measure_imports(runs: int = RUNS, *, in_lambda: bool = True) -> dict[str, ImportTiming]:
    """Import time of `import boto3` and of each handler, keyed by label (the function's logical id).

    The targets take turns, run after run, so that a busy moment of the machine weighs on all of them alike;
    a first round compiles bytecode and is not counted.
    """
    found = targets(in_lambda=in_lambda)
    seconds: dict[str, list[float]] = {target.label: [] for target in found}
    cpu_seconds: dict[str, list[float]] = {target.label: [] for target in found}
    modules: dict[str, tuple[str, ...]] = {}
    for round_number in range(runs + 1):
        for target in found:
            taken, cpu, modules[target.label] = run_once(target)
            if round_number:
                seconds[target.label].append(taken)
                cpu_seconds[target.label].append(cpu)
    return {
        label: ImportTiming(label, tuple(taken), tuple(cpu_seconds[label]), modules[label])
        for label, taken in seconds.items()
    }


def main() -> int:
    for in_lambda, title in ((True, "as Lambda imports it"), (False, "outside Lambda (tests, CLI, demo)")):
        print(f"Cold-start import time, {title}: fresh interpreter, median of {RUNS} runs")
        for timing in measure_imports(in_lambda=in_lambda).values():
            print(f"  {timing.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
