"""Each tool's output turned into verdicts on the same questions: pure functions over parsed JSON.

A verdict map is keyed by (resource, question): the resource is a trail ARN for the trail questions and
`account/region` for coverage. Which of a tool's checks answers which question is the table `CHECKS`;
a question a tool has no check for is absent from its row (shown as "-", with the reason in `UNCHECKED`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.truth import Question, Verdict, account_region

Verdicts = dict[tuple[str, Question], Verdict]

TRAILGUARD = "TrailGuard"
CUSTODIAN = "Custodian"
PROWLER = "Prowler"
TOOLS = (TRAILGUARD, CUSTODIAN, PROWLER)

# tool -> question -> the tool's check (TrailGuard check id, Custodian policy name, Prowler check id)
CHECKS: dict[str, dict[Question, str]] = {
    TRAILGUARD: {
        Question.CENTRAL_KEY: "trail.encryption",
        Question.ENCRYPTED: "trail.encryption",
        Question.LOGGING: "trail.logging",
        Question.VALIDATION: "trail.log-file-validation",
        Question.COVERAGE: "account.coverage",
    },
    CUSTODIAN: {
        Question.CENTRAL_KEY: "trail-not-central-key",
        Question.ENCRYPTED: "trail-no-kms-key",
        Question.LOGGING: "trail-not-logging",
        Question.VALIDATION: "trail-no-log-file-validation",
        Question.MULTI_REGION: "trail-single-region",
        Question.COVERAGE: "account-not-recorded",
    },
    PROWLER: {
        Question.CENTRAL_KEY: "cloudtrail_kms_encryption_enabled",
        Question.ENCRYPTED: "cloudtrail_kms_encryption_enabled",
        Question.VALIDATION: "cloudtrail_log_file_validation_enabled",
        Question.COVERAGE: "cloudtrail_multi_region_enabled",
    },
}

UNCHECKED: dict[tuple[str, Question], str] = {
    (TRAILGUARD, Question.MULTI_REGION): (
        "TrailGuard does not fail a single-region trail by itself: it asks whether every account-region is "
        "recorded by a logging multi-region trail (account.coverage)"
    ),
    (PROWLER, Question.LOGGING): (
        "Prowler has no per-trail logging check: logging only counts in cloudtrail_multi_region_enabled, "
        "which judges regions, not trails"
    ),
    (PROWLER, Question.MULTI_REGION): (
        "Prowler's cloudtrail_multi_region_enabled judges each region (is some trail logging there?), not each trail"
    ),
}


@dataclass(frozen=True)
class Pairing:
    """How a peer's check stands to TrailGuard's on one question: the same question (shared), or not (by design).

    Shared means both tools ask it with the same meaning, so that on the same organization they must give the
    same verdict on every resource; `reason` says what both ask, or why the two checks differ.
    """

    question: Question
    shared: bool
    reason: str


# peer -> how each question one of the pair asks stands between the peer and TrailGuard
PAIRINGS: dict[str, tuple[Pairing, ...]] = {
    CUSTODIAN: (
        Pairing(
            Question.CENTRAL_KEY,
            True,
            "trail.encryption and trail-not-central-key both fail a trail whose KmsKeyId is not the central key",
        ),
        Pairing(Question.LOGGING, True, "trail.logging and trail-not-logging both read IsLogging (GetTrailStatus)"),
        Pairing(
            Question.VALIDATION,
            True,
            "trail.log-file-validation and trail-no-log-file-validation both read LogFileValidationEnabled",
        ),
        Pairing(
            Question.COVERAGE,
            True,
            "account.coverage and check-cloudtrail (multi-region: true, running: true) both want a logging "
            "multi-region trail recording the account-region",
        ),
        Pairing(
            Question.ENCRYPTED,
            False,
            "Custodian's trail-no-kms-key passes any KMS key; TrailGuard's trail.encryption demands the central "
            "key: a different question",
        ),
        Pairing(
            Question.MULTI_REGION,
            False,
            "Custodian's trail-single-region fails every single-region trail; TrailGuard never fails a trail for "
            "being single-region, it asks whether each account-region is recorded (account.coverage)",
        ),
    ),
    PROWLER: (
        Pairing(
            Question.VALIDATION,
            True,
            "trail.log-file-validation and cloudtrail_log_file_validation_enabled both read LogFileValidationEnabled",
        ),
        Pairing(
            Question.CENTRAL_KEY,
            False,
            "Prowler's cloudtrail_kms_encryption_enabled passes any KMS key; TrailGuard's trail.encryption demands "
            "the central key: a different question",
        ),
        Pairing(
            Question.ENCRYPTED,
            False,
            "Prowler's cloudtrail_kms_encryption_enabled asks for any KMS key, a question TrailGuard does not ask "
            "(trail.encryption demands the central key)",
        ),
        Pairing(
            Question.LOGGING,
            False,
            "Prowler has no per-trail logging check: logging counts only inside cloudtrail_multi_region_enabled, "
            "per region",
        ),
        Pairing(
            Question.COVERAGE,
            False,
            "Prowler's cloudtrail_multi_region_enabled passes a region where any trail is logging, a single-region "
            "one included; account.coverage wants a logging multi-region trail",
        ),
    ),
}

# Differences in how a peer reports, not in what it asks: they change no verdict of the comparison.
REPORTING: dict[str, tuple[str, ...]] = {
    CUSTODIAN: (
        "Custodian reports a multi-region trail once in every region of its account (shadow copies); the "
        "policies keep is-shadow: false, so each trail is judged once, in its home region",
        "Custodian's account policy (check-cloudtrail) runs in one region and answers for the whole account; "
        "TrailGuard names the regions an account is not recorded in",
    ),
    PROWLER: (
        "Prowler reports coverage per region (cloudtrail_multi_region_enabled) and keeps one copy of each trail "
        "across regions; TrailGuard names the regions an account is not recorded in",
    ),
}


def shared_questions(peer: str) -> tuple[Question, ...]:
    return tuple(p.question for p in PAIRINGS.get(peer, ()) if p.shared)


CUSTODIAN_INVENTORY = "trail-inventory"
CUSTODIAN_INVENTORY_WITH_SHADOWS = "trail-inventory-with-shadows"

PROWLER_CHECKS = tuple(sorted(set(CHECKS[PROWLER].values())))

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ACCOUNT = re.compile(r"^\d{12}$")


class OutputError(ValueError):
    """A tool's output does not have the shape this adapter reads."""


def _pass_or_fail(failed: bool) -> Verdict:
    return Verdict.FAIL if failed else Verdict.PASS


def _trail_questions(tool: str) -> dict[Question, str]:
    return {q: check for q, check in CHECKS[tool].items() if q is not Question.COVERAGE}


# --- Cloud Custodian -------------------------------------------------------------------------------------

CustodianOutputs = Mapping[tuple[str, str, str], list[dict[str, Any]]]  # (account, region, policy) -> resources


def custodian_verdicts(outputs: CustodianOutputs, regions: Iterable[str]) -> Verdicts:
    """Verdicts from the resources.json of each policy, account and region.

    A policy lists the trails that fail its question; a trail listed by `trail-inventory` (every trail
    of its home region and owner) and absent from a policy passes that policy's question. The account
    policy runs in one region: its verdict holds for every region of the account (a multi-region trail
    records them all).
    """
    regions = tuple(regions)
    failing: dict[str, set[str]] = {}
    seen: set[str] = set()
    accounts_run: dict[str, bool] = {}
    for (account, _region, policy), resources in outputs.items():
        if policy == CUSTODIAN_INVENTORY:
            seen.update(_arn(r) for r in resources)
        elif policy == CHECKS[CUSTODIAN][Question.COVERAGE]:
            accounts_run[account] = accounts_run.get(account, False) or bool(resources)
        else:
            failing.setdefault(policy, set()).update(_arn(r) for r in resources if "TrailARN" in r)
    verdicts: Verdicts = {}
    for question, policy in _trail_questions(CUSTODIAN).items():
        for arn in seen:
            verdicts[arn, question] = _pass_or_fail(arn in failing.get(policy, set()))
    for account, reported in accounts_run.items():
        for region in regions:
            verdicts[account_region(account, region), Question.COVERAGE] = _pass_or_fail(reported)
    return verdicts


def custodian_shadow_rows(outputs: CustodianOutputs) -> tuple[int, int]:
    """(rows, distinct trails) of the inventory policy without `is-shadow: false`."""
    arns = [_arn(r) for (_, _, p), rs in outputs.items() if p == CUSTODIAN_INVENTORY_WITH_SHADOWS for r in rs]
    return len(arns), len(set(arns))


def _arn(resource: Mapping[str, Any]) -> str:
    try:
        return str(resource["TrailARN"])
    except KeyError:
        raise OutputError(f"a Custodian trail resource without TrailARN: {sorted(resource)}") from None


# --- Prowler -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProwlerFinding:
    check: str
    status: str  # PASS | FAIL | MANUAL | MUTED ...
    resource: str
    account: str
    region: str


def prowler_findings(ocsf: Iterable[Mapping[str, Any]]) -> list[ProwlerFinding]:
    """The fields read from Prowler's OCSF (json-ocsf) findings."""
    findings = []
    for item in ocsf:
        try:
            resources = item.get("resources") or [{}]
            findings.append(
                ProwlerFinding(
                    check=str(item["metadata"]["event_code"]),
                    status=str(item["status_code"]),
                    resource=str(resources[0].get("uid", "")),
                    account=str(item["cloud"]["account"]["uid"]),
                    region=str(item["cloud"]["region"]),
                )
            )
        except (KeyError, TypeError, IndexError) as error:
            raise OutputError(f"a Prowler OCSF finding without {error}") from None
    return findings


def prowler_verdicts(findings: Iterable[ProwlerFinding]) -> Verdicts:
    """Per-trail checks by resource ARN (a trail reported twice fails if any report fails); coverage by
    the account and region of each cloudtrail_multi_region_enabled finding."""
    coverage_check = CHECKS[PROWLER][Question.COVERAGE]
    verdicts: Verdicts = {}

    def record(key: tuple[str, Question], status: str) -> None:
        if status not in (Verdict.PASS, Verdict.FAIL):
            return
        if verdicts.get(key) is not Verdict.FAIL:
            verdicts[key] = Verdict(status)

    for finding in findings:
        if finding.check == coverage_check:
            record((account_region(finding.account, finding.region), Question.COVERAGE), finding.status)
        for question, check in _trail_questions(PROWLER).items():
            if finding.check == check:
                record((finding.resource, question), finding.status)
    return verdicts


def prowler_duplicate_rows(findings: Iterable[ProwlerFinding]) -> tuple[int, int]:
    """(rows, distinct check and trail pairs) of the per-trail checks: equal when no trail is reported twice."""
    trail_checks = set(_trail_questions(PROWLER).values())
    keys = [(f.check, f.resource) for f in findings if f.check in trail_checks]
    return len(keys), len(set(keys))


# --- TrailGuard --------------------------------------------------------------------------------------------

# REMEDIATED counts as failing: the resource failed when it was read (an audit should change nothing).
_FAILING = {"FAIL", "FAILED", "OPEN", "NON_COMPLIANT", "REMEDIATION_FAILED", "REMEDIATED", "FINDING"}
_PASSING = {"PASS", "PASSED", "OK", "COMPLIANT", "RESOLVED"}


@dataclass(frozen=True)
class AuditItem:
    resource: str
    check: str
    status: str
    severity: str
    account: str | None
    region: str | None
    regions: tuple[str, ...] = ()  # the regions an account finding spans (its `region` is then null)


def is_failing(item: AuditItem) -> bool:
    return item.status in _FAILING


def audit_items(document: Any) -> list[AuditItem]:
    """The items of `trailguard audit --format json`: a list of {resource arn, check id, status, severity}.

    Accepted spellings: the resource as `resource_arn`, `arn`, or `resource` (an ARN, or an object with
    `arn`, `account`, `region`); the check as `check_id`, `check` or `id`. `account` and `region` may also
    stand beside them. A list nested under `findings` is read too.
    """
    if isinstance(document, Mapping) and isinstance(document.get("findings"), list):
        document = document["findings"]
    if not isinstance(document, list):
        raise OutputError(f"trailguard audit printed {type(document).__name__}, expected a list")
    return [_audit_item(item) for item in document]


def _first(item: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if item.get(name) not in (None, ""):
            return item[name]
    return None


def _audit_item(item: Any) -> AuditItem:
    if not isinstance(item, Mapping):
        raise OutputError(f"trailguard audit item is {type(item).__name__}, expected an object")
    resource = _first(item, "resource_arn", "arn", "resource")
    account, region = item.get("account"), item.get("region")
    if isinstance(resource, Mapping):
        account, region = resource.get("account", account), resource.get("region", region)
        resource = resource.get("arn")
    check, status = _first(item, "check_id", "check", "id"), item.get("status")
    if not resource or not check or not status:
        raise OutputError(f"trailguard audit item without resource, check or status: {dict(item)}")
    spans = item.get("regions") or ()
    if not isinstance(spans, list | tuple) or not all(isinstance(r, str) for r in spans):
        raise OutputError(f"trailguard audit item whose regions is not a list of names: {dict(item)}")
    severity = str(item.get("severity", ""))
    return AuditItem(str(resource), str(check), str(status).upper(), severity, account, region, tuple(spans))


def _audit_scope(item: AuditItem) -> tuple[str | None, str | None]:
    """(account, region) of an account finding: from its fields, else from its ARN (region may be absent)."""
    parts = item.resource.split(":")
    account = item.account or next((p for p in parts if _ACCOUNT.match(p)), None)
    region = item.region or next((p for p in parts if _REGION.match(p)), None)
    return account, region


def trailguard_verdicts(
    items: Iterable[AuditItem], trails: Iterable[str], accounts: Iterable[str], regions: Iterable[str]
) -> Verdicts:
    """Verdicts from the audit items, for the trails and account-regions in scope.

    TrailGuard reports non-compliant resources only (nothing is published for a compliant one), so a
    resource in scope without a failing item passes, unless the audit also lists passing items: then
    an absent resource is "unseen".
    """
    items = list(items)
    regions = tuple(regions)
    lists_passes = any(i.status in _PASSING for i in items)
    unknown = {i.status for i in items} - _FAILING - _PASSING
    if unknown:
        raise OutputError(f"trailguard audit status not understood: {sorted(unknown)}")
    absent = Verdict.NOT_SEEN if lists_passes else Verdict.PASS
    verdicts: Verdicts = {}
    for arn in trails:
        for question in _trail_questions(TRAILGUARD):
            verdicts[arn, question] = absent
    for account in accounts:
        for region in regions:
            verdicts[account_region(account, region), Question.COVERAGE] = absent
    by_check: dict[str, list[Question]] = {}
    for question, check in CHECKS[TRAILGUARD].items():
        by_check.setdefault(check, []).append(question)
    for item in items:
        verdict = _pass_or_fail(is_failing(item))
        for question in by_check.get(item.check, []):
            if question is Question.COVERAGE:
                owner, where = _audit_scope(item)
                if owner is None:
                    raise OutputError(f"trailguard audit account finding without an account: {item.resource}")
                for each in _spanned(where, item.regions, regions):
                    _merge(verdicts, (account_region(owner, each), question), verdict)
            else:
                _merge(verdicts, (item.resource, question), verdict)
    return verdicts


def _spanned(where: str | None, spans: tuple[str, ...], regions: tuple[str, ...]) -> tuple[str, ...]:
    """The regions in scope an account finding is about: its region, else the regions it names, else all."""
    if where is not None and where in regions:
        return (where,)
    named = tuple(r for r in spans if r in regions)
    return named if named else regions


def _merge(verdicts: Verdicts, key: tuple[str, Question], verdict: Verdict) -> None:
    if verdicts.get(key) is not Verdict.FAIL:
        verdicts[key] = verdict
