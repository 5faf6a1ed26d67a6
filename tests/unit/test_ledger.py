"""The finding lifecycle: a message only on a change, RESOLVED when an open finding clears, reminders; and the
ledger's table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from trailguard.findings import Finding, Status, Trigger, Violation
from trailguard.ledger import Known, Pending, Record, TableLedger, lifecycle, stamp
from trailguard.vocabulary import TriggerType

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SWEEP = Trigger(TriggerType.SWEEP)
EVALUATED = {"trail.encryption", "trail.logging", "trail.log-file-validation"}


def found(check: str, status: Status = Status.OPEN) -> Finding:
    return Finding(check, status, f"{check} is wrong.", {"a": 1}, {"a": 2}, None, None)


def known(check: str, status: Status = Status.OPEN, notified: datetime = NOW - timedelta(hours=1)) -> Known:
    return Known(check, status, f"{check} is wrong.", stamp(NOW - timedelta(days=2)), stamp(notified), stamp(notified))


def test_a_new_finding_is_published_and_kept() -> None:
    notice = lifecycle([found("trail.logging")], Record(), EVALUATED, SWEEP, NOW, 24)

    assert notice.trigger == SWEEP
    assert [f.check for f in notice.findings] == ["trail.logging"]
    assert [k.check for k in notice.known] == ["trail.logging"]
    assert notice.known[0].first_seen == stamp(NOW)


def test_an_unchanged_open_finding_says_nothing_until_the_reminder_is_due() -> None:
    record = Record({"trail.logging": known("trail.logging")})

    quiet = lifecycle([found("trail.logging")], record, EVALUATED, SWEEP, NOW, 24)
    reminded = lifecycle([found("trail.logging")], record, EVALUATED, SWEEP, NOW + timedelta(hours=24), 24)
    never = lifecycle([found("trail.logging")], record, EVALUATED, SWEEP, NOW + timedelta(days=30), 0)

    assert quiet.trigger is None
    assert quiet.findings == []
    assert quiet.known[0].first_seen == record.known["trail.logging"].first_seen
    assert reminded.trigger is not None
    assert reminded.trigger.type is TriggerType.REMINDER
    assert reminded.known[0].last_notified == stamp(NOW + timedelta(hours=24))
    assert never.trigger is None


def test_a_known_finding_no_longer_found_is_resolved_and_forgotten() -> None:
    record = Record({"trail.logging": known("trail.logging"), "trail.encryption": known("trail.encryption")})

    notice = lifecycle([found("trail.encryption")], record, EVALUATED, SWEEP, NOW, 24)

    assert notice.trigger == SWEEP
    assert {f.check: f.status for f in notice.findings} == {
        "trail.encryption": Status.OPEN,
        "trail.logging": Status.RESOLVED,
    }
    assert notice.forgotten == ["trail.logging"]


def test_a_check_that_was_not_evaluated_is_not_resolved() -> None:
    record = Record({"key.cloudtrail-encrypt": known("key.cloudtrail-encrypt")})

    notice = lifecycle([], record, {"key.state"}, SWEEP, NOW, 24)

    assert notice.trigger is None
    assert notice.forgotten == []


def test_a_status_change_and_a_repair_are_changes() -> None:
    record = Record({"trail.logging": known("trail.logging"), "trail.encryption": known("trail.encryption")})
    findings = [found("trail.logging", Status.REMEDIATION_FAILED), found("trail.encryption", Status.REMEDIATED)]

    notice = lifecycle(findings, record, EVALUATED, SWEEP, NOW, 24)

    assert notice.trigger == SWEEP
    assert [k.check for k in notice.known] == ["trail.logging"]
    assert notice.forgotten == ["trail.encryption"]


@pytest.fixture
def table() -> Iterator[TableLedger]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield TableLedger(lambda: client, "state")


def test_the_table_keeps_findings_the_pending_report_and_the_writes(table: TableLedger) -> None:
    arn = "arn:aws:cloudtrail:eu-west-1:333333333333:trail/audit"
    pending = Pending(
        Trigger(TriggerType.EVENT, "e-1", "StopLogging", "arn:aws:iam::333333333333:user/x"),
        (Violation("trail.logging", "Trail audit is not logging.", {"IsLogging": False}, {"IsLogging": True}),),
        {"trail.logging": "cloudtrail:StartLogging"},
        stamp(NOW),
    )

    table.hold(arn, pending)
    assert table.count_write(arn, "2026-06-01T12") == 1
    assert table.count_write(arn, "2026-06-01T12") == 2
    table.commit(arn, [known("trail.encryption")], [], settled=False)
    record = table.load(arn)

    assert record.pending == pending
    assert record.writes == {"2026-06-01T12": 2}
    assert record.known == {"trail.encryption": known("trail.encryption")}

    table.commit(arn, [], ["trail.encryption"], settled=True)
    assert table.load(arn).known == {}
    assert table.load(arn).pending is None
