"""bench-peers ground truth: what each trail and each account-region should be judged, from its spec alone."""

from __future__ import annotations

import pytest

from bench.peer_org import ACCOUNTS, REGIONS, TRAILS
from bench.truth import (
    Key,
    Question,
    TrailSpec,
    Verdict,
    covered_only_by_organization_trail,
    expected_coverage,
    expected_trail_verdicts,
    trail_arn,
)

MGMT, MEMBER = "111111111111", "012345678901"
PASS, FAIL = Verdict.PASS, Verdict.FAIL


@pytest.mark.parametrize(
    ("spec", "central", "encrypted"),
    [
        (TrailSpec(MEMBER, "eu-west-1", "t"), PASS, PASS),
        (TrailSpec(MEMBER, "eu-west-1", "t", key=Key.OTHER), FAIL, PASS),
        (TrailSpec(MEMBER, "eu-west-1", "t", key=Key.NONE), FAIL, FAIL),
    ],
)
def test_a_key_other_than_the_central_key_is_encrypted_but_not_central(
    spec: TrailSpec, central: Verdict, encrypted: Verdict
) -> None:
    expected = expected_trail_verdicts(spec)
    assert (expected[Question.CENTRAL_KEY], expected[Question.ENCRYPTED]) == (central, encrypted)


def test_each_flag_of_a_trail_is_its_own_question() -> None:
    spec = TrailSpec(MEMBER, "us-east-1", "t", logging=False, validation=False, multi_region=False)
    assert expected_trail_verdicts(spec) == {
        Question.CENTRAL_KEY: PASS,
        Question.ENCRYPTED: PASS,
        Question.LOGGING: FAIL,
        Question.VALIDATION: FAIL,
        Question.MULTI_REGION: FAIL,
    }
    assert spec.arn == trail_arn(MEMBER, "us-east-1", "t") == "arn:aws:cloudtrail:us-east-1:012345678901:trail/t"
    assert spec.state == "logging off, validation off, single-region"


def test_a_logging_organization_trail_records_every_account_in_every_region() -> None:
    # Given only an organization trail of the management account, logging and multi-region
    specs = (TrailSpec(MGMT, "eu-west-1", "org", organization=True),)
    # Then the member is recorded everywhere, by the organization trail alone
    coverage = expected_coverage(specs, (MGMT, MEMBER), ("eu-west-1", "us-east-1"))
    assert set(coverage.values()) == {PASS}
    assert covered_only_by_organization_trail(specs, MEMBER, "us-east-1")
    assert not covered_only_by_organization_trail(specs, MGMT, "us-east-1")  # its own trail


def test_a_stopped_or_single_region_trail_records_nothing() -> None:
    specs = (
        TrailSpec(MGMT, "eu-west-1", "org", organization=True, logging=False),
        TrailSpec(MEMBER, "eu-west-1", "regional", multi_region=False),  # logging, but in its home region only
    )
    coverage = expected_coverage(specs, (MGMT, MEMBER), ("eu-west-1",))
    assert coverage == {f"{MGMT}/eu-west-1": FAIL, f"{MEMBER}/eu-west-1": FAIL}


def test_the_simulated_organization_has_a_trail_in_every_state() -> None:
    verdicts = [expected_trail_verdicts(spec) for spec in TRAILS]
    for question in (Question.CENTRAL_KEY, Question.ENCRYPTED, Question.LOGGING, Question.VALIDATION):
        assert {v[question] for v in verdicts} == {PASS, FAIL}, question
    assert {spec.key for spec in TRAILS} == set(Key)
    assert any(spec.organization for spec in TRAILS)
    assert sum(spec.multi_region for spec in TRAILS) >= 2
    assert {spec.region for spec in TRAILS} == set(REGIONS)
    assert {spec.account for spec in TRAILS} == set(ACCOUNTS)
    assert len({spec.arn for spec in TRAILS}) == len(TRAILS)
    # and account-regions both recorded and not recorded
    assert set(expected_coverage(TRAILS, ACCOUNTS, REGIONS).values()) == {PASS, FAIL}
