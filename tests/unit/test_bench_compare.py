"""bench-peers comparison: verdict rows against the ground truth, every disagreement explained, figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.__main__ import merge_results
from bench.coldstart_peers import CUSTODIAN_HANDLER, cold_imports, trailguard_probes, verdicts
from bench.compare import (
    UNEXPLAINED,
    UNSEEN,
    Figure,
    PeerResult,
    disagreements,
    median_figure,
    pair_counts,
    peers_section,
    ratios,
    render,
    rows,
    shared_summary,
    verdicts_section,
)
from bench.truth import Key, Question, TrailSpec, Verdict
from bench.verdicts import CUSTODIAN, PROWLER, TRAILGUARD, Verdicts

MGMT, MEMBER = "111111111111", "333333333333"
REGIONS = ("eu-west-1",)
ACCOUNTS = (MGMT, MEMBER)
OTHER_KEY = TrailSpec(MEMBER, "eu-west-1", "team-key", key=Key.OTHER)
ORG = TrailSpec(MGMT, "eu-west-1", "org", organization=True)
TRAILS = (OTHER_KEY, ORG)
PASS, FAIL = Verdict.PASS, Verdict.FAIL


def all_correct() -> Verdicts:
    """Verdicts that agree with the ground truth on every question."""
    truth: Verdicts = {}
    for row in rows(TRAILS, ACCOUNTS, REGIONS, {}):
        truth[row.subject.resource, row.question] = row.expected
    return truth


def test_a_tool_that_did_not_run_or_has_no_such_check_is_not_a_disagreement() -> None:
    table = rows(TRAILS, ACCOUNTS, REGIONS, {TRAILGUARD: None, PROWLER: all_correct()})
    row = next(r for r in table if r.subject.resource == OTHER_KEY.arn and r.question is Question.LOGGING)
    assert row.verdicts == {
        TRAILGUARD: Verdict.UNAVAILABLE,
        CUSTODIAN: Verdict.UNAVAILABLE,
        PROWLER: Verdict.NOT_CHECKED,
    }
    assert disagreements(table) == []


def test_prowler_passing_a_trail_with_another_key_is_explained() -> None:
    # Given Prowler answers "encrypted with the central key" with its "has a KMS key" check
    prowler = {**all_correct(), (OTHER_KEY.arn, Question.CENTRAL_KEY): PASS}
    [found] = disagreements(rows(TRAILS, ACCOUNTS, REGIONS, {PROWLER: prowler}))
    # Then the disagreement is a known difference, with the reason
    assert (found.tool, found.verdict, found.expected, found.known) == (PROWLER, PASS, FAIL, True)
    assert "not which one" in found.explanation


def test_trailguard_failing_any_other_key_is_by_design() -> None:
    trailguard = {**all_correct(), (OTHER_KEY.arn, Question.ENCRYPTED): FAIL}
    [found] = disagreements(rows(TRAILS, ACCOUNTS, REGIONS, {TRAILGUARD: trailguard}))
    assert found.known
    assert "central key" in found.explanation


def test_a_member_recorded_only_by_the_organization_trail_is_a_simulator_limit_for_custodian() -> None:
    custodian = {**all_correct(), (f"{MEMBER}/eu-west-1", Question.COVERAGE): FAIL}
    [found] = disagreements(rows((ORG,), ACCOUNTS, REGIONS, {CUSTODIAN: custodian}))
    assert found.known
    assert found.explanation.startswith("Simulator limit")


def test_an_unknown_disagreement_is_flagged_unexplained_and_silence_is_unseen() -> None:
    tool = all_correct()
    tool[ORG.arn, Question.LOGGING] = FAIL  # the organization trail is logging
    del tool[ORG.arn, Question.VALIDATION]
    found = disagreements(rows(TRAILS, ACCOUNTS, REGIONS, {CUSTODIAN: tool}))
    assert [(d.question, d.explanation, d.known) for d in found] == [
        (Question.LOGGING, UNEXPLAINED, False),
        (Question.VALIDATION, UNSEEN, False),
    ]


def test_ratios_are_over_trailguard_when_it_ran_else_over_custodian() -> None:
    walls = {
        CUSTODIAN: Figure("c", 20.0, "s", "m"),
        PROWLER: Figure("p", 300.0, "s", "m"),
    }
    assert [(f.name, f.value, f.unit) for f in ratios(walls)] == [("Prowler / Custodian wall time", 15.0, "ratio")]
    with_trailguard = ratios({**walls, TRAILGUARD: Figure("t", 2.0, "s", "m")})
    assert [(f.name, f.value) for f in with_trailguard] == [
        ("Custodian / TrailGuard wall time", 10.0),
        ("Prowler / TrailGuard wall time", 150.0),
    ]
    assert ratios({}) == []


def test_median_figure_states_its_method_and_keeps_its_samples() -> None:
    figure = median_figure("x", [3.0, 1.0, 2.0], "s", "wall clock")
    assert (figure.value, figure.method, figure.samples) == (2.0, "median of 3 runs; wall clock", (3.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="no samples"):
        median_figure("x", [], "s", "m")


def test_cold_imports_are_milliseconds_with_the_first_use_apart_and_each_handler_beside_custodian() -> None:
    samples = {
        "TrailGuard TrailGuardFunction (functions/trail_guard/app.py)": [
            {"seconds": 0.30, "cpu": 0.29, "first_use": 0.02},
            {"seconds": 0.32, "cpu": 0.31, "first_use": 0.03},
            {"seconds": 0.31, "cpu": 0.30, "first_use": 0.02},
        ],
        "TrailGuard SweepFunction (functions/sweep/app.py)": [{"seconds": 0.40, "cpu": 0.39, "first_use": 0.0}],
        CUSTODIAN_HANDLER: [{"seconds": 0.35, "cpu": 0.34, "first_use": 0.015}],
        "import boto3 alone, Custodian's environment": [{"seconds": 0.2, "cpu": 0.2}],
    }
    found = cold_imports(samples)
    trail = found[0]
    assert (round(trail.wall.value), trail.wall.unit, round(trail.cpu.value)) == (310, "ms", 300)
    assert trail.first_use is not None
    assert trail.first_use.name.endswith("first invocation: X-Ray tracer (Tracing: Active)")
    assert "median of 3 runs" in trail.wall.method
    assert "wall clock" in trail.wall.method
    assert found[2].first_use is not None
    assert "load_resources" in found[2].first_use.name
    assert found[3].first_use is None
    lines = verdicts(found)
    assert lines[0].startswith("TrailGuardFunction: 310.0 ms <= Custodian's 350.0 ms")
    assert lines[1].startswith("SweepFunction: 400.0 ms > Custodian's 350.0 ms")
    assert lines[1].endswith("ABOVE")
    assert verdicts(found[:2]) == ["Custodian's handler import was not measured: no comparison."]


def test_every_function_of_the_template_is_probed_as_lambda_runs_it() -> None:
    probes = trailguard_probes(Path(sys.executable))
    folders = {probe.cwd.name for probe in probes}
    assert {"trail_guard", "key_guard", "bucket_guard", "sweep", "sweep_worker"} <= folders
    for probe in probes:
        assert probe.environment["LAMBDA_TASK_ROOT"] == str(probe.cwd)
        assert "POWERTOOLS_TRACE_DISABLED" not in probe.environment  # Tracing: Active, as deployed
        assert "import app" in probe.code
        assert "layers/trailguard" in probe.code


def test_results_are_merged_into_the_file_keeping_the_other_writers_keys(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"scale": {"accounts": 1000}, "coldstart": {"old": True}}))
    kept = merge_results(results, {"coldstart": {"new": True}, "peers": {"tools": {}}})
    assert kept == ["scale"]
    assert json.loads(results.read_text()) == {
        "scale": {"accounts": 1000},
        "coldstart": {"new": True},
        "peers": {"tools": {}},
    }
    # a file that is not a JSON object is kept aside, not overwritten silently
    results.write_text("not json")
    assert merge_results(results, {"peers": {}}) == []
    assert (tmp_path / "results.json.unreadable").read_text() == "not json"
    assert json.loads(results.read_text()) == {"peers": {}}


def test_trailguard_beside_a_peer_counts_the_shared_checks_and_sets_by_design_ones_apart() -> None:
    # Given Custodian agreeing with the truth, and TrailGuard failing a trail with another key "any key" question
    truth = all_correct()
    trailguard = {**truth, (OTHER_KEY.arn, Question.ENCRYPTED): FAIL}
    table = rows(TRAILS, ACCOUNTS, REGIONS, {TRAILGUARD: trailguard, CUSTODIAN: truth, PROWLER: None})
    found = disagreements(table)
    counts = {c.pairing.question: c for c in pair_counts(table, found, CUSTODIAN)}
    # Then the shared questions agree row for row, and the any-key question is by design, not shared
    assert shared_summary(counts.values()) == (len(TRAILS) * 3 + len(ACCOUNTS) * len(REGIONS),) * 2
    assert not counts[Question.ENCRYPTED].pairing.shared
    assert [d.row.subject.resource for d in counts[Question.ENCRYPTED].differences] == [OTHER_KEY.arn]
    assert counts[Question.MULTI_REGION].compared == 0  # TrailGuard asks no such question
    text = render(table, found, {TRAILGUARD: PeerResult(TRAILGUARD, verdicts=trailguard),
                                 CUSTODIAN: PeerResult(CUSTODIAN, verdicts=truth),
                                 PROWLER: PeerResult(PROWLER, unavailable="prowler is not installed")}, [])  # fmt: skip
    assert "  Custodian: shared checks: 8/8 agree" in text
    assert "  Prowler: not compared: Prowler did not run (prowler is not installed)" in text
    assert "Custodian, encrypted (any KMS key): Custodian's trail-no-kms-key passes any KMS key" in text
    assert "[verdicts differ on 1 of 2 rows]" in text


def test_a_shared_check_on_which_they_differ_is_shown_with_each_tools_reason() -> None:
    truth = all_correct()
    custodian = {**truth, (f"{MEMBER}/eu-west-1", Question.COVERAGE): FAIL}
    table = rows((ORG,), ACCOUNTS, REGIONS, {TRAILGUARD: truth, CUSTODIAN: custodian})
    found = disagreements(table)
    [coverage] = [c for c in pair_counts(table, found, CUSTODIAN) if c.pairing.question is Question.COVERAGE]
    assert (coverage.agree, coverage.compared) == (1, 2)
    [difference] = coverage.differences
    assert difference.reasons[CUSTODIAN].startswith("Simulator limit")
    peers = {TRAILGUARD: PeerResult(TRAILGUARD, verdicts=truth), CUSTODIAN: PeerResult(CUSTODIAN, verdicts=custodian)}
    text = render(table, found, peers, [])
    assert "Custodian: shared checks: 4/5 agree" in text
    assert "DIFFERENT: 333333333333 eu-west-1 (by org): TrailGuard PASS, Custodian FAIL, truth PASS" in text


def test_the_report_marks_and_explains_each_disagreement_and_names_peers_not_run() -> None:
    prowler = {**all_correct(), (OTHER_KEY.arn, Question.CENTRAL_KEY): PASS}
    peers = {
        TRAILGUARD: PeerResult(TRAILGUARD, unavailable="trailguard audit not available"),
        PROWLER: PeerResult(PROWLER, verdicts=prowler, figures=[Figure("Prowler wall", 1.0, "s", "median of 1")]),
    }
    table = rows(TRAILS, ACCOUNTS, REGIONS, {tool: peer.verdicts for tool, peer in peers.items()})
    found = disagreements(table)
    text = render(table, found, peers, [])
    assert "PASS*" in text
    assert "[1] Prowler says PASS where the truth is FAIL" in text
    assert "NOT RUN: trailguard audit not available" in text
    assert "Prowler wall                                   1.000 s     median of 1" in text
    document = json.loads(json.dumps(peers_section(peers, [], {"generated": "now"})))
    assert document["tools"][TRAILGUARD] == {
        "ran": False,
        "unavailable": "trailguard audit not available",
        "version": None,
        "command": None,
        "notes": [],
        "figures": [],
    }
    assert document["tools"][PROWLER]["figures"] == [
        {"name": "Prowler wall", "value": 1.0, "unit": "s", "method": "median of 1"}
    ]
    verdicts_document = json.loads(json.dumps(verdicts_section(table, found, peers, "now")))
    assert [d["known"] for d in verdicts_document["disagreements"]] == [True]
    assert verdicts_document["summary"][PROWLER] == {
        "verdicts": 8,
        "agree": 7,
        "disagree_known": 1,
        "disagree_unexplained": 0,
        "not_checked": 4,
    }
    assert verdicts_document["beside_trailguard"][PROWLER] == {
        "compared": False,
        "reason": "TrailGuard did not run (trailguard audit not available)",
    }
    assert "Prowler     ran (version unknown): 7 of 8 verdicts agree" in text
    assert len(verdicts_document["rows"]) == len(TRAILS) * 5 + len(ACCOUNTS) * len(REGIONS)
