"""The finding message (docs/findings.md) and the catalogue it reads."""

from __future__ import annotations

import json
from pathlib import Path

from harness import docs
from trailguard.catalogue import markdown_table, registered
from trailguard.findings import Finding, Report, Resource, Status, Trigger
from trailguard.publisher import structured
from trailguard.vocabulary import ResourceType, TriggerType

RESOURCE = Resource(
    ResourceType.TRAIL, "arn:aws:cloudtrail:eu-west-1:333333333333:trail/audit", "333333333333", "eu-west-1", "audit"
)
TRIGGER = Trigger(TriggerType.EVENT, "evt-1", "UpdateTrail", "arn:aws:sts::333333333333:assumed-role/Admin/jane")
ROOT = Path(__file__).resolve().parents[2]


def report(*findings: Finding, mode: str = "remediate") -> Report:
    return Report(RESOURCE, findings, TRIGGER, mode)


def make(check: str, status: Status) -> Finding:
    return Finding(check, status, f"{check} is wrong.", {"a": 1}, {"a": 2}, "x:Y", None)


def test_every_check_id_names_its_resource_type() -> None:
    assert all(check.id.startswith(f"{check.resource.value}.") for check in registered().values())


def test_readme_shows_the_catalogue_as_the_code_has_it() -> None:
    readme = (ROOT / "README.md").read_text()

    assert markdown_table() in readme, "run `make docs`"
    assert docs.readme(readme) == readme, "run `make docs`"
    assert (ROOT / "docs" / "checks.md").read_text() == docs.checks_page(), "run `make docs`"


def test_top_level_severity_is_the_highest_and_status_the_worst() -> None:
    message = report(
        make("trail.log-file-validation", Status.REMEDIATED), make("trail.encryption", Status.OPEN)
    ).to_message()

    assert message["severity"] == "HIGH"
    assert message["status"] == "OPEN"
    assert (
        report(make("trail.logging", Status.OPEN), make("trail.encryption", Status.REMEDIATION_FAILED)).status
        is Status.REMEDIATION_FAILED
    )
    assert report(make("trail.logging", Status.REMEDIATED)).status is Status.REMEDIATED


def test_message_has_every_contract_key() -> None:
    message = json.loads(json.dumps(report(make("trail.encryption", Status.REMEDIATED)).to_message()))

    assert message["schema"] == "trailguard.finding/1"
    assert set(message) >= {"schema", "resource", "severity", "status", "mode", "findings", "trigger", "time"}
    assert set(message["resource"]) == {"type", "arn", "account", "region"}
    item = message["findings"][0]
    assert set(item) >= {"check", "severity", "status", "summary", "observed", "expected", "remediation", "compliance"}
    assert set(item["remediation"]) == {"action", "error"}
    assert set(message["trigger"]) == {"type", "event_id", "event_name", "actor"}
    assert message["time"].endswith("Z")


def test_subject_is_one_short_line_and_attributes_allow_filtering() -> None:
    many = report(*(make(check, Status.OPEN) for check in sorted(registered()) if check.startswith("trail.")))

    assert len(many.subject()) < 100
    assert "\n" not in many.subject()
    attributes = many.attributes()
    assert attributes["checks"]["DataType"] == "String.Array"
    assert json.loads(attributes["checks"]["StringValue"])[0].startswith("trail.")
    assert {name: value["StringValue"] for name, value in attributes.items() if name != "checks"} == {
        "severity": "HIGH",
        "status": "OPEN",
        "account": "333333333333",
        "resource_type": "trail",
    }


def test_text_says_what_where_who_and_what_was_done() -> None:
    text = report(make("trail.encryption", Status.REMEDIATED)).text()

    assert "audit" in text
    assert "333333333333" in text
    assert "eu-west-1" in text
    assert "UpdateTrail by arn:aws:sts::333333333333:assumed-role/Admin/jane" in text
    assert "repaired" in text


def test_email_subscribers_read_text_and_machines_the_json_document() -> None:
    texts = structured(report(make("trail.encryption", Status.REMEDIATED)))

    assert json.loads(texts["default"]) == json.loads(texts["sqs"]) == json.loads(texts["lambda"])
    assert json.loads(texts["https"])["schema"] == "trailguard.finding/1"
    email = texts["email"]
    assert not email.lstrip().startswith("{")
    assert "Where: trail audit, account 333333333333, eu-west-1" in email
    assert "Who:   UpdateTrail by arn:aws:sts::333333333333:assumed-role/Admin/jane" in email
    assert "console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/trails/arn%3Aaws%3Acloudtrail" in email


def test_the_chat_format_is_a_chatbot_custom_notification() -> None:
    texts = structured(report(make("trail.encryption", Status.OPEN)), chat=True)
    chat = json.loads(texts["https"])

    assert chat["version"] == "1.0"
    assert chat["source"] == "custom"
    assert chat["content"]["textType"] == "client-markdown"
    assert "trail.encryption" in chat["content"]["description"]
    assert json.loads(texts["sqs"])["schema"] == "trailguard.finding/1"


def test_a_message_of_resolved_findings_is_resolved() -> None:
    assert report(make("trail.logging", Status.RESOLVED)).status is Status.RESOLVED
    assert report(make("trail.logging", Status.RESOLVED), make("trail.encryption", Status.OPEN)).status is Status.OPEN
