"""``trailguard audit``: the sweep's evaluation of the organization, from an operator's workstation.

The same checks, catalogue, session factory and walk as the scheduled sweep (`trailguard.sweep.walk`), with the
caller's own credentials: every finding is kept in memory and printed (a table for people; JSON, CSV, SARIF 2.1.0
or ASFF for tools), nothing is published and nothing is remembered. Report mode unless ``--fix``, which makes the
repairs remediate mode makes, after a confirmation.

Exit codes: 0 when no finding is open, 1 while findings remain open (OPEN or REMEDIATION_FAILED) or the audit is
incomplete (an account not read, a resource not evaluated), 2 on a usage error or when the caller's credentials
cannot be obtained.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from trailguard import __version__, catalogue
from trailguard.errors import ConfigurationError
from trailguard.findings import Finding, Report, SweepSummary
from trailguard.ledger import NoLedger
from trailguard.observability import logger
from trailguard.policy.ids import is_account_id, is_org_id
from trailguard.resource import Deps
from trailguard.securityhub import asff, product_arn
from trailguard.sessions import AccessError, SessionFactory, error_code, error_message
from trailguard.settings import Settings
from trailguard.sweep import Walk, walk
from trailguard.vocabulary import ResourceType, Severity, Status
from trailguard.warm import Warm

EXIT_CLEAN = 0
EXIT_OPEN = 1
EXIT_ERROR = 2
FORMATS = ("table", "json", "csv", "sarif", "asff")
WORKERS = 8
OPEN = frozenset({Status.OPEN, Status.REMEDIATION_FAILED})
# Nothing is published: the topic is never called, but the settings require a valid one.
UNUSED_TOPIC = "arn:aws:sns:us-east-1:000000000000:trailguard-audit-unused"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}
FIELDS = (
    "resource_arn",
    "resource_type",
    "account",
    "region",
    "check_id",
    "severity",
    "status",
    "summary",
    "fix",
    "compliance",
)
# Option -> the variable it overrides.
OPTIONS = {
    "key_arn": "TRAILGUARD_CENTRAL_KEY_ARN",
    "bucket": "TRAILGUARD_LOG_BUCKET",
    "accounts": "TRAILGUARD_ACCOUNTS",
    "regions": "TRAILGUARD_REGIONS",
    "role": "TRAILGUARD_REMEDIATION_ROLE_NAME",
    "management_account": "TRAILGUARD_MANAGEMENT_ACCOUNT_ID",
    "org_id": "TRAILGUARD_ORG_ID",
}


class AuditError(Exception):
    """Why the audit cannot run (exit 2): one line for stderr."""


class Collector:
    """A Publisher that keeps each report in memory and publishes nothing."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self._lock = threading.Lock()

    def publish(self, report: Report) -> str:
        with self._lock:
            self.reports.append(report)
            return f"audit-{len(self.reports)}"

    def publish_summary(self, summary: SweepSummary) -> str:
        return ""


def account_id_argument(value: str) -> str:
    """An argparse type: a 12-digit account id (the audit's and the policy tool's options)."""
    if not is_account_id(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a 12-digit AWS account id")
    return value


def org_id_argument(value: str) -> str:
    """An argparse type: an organization id."""
    if not is_org_id(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an organization id (o- and 10 to 32 letters or digits)")
    return value


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of workers from 1 to 64")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The audit's options; each overrides the TRAILGUARD_* variable of the same meaning."""
    where = parser.add_argument_group("organization (override the TRAILGUARD_* variables)")
    where.add_argument("--key-arn", help="ARN of the central KMS key (TRAILGUARD_CENTRAL_KEY_ARN)")
    where.add_argument("--bucket", help="name of the central log bucket (TRAILGUARD_LOG_BUCKET)")
    where.add_argument("--accounts", help="comma-separated account ids (default: listed through Organizations)")
    where.add_argument("--regions", help="comma-separated regions (default: the regions enabled in this account)")
    where.add_argument(
        "--role", metavar="NAME", help="remediation role assumed in each account (TrailGuardRemediation)"
    )
    where.add_argument("--management-account", type=account_id_argument, help="the organization's management account")
    where.add_argument("--org-id", type=org_id_argument, help="organization id (o-...)")
    parser.add_argument("--fix", action="store_true", help="apply the repairs remediate mode applies (asks first)")
    parser.add_argument("--yes", action="store_true", help="with --fix: do not ask (required without a terminal)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--output", metavar="FILE", help="write the output to FILE instead of stdout")
    parser.add_argument(
        "--workers", type=_workers, default=WORKERS, help=f"accounts evaluated at once (default: {WORKERS})"
    )
    parser.add_argument("--verbose", action="store_true", help="TrailGuard's JSON log lines on stderr")


def settings_for(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """The TRAILGUARD_* variables, overridden by the options; report mode unless --fix."""
    values = {name: value for name, value in environ.items() if name.startswith("TRAILGUARD_")}
    for option, variable in OPTIONS.items():
        value: str | None = getattr(args, option, None)
        if value is not None:
            values[variable] = value
    if not values.get("TRAILGUARD_TOPIC_ARN", "").strip():
        values["TRAILGUARD_TOPIC_ARN"] = UNUSED_TOPIC
    values["TRAILGUARD_MODE"] = "remediate" if args.fix else "report"
    try:
        return Settings.from_env(values)
    except ConfigurationError as error:
        flag = next((f"--{o.replace('_', '-')}" for o, v in OPTIONS.items() if v == error.variable), None)
        raise AuditError(f"trailguard audit: {error}" + (f" (set it or pass {flag})" if flag else "")) from None


def confirmed(args: argparse.Namespace, settings: Settings, stdin: TextIO, stderr: TextIO) -> bool:
    """--fix: --yes, or a yes typed at the terminal. Without a terminal and without --yes: AuditError."""
    if not args.fix or args.yes:
        return True
    if not stdin.isatty():
        raise AuditError("trailguard audit: --fix without a terminal needs --yes")
    accounts = ", ".join(settings.accounts) if settings.accounts else "every account of the organization"
    stderr.write(
        f"trailguard audit --fix repairs the central key {settings.central_key_arn}, the bucket "
        f"{settings.log_bucket} and the trails of {accounts}, as remediate mode would. Continue? [y/N] "
    )
    stderr.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def deps_for(settings: Settings, sessions: SessionFactory | None = None) -> tuple[Deps, Collector]:
    """The sweep's dependencies with the caller's credentials, a collecting publisher and no ledger."""
    if sessions is None:
        sessions = SessionFactory(settings.remediation_role_name, partition=settings.central_key.partition)
    collector = Collector()
    warm = Warm()
    return Deps(settings, sessions, collector, warm, NoLedger(), warm.wall), collector


def own_account(sessions: SessionFactory) -> str:
    """The caller's account; AuditError when its credentials cannot be obtained."""
    try:
        return sessions.own_account
    except NoCredentialsError:
        raise AuditError("trailguard audit: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)") from None
    except ClientError as error:
        raise AuditError(
            f"trailguard audit: the caller's credentials were refused ({error_code(error)}: {error_message(error)})"
        ) from None
    except BotoCoreError as error:
        raise AuditError(f"trailguard audit: cannot reach AWS STS ({_one_line(str(error))})") from None


# --- what each finding says -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    report: Report
    finding: Finding

    @property
    def open(self) -> bool:
        return self.finding.status in OPEN


def items(reports: Sequence[Report]) -> list[Item]:
    """Every finding of every report, the most severe first, then by resource and check."""
    found = [Item(report, finding) for report in reports for finding in report.findings]
    return sorted(found, key=lambda i: (-i.finding.severity, i.report.resource.arn, i.finding.check))


def row(item: Item) -> dict[str, Any]:
    """One finding as the JSON and CSV formats give it. An account finding may span regions: its `region` is
    null and `regions` names them."""
    resource, finding = item.report.resource, item.finding
    entry = catalogue.check(finding.check)
    document: dict[str, Any] = {
        "resource_arn": resource.arn,
        "resource_type": resource.type.value,
        "account": resource.account,
        "region": resource.region,
        "check_id": finding.check,
        "severity": finding.severity.name,
        "status": finding.status.value,
        "summary": finding.summary,
        "fix": finding.error if finding.status is Status.REMEDIATION_FAILED and finding.error else entry.fix,
        "compliance": list(entry.compliance),
    }
    if resource.type is ResourceType.ACCOUNT:
        observed = finding.observed
        spans = observed.get("uncovered_regions") or list(observed.get("regions") or ())
        document["region"] = None
        document["regions"] = list(spans)
    if finding.action:
        document["action"] = finding.action
    return document


def table(found: Sequence[Item]) -> str:
    """Columns for a terminal: resource, check, severity, status, how to fix."""
    if not found:
        return "No finding: every resource evaluated is compliant.\n"
    header = ("RESOURCE", "CHECK", "SEVERITY", "STATUS", "HOW TO FIX")
    lines = [header]
    for item in found:
        document = row(item)
        lines.append(
            (document["resource_arn"], item.finding.check, document["severity"], document["status"], document["fix"])
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header) - 1)]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in lines
    ]
    return "\n".join(text) + "\n"


def csv_text(found: Sequence[Item]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for item in found:
        document = row(item)
        document["compliance"] = "; ".join(document["compliance"])
        writer.writerow(document)
    return out.getvalue()


def sarif(found: Sequence[Item]) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per check of the catalogue, one result per finding. An open finding is a `fail`
    at its severity's level (error for CRITICAL and HIGH, warning for MEDIUM, note for LOW); a repaired one a
    `pass` (level none)."""
    checks = list(catalogue.registered().values())
    index = {item.id: position for position, item in enumerate(checks)}
    rules = [
        {
            "id": item.id,
            "name": item.id,
            "shortDescription": {"text": item.title},
            "help": {"text": item.fix},
            "defaultConfiguration": {"level": SARIF_LEVELS[item.severity]},
            "properties": {
                "tags": ["security", *item.compliance],
                "security-severity": SECURITY_SEVERITY[item.severity],
                "repair": catalogue.REPAIR_WORDS[item.repair],
            },
        }
        for item in checks
    ]
    results = []
    for item in found:
        resource, finding = item.report.resource, item.finding
        results.append(
            {
                "ruleId": finding.check,
                "ruleIndex": index[finding.check],
                "kind": "fail" if item.open else "pass",
                "level": SARIF_LEVELS[finding.severity] if item.open else "none",
                "message": {"text": f"{finding.summary} ({finding.status.value}) To fix: {row(item)['fix']}"},
                "locations": [
                    {
                        "logicalLocations": [
                            {"fullyQualifiedName": resource.arn, "name": resource.name, "kind": resource.type.value}
                        ]
                    }
                ],
                "partialFingerprints": {"trailguard/v1": f"{resource.arn}/{finding.check}"},
                "properties": {
                    "status": finding.status.value,
                    "severity": finding.severity.name,
                    "account": resource.account,
                    "region": resource.region,
                },
            }
        )
    driver = {"name": "TrailGuard", "version": __version__, "rules": rules}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


def asff_findings(found: Sequence[Item], product: str, now: datetime) -> list[dict[str, Any]]:
    """What `aws securityhub batch-import-findings --findings file://...` takes: the findings in ASFF."""
    return [asff(item.report, item.finding, product, now) for item in found]


def render(output: str, found: Sequence[Item], product: str, now: datetime) -> str:
    if output == "table":
        return table(found)
    if output == "csv":
        return csv_text(found)
    if output == "sarif":
        return json.dumps(sarif(found), indent=2) + "\n"
    if output == "asff":
        return json.dumps(asff_findings(found, product, now), indent=2) + "\n"
    return json.dumps([row(item) for item in found], indent=2) + "\n"


# --- running it -------------------------------------------------------------------------------------------


def counter(stream: TextIO) -> Callable[[int, int], None]:
    """Progress on a terminal: `audited 3/12 resources`, rewritten in place; nothing elsewhere."""
    if not stream.isatty():
        return lambda done, total: None

    def show(done: int, total: int) -> None:
        stream.write(f"\rtrailguard audit: {done}/{total} resources evaluated")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


@contextmanager
def quiet_logs(verbose: bool) -> Iterator[None]:
    """The package's JSON log lines go to stderr (stdout is the output), and only with --verbose."""
    handler = logger.registered_handler
    level = logger.log_level
    stream = handler.setStream(sys.stderr) if hasattr(handler, "setStream") else None
    logger.setLevel("INFO" if verbose else "CRITICAL")
    try:
        yield
    finally:
        logger.setLevel(level)
        if stream is not None and hasattr(handler, "setStream"):
            handler.setStream(stream)


def summary_line(walked: Walk, found: Sequence[Item], seconds: float) -> str:
    statuses: dict[str, int] = {}
    for item in found:
        statuses[item.finding.status.value] = statuses.get(item.finding.status.value, 0) + 1
    counts = ", ".join(f"{number} {status}" for status, number in sorted(statuses.items())) or "no finding"
    return (
        f"trailguard audit: {len(walked.evaluated)} resources in {len(walked.census.accounts)} accounts "
        f"evaluated in {seconds:.1f} s: {counts}"
    )


def run(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] = os.environ,
    stdin: TextIO | None = None,
    stderr: TextIO | None = None,
    sessions: SessionFactory | None = None,
) -> int:
    """The audit: its exit code. Raises AuditError (exit 2) on a usage or credentials problem."""
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    settings = settings_for(args, environ)
    if not confirmed(args, settings, stdin, stderr):
        stderr.write("trailguard audit: nothing was changed\n")
        return EXIT_ERROR
    deps, collector = deps_for(settings, sessions)
    started = time.monotonic()
    with quiet_logs(args.verbose):
        caller = own_account(deps.sessions)
        try:
            walked = walk(deps, workers=args.workers, progress=counter(stderr))
        except AccessError as error:
            raise AuditError(f"trailguard audit: {_one_line(str(error))}") from None
        except NoCredentialsError:
            raise AuditError("trailguard audit: no AWS credentials found") from None
    found = items(collector.reports)
    key = settings.central_key
    text = render(args.format, found, product_arn(key.partition, key.region, caller), datetime.now(UTC))
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as error:
            raise AuditError(f"trailguard audit: cannot write {args.output}: {error.strerror or error}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()  # before the summary on stderr
    for problem in walked.census.problems:
        stderr.write(f"trailguard audit: warning: not read: {_one_line(problem)}\n")
    failures = [item.failure or item.resource for item in walked.evaluated if item.outcome is None]
    for failure in failures:
        stderr.write(f"trailguard audit: warning: not evaluated: {_one_line(failure)}\n")
    stderr.write(summary_line(walked, found, time.monotonic() - started) + "\n")
    incomplete = bool(failures or walked.census.problems)  # what was not read may hide a finding
    return EXIT_OPEN if incomplete or any(item.open for item in found) else EXIT_CLEAN


def _one_line(text: str) -> str:
    return " ".join(text.split())
