"""The inventory's scope for the key and bucket checks, an account's listing, and how a sweep adds up."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from tests.unit.checks.fixtures import BUCKET, CENTRAL, GOOD_TRAIL, KEY, MEMBER, SETTINGS
from trailguard.findings import Resource
from trailguard.inventory import NoInventory, Organization, trail_from_item, trail_item
from trailguard.organization import account_trails, discover
from trailguard.resource import Deps, Outcome
from trailguard.settings import Settings
from trailguard.sweep import Evaluated, add_up, part, trail_from_message, trail_message
from trailguard.trail.facts import Trail, TrailStatus
from trailguard.vocabulary import Result
from trailguard.warm import Warm

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
OTHER_TRAIL = Trail(Resource.trail(f"arn:aws:cloudtrail:us-east-1:{MEMBER}:trail/team"), "us-east-1", s3_bucket="x")


class Kept(NoInventory):
    """An inventory in memory."""

    def __init__(self, organization: Organization | None, trails: Iterable[Trail] = ()) -> None:
        self.kept = organization
        self.rows = list(trails)

    def organization(self) -> Organization | None:
        return self.kept

    def trails(self, *, key_arn: str | None = None, bucket: str | None = None) -> Iterator[Trail]:
        return iter(t for t in self.rows if not (key_arn or bucket) or t.kms_key_id == key_arn or t.s3_bucket == bucket)


class Clients:
    """A session factory whose CloudTrail clients answer from a table: region -> ListTrails entries."""

    own_account = CENTRAL

    def __init__(self, listing: dict[str, list[dict[str, Any]]]) -> None:
        self.listing = listing
        self.asked: list[str] = []

    def client(self, service: str, account: str, region: str) -> Any:
        outer = self

        class CloudTrail:
            def list_trails(self, **_: Any) -> dict[str, Any]:
                outer.asked.append(region)
                return {"Trails": outer.listing.get(region, [])}

            def get_trail(self, Name: str) -> dict[str, Any]:
                return {"Trail": {"TrailARN": Name, "S3BucketName": BUCKET, "KmsKeyId": KEY}}

        return CloudTrail()

    def release(self, account: str) -> None:
        return None


def deps(inventory: Any, settings: Settings = SETTINGS, sessions: Any = None) -> Deps:
    return cast(Deps, _Deps(settings, sessions, inventory))


class _Deps:
    def __init__(self, settings: Settings, sessions: Any, inventory: Any) -> None:
        self.settings, self.sessions, self.inventory = settings, sessions, inventory
        self.warm = Warm()

    def now(self) -> datetime:
        return NOW


def with_accounts(accounts: str) -> Settings:
    return SETTINGS.model_copy(update={"accounts": (accounts,)})


def test_the_scope_comes_from_a_fresh_inventory() -> None:
    kept = Kept(
        Organization(frozenset({MEMBER}), ("eu-west-1",), NOW, swept=NOW - timedelta(hours=1)),
        [GOOD_TRAIL, OTHER_TRAIL],
    )

    scope = discover(deps(kept))

    assert scope.trails == (GOOD_TRAIL,)  # only the trails that use the key or deliver to the bucket
    assert scope.accounts == {MEMBER, CENTRAL}  # the central account always belongs
    assert scope.problems == ()
    assert scope.organization_known


def test_a_stale_inventory_is_named() -> None:
    # Listed by the planner just now, but no sweep has completed for 30 hours (its workers keep failing)
    kept = Kept(Organization(frozenset({MEMBER}), ("eu-west-1",), NOW, swept=NOW - timedelta(hours=30)), [GOOD_TRAIL])

    scope = discover(deps(kept, with_accounts(MEMBER)))

    assert scope.trails == (GOOD_TRAIL,)
    (problem,) = scope.problems
    assert "more than 24 h ago" in problem


def test_no_inventory_is_named_and_the_accounts_still_come_from_the_configuration() -> None:
    scope = discover(deps(Kept(None), with_accounts(MEMBER)))

    assert scope.trails == ()
    assert scope.accounts == {MEMBER, CENTRAL}
    assert scope.problems == ("the inventory of the organization's trails is empty until the first sweep builds it",)


def test_one_list_trails_per_account_then_each_trail_in_its_home_region() -> None:
    arn = f"arn:aws:cloudtrail:us-east-1:{MEMBER}:trail/regional"
    org_trail = "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org"  # seen from the member: not its own
    sessions = Clients(
        {
            "eu-west-1": [
                {"TrailARN": arn, "HomeRegion": "us-east-1"},
                {"TrailARN": org_trail, "HomeRegion": "eu-west-1"},
            ]
        }
    )

    listed = account_trails(deps(Kept(None), sessions=sessions), MEMBER, ("eu-west-1", "us-east-1"))

    assert sessions.asked == ["eu-west-1"]
    assert [(t.arn, t.home_region) for t in listed.trails] == [(arn, "us-east-1")]


def test_a_listing_without_home_regions_falls_back_to_one_per_region() -> None:
    arn = f"arn:aws:cloudtrail:us-east-1:{MEMBER}:trail/regional"
    sessions = Clients({"eu-west-1": [{"TrailARN": arn}], "us-east-1": [{"TrailARN": arn}]})

    listed = account_trails(deps(Kept(None), sessions=sessions), MEMBER, ("eu-west-1", "us-east-1"))

    assert sessions.asked == ["eu-west-1", "eu-west-1", "us-east-1"]
    assert [t.arn for t in listed.trails] == [arn]


def test_an_inventory_row_and_a_message_keep_what_the_checks_need() -> None:
    assert trail_from_item(json.loads(json.dumps(trail_item(GOOD_TRAIL, NOW)))) == GOOD_TRAIL.__class__(
        GOOD_TRAIL.ref,
        GOOD_TRAIL.home_region,
        kms_key_id=KEY,
        log_file_validation=True,
        multi_region=True,
        s3_bucket=BUCKET,
    )
    organization = Trail(
        GOOD_TRAIL.ref, "eu-west-1", multi_region=True, organization_trail=True, status=TrailStatus(True)
    )
    assert trail_from_message(json.loads(json.dumps(trail_message(organization)))) == organization


def test_a_sweep_adds_up_its_parts() -> None:
    central = part(
        [Evaluated(KEY, Outcome(Result.REMEDIATED, KEY, message_id="m", findings={"key.rotation": "REMEDIATED"}))],
        accounts=2,
        regions=["eu-west-1"],
        started="2026-12-02T05:59:00Z",
        unreachable=["ListAccounts failed"],
    )
    member = part(
        [
            Evaluated("t1", Outcome(Result.COMPLIANT, "t1")),
            Evaluated("t2", None, "t2: ThrottlingException: slow down"),
        ],
        trails=2,
    )

    summary = add_up([central, json.loads(json.dumps(member))], deps(Kept(None)), missing=1)

    assert (summary["accounts"], summary["trails"]) == (2, 2)
    assert summary["outcomes"] == {"compliant": 1, "remediated": 1}
    assert summary["findings"] == {"key.rotation": {"REMEDIATED": 1}}
    assert summary["changed"] == [KEY]
    assert summary["unreachable"] == ["ListAccounts failed"]
    assert summary["failures"][0] == "t2: ThrottlingException: slow down"
    assert "1 account(s) never reported" in summary["failures"][1]
    assert summary["seconds"] == 60.0
