"""The check registry: every check is registered once with a complete row, and has its own unit test."""

from __future__ import annotations

from tests.unit.checks import test_account_checks, test_bucket_checks, test_key_checks, test_trail_checks
from tests.unit.test_template import actions_on
from trailguard.catalogue import check, markdown_table, registered
from trailguard.vocabulary import Repair, ResourceType


def test_every_registered_check_has_a_failing_case_in_its_unit_tests() -> None:
    cases = {*test_account_checks.CASES, *test_trail_checks.CASES, *test_key_checks.CASES, *test_bucket_checks.CASES}

    assert cases == set(registered())


def test_every_row_is_complete() -> None:
    for item in registered().values():
        assert item.function is not None
        assert item.title
        assert item.fix
        assert item.reads, f"{item.id} names no read permission"
        assert (item.repair is Repair.NEVER) == (item.action is None)
        assert check(item.id) is item


def test_the_table_has_one_row_per_check() -> None:
    rows = [line for line in markdown_table().splitlines() if line.startswith("| `")]

    assert [row.split("`")[1] for row in rows] == list(registered())


ONLY_BY = {"account.forwarding": ("SweepWorkerFunction",)}  # verified by the sweep alone
# The sweep's planner judges the key and the bucket, its workers the trails and the accounts.
EVALUATED_BY = {
    ResourceType.ACCOUNT: ("TrailGuardFunction", "SweepWorkerFunction"),
    ResourceType.TRAIL: ("TrailGuardFunction", "SweepWorkerFunction"),
    ResourceType.KEY: ("KeyGuardFunction", "SweepFunction"),
    ResourceType.BUCKET: ("BucketGuardFunction", "SweepFunction"),
}


def test_every_function_that_evaluates_a_check_may_read_what_the_check_needs() -> None:
    granted = {name: set(actions_on(name)) for names in EVALUATED_BY.values() for name in names}

    for item in registered().values():
        for function in ONLY_BY.get(item.id, EVALUATED_BY[item.resource]):
            missing = set(item.reads) - granted[function]
            assert not missing, f"{function} evaluates {item.id} but may not {sorted(missing)}"
