"""``python -m trailguard policy key|bucket``: JSON on stdout that passes the analyzer; errors: one line."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.policy.policy_testkit import CENTRAL, CORPUS, KEY_ARN, MEMBER, MGMT, ORG_ID, ZERO, trail
from trailguard.cli import main
from trailguard.policy import (
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    parse_policy,
    principal_may_decrypt,
    public_grants,
)

READER = f"arn:aws:iam::{CENTRAL}:role/LogReader"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, list[str]]:
    """Run the command; return the exit code, the parsed stdout (None when empty) and the stderr lines."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err.splitlines()


def test_key_policy_passes_every_question_for_every_account(capsys: pytest.CaptureFixture[str]) -> None:
    # Given an organization with a management account and two members with their own trails
    code, policy, err = run(
        capsys, "policy", "key", "--key-account", CENTRAL, "--key-arn", KEY_ARN, "--management-account", MGMT,
        "--org-id", ORG_ID, "--trail-account", MEMBER, "--trail-account", ZERO, "--log-reader", READER,
    )  # fmt: skip
    # Then the printed key policy lets CloudTrail encrypt and describe for each, and the reader decrypt
    assert (code, err) == (0, [])
    doc = parse_policy(policy)
    for account in (MGMT, MEMBER, ZERO):
        assert cloudtrail_may_encrypt(doc, KEY_ARN, trail(account, "any")).allowed
        assert cloudtrail_may_describe(doc, KEY_ARN, trail(account, "any")).allowed
    assert principal_may_decrypt(doc, KEY_ARN, READER, trail(MEMBER)).allowed
    assert public_grants(doc, KEY_ARN) == []


def test_bucket_policy_passes_every_question_for_every_account(capsys: pytest.CaptureFixture[str]) -> None:
    code, policy, err = run(
        capsys, "policy", "bucket", "--bucket", "central-logs", "--prefix", "org",
        "--management-account", MGMT,
        "--org-id", ORG_ID, "--trail-account", MEMBER,
    )  # fmt: skip
    assert (code, err) == (0, [])
    doc = parse_policy(policy)
    org_trail = trail(MGMT, "org")
    for account in (MGMT, MEMBER):
        assert cloudtrail_may_get_bucket_acl(doc, "central-logs", trail(account)).allowed
        own_key = cloudtrail_object_key(account, prefix="org")
        assert cloudtrail_may_put_object(doc, "central-logs", own_key, trail(account)).allowed
        org_key = cloudtrail_object_key(account, ORG_ID, "org")
        assert cloudtrail_may_put_object(doc, "central-logs", org_key, org_trail).allowed


def test_merge_prints_the_repaired_policy_and_the_changes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given the console's default key policy in a file
    existing = CORPUS / "kms_console_default.json"
    # When it is merged for the account's trails
    code, policy, err = run(
        capsys, "policy", "key", "--key-account", MEMBER, "--trail-account", MEMBER, "--merge", str(existing)
    )
    # Then the repaired policy serves new trails and stderr lists the change
    assert code == 0
    assert cloudtrail_may_encrypt(parse_policy(policy), KEY_ARN, trail(MEMBER, "new")).allowed
    assert err == [
        'trailguard: added statement "TrailGuardCloudTrailEncrypt": '
        "CloudTrail may encrypt log files of trails "
        f"in account {MEMBER}"
    ]


def test_merge_warns_about_repeated_keys(capsys: pytest.CaptureFixture[str]) -> None:
    existing = CORPUS / "s3_guide_duplicate_lost_org_pin.json"
    code, policy, err = run(
        capsys,
        "policy",
        "bucket",
        "--bucket",
        "central-trail-logs",
        "--trail-account",
        MEMBER,
        "--merge",
        str(existing),
    )
    assert code == 0
    assert err[0].startswith(f"trailguard: warning: {existing}: statement #2")
    assert any(line.startswith("trailguard: removed OrganizationMayReadTaggedLogs") for line in err)
    assert policy is not None


def test_merge_of_a_policy_that_already_serves_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    code, policy, _ = run(capsys, "policy", "key", "--key-account", CENTRAL, "--management-account", MGMT)
    path.write_text(json.dumps(policy))
    code, again, err = run(
        capsys, "policy", "key", "--key-account", CENTRAL, "--management-account", MGMT, "--merge", str(path)
    )
    assert (code, again) == (0, policy)
    assert err == ["trailguard: the existing policy already serves; nothing to change"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["policy", "key", "--key-account", "12345", "--trail-account", MEMBER],
            "'12345' is not a 12-digit AWS account id",
        ),
        (["policy", "key", "--key-account", CENTRAL, "--trail-account", "1e11"], "'1e11' is not a 12-digit"),
        (
            [
                "policy",
                "key",
                "--key-account",
                CENTRAL,
                "--management-account",
                MGMT,
                "--org-id",
                "o-UPPER12345",
            ],
            "not an organization id",
        ),
        (
            ["policy", "key", "--key-account", CENTRAL, "--org-id", ORG_ID, "--trail-account", MEMBER],
            "needs the management account",
        ),
        (["policy", "key", "--key-account", CENTRAL], "nothing to grant"),
        (
            ["policy", "key", "--key-account", CENTRAL, "--trail-account", MEMBER, "--log-reader", "bob"],
            "log reader must be",
        ),
        (
            ["policy", "key", "--key-account", CENTRAL, "--trail-account", MEMBER, "--key-arn", "alias/x"],
            "not a KMS key ARN",
        ),
        (["policy", "key", "--trail-account", MEMBER], "the following arguments are required: --key-account"),
        (
            ["policy", "bucket", "--bucket", "Bad_Name", "--trail-account", MEMBER],
            "bucket must be an S3 bucket name",
        ),
        (["policy", "bucket", "--trail-account", MEMBER], "required: --bucket"),
        (["policy"], "required: kind"),
        ([], "required: command"),
        (
            [
                "policy",
                "key",
                "--key-account",
                CENTRAL,
                "--trail-account",
                MEMBER,
                "--merge",
                "/nonexistent/p.json",
            ],
            "cannot read /nonexistent/p.json",
        ),
        (
            ["policy", "key", "--key-account", CENTRAL, "--trail-account", MEMBER, "--bogus"],
            "unrecognized arguments: --bogus",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    # Given bad input, When the command runs, Then it exits 2, one clear line on stderr, nothing on stdout
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out is None
    assert len(err) == 1, err
    assert message in err[0]
    assert "Traceback" not in err[0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"Statement": [{"Effect": "Maybe"}]}', '"Effect" must be "Allow" or "Deny"'),
        ("", "the policy is empty"),
    ],
)
def test_a_bad_merge_file_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "existing.json"
    path.write_text(content)
    code, out, err = run(
        capsys, "policy", "key", "--key-account", CENTRAL, "--trail-account", MEMBER, "--merge", str(path)
    )
    assert (code, out, len(err)) == (2, None, 1)
    assert err[0].startswith(f"trailguard: error: {path}: ")
    assert message in err[0]


def test_a_refused_merge_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    existing = CORPUS / "kms_deny_outside_org_blocks_cloudtrail.json"
    code, out, err = run(
        capsys,
        "policy",
        "key",
        "--key-account",
        CENTRAL,
        "--management-account",
        MGMT,
        "--merge",
        str(existing),
    )
    assert (code, out, len(err)) == (2, None, 1)
    assert err[0].startswith("trailguard: error: refusing to repair the key policy: ")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "key", "--help"]) == 0
    assert "--key-account" in capsys.readouterr().out


def test_python_dash_m_trailguard_runs_the_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the command line of `python -m trailguard ...`
    argv = ["trailguard", "policy", "key", "--key-account", CENTRAL, "--management-account", MGMT]
    monkeypatch.setattr(sys, "argv", argv)
    # When the package is run as a module, Then it exits 0 after printing the policy
    with pytest.raises(SystemExit) as done:
        runpy.run_module("trailguard", run_name="__main__")
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["Statement"][0]["Sid"] == "TrailGuardKeyAdministration"
    # And bad input exits 2
    monkeypatch.setattr(sys, "argv", ["trailguard", "policy", "key", "--key-account", "x"])
    with pytest.raises(SystemExit) as bad:
        runpy.run_module("trailguard", run_name="__main__")
    assert bad.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_catalogue_command_prints_the_readme_table(capsys: pytest.CaptureFixture[str]) -> None:
    from trailguard.catalogue import markdown_table

    assert main(["catalogue"]) == 0
    assert capsys.readouterr().out.strip() == markdown_table()
