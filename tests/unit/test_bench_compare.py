"""bench-peers comparison: verdict rows against the ground truth, every disagreement explained, figures."""

from __future__ import annotations

import json

import pytest

from bench.coldstart_peers import coldstart_figures
from bench.compare import (
    UNEXPLAINED,
    UNSEEN,
    Figure,
    PeerResult,
    disagreements,
    median_figure,
    ratios,
    render,
    results_document,
    rows,
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


def test_coldstart_figures_are_milliseconds_with_boto3_beside() -> None:
    figures = coldstart_figures(
        [{"handler": 0.5, "resources": 0.05}, {"handler": 0.7, "resources": 0.03}], [{"boto3": 0.3}]
    )
    assert [(f.name.split(": ")[-1], round(f.value), f.unit) for f in figures] == [
        ("import c7n.handler", 600, "ms"),
        ("load_resources(cloudtrail, kms)", 40, "ms"),
        ("handler + resources", 640, "ms"),
        ("import boto3 alone (same environment)", 300, "ms"),
    ]


def test_the_report_marks_and_explains_each_disagreement_and_names_peers_not_run() -> None:
    prowler = {**all_correct(), (OTHER_KEY.arn, Question.CENTRAL_KEY): PASS}
    peers = {
        TRAILGUARD: PeerResult(TRAILGUARD, unavailable="trailguard audit not available"),
        PROWLER: PeerResult(PROWLER, verdicts=prowler, figures=[Figure("Prowler wall", 1.0, "s", "median of 1")]),
    }
    table = rows(TRAILS, ACCOUNTS, REGIONS, {tool: peer.verdicts for tool, peer in peers.items()})
    found = disagreements(table)
    text = render(table, found, peers, [], [])
    assert "PASS*" in text
    assert "[1] Prowler says PASS where the truth is FAIL" in text
    assert "NOT RUN: trailguard audit not available" in text
    document = json.loads(json.dumps(results_document(table, found, peers, [], [], {"generated": "now"})))
    assert document["peers"][TRAILGUARD] == {
        "ran": False,
        "unavailable": "trailguard audit not available",
        "version": None,
        "command": None,
        "notes": [],
        "figures": [],
    }
    assert document["peers"][PROWLER]["figures"] == [
        {"name": "Prowler wall", "value": 1.0, "unit": "s", "method": "median of 1"}
    ]
    assert [d["known"] for d in document["disagreements"]] == [True]
    assert document["summary"][PROWLER] == {
        "verdicts": 8,
        "agree": 7,
        "disagree_known": 1,
        "disagree_unexplained": 0,
        "not_checked": 4,
    }
    assert "Prowler     ran (version unknown): 7 of 8 verdicts agree" in text
    assert len(document["verdicts"]) == len(TRAILS) * 5 + len(ACCOUNTS) * len(REGIONS)
