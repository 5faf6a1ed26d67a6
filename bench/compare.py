"""The comparison: verdict rows against the ground truth, each disagreement explained, timings and ratios.

Pure: it takes the organization's trails, each tool's verdicts (or the reason it could not run) and the
measured samples, and returns rows, explanations, figures, the printed report and results.json.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.truth import (
    Key,
    Question,
    TrailSpec,
    Verdict,
    account_region,
    covered_only_by_organization_trail,
    covering_trails,
    expected_coverage,
    expected_trail_verdicts,
)
from bench.verdicts import (
    CHECKS,
    CUSTODIAN,
    PAIRINGS,
    PROWLER,
    REPORTING,
    TOOLS,
    TRAILGUARD,
    UNCHECKED,
    Pairing,
    Verdicts,
)


@dataclass(frozen=True)
class Subject:
    """What questions are asked of: a trail, or an account in a region (coverage)."""

    resource: str
    label: str
    state: str
    trail: TrailSpec | None = None
    only_organization_trail: bool = False  # recorded only by another account's organization trail
    single_region_logging: bool = False  # a logging single-region trail has this region as home


@dataclass(frozen=True)
class Row:
    subject: Subject
    question: Question
    expected: Verdict
    verdicts: dict[str, Verdict]


@dataclass(frozen=True)
class Disagreement:
    tool: str
    subject: Subject
    question: Question
    verdict: Verdict
    expected: Verdict
    explanation: str
    known: bool  # explained by a known difference between the tools (or the simulator), not a defect


@dataclass(frozen=True)
class Rule:
    """A known reason why `tool` answers `question` with `verdict` where the ground truth differs."""

    tool: str
    question: Question
    verdict: Verdict
    applies: Callable[[Subject], bool]
    reason: str


def _trail_key(key: Key) -> Callable[[Subject], bool]:
    return lambda subject: subject.trail is not None and subject.trail.key is key


RULES: tuple[Rule, ...] = (
    Rule(
        PROWLER,
        Question.CENTRAL_KEY,
        Verdict.PASS,
        _trail_key(Key.OTHER),
        "Prowler's cloudtrail_kms_encryption_enabled asks whether the trail has a KMS key, not which one: "
        "a trail encrypted with a key other than the central key passes.",
    ),
    Rule(
        TRAILGUARD,
        Question.ENCRYPTED,
        Verdict.FAIL,
        _trail_key(Key.OTHER),
        "TrailGuard asks for the central key, not for any key: its trail.encryption fails a trail "
        "encrypted with another key, by design.",
    ),
    Rule(
        PROWLER,
        Question.COVERAGE,
        Verdict.PASS,
        lambda subject: subject.single_region_logging,
        "Prowler's cloudtrail_multi_region_enabled passes a region where any trail is logging, a "
        "single-region trail included; the question (and TrailGuard's account.coverage, Custodian's "
        "check-cloudtrail with multi-region: true) wants a logging multi-region trail.",
    ),
    *(
        Rule(
            tool,
            Question.COVERAGE,
            Verdict.FAIL,
            lambda subject: subject.only_organization_trail,
            "Simulator limit: moto lists no shadow of the organization trail in member accounts (AWS "
            "does), so a tool that reads only the member account finds nothing recording it. TrailGuard "
            "reads the organization trail in the management account.",
        )
        for tool in (CUSTODIAN, PROWLER)
    ),
)

UNEXPLAINED = "No known difference between the tools explains this: a defect in the tool, its policy, or this adapter."
UNSEEN = "The tool ran this check but reported nothing about this resource."


def subjects(
    trails: tuple[TrailSpec, ...], accounts: tuple[str, ...], regions: tuple[str, ...]
) -> list[tuple[Subject, dict[Question, Verdict]]]:
    """Every trail with its expected verdicts, then every account-region with its expected coverage."""
    result: list[tuple[Subject, dict[Question, Verdict]]] = [
        (
            Subject(spec.arn, f"{spec.account} {spec.region} {spec.name}", spec.state, trail=spec),
            expected_trail_verdicts(spec),
        )
        for spec in trails
    ]
    coverage = expected_coverage(trails, accounts, regions)
    for account in accounts:
        for region in regions:
            resource = account_region(account, region)
            covering = covering_trails(trails, account, region)
            subject = Subject(
                resource,
                f"{account} {region}",
                "by " + ", ".join(s.name for s in covering) if covering else "not recorded",
                only_organization_trail=covered_only_by_organization_trail(trails, account, region),
                single_region_logging=any(
                    s.account == account and s.region == region and s.logging and not s.multi_region for s in trails
                ),
            )
            result.append((subject, {Question.COVERAGE: coverage[resource]}))
    return result


def tool_verdict(tool: str, verdicts: Verdicts | None, resource: str, question: Question) -> Verdict:
    if verdicts is None:
        return Verdict.UNAVAILABLE
    if question not in CHECKS[tool]:
        return Verdict.NOT_CHECKED
    return verdicts.get((resource, question), Verdict.NOT_SEEN)


def rows(
    trails: tuple[TrailSpec, ...],
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    by_tool: Mapping[str, Verdicts | None],
) -> list[Row]:
    table = []
    for subject, expected in subjects(trails, accounts, regions):
        for question, verdict in expected.items():
            table.append(
                Row(
                    subject,
                    question,
                    verdict,
                    {tool: tool_verdict(tool, by_tool.get(tool), subject.resource, question) for tool in TOOLS},
                )
            )
    return table


def explain(tool: str, subject: Subject, question: Question, verdict: Verdict) -> tuple[str, bool]:
    if verdict is Verdict.NOT_SEEN:
        return UNSEEN, False
    for rule in RULES:
        if rule.tool == tool and rule.question is question and rule.verdict is verdict and rule.applies(subject):
            return rule.reason, True
    return UNEXPLAINED, False


def disagreements(table: Iterable[Row]) -> list[Disagreement]:
    found = []
    for row in table:
        for tool, verdict in row.verdicts.items():
            if verdict in (Verdict.NOT_CHECKED, Verdict.UNAVAILABLE) or verdict is row.expected:
                continue
            reason, known = explain(tool, row.subject, row.question, verdict)
            found.append(Disagreement(tool, row.subject, row.question, verdict, row.expected, reason, known))
    return found


# --- TrailGuard beside each peer ---------------------------------------------------------------------------

GIVEN = (Verdict.PASS, Verdict.FAIL, Verdict.NOT_SEEN)


@dataclass(frozen=True)
class PairDifference:
    """A row where TrailGuard and a peer answer one question differently, and why (from the ground truth)."""

    row: Row
    reasons: dict[str, str]  # tool -> why it differs from the truth (a known difference, or unexplained)


@dataclass(frozen=True)
class PairCount:
    """TrailGuard beside one peer on one question: rows where both answered, rows where they agree."""

    peer: str
    pairing: Pairing
    compared: int
    agree: int
    differences: tuple[PairDifference, ...]


def pair_counts(table: Iterable[Row], found: Iterable[Disagreement], peer: str) -> list[PairCount]:
    """For each question of PAIRINGS[peer], TrailGuard's verdicts beside the peer's, row by row.

    Rows where either tool did not run or has no check for the question are not compared; a row where one
    tool said nothing of the resource ("unseen") is a difference.
    """
    table = list(table)
    why = {(d.tool, d.subject.resource, d.question): d.explanation for d in found}
    counts = []
    for pairing in PAIRINGS.get(peer, ()):
        compared, agree, differences = 0, 0, []
        for row in table:
            if row.question is not pairing.question:
                continue
            mine, theirs = row.verdicts[TRAILGUARD], row.verdicts[peer]
            if mine not in GIVEN or theirs not in GIVEN:
                continue
            compared += 1
            if mine is theirs and mine is not Verdict.NOT_SEEN:
                agree += 1
                continue
            reasons = {
                tool: why[tool, row.subject.resource, row.question]
                for tool in (TRAILGUARD, peer)
                if (tool, row.subject.resource, row.question) in why
            }
            differences.append(PairDifference(row, reasons))
        counts.append(PairCount(peer, pairing, compared, agree, tuple(differences)))
    return counts


def shared_summary(counts: Iterable[PairCount]) -> tuple[int, int]:
    """(agreeing, compared) rows over the shared questions."""
    shared = [c for c in counts if c.pairing.shared]
    return sum(c.agree for c in shared), sum(c.compared for c in shared)


# --- figures ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    method: str
    samples: tuple[float, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "value": round(self.value, 4), "unit": self.unit}
        data["method"] = self.method
        if self.samples:
            data["samples"] = [round(s, 4) for s in self.samples]
        return data


def median_figure(name: str, samples: Iterable[float], unit: str, method: str) -> Figure:
    values = tuple(samples)
    if not values:
        raise ValueError(f"{name}: no samples")
    return Figure(name, statistics.median(values), unit, f"median of {len(values)} runs; {method}", values)


def ratios(walls: Mapping[str, Figure]) -> list[Figure]:
    """Each tool's median wall time over the baseline's: TrailGuard when it ran, else Custodian."""
    baseline = next((tool for tool in (TRAILGUARD, CUSTODIAN, PROWLER) if tool in walls), None)
    if baseline is None:
        return []
    base = walls[baseline]
    return [
        Figure(
            f"{tool} / {baseline} wall time",
            walls[tool].value / base.value,
            "ratio",
            f"median wall time of {tool} over that of {baseline}, same organization and scope",
        )
        for tool in TOOLS
        if tool in walls and tool != baseline and base.value > 0
    ]


# --- the report ------------------------------------------------------------------------------------------


@dataclass
class PeerResult:
    """One tool's run: its verdicts, or why it did not run, and what was measured."""

    tool: str
    verdicts: Verdicts | None = None
    unavailable: str | None = None
    version: str | None = None
    command: str | None = None
    wall: Figure | None = None  # the whole organization, median
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


LABEL = 54
QUESTION = max(len(q.value) for q in Question)


def _groups(table: list[Row]) -> list[list[Row]]:
    """Consecutive rows about the same subject."""
    groups: list[list[Row]] = []
    for row in table:
        if groups and groups[-1][0].subject is row.subject:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def _labels(subject: Subject, count: int) -> list[str]:
    """The subject's label on its first row, its state on the second (inline when it has one row)."""
    if count == 1:
        return [f"{subject.label} ({subject.state})"]
    return [subject.label, f"  ({subject.state})", *[""] * (count - 2)]


def _cell(verdict: Verdict, disagrees: bool) -> str:
    return f"{verdict.value}{'*' if disagrees else ''}"


def summary(table: Iterable[Row], found: Iterable[Disagreement]) -> dict[str, dict[str, int]]:
    """Per tool: verdicts given, agreeing with the truth, disagreeing (known / unexplained), not checked."""
    table, found = list(table), list(found)
    counts: dict[str, dict[str, int]] = {}
    for tool in TOOLS:
        given = [row for row in table if row.verdicts[tool] in (Verdict.PASS, Verdict.FAIL, Verdict.NOT_SEEN)]
        mine = [d for d in found if d.tool == tool]
        counts[tool] = {
            "verdicts": len(given),
            "agree": len(given) - len(mine),
            "disagree_known": sum(d.known for d in mine),
            "disagree_unexplained": sum(not d.known for d in mine),
            "not_checked": sum(row.verdicts[tool] is Verdict.NOT_CHECKED for row in table),
        }
    return counts


def _verdict_lines(table: list[Row], found: list[Disagreement]) -> list[str]:
    tools = "".join(f"{t:>11}" for t in TOOLS)
    header = f"{'trail / account-region':{LABEL}} {'question':{QUESTION}} {'truth':6}{tools}"
    lines = [
        "Verdicts per trail and account-region (PASS/FAIL; '-' the tool has no such check; 'n/a' the tool",
        "did not run; 'unseen' the tool said nothing of it; '*' disagrees with the ground truth, see below)",
        "",
        header,
        "-" * len(header),
    ]
    wrong = {(d.tool, d.subject.resource, d.question) for d in found}
    for group in _groups(table):
        for label, row in zip(_labels(group[0].subject, len(group)), group, strict=True):
            cells = "".join(
                f"{_cell(v, (tool, row.subject.resource, row.question) in wrong):>11}"
                for tool, v in row.verdicts.items()
            )
            lines.append(f"{label[:LABEL]:{LABEL}} {row.question.value:{QUESTION}} {row.expected.value:6}{cells}")
    return lines


def _disagreement_lines(found: list[Disagreement]) -> list[str]:
    lines = [f"Disagreements with the ground truth: {len(found)}"]
    for number, d in enumerate(found, 1):
        kind = "known difference" if d.known else "UNEXPLAINED"
        lines.append(
            f"  [{number}] {d.tool} says {d.verdict.value} where the truth is {d.expected.value}: "
            f"{d.subject.label} ({d.subject.state}), {d.question.value} [{kind}]"
        )
        lines.append(f"      {d.explanation}")
    lines += ["", "Questions a tool has no check for:"]
    lines += [f"  {tool}, {question.value}: {reason}" for (tool, question), reason in UNCHECKED.items()]
    return lines


def _peer_lines(peers: Mapping[str, PeerResult], counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    lines = ["Each tool against the ground truth:"]
    for tool in TOOLS:
        peer = peers.get(tool)
        if peer is None:
            continue
        if peer.unavailable:
            lines.append(f"  {tool:11} NOT RUN: {peer.unavailable}")
            continue
        c = counts[tool]
        lines.append(
            f"  {tool:11} ran ({peer.version or 'version unknown'}): {c['agree']} of {c['verdicts']} verdicts agree "
            f"with the ground truth, {c['disagree_known']} differ for a known reason, "
            f"{c['disagree_unexplained']} unexplained; no check for {c['not_checked']} rows"
        )
        lines += [f"              {note}" for note in peer.notes]
    return lines


def not_compared(peers: Mapping[str, PeerResult], peer: str) -> str | None:
    """Why TrailGuard and `peer` cannot be set side by side, or None."""
    for tool in (TRAILGUARD, peer):
        result = peers.get(tool)
        if result is None:
            return f"{tool} was not run"
        if result.verdicts is None:
            return f"{tool} did not run ({result.unavailable or 'no verdicts'})"
    return None


def _pair_lines(table: list[Row], found: list[Disagreement], peers: Mapping[str, PeerResult]) -> list[str]:
    lines = ["TrailGuard beside each peer, on the questions both ask with the same meaning (shared checks):"]
    by_design: list[str] = []
    for peer in (CUSTODIAN, PROWLER):
        missing = not_compared(peers, peer)
        if missing is not None:
            lines.append(f"  {peer}: not compared: {missing}")
            continue
        counts = pair_counts(table, found, peer)
        agree, compared = shared_summary(counts)
        lines.append(f"  {peer}: shared checks: {agree}/{compared} agree")
        for count in counts:
            if not count.pairing.shared:
                by_design.append(f"  {peer}, {count.pairing.question.value}: {count.pairing.reason}{_differ(count)}")
                continue
            lines.append(
                f"      {count.pairing.question.value:{QUESTION}} {count.agree:>3}/{count.compared:<3} "
                f"{count.pairing.reason}"
            )
            for difference in count.differences:
                row = difference.row
                lines.append(
                    f"        DIFFERENT: {row.subject.label} ({row.subject.state}): TrailGuard "
                    f"{row.verdicts[TRAILGUARD].value}, {peer} {row.verdicts[peer].value}, truth {row.expected.value}"
                )
                lines += [f"          {tool}: {reason}" for tool, reason in difference.reasons.items()]
        by_design += [f"  {peer}, reporting (no verdict changes): {line}" for line in REPORTING.get(peer, ())]
    return [*lines, "", "Different by design (a different question, not counted above):", *by_design]


def _differ(count: PairCount) -> str:
    if not count.compared:
        return ""
    if not count.differences:
        return f" [same verdicts on all {count.compared} rows here]"
    return f" [verdicts differ on {len(count.differences)} of {count.compared} rows]"


def render(
    table: list[Row],
    found: list[Disagreement],
    peers: Mapping[str, PeerResult],
    extra: list[Figure],
) -> str:
    figures = [f for tool in TOOLS if tool in peers for f in peers[tool].figures] + extra
    lines = [
        *_verdict_lines(table, found),
        "",
        *_disagreement_lines(found),
        "",
        *_peer_lines(peers, summary(table, found)),
        "",
        *_pair_lines(table, found, peers),
        "",
        "Wall time (each figure: value, unit, method):",
        *(f"  {f.name:42} {_number(f.value):>9} {f.unit:5} {f.method}" for f in figures),
    ]
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


# --- results.json: one section per key, merged into the file ------------------------------------------------

SCHEMA = "trailguard.bench-peers/2"


def peers_section(peers: Mapping[str, PeerResult], extra: list[Figure], context: Mapping[str, Any]) -> dict[str, Any]:
    """Which tools ran (version, command, notes), against which organization, and their wall times."""
    return {
        "schema": SCHEMA,
        **context,
        "tools": {
            tool: {
                "ran": peer.unavailable is None,
                "unavailable": peer.unavailable,
                "version": peer.version,
                "command": peer.command,
                "notes": peer.notes,
                "figures": [f.as_json() for f in peer.figures],
            }
            for tool, peer in peers.items()
        },
        "ratios": [f.as_json() for f in extra],
    }


def verdicts_section(
    table: list[Row], found: list[Disagreement], peers: Mapping[str, PeerResult], generated: str
) -> dict[str, Any]:
    """Every verdict beside the truth, the disagreements explained, and TrailGuard beside each peer."""
    return {
        "schema": SCHEMA,
        "generated": generated,
        "rows": [
            {
                "resource": row.subject.resource,
                "label": row.subject.label,
                "state": row.subject.state,
                "question": row.question.value,
                "truth": row.expected.value,
                **{tool: verdict.value for tool, verdict in row.verdicts.items()},
            }
            for row in table
        ],
        "disagreements": [
            {
                "tool": d.tool,
                "resource": d.subject.resource,
                "question": d.question.value,
                "verdict": d.verdict.value,
                "truth": d.expected.value,
                "known": d.known,
                "explanation": d.explanation,
            }
            for d in found
        ],
        "unchecked": [
            {"tool": tool, "question": question.value, "reason": reason}
            for (tool, question), reason in UNCHECKED.items()
        ],
        "summary": summary(table, found),
        "beside_trailguard": {peer: _pair_document(table, found, peers, peer) for peer in (CUSTODIAN, PROWLER)},
    }


def _pair_document(
    table: list[Row], found: list[Disagreement], peers: Mapping[str, PeerResult], peer: str
) -> dict[str, Any]:
    missing = not_compared(peers, peer)
    if missing is not None:
        return {"compared": False, "reason": missing}
    counts = pair_counts(table, found, peer)
    agree, compared = shared_summary(counts)
    return {
        "compared": True,
        "shared": {"agree": agree, "rows": compared},
        "questions": [
            {
                "question": c.pairing.question.value,
                "shared": c.pairing.shared,
                "reason": c.pairing.reason,
                "rows": c.compared,
                "agree": c.agree,
                "differences": [
                    {
                        "resource": d.row.subject.resource,
                        "trailguard": d.row.verdicts[TRAILGUARD].value,
                        peer.lower(): d.row.verdicts[peer].value,
                        "truth": d.row.expected.value,
                        "reasons": d.reasons,
                    }
                    for d in c.differences
                ],
            }
            for c in counts
        ],
        "reporting": list(REPORTING.get(peer, ())),
    }
