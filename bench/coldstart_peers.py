"""Cold import of each TrailGuard handler and of Cloud Custodian's Lambda handler, as a Lambda init phase runs it.

Every sample is a fresh interpreter with what Lambda gives the init phase: `LAMBDA_TASK_ROOT` (the working
directory), and for TrailGuard the function's folder, then its layer, on `sys.path` (Lambda unpacks the layer to
/opt/python) and the variables template.yaml sets. Tracing is as template.yaml deploys it (`Tracing: Active`):
TrailGuard builds its X-Ray tracer at the first invocation, and that one-time cost is measured apart, right after
the import. Custodian's init phase is the `from c7n import handler` of the module it deploys (custodian_policy.py);
its first invocation then loads the resource types of its policy (for a CloudTrail policy, aws.cloudtrail and
the KMS resources), measured apart too. `import boto3` alone, in each environment, is the floor every Python
function pays.

The probes take turns, round after round, so that a busy moment of the machine weighs on all alike; a first
round compiles bytecode and is not counted. Each sample records the wall clock (what Lambda bills) and the
process's CPU time (steadier on a shared machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.compare import Figure, median_figure
from bench.peers import CUSTODIAN_VENV, ROOT, PeerFailed

RESOURCES = ("aws.cloudtrail", "aws.kms", "aws.kms-key")
CUSTODIAN_HANDLER = "Custodian handler (from c7n import handler)"
TIMED = "start, cpu = time.perf_counter(), time.process_time()\n"
DONE = "seconds, cpu = time.perf_counter() - start, time.process_time() - cpu\n"

CUSTODIAN_PROBE = f"""
import json, time
{TIMED}from c7n import handler
{DONE}start = time.perf_counter()
from c7n.resources import load_resources
missing = load_resources({RESOURCES!r})
print(json.dumps({{"seconds": seconds, "cpu": cpu, "first_use": time.perf_counter() - start, "missing": missing}}))
"""

BOTO3_PROBE = f"""
import json, time
{TIMED}import boto3
{DONE}print(json.dumps({{"seconds": seconds, "cpu": cpu}}))
"""


def handler_probe(paths: Sequence[Path], module: str) -> str:
    """Import the handler module as Lambda's init phase does; then build the X-Ray tracer as its first
    invocation does when tracing is on (nothing when it is off)."""
    return f"""
import json, sys, time
sys.path[:0] = {[str(p) for p in paths]!r}
{TIMED}import {module}
{DONE}start = time.perf_counter()
from trailguard.observability import tracer
tracer.tracer
print(json.dumps({{"seconds": seconds, "cpu": cpu, "first_use": time.perf_counter() - start}}))
"""


@dataclass(frozen=True)
class Probe:
    """One thing to import in a fresh interpreter, and how."""

    label: str
    python: Path
    code: str
    cwd: Path
    environment: dict[str, str] = field(default_factory=dict)


Sample = dict[str, float]


class ProbeFailed(PeerFailed):
    """A probe's interpreter failed or did not have what it imports."""

    def __init__(self, probe: Probe, reason: str) -> None:
        super().__init__(f"the cold-import probe of {probe.label} failed: {reason}")
        self.probe = probe


def lambda_environment(task_root: Path, function_name: str, variables: dict[str, str]) -> dict[str, str]:
    """The variables Lambda's Python runtime sets before the init phase, then the function's own."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "PYTHONDONTWRITEBYTECODE": "0",
        **variables,
    }


def trailguard_probes(python: Path, root: Path = ROOT) -> list[Probe]:
    """One probe per function of root/template.yaml: its folder and layers, its variables, its tracing."""
    from harness.template import functions, load_template

    template = root / "template.yaml"
    probes = []
    for spec in functions(load_template(template), parameters={"LogBucketName": "bucket"}, base_dir=root):
        variables = {name: value for name, value in spec.environment.items() if isinstance(value, str)}
        if spec.properties.get("Tracing") != "Active":
            variables["POWERTOOLS_TRACE_DISABLED"] = "true"
        folder = spec.code_uri.relative_to(root) if spec.code_uri.is_relative_to(root) else spec.code_uri
        probes.append(
            Probe(
                f"TrailGuard {spec.logical_id} ({folder}/app.py)",
                python,
                handler_probe([spec.code_uri, *spec.layers_dirs], spec.handler_module),
                spec.code_uri,
                lambda_environment(spec.code_uri, spec.logical_id, variables),
            )
        )
    return probes


def sample(probe: Probe) -> Sample:
    done = subprocess.run(  # noqa: S603 - an environment's own interpreter, a fixed probe
        [str(probe.python), "-c", probe.code],
        env=probe.environment,
        cwd=probe.cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        raise ProbeFailed(probe, lines[-1])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("missing"):
        raise ProbeFailed(probe, f"c7n does not know the resource types {result['missing']}")
    return {key: float(value) for key, value in result.items() if key != "missing"}


def rounds(probes: Sequence[Probe], runs: int) -> dict[str, list[Sample]]:
    """`runs` samples of each probe, the probes taking turns; a first round (bytecode) is left out."""
    samples: dict[str, list[Sample]] = {probe.label: [] for probe in probes}
    for number in range(runs + 1):
        for probe in probes:
            taken = sample(probe)
            if number:
                samples[probe.label].append(taken)
    return samples


METHOD = "fresh interpreter, LAMBDA_TASK_ROOT set, bytecode compiled beforehand, the probes taking turns"
FIRST_USE = {"TrailGuard": "X-Ray tracer (Tracing: Active)", "Custodian": "load_resources(cloudtrail, kms)"}


@dataclass(frozen=True)
class ColdImport:
    """One probe's medians: the import (wall clock and CPU) and, where there is one, the first use apart."""

    label: str
    wall: Figure
    cpu: Figure
    first_use: Figure | None = None

    def figures(self) -> list[Figure]:
        return [self.wall, self.cpu, *([self.first_use] if self.first_use else [])]


def _ms(samples: Iterable[Sample], key: str) -> list[float]:
    return [s[key] * 1000 for s in samples]


def cold_imports(samples: dict[str, list[Sample]]) -> list[ColdImport]:
    """The medians of every probe, TrailGuard's handlers first, then Custodian's, then the boto3 floors."""
    found = []
    for label, taken in samples.items():
        name = label
        first_use = None
        tool = label.split(" ", 1)[0]
        if tool in FIRST_USE and taken and "first_use" in taken[0]:
            first_use = median_figure(
                f"{name}, first invocation: {FIRST_USE[tool]}",
                _ms(taken, "first_use"),
                "ms",
                f"{METHOD}; wall clock, right after the import",
            )
        found.append(
            ColdImport(
                label,
                median_figure(f"{name}, import", _ms(taken, "seconds"), "ms", f"{METHOD}; wall clock"),
                median_figure(f"{name}, import CPU", _ms(taken, "cpu"), "ms", f"{METHOD}; process CPU time"),
                first_use,
            )
        )
    return found


def verdicts(found: Sequence[ColdImport]) -> list[str]:
    """Each TrailGuard handler's median import beside Custodian's handler import, from the same rounds."""
    custodian = next((c for c in found if c.label == CUSTODIAN_HANDLER), None)
    if custodian is None:
        return ["Custodian's handler import was not measured: no comparison."]
    lines = []
    for each in found:
        if each.label.startswith("TrailGuard"):
            wall, cpu = each.wall.value, each.cpu.value
            ok = wall <= custodian.wall.value
            lines.append(
                f"{each.label.removeprefix('TrailGuard ').split(' ', 1)[0]}: {wall:.1f} ms "
                f"{'<=' if ok else '>'} Custodian's {custodian.wall.value:.1f} ms "
                f"({wall / custodian.wall.value:.2f}x wall, {cpu / custodian.cpu.value:.2f}x CPU)"
                + ("" if ok else "  ABOVE")
            )
    return lines


def render(found: Sequence[ColdImport], notes: Sequence[str], runs: int) -> str:
    width = max((len(c.label) for c in found), default=20)
    lines = [
        f"Cold import as a Lambda init phase runs it: median of {runs} rounds; {METHOD}.",
        "Wall clock and the process's CPU time, in ms; the one-time setup of the first invocation apart.",
        "",
        f"  {'':{width}} {'import':>9} {'CPU':>9}  first invocation",
    ]
    for c in found:
        first = f"{c.first_use.value:7.1f}  {FIRST_USE[c.label.split(' ', 1)[0]]}" if c.first_use else ""
        lines.append(f"  {c.label:{width}} {c.wall.value:9.1f} {c.cpu.value:9.1f}  {first}")
    lines += ["", "Each TrailGuard handler's import beside Custodian's handler import (same rounds):"]
    lines += [f"  {line}" for line in verdicts(found)]
    lines += [f"  {note}" for note in notes]
    return "\n".join(lines)


def coldstart_section(
    found: Sequence[ColdImport], notes: Sequence[str], context: Mapping[str, object]
) -> dict[str, object]:
    return {
        **context,
        "method": METHOD,
        "figures": [f.as_json() for c in found for f in c.figures()],
        "beside_custodian": verdicts(found),
        "notes": list(notes),
    }


def coldstart(runs: int = 7, *, python: Path, root: Path = ROOT) -> tuple[list[ColdImport], list[str]]:
    """TrailGuard's handlers (from root) beside Custodian's handler and `import boto3`, in the same rounds.

    Custodian's probes are left out, with the reason, when .venv-custodian is missing or fails; TrailGuard's are
    always measured.
    """
    notes: list[str] = []
    probes = trailguard_probes(python, root)
    with tempfile.TemporaryDirectory(prefix="lambda-task-root-") as task_root:
        task = Path(task_root)
        environment = lambda_environment(task, "custodian-policy", {})
        probes.append(Probe("import boto3 alone, TrailGuard's environment", python, BOTO3_PROBE, task, environment))
        custodian = CUSTODIAN_VENV / "bin" / "python"
        if custodian.exists():
            probes += [
                Probe(CUSTODIAN_HANDLER, custodian, CUSTODIAN_PROBE, task, environment),
                Probe("import boto3 alone, Custodian's environment", custodian, BOTO3_PROBE, task, environment),
            ]
        else:
            notes.append("Custodian's cold import not measured: c7n is not installed in .venv-custodian")
        try:
            samples = rounds(probes, runs)
        except PeerFailed as error:
            if custodian not in {p.python for p in probes} or not str(error).startswith(_CUSTODIAN_FAILURES):
                raise
            notes.append(f"Custodian's cold import not measured: {error}")
            samples = rounds([p for p in probes if p.python != custodian], runs)
    return cold_imports(samples), notes


_CUSTODIAN_FAILURES = (
    f"the cold-import probe of {CUSTODIAN_HANDLER}",
    "the cold-import probe of import boto3 alone, Custodian",
    "c7n does not know",
)
