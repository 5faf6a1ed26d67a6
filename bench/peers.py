"""Run each tool against the simulated organization, time it, and turn its output into verdicts.

Each tool runs as its users run it from a shell, in its own environment, one process at a time:
Custodian (`custodian run`) and Prowler (`prowler aws`) once per account with that account's plain
credentials and the three regions; TrailGuard (`python -m trailguard audit`) once for the whole
organization with its function role's credentials, assuming `TrailGuardRemediation` into the accounts.
Wall time is that of the whole organization, process start included. A tool that is not installed or
fails is reported with the reason, never skipped silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.compare import PeerResult, median_figure
from bench.peer_org import REMEDIATION_ROLE, Credentials, PeerOrg
from bench.verdicts import (
    CUSTODIAN,
    PROWLER,
    PROWLER_CHECKS,
    TRAILGUARD,
    CustodianOutputs,
    OutputError,
    Verdicts,
    audit_items,
    custodian_shadow_rows,
    custodian_verdicts,
    is_failing,
    prowler_duplicate_rows,
    prowler_findings,
    prowler_verdicts,
    trailguard_verdicts,
)

ROOT = Path(__file__).resolve().parent.parent
CUSTODIAN_VENV = ROOT / ".venv-custodian"
PROWLER_VENV = ROOT / ".venv-prowler"
POLICIES = Path(__file__).resolve().parent / "custodian"
TIMEOUT = 900  # seconds for one process: Prowler alone needs about a minute to start here


class PeerFailed(Exception):
    """The tool could not run; the message says why, in one line."""


def _environment(org: PeerOrg, credentials: Credentials, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no profile or stray credentials from the caller, only the simulated account."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        **org.base_environment(),
        **credentials.environment(),
        **extra,
    }


def _execute(command: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed commands from this package
            list(command), env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise PeerFailed(f"{Path(command[0]).name} did not finish within {TIMEOUT} s") from None
    except OSError as error:
        raise PeerFailed(f"cannot start {command[0]}: {error.strerror or error}") from None


def _run(command: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = _execute(command, env)
    if done.returncode != 0:
        raise PeerFailed(f"{Path(command[0]).name} exited {done.returncode}: {_last_line(done.stderr or done.stdout)}")
    return done


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def _installed(venv: Path, executable: str, package: str) -> Path:
    """The tool's executable; PeerFailed with pip's last word when `make bench-peers` could not install it."""
    path = venv / "bin" / executable
    log = venv / "install.log"
    if path.exists() and (not log.exists() or (venv / ".installed").exists()):
        return path
    if log.exists():
        raise PeerFailed(f"{package} could not be installed in {venv.name}: pip said {_last_line(log.read_text())!r}")
    requirements = f"requirements-{venv.name.removeprefix('.venv-')}.txt"
    raise PeerFailed(f"{package} is not installed in {venv.name} (make bench-peers installs it from {requirements})")


def _version(venv: Path, package: str) -> str:
    done = subprocess.run(  # noqa: S603 - this environment's interpreter
        [str(venv / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{package} {done.stdout.strip()}" if done.returncode == 0 else f"{package} (version unknown)"


def _timed_runs(tool: str, runs: int, once: Any) -> tuple[list[float], list[float], Any]:
    """Call `once(run)` `runs` times: wall seconds of each, per-process seconds, and the last output."""
    walls: list[float] = []
    per_process: list[float] = []
    output = None
    for run in range(runs):
        print(f"  {tool}: run {run + 1} of {runs}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        output, processes = once(run)
        walls.append(time.perf_counter() - start)
        per_process.extend(processes)
    return walls, per_process, output


# --- Cloud Custodian -------------------------------------------------------------------------------------


def read_custodian_outputs(directory: Path) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """<account>/<region>/<policy>/resources.json under `directory`, as {(account, region, policy): resources}."""
    outputs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*/*/*/resources.json")):
        policy, region, account = path.parent.name, path.parent.parent.name, path.parent.parent.parent.name
        outputs[account, region, policy] = json.loads(path.read_text())
    return outputs


def run_custodian(org: PeerOrg, runs: int, workdir: Path) -> PeerResult:
    result = PeerResult(CUSTODIAN)
    try:
        custodian = _installed(CUSTODIAN_VENV, "custodian", "c7n")
        result.version = _version(CUSTODIAN_VENV, "c7n")
        variables = workdir / "custodian-vars.json"
        variables.write_text(json.dumps({"central_key_arn": org.key_arn}))
        regions = [argument for region in org.regions for argument in ("-r", region)]
        policies = [str(POLICIES / "trails.yml"), str(POLICIES / "account.yml")]

        def command(out: Path) -> list[str]:
            return [str(custodian), "run", "-s", str(out), "--cache-period", "0", "--vars-file", str(variables)]

        result.command = " ".join([*command(Path("OUT/<account>")), *regions, *policies]).replace(str(ROOT) + "/", "")

        def once(run: int) -> tuple[CustodianOutputs, list[float]]:
            out = workdir / f"custodian-{run}"
            seconds = []
            for account in org.accounts:
                start = time.perf_counter()
                env = _environment(org, org.auditors[account], workdir)
                _run([*command(out / account), *regions, *policies], env)
                seconds.append(time.perf_counter() - start)
            return read_custodian_outputs(out), seconds

        walls, per_process, outputs = _timed_runs(result.tool, runs, once)
        result.verdicts = custodian_verdicts(outputs, org.regions)
        rows, trails = custodian_shadow_rows(outputs)
        result.notes.append(
            f"without is-shadow: false Custodian reports {rows} rows for {trails} trails: each multi-region "
            "trail once in every region of its account (the policies keep is-shadow: false)"
        )
        scope = f"{len(org.accounts)} accounts x {len(org.regions)} regions"
        result.wall = median_figure(
            "Custodian wall time, whole organization",
            walls,
            "s",
            f"wall clock of `custodian run` once per account, one after another ({scope}, 8 policies, "
            "cache off), process start included",
        )
        result.figures += [
            result.wall,
            median_figure(
                "Custodian wall time, one account",
                per_process,
                "s",
                "wall clock of one `custodian run` process (3 regions, 8 policies)",
            ),
        ]
    except (PeerFailed, OutputError) as error:
        result.unavailable = str(error)
    return result


# --- Prowler ---------------------------------------------------------------------------------------------


def run_prowler(org: PeerOrg, runs: int, workdir: Path) -> PeerResult:
    result = PeerResult(PROWLER)
    try:
        prowler = _installed(PROWLER_VENV, "prowler", "prowler")
        result.version = _version(PROWLER_VENV, "prowler")
        base = [str(prowler), "aws", "--no-banner", "--no-color", "--checks", *PROWLER_CHECKS, "--region"]
        base += [*org.regions, "--output-formats", "json-ocsf", "--ignore-exit-code-3"]
        result.command = " ".join([*base, "-o", "OUT", "-F", "<account>"]).replace(str(ROOT) + "/", "")

        def once(run: int) -> tuple[list[dict[str, Any]], list[float]]:
            out = workdir / f"prowler-{run}"
            findings: list[dict[str, Any]] = []
            seconds = []
            for account in org.accounts:
                start = time.perf_counter()
                _run([*base, "-o", str(out), "-F", account], _environment(org, org.auditors[account], workdir))
                seconds.append(time.perf_counter() - start)
                report = out / f"{account}.ocsf.json"
                if not report.exists():
                    raise PeerFailed(f"prowler wrote no {report.name}")
                findings.extend(json.loads(report.read_text()))
            return findings, seconds

        walls, per_process, ocsf = _timed_runs(result.tool, runs, once)
        findings = prowler_findings(ocsf)
        result.verdicts = prowler_verdicts(findings)
        rows, distinct = prowler_duplicate_rows(findings)
        twice = "no trail twice" if rows == distinct else f"{rows - distinct} trail findings twice"
        result.notes.append(
            f"Prowler's per-trail checks gave {rows} rows for {distinct} (check, trail) pairs, {twice}: it "
            "keeps one copy of each trail ARN across regions (its own shadow-trail deduplication)"
        )
        result.wall = median_figure(
            "Prowler wall time, whole organization",
            walls,
            "s",
            f"wall clock of `prowler aws` once per account, one after another ({len(org.accounts)} accounts "
            f"x {len(org.regions)} regions, {len(PROWLER_CHECKS)} checks), process start included",
        )
        result.figures += [
            result.wall,
            median_figure(
                "Prowler wall time, one account",
                per_process,
                "s",
                "wall clock of one `prowler aws` process (3 regions, 3 checks), its start included (loading "
                "every check's metadata and every compliance framework)",
            ),
        ]
    except (PeerFailed, OutputError) as error:
        result.unavailable = str(error)
    return result


# --- TrailGuard ------------------------------------------------------------------------------------------

NO_AUDIT = "trailguard audit not available"


def trailguard_command(org: PeerOrg) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trailguard",
        "audit",
        "--format",
        "json",
        "--accounts",
        ",".join(org.accounts),
        "--regions",
        ",".join(org.regions),
        "--role",
        REMEDIATION_ROLE,
    ]


def trailguard_environment(org: PeerOrg, home: Path) -> dict[str, str]:
    """The function's configuration, as its stack would set it, in report mode (an audit changes nothing)."""
    if org.trailguard is None:
        raise PeerFailed("the simulated organization has no TrailGuard credentials")
    return _environment(
        org,
        org.trailguard,
        home,
        PYTHONPATH=str(ROOT / "layers" / "trailguard"),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        TRAILGUARD_CENTRAL_KEY_ARN=org.key_arn,
        TRAILGUARD_LOG_BUCKET=org.bucket,
        TRAILGUARD_TOPIC_ARN=org.topic_arn,
        TRAILGUARD_MODE="report",
        TRAILGUARD_REMEDIATION_ROLE_NAME=REMEDIATION_ROLE,
        TRAILGUARD_MANAGEMENT_ACCOUNT_ID=org.management,
        TRAILGUARD_ORG_ID=org.org_id,
        TRAILGUARD_ACCOUNTS=",".join(org.accounts),
        TRAILGUARD_REGIONS=",".join(org.regions),
    )


def audit_failure(returncode: int, stderr: str) -> str:
    """Why `trailguard audit` gave no verdicts, in one line (exit 0 is clean, 1 is findings, else failure)."""
    if "invalid choice: 'audit'" in stderr:
        return f"{NO_AUDIT} (this TrailGuard has no audit command yet)"
    return f"trailguard audit exited {returncode}: {_last_line(stderr)}"


def parse_audit(stdout: str, returncode: int, org: PeerOrg) -> tuple[Verdicts, list[str]]:
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise OutputError(f"trailguard audit printed no JSON ({error.msg} at line {error.lineno})") from None
    items = audit_items(document)
    notes = []
    if (returncode == 1) != any(is_failing(item) for item in items):
        notes.append(f"exit code {returncode} does not match the findings printed ({len(items)} items)")
    trails = [spec.arn for spec in org.trails]
    return trailguard_verdicts(items, trails, org.accounts, org.regions), notes


def run_trailguard(org: PeerOrg, runs: int, workdir: Path) -> PeerResult:
    result = PeerResult(TRAILGUARD, version="this repository")
    command = trailguard_command(org)
    result.command = " ".join(["python", *command[1:]])
    try:
        env = trailguard_environment(org, workdir)

        def once(run: int) -> tuple[subprocess.CompletedProcess[str], list[float]]:
            del run
            start = time.perf_counter()
            done = _execute(command, env)
            if done.returncode not in (0, 1):
                raise PeerFailed(audit_failure(done.returncode, done.stderr))
            return done, [time.perf_counter() - start]

        walls, _, done = _timed_runs(result.tool, runs, once)
        result.verdicts, result.notes = parse_audit(done.stdout, done.returncode, org)
        result.wall = median_figure(
            "TrailGuard wall time, whole organization",
            walls,
            "s",
            f"wall clock of one `trailguard audit` process for {len(org.accounts)} accounts x "
            f"{len(org.regions)} regions (assuming {REMEDIATION_ROLE}), process start included",
        )
        result.figures.append(result.wall)
    except (PeerFailed, OutputError) as error:
        result.unavailable = str(error)
    return result
