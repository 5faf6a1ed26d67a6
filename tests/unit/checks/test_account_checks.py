"""The account check, without AWS: every region recorded by a logging multi-region trail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.checks.fixtures import CONTEXT, GOOD_TRAIL, MEMBER
from trailguard.account.facts import Coverage
from trailguard.catalogue import evaluate
from trailguard.findings import Resource
from trailguard.trail.facts import TrailStatus
from trailguard.vocabulary import ResourceType, Severity

REGIONS = ("eu-west-1", "us-east-1")
ORG_TRAIL = replace(
    GOOD_TRAIL,
    ref=Resource.trail("arn:aws:cloudtrail:eu-west-1:111111111111:trail/org-trail"),
    organization_trail=True,
)
STOPPED_ORG_TRAIL = replace(ORG_TRAIL, status=TrailStatus(is_logging=False))
SINGLE_REGION = replace(GOOD_TRAIL, multi_region=False)
STOPPED = replace(GOOD_TRAIL, status=TrailStatus(is_logging=False))

# One account per way of being unrecorded, and the one check it must fail.
CASES: dict[str, list[Coverage]] = {
    "account.coverage": [
        Coverage(MEMBER, REGIONS, (), (), management=False),
        Coverage(MEMBER, REGIONS, (STOPPED,), (), management=False),
        Coverage(MEMBER, REGIONS, (), (STOPPED_ORG_TRAIL,), management=False),
        Coverage("111111111111", REGIONS, (), (), management=True),
    ],
    "account.forwarding": [
        Coverage(MEMBER, REGIONS, (GOOD_TRAIL,), (), management=False, forwarding={"us-east-1": "rule X is missing"}),
    ],
}


def checks(coverage: Coverage) -> list[str]:
    return [violation.check for violation in evaluate(ResourceType.ACCOUNT, coverage, CONTEXT)]


@pytest.mark.parametrize(
    "coverage",
    [
        Coverage(MEMBER, REGIONS, (GOOD_TRAIL,), (), management=False),
        Coverage(MEMBER, REGIONS, (), (ORG_TRAIL,), management=False),
        # a single-region trail is no finding by itself: the organization trail records the account
        Coverage(MEMBER, REGIONS, (SINGLE_REGION,), (ORG_TRAIL,), management=False),
        Coverage(MEMBER, REGIONS, (GOOD_TRAIL,), (STOPPED_ORG_TRAIL,), management=False),
    ],
)
def test_a_recorded_account_has_no_violation(coverage: Coverage) -> None:
    assert checks(coverage) == []


@pytest.mark.parametrize(("expected", "coverage"), [(name, c) for name, cases in CASES.items() for c in cases])
def test_each_gap_is_one_violation(expected: str, coverage: Coverage) -> None:
    assert checks(coverage) == [expected]


def test_forwarding_not_verified_or_intact_is_no_violation() -> None:
    assert checks(Coverage(MEMBER, REGIONS, (GOOD_TRAIL,), (), management=False, forwarding={})) == []
    assert checks(Coverage(MEMBER, REGIONS, (GOOD_TRAIL,), (), management=False, forwarding=None)) == []


def test_a_missing_or_stopped_organization_trail_is_critical_a_bare_account_high() -> None:
    def level(coverage: Coverage) -> Severity | None:
        (violation,) = evaluate(ResourceType.ACCOUNT, coverage, CONTEXT)
        return violation.level

    assert level(Coverage(MEMBER, REGIONS, (), (), management=False)) is None  # the check's own: HIGH
    assert level(Coverage(MEMBER, REGIONS, (), (STOPPED_ORG_TRAIL,), management=False)) is Severity.CRITICAL
    assert level(Coverage("111111111111", REGIONS, (), (), management=True)) is Severity.CRITICAL


def test_an_account_whose_trails_cannot_be_read_is_not_judged_here() -> None:
    assert checks(Coverage(MEMBER, REGIONS, (), (), management=False, problems=("AccessDenied",))) == []
