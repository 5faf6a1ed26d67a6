"""The ledger: what TrailGuard has said and is about to say about each resource, kept in DynamoDB.

- **Findings** (`finding#<check>`): each open finding of a resource with its status, first seen, last seen and
  last notified. A message goes out only when this changes (a new OPEN or REMEDIATION_FAILED, a REMEDIATED,
  a RESOLVED), or as a reminder of a finding still open after TRAILGUARD_REMIND_HOURS.
- **Pending report** (`pending`): before TrailGuard's first write to a resource, the violations it is about to
  repair are stored. The report is published after the confirming read; if anything fails after the write
  (a throttled Publish, a throttled read), the retry, or the next evaluation of the resource, finds it and
  reports the change: exactly one message per change.
- **Writes** (`writes#<hour>`): writes to the resource this hour, against the write budget that stops any
  defect from looping.

One item per row, partition key `pk` (the resource ARN) and sort key `sk`; one Query reads a resource's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from trailguard.findings import Finding, Status, Trigger, Violation
from trailguard.table import Table
from trailguard.vocabulary import Severity, TriggerType

FINDING = "finding#"
PENDING = "pending"
WRITES = "writes#"
WRITES_KEPT = timedelta(hours=3)  # a write counter is of no use after its hour


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Known:
    """An open finding as the ledger keeps it."""

    check: str
    status: Status
    summary: str
    first_seen: str
    last_seen: str
    last_notified: str

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "status": self.status.value})

    @classmethod
    def from_json(cls, text: str) -> Known:
        data = json.loads(text)
        return cls(**{**data, "status": Status(data["status"])})


@dataclass(frozen=True, slots=True)
class Pending:
    """A report TrailGuard owes: the violations it started to repair, what it ran, and what set it off."""

    trigger: Trigger
    violations: tuple[Violation, ...]
    actions: dict[str, str]  # check -> the action TrailGuard was about to run
    created: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "trigger": {**asdict(self.trigger), "type": self.trigger.type.value},
                "violations": [asdict(violation) for violation in self.violations],
                "actions": self.actions,
                "created": self.created,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Pending:
        data = json.loads(text)
        trigger = data["trigger"]
        return cls(
            Trigger(
                TriggerType(trigger["type"]), trigger.get("event_id"), trigger.get("event_name"), trigger.get("actor")
            ),
            tuple(
                Violation(**{**violation, "level": Severity(violation["level"]) if violation.get("level") else None})
                for violation in data["violations"]
            ),
            dict(data["actions"]),
            data["created"],
        )


@dataclass(slots=True)
class Record:
    """Everything the ledger holds about one resource."""

    known: dict[str, Known] = field(default_factory=dict)
    pending: Pending | None = None
    writes: dict[str, int] = field(default_factory=dict)  # hour -> writes made in it


class Ledger(Protocol):
    def load(self, arn: str) -> Record: ...

    def hold(self, arn: str, pending: Pending) -> None: ...

    def count_write(self, arn: str, hour: str) -> int:
        """Count one more write this hour; the number of writes so far, this one included."""
        ...

    def commit(self, arn: str, known: Iterable[Known], forgotten: Iterable[str], *, settled: bool) -> None:
        """Keep the resource's open findings, forget resolved ones, and (settled) drop the pending report."""
        ...


class NoLedger:
    """No table configured: every evaluation reports what it finds, nothing is remembered."""

    def load(self, arn: str) -> Record:
        return Record()

    def hold(self, arn: str, pending: Pending) -> None:
        return None

    def count_write(self, arn: str, hour: str) -> int:
        return 0

    def commit(self, arn: str, known: Iterable[Known], forgotten: Iterable[str], *, settled: bool) -> None:
        return None


class TableLedger(Table):
    """The ledger in a DynamoDB table (partition key `pk`, sort key `sk`, both strings; TTL on `expires`)."""

    def load(self, arn: str) -> Record:
        record = Record()
        for item in self._query(arn, ConsistentRead=True):
            sort_key = item["sk"]["S"]
            if sort_key.startswith(FINDING):
                known = Known.from_json(item["data"]["S"])
                record.known[known.check] = known
            elif sort_key == PENDING:
                record.pending = Pending.from_json(item["data"]["S"])
            elif sort_key.startswith(WRITES):
                record.writes[sort_key.removeprefix(WRITES)] = int(item["count"]["N"])
        return record

    def hold(self, arn: str, pending: Pending) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"pk": {"S": arn}, "sk": {"S": PENDING}, "data": {"S": pending.to_json()}},
        )

    def count_write(self, arn: str, hour: str) -> int:
        expires = int((datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC) + WRITES_KEPT).timestamp())
        response = self._client.update_item(
            TableName=self._table,
            Key={"pk": {"S": arn}, "sk": {"S": WRITES + hour}},
            UpdateExpression="ADD #count :one SET expires = :expires",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(expires)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["count"]["N"])

    def commit(self, arn: str, known: Iterable[Known], forgotten: Iterable[str], *, settled: bool) -> None:
        requests: list[dict[str, Any]] = [
            {
                "PutRequest": {
                    "Item": {"pk": {"S": arn}, "sk": {"S": FINDING + item.check}, "data": {"S": item.to_json()}}
                }
            }
            for item in known
        ]
        deleted = [FINDING + check for check in forgotten] + ([PENDING] if settled else [])
        requests += [{"DeleteRequest": {"Key": {"pk": {"S": arn}, "sk": {"S": key}}}} for key in deleted]
        self._write(requests, "ledger")


@dataclass(frozen=True, slots=True)
class Notice:
    """What the lifecycle decided: the findings to publish (none: nothing changed), and what to keep."""

    findings: list[Finding]
    trigger: Trigger | None  # the trigger to publish with (a reminder's own), None when nothing is published
    known: list[Known]
    forgotten: list[str]


def lifecycle(
    findings: list[Finding],
    record: Record,
    evaluated: set[str],
    trigger: Trigger,
    now: datetime,
    remind_hours: int,
) -> Notice:
    """Compare what this evaluation found with what the ledger knows.

    A finding that is new, whose status changed, or that was repaired is a change; a known finding of an
    evaluated check that is no longer found is RESOLVED. When something changed, every current finding goes out
    with the changes. When nothing did, the open findings go out again only as a reminder, at most once per
    `remind_hours` (0: never).
    """
    moment = stamp(now)
    changed = False
    current: dict[str, Finding] = {finding.check: finding for finding in findings}
    keep: list[Known] = []
    forgotten: list[str] = []
    for finding in findings:
        prior = record.known.get(finding.check)
        if finding.status is Status.REMEDIATED:
            changed = True
            if prior is not None:
                forgotten.append(finding.check)
            continue
        if prior is None or prior.status is not finding.status:
            changed = True
        keep.append(
            Known(
                finding.check,
                finding.status,
                finding.summary,
                prior.first_seen if prior else moment,
                moment,
                prior.last_notified if prior else moment,
            )
        )
    resolved: list[Finding] = []
    for check, prior in record.known.items():
        if check in current or check not in evaluated:
            continue
        forgotten.append(check)
        resolved.append(Finding(check, Status.RESOLVED, f"Resolved: {prior.summary}", {}, {}, None, None))
    changed = changed or bool(resolved)
    publish_trigger: Trigger | None = None
    if changed:
        publish_trigger = trigger
    elif keep and remind_hours > 0:
        due = now - timedelta(hours=remind_hours)
        if any(parse_stamp(item.last_notified) <= due for item in keep):
            publish_trigger = Trigger(TriggerType.REMINDER, trigger.event_id, trigger.event_name, trigger.actor)
    if publish_trigger is not None:
        keep = [Known(k.check, k.status, k.summary, k.first_seen, k.last_seen, moment) for k in keep]
        return Notice([*findings, *resolved], publish_trigger, keep, forgotten)
    return Notice([], None, keep, forgotten)
