"""The inventory: what TrailGuard knows of the organization between sweeps, kept in the state table.

- **Trails** (partition `inventory#trail`, sort key `<account>#<trail ARN>`): each trail of the organization
  with what the key and bucket checks need (home region, organization and multi-region flags, key, bucket,
  prefix) and when it was last seen. The sweep's workers replace an account's rows after reading it; trail
  events keep a trail's row current. The key and bucket guards read the rows of the trails that use the
  central key or deliver to the central bucket, instead of reading every account and region again.
- **Organization** (`inventory#organization`): the active accounts and the regions, as the sweep's planner
  last listed them, and when.
- **Sweeps** (`sweep#<id>`): one row per sweep (how many accounts it waits for, which have reported) and one
  row per account with what the worker found; the worker whose report completes the sweep publishes its summary.

A missing or stale inventory is rebuilt by the sweep, never by an event handler: an event that finds none says
so in its finding's details.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from trailguard.findings import Resource
from trailguard.ledger import parse_stamp, stamp
from trailguard.table import Table
from trailguard.trail.facts import Trail

TRAILS = "inventory#trail"
ORGANIZATION = "inventory#organization"
SWEEP = "sweep#"
SWEEP_KEPT = timedelta(days=14)  # a sweep's rows, for looking back at recent sweeps
CLAIM_LAPSES = timedelta(minutes=15)  # a publisher that claimed the summary and vanished (its Lambda timed out)


@dataclass(frozen=True, slots=True)
class Organization:
    """The organization as the last sweep listed it."""

    accounts: frozenset[str]
    regions: tuple[str, ...]
    listed: datetime
    problems: tuple[str, ...] = ()
    swept: datetime | None = None  # when a sweep last completed (its workers rebuilt the trails' rows)


@dataclass(frozen=True, slots=True)
class SweepState:
    """A sweep's progress row: how many accounts it waits for, how many reported, whether its summary is out."""

    sweep: str
    expected: int
    reported: int
    published: bool
    started: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.expected > 0 and self.reported >= self.expected


class Inventory(Protocol):
    def trails(self, *, key_arn: str | None = None, bucket: str | None = None) -> Iterator[Trail]:
        """The trails kept, or only those that use `key_arn` or deliver to `bucket` when either is given."""
        ...

    def organization(self) -> Organization | None: ...

    def keep_organization(self, organization: Organization) -> None: ...

    def keep_trail(self, trail: Trail, now: datetime) -> None: ...

    def forget_trail(self, account: str, arn: str) -> None: ...

    def replace_account(self, account: str, trails: Iterable[Trail], now: datetime) -> None:
        """The account's rows become exactly `trails` (a trail no longer found is forgotten)."""
        ...

    def start_sweep(self, sweep: str, expected: int, central: dict[str, Any], now: datetime) -> None: ...

    def expect(self, sweep: str, expected: int) -> SweepState: ...

    def report(self, sweep: str, account: str, part: dict[str, Any], now: datetime) -> SweepState:
        """Keep what a worker found for one account; the sweep's progress after it."""
        ...

    def claim_summary(self, sweep: str, now: datetime) -> bool:
        """True for one caller at a time: the one that publishes the sweep's summary."""
        ...

    def release_summary(self, sweep: str) -> None: ...

    def published(self, sweep: str, now: datetime) -> None: ...

    def sweep_parts(self, sweep: str) -> Iterator[dict[str, Any]]:
        """The central part, then each account's, of one sweep."""
        ...

    def recent_sweeps(self, limit: int) -> list[SweepState]:
        """The latest sweeps' progress rows, newest first."""
        ...

    def forget_accounts_except(self, accounts: frozenset[str]) -> int: ...


def trail_item(trail: Trail, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": TRAILS},
        "sk": {"S": f"{trail.account}#{trail.arn}"},
        "arn": {"S": trail.arn},
        "account": {"S": trail.account},
        "home": {"S": trail.home_region},
        "org": {"BOOL": trail.organization_trail},
        "multi": {"BOOL": trail.multi_region},
        "validation": {"BOOL": trail.log_file_validation},
        "seen": {"S": stamp(now)},
    }
    for name, value in (("key", trail.kms_key_id), ("bucket", trail.s3_bucket), ("prefix", trail.s3_prefix)):
        if value:
            item[name] = {"S": value}
    return item


def trail_from_item(item: dict[str, Any]) -> Trail:
    arn = item["arn"]["S"]
    return Trail(
        ref=Resource.trail(arn),
        home_region=item["home"]["S"],
        kms_key_id=item.get("key", {}).get("S"),
        log_file_validation=bool(item.get("validation", {}).get("BOOL")),
        multi_region=bool(item.get("multi", {}).get("BOOL")),
        organization_trail=bool(item.get("org", {}).get("BOOL")),
        s3_bucket=item.get("bucket", {}).get("S"),
        s3_prefix=item.get("prefix", {}).get("S"),
    )


class NoInventory:
    """No table configured: nothing is kept; the key and bucket checks know only the organization's accounts."""

    def trails(self, *, key_arn: str | None = None, bucket: str | None = None) -> Iterator[Trail]:
        return iter(())

    def organization(self) -> Organization | None:
        return None

    def keep_organization(self, organization: Organization) -> None:
        return None

    def keep_trail(self, trail: Trail, now: datetime) -> None:
        return None

    def forget_trail(self, account: str, arn: str) -> None:
        return None

    def replace_account(self, account: str, trails: Iterable[Trail], now: datetime) -> None:
        return None

    def start_sweep(self, sweep: str, expected: int, central: dict[str, Any], now: datetime) -> None:
        return None

    def expect(self, sweep: str, expected: int) -> SweepState:
        return SweepState(sweep, expected, 0, False)

    def report(self, sweep: str, account: str, part: dict[str, Any], now: datetime) -> SweepState:
        return SweepState(sweep, 0, 0, False)

    def claim_summary(self, sweep: str, now: datetime) -> bool:
        return False

    def release_summary(self, sweep: str) -> None:
        return None

    def published(self, sweep: str, now: datetime) -> None:
        return None

    def sweep_parts(self, sweep: str) -> Iterator[dict[str, Any]]:
        return iter(())

    def recent_sweeps(self, limit: int) -> list[SweepState]:
        return []

    def forget_accounts_except(self, accounts: frozenset[str]) -> int:
        return 0


class TableInventory(Table):
    """The inventory in the state table (partition key `pk`, sort key `sk`; TTL on `expires`)."""

    def trails(self, *, key_arn: str | None = None, bucket: str | None = None) -> Iterator[Trail]:
        extra: dict[str, Any] = {}
        wanted = {name: value for name, value in (("key", key_arn), ("bucket", bucket)) if value}
        if wanted:  # filtered in DynamoDB: only the trails in scope travel and stay in memory
            extra = {
                "FilterExpression": " OR ".join(f"#{name} = :{name}" for name in wanted),
                "ExpressionAttributeNames": {f"#{name}": name for name in wanted},
                "values": {f":{name}": {"S": value} for name, value in wanted.items()},
            }
        for item in self._query(TRAILS, **extra):
            yield trail_from_item(item)

    def organization(self) -> Organization | None:
        item = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": ORGANIZATION}, "sk": {"S": "accounts"}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        data = json.loads(item["data"]["S"])
        swept = item.get("swept", {}).get("S")
        return Organization(
            frozenset(data["accounts"]),
            tuple(data["regions"]),
            parse_stamp(data["listed"]),
            tuple(data["problems"]),
            parse_stamp(swept) if swept else None,
        )

    def keep_organization(self, organization: Organization) -> None:
        data = {
            "accounts": sorted(organization.accounts),
            "regions": list(organization.regions),
            "listed": stamp(organization.listed),
            "problems": list(organization.problems),
        }
        self._client.update_item(  # an update: when a sweep last completed is kept
            TableName=self._table,
            Key={"pk": {"S": ORGANIZATION}, "sk": {"S": "accounts"}},
            UpdateExpression="SET #data = :data",
            ExpressionAttributeNames={"#data": "data"},
            ExpressionAttributeValues={":data": {"S": json.dumps(data)}},
        )

    def keep_trail(self, trail: Trail, now: datetime) -> None:
        self._client.put_item(TableName=self._table, Item=trail_item(trail, now))

    def forget_trail(self, account: str, arn: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"pk": {"S": TRAILS}, "sk": {"S": f"{account}#{arn}"}})

    def replace_account(self, account: str, trails: Iterable[Trail], now: datetime) -> None:
        kept = {trail.arn: trail for trail in trails}
        gone = [
            item["sk"]["S"]
            for item in self._query(
                TRAILS, f"{account}#", ProjectionExpression="#sk", ExpressionAttributeNames={"#sk": "sk"}
            )
            if item["sk"]["S"].split("#", 1)[1] not in kept
        ]
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": trail_item(t, now)}} for t in kept.values()]
        requests += [{"DeleteRequest": {"Key": {"pk": {"S": TRAILS}, "sk": {"S": key}}}} for key in gone]
        self._write(requests, "inventory")

    def start_sweep(self, sweep: str, expected: int, central: dict[str, Any], now: datetime) -> None:
        expires = {"N": str(int((now + SWEEP_KEPT).timestamp()))}
        run = {"pk": {"S": SWEEP + "runs"}, "sk": {"S": sweep}, "expected": {"N": str(expected)}}
        run |= {"reported": {"N": "0"}, "started": {"S": stamp(now)}, "expires": expires}
        central_part = {"pk": {"S": SWEEP + sweep}, "sk": {"S": "central"}, "data": {"S": json.dumps(central)}}
        self._write(
            [{"PutRequest": {"Item": run}}, {"PutRequest": {"Item": central_part | {"expires": expires}}}], "inventory"
        )

    def expect(self, sweep: str, expected: int) -> SweepState:
        """Fewer accounts than planned will report (the planner could not send them all)."""
        attributes = self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": SWEEP + "runs"}, "sk": {"S": sweep}},
            UpdateExpression="SET #expected = :expected",
            ExpressionAttributeNames={"#expected": "expected"},
            ExpressionAttributeValues={":expected": {"N": str(expected)}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _state(sweep, attributes)

    def report(self, sweep: str, account: str, part: dict[str, Any], now: datetime) -> SweepState:
        item = {"pk": {"S": SWEEP + sweep}, "sk": {"S": "account#" + account}, "data": {"S": json.dumps(part)}}
        item["expires"] = {"N": str(int((now + SWEEP_KEPT).timestamp()))}
        run = {"pk": {"S": SWEEP + "runs"}, "sk": {"S": sweep}}
        try:  # the account's first report counts; a message delivered again only refreshes its part
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": "sk"},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            self._client.put_item(TableName=self._table, Item=item)
            found = self._client.get_item(TableName=self._table, Key=run, ConsistentRead=True).get("Item", {})
            return _state(sweep, found)
        attributes = self._client.update_item(
            TableName=self._table,
            Key=run,
            UpdateExpression="ADD #reported :one",  # names as placeholders: no reserved word can clash
            ExpressionAttributeNames={"#reported": "reported"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _state(sweep, attributes)

    def claim_summary(self, sweep: str, now: datetime) -> bool:
        """True for one caller at a time: the sweep's summary is not published yet, and nobody else is publishing
        it (a claim left by a publisher that failed lapses after CLAIM_LAPSES)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": SWEEP + "runs"}, "sk": {"S": sweep}},
                UpdateExpression="SET #claimed = :now",
                ConditionExpression=(
                    "attribute_exists(#expected) AND attribute_not_exists(#published) "
                    "AND (attribute_not_exists(#claimed) OR #claimed < :lapsed)"
                ),
                ExpressionAttributeNames={"#claimed": "claimed", "#expected": "expected", "#published": "published"},
                ExpressionAttributeValues={":now": {"S": stamp(now)}, ":lapsed": {"S": stamp(now - CLAIM_LAPSES)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release_summary(self, sweep: str) -> None:
        """The claimant could not publish: the next report (or planner) may claim it again at once."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": SWEEP + "runs"}, "sk": {"S": sweep}},
            UpdateExpression="REMOVE #claimed",
            ExpressionAttributeNames={"#claimed": "claimed"},
        )

    def published(self, sweep: str, now: datetime) -> None:
        """The summary went out; the organization's inventory counts as rebuilt from now."""
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": SWEEP + "runs"}, "sk": {"S": sweep}},
            UpdateExpression="SET #published = :yes",
            ExpressionAttributeNames={"#published": "published"},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )
        self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": ORGANIZATION}, "sk": {"S": "accounts"}},
            UpdateExpression="SET #swept = :now",
            ExpressionAttributeNames={"#swept": "swept"},
            ExpressionAttributeValues={":now": {"S": stamp(now)}},
        )

    def sweep_parts(self, sweep: str) -> Iterator[dict[str, Any]]:
        for item in self._query(SWEEP + sweep, ConsistentRead=True):
            yield json.loads(item["data"]["S"])

    def recent_sweeps(self, limit: int) -> list[SweepState]:
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": SWEEP + "runs"}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        ).get("Items", [])
        return [_state(item["sk"]["S"], item) for item in items]

    def forget_accounts_except(self, accounts: frozenset[str]) -> int:
        """Drop the rows of trails whose account is no longer in the organization; how many were dropped."""
        gone = [
            {"DeleteRequest": {"Key": {"pk": {"S": TRAILS}, "sk": item["sk"]}}}
            for item in self._query(TRAILS, ProjectionExpression="#sk", ExpressionAttributeNames={"#sk": "sk"})
            if item["sk"]["S"].split("#", 1)[0] not in accounts
        ]
        self._write(gone, "inventory")
        return len(gone)


def _state(sweep: str, attributes: dict[str, Any]) -> SweepState:
    started = attributes.get("started", {}).get("S")
    return SweepState(
        sweep,
        int(attributes.get("expected", {}).get("N", "0")),
        int(attributes.get("reported", {}).get("N", "0")),
        bool(attributes.get("published", {}).get("BOOL")),
        parse_stamp(started) if started else None,
    )
