"""bench-peers adapters: each tool's output read into verdicts on the shared questions (no tool installed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.peer_org import PeerOrg
from bench.peers import PeerFailed, _installed, audit_failure, parse_audit, read_custodian_outputs
from bench.truth import Question, Verdict
from bench.verdicts import (
    OutputError,
    audit_items,
    custodian_shadow_rows,
    custodian_verdicts,
    prowler_duplicate_rows,
    prowler_findings,
    prowler_verdicts,
    trailguard_verdicts,
)

A = "333333333333"
REGIONS = ("eu-west-1", "us-east-1")
GLOBAL = f"arn:aws:cloudtrail:eu-west-1:{A}:trail/global"  # multi-region: a shadow in us-east-1
LOCAL = f"arn:aws:cloudtrail:us-east-1:{A}:trail/local"
PASS, FAIL = Verdict.PASS, Verdict.FAIL


def trail(arn: str) -> dict[str, Any]:
    return {"TrailARN": arn, "Name": arn.rsplit("/", 1)[1]}


# --- Cloud Custodian ---------------------------------------------------------------------------------------

CUSTODIAN_RUN = {
    (A, "eu-west-1", "trail-inventory"): [trail(GLOBAL)],
    (A, "us-east-1", "trail-inventory"): [trail(LOCAL)],
    (A, "eu-west-1", "trail-inventory-with-shadows"): [trail(GLOBAL)],
    (A, "us-east-1", "trail-inventory-with-shadows"): [trail(GLOBAL), trail(LOCAL)],
    (A, "eu-west-1", "trail-no-kms-key"): [],
    (A, "us-east-1", "trail-no-kms-key"): [trail(LOCAL)],
    (A, "eu-west-1", "trail-not-logging"): [trail(GLOBAL)],
    (A, "eu-west-1", "account-not-recorded"): [],
}


def test_custodian_a_trail_seen_and_not_listed_by_a_policy_passes_it() -> None:
    verdicts = custodian_verdicts(CUSTODIAN_RUN, REGIONS)
    assert verdicts[LOCAL, Question.ENCRYPTED] is FAIL
    assert verdicts[GLOBAL, Question.ENCRYPTED] is PASS
    assert verdicts[GLOBAL, Question.LOGGING] is FAIL
    assert verdicts[LOCAL, Question.LOGGING] is PASS
    # a policy whose output is absent for a region lists nothing there: its trails pass
    assert verdicts[GLOBAL, Question.VALIDATION] is PASS


def test_custodian_account_policy_runs_once_and_speaks_for_every_region() -> None:
    verdicts = custodian_verdicts(CUSTODIAN_RUN, REGIONS)
    assert verdicts[f"{A}/eu-west-1", Question.COVERAGE] is PASS
    assert verdicts[f"{A}/us-east-1", Question.COVERAGE] is PASS
    reported = {**CUSTODIAN_RUN, (A, "eu-west-1", "account-not-recorded"): [{"account_id": A}]}
    assert custodian_verdicts(reported, REGIONS)[f"{A}/us-east-1", Question.COVERAGE] is FAIL


def test_custodian_without_is_shadow_reports_a_multi_region_trail_in_each_region() -> None:
    assert custodian_shadow_rows(CUSTODIAN_RUN) == (3, 2)


def test_custodian_output_is_read_from_account_region_policy_folders(tmp_path: Path) -> None:
    folder = tmp_path / A / "us-east-1" / "trail-no-kms-key"
    folder.mkdir(parents=True)
    (folder / "resources.json").write_text(json.dumps([trail(LOCAL)]))
    (folder / "metadata.json").write_text("{}")
    assert read_custodian_outputs(tmp_path) == {(A, "us-east-1", "trail-no-kms-key"): [trail(LOCAL)]}


def test_custodian_trail_without_arn_is_an_output_error() -> None:
    with pytest.raises(OutputError, match="TrailARN"):
        custodian_verdicts({(A, "eu-west-1", "trail-inventory"): [{"Name": "x"}]}, REGIONS)


# --- Prowler -----------------------------------------------------------------------------------------------


def ocsf(check: str, status: str, resource: str, region: str, account: str = A) -> dict[str, Any]:
    """The fields of a Prowler json-ocsf finding this adapter reads (the real ones carry many more)."""
    return {
        "metadata": {"event_code": check, "product": {"name": "Prowler"}},
        "status_code": status,
        "resources": [{"uid": resource, "region": region}],
        "cloud": {"account": {"uid": account}, "region": region},
    }


PROWLER_RUN = [
    ocsf("cloudtrail_kms_encryption_enabled", "PASS", GLOBAL, "eu-west-1"),
    ocsf("cloudtrail_kms_encryption_enabled", "FAIL", LOCAL, "us-east-1"),
    ocsf("cloudtrail_log_file_validation_enabled", "PASS", GLOBAL, "eu-west-1"),
    ocsf("cloudtrail_log_file_validation_enabled", "MANUAL", LOCAL, "us-east-1"),
    ocsf("cloudtrail_multi_region_enabled", "PASS", GLOBAL, "eu-west-1"),
    ocsf("cloudtrail_multi_region_enabled", "FAIL", f"arn:aws:cloudtrail:us-east-1:{A}:trail", "us-east-1"),
]


def test_prowler_encryption_check_answers_both_encryption_questions() -> None:
    verdicts = prowler_verdicts(prowler_findings(PROWLER_RUN))
    assert verdicts[GLOBAL, Question.CENTRAL_KEY] is verdicts[GLOBAL, Question.ENCRYPTED] is PASS
    assert verdicts[LOCAL, Question.CENTRAL_KEY] is verdicts[LOCAL, Question.ENCRYPTED] is FAIL


def test_prowler_coverage_is_judged_per_region_of_the_finding() -> None:
    verdicts = prowler_verdicts(prowler_findings(PROWLER_RUN))
    assert verdicts[f"{A}/eu-west-1", Question.COVERAGE] is PASS
    assert verdicts[f"{A}/us-east-1", Question.COVERAGE] is FAIL


def test_prowler_manual_is_no_verdict_and_a_failing_duplicate_wins() -> None:
    findings = prowler_findings(
        [*PROWLER_RUN, ocsf("cloudtrail_log_file_validation_enabled", "FAIL", GLOBAL, "us-east-1")]
    )
    verdicts = prowler_verdicts(findings)
    assert (LOCAL, Question.VALIDATION) not in verdicts
    assert verdicts[GLOBAL, Question.VALIDATION] is FAIL
    assert prowler_duplicate_rows(findings) == (5, 4)


def test_prowler_finding_without_its_check_id_is_an_output_error() -> None:
    with pytest.raises(OutputError, match="metadata"):
        prowler_findings([{"status_code": "PASS"}])


# --- TrailGuard --------------------------------------------------------------------------------------------


def test_trailguard_reports_failures_only_so_a_silent_resource_passes() -> None:
    items = audit_items(
        [
            {"resource_arn": LOCAL, "check_id": "trail.encryption", "status": "OPEN", "severity": "HIGH"},
            {"resource_arn": f"arn:aws::us-east-1:{A}:account", "check_id": "account.coverage", "status": "OPEN"},
        ]
    )
    verdicts = trailguard_verdicts(items, [GLOBAL, LOCAL], [A], REGIONS)
    assert verdicts[LOCAL, Question.CENTRAL_KEY] is verdicts[LOCAL, Question.ENCRYPTED] is FAIL
    assert verdicts[GLOBAL, Question.CENTRAL_KEY] is PASS
    assert verdicts[LOCAL, Question.LOGGING] is PASS
    assert verdicts[f"{A}/us-east-1", Question.COVERAGE] is FAIL  # region read from the ARN
    assert verdicts[f"{A}/eu-west-1", Question.COVERAGE] is PASS
    assert (GLOBAL, Question.MULTI_REGION) not in verdicts  # not a TrailGuard question


def test_trailguard_account_finding_without_region_covers_every_region() -> None:
    items = audit_items(
        {"findings": [{"resource": {"arn": f"arn:aws:::{A}:account", "account": A}, "check": "account.coverage",
                       "status": "FAIL", "severity": "CRITICAL"}]}
    )  # fmt: skip
    verdicts = trailguard_verdicts(items, [], [A], REGIONS)
    assert {verdicts[f"{A}/{r}", Question.COVERAGE] for r in REGIONS} == {FAIL}


def test_trailguard_account_finding_names_the_regions_it_spans() -> None:
    # Given the audit's JSON shape for an account finding: region null, the uncovered regions named
    items = audit_items(
        [{"resource_arn": f"arn:aws:iam::{A}:root", "account": A, "region": None, "regions": ["us-east-1"],
          "check_id": "account.coverage", "status": "OPEN", "severity": "CRITICAL"}]
    )  # fmt: skip
    verdicts = trailguard_verdicts(items, [], [A], REGIONS)
    # Then only the named region fails; a region the finding does not name passes
    assert verdicts[f"{A}/us-east-1", Question.COVERAGE] is FAIL
    assert verdicts[f"{A}/eu-west-1", Question.COVERAGE] is PASS
    with pytest.raises(OutputError, match="regions is not a list"):
        audit_items([{"arn": LOCAL, "check": "account.coverage", "status": "OPEN", "regions": "us-east-1"}])


def test_trailguard_listing_passes_makes_an_absent_resource_unseen() -> None:
    items = audit_items([{"arn": GLOBAL, "check": "trail.logging", "status": "PASS", "severity": "HIGH"}])
    verdicts = trailguard_verdicts(items, [GLOBAL, LOCAL], [A], REGIONS)
    assert verdicts[GLOBAL, Question.LOGGING] is PASS
    assert verdicts[LOCAL, Question.LOGGING] is Verdict.NOT_SEEN


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"error": "x"}, "expected a list"),
        (["trail"], "expected an object"),
        ([{"check": "trail.logging", "status": "OPEN"}], "without resource"),
        ([{"arn": LOCAL, "check": "trail.logging", "status": "MAYBE"}], "not understood"),
    ],
)
def test_trailguard_output_of_another_shape_is_an_output_error(document: Any, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        trailguard_verdicts(audit_items(document), [LOCAL], [A], REGIONS)


def test_trailguard_without_an_audit_command_is_reported_as_not_available() -> None:
    stderr = "trailguard: error: argument command: invalid choice: 'audit' (choose from 'policy', 'catalogue')"
    assert audit_failure(2, stderr) == "trailguard audit not available (this TrailGuard has no audit command yet)"
    assert audit_failure(2, "Traceback ...\nKeyError: 'x'\n") == "trailguard audit exited 2: KeyError: 'x'"


# --- environments ------------------------------------------------------------------------------------------


def test_a_peer_that_did_not_install_is_reported_with_pips_reason(tmp_path: Path) -> None:
    venv = tmp_path / ".venv-prowler"
    (venv / "bin").mkdir(parents=True)
    with pytest.raises(PeerFailed, match=r"is not installed in \.venv-prowler"):
        _installed(venv, "prowler", "prowler")
    (venv / "install.log").write_text("Collecting prowler\nERROR: No matching distribution found for prowler\n")
    with pytest.raises(PeerFailed, match="pip said 'ERROR: No matching distribution found for prowler'"):
        _installed(venv, "prowler", "prowler")
    (venv / "bin" / "prowler").write_text("")
    (venv / ".installed").write_text("")
    assert _installed(venv, "prowler", "prowler") == venv / "bin" / "prowler"


def test_trailguard_audit_output_is_parsed_and_its_exit_code_checked() -> None:
    org = PeerOrg(endpoint="http://127.0.0.1:1", key_arn="arn:aws:kms:eu-west-1:222222222222:key/k", topic_arn="t")
    stopped = next(spec for spec in org.trails if not spec.logging)
    stdout = json.dumps(
        [{"resource_arn": stopped.arn, "check_id": "trail.logging", "status": "OPEN", "severity": "HIGH"}]
    )
    verdicts, notes = parse_audit(stdout, 1, org)
    assert verdicts[stopped.arn, Question.LOGGING] is FAIL
    assert notes == []
    # exit 0 means clean: printing a finding with it is reported
    assert parse_audit(stdout, 0, org)[1] == ["exit code 0 does not match the findings printed (1 items)"]
    with pytest.raises(OutputError, match="printed no JSON"):
        parse_audit("Traceback (most recent call last):", 1, org)
