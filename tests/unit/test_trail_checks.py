"""The pure trail checks and the key-admission gate."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from trailguard.arns import parse_key_arn
from trailguard.centralkey import KeyFacts
from trailguard.settings import Settings
from trailguard.trail import Trail, TrailRef, TrailStatus
from trailguard.trail_checks import evaluate_trail, key_gap

KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "trailguard-central-logs-222222222222"
SETTINGS = Settings.from_env(
    {
        "TRAILGUARD_CENTRAL_KEY_ARN": KEY,
        "TRAILGUARD_LOG_BUCKET": BUCKET,
        "TRAILGUARD_TOPIC_ARN": "arn:aws:sns:eu-west-1:222222222222:findings",
    }
)
REF = TrailRef("arn:aws:cloudtrail:eu-west-1:333333333333:trail/audit", "333333333333", "eu-west-1", "audit")
GOOD = Trail(REF, "eu-west-1", KEY, True, True, False, BUCKET, TrailStatus(is_logging=True))


def checks(trail: Trail) -> list[str]:
    return [violation.check for violation in evaluate_trail(trail, SETTINGS)]


def test_compliant_trail_has_no_violation() -> None:
    assert checks(GOOD) == []


@pytest.mark.parametrize(
    ("trail", "expected"),
    [
        (replace(GOOD, kms_key_id=None), ["trail.encryption"]),
        (
            replace(GOOD, kms_key_id="arn:aws:kms:eu-west-1:333333333333:key/0987dcba-09fe-87dc-65ba-ab0987654321"),
            ["trail.encryption"],
        ),
        # a bare key id or alias is not trusted: it resolves in the caller's account
        (replace(GOOD, kms_key_id="1234abcd-12ab-34cd-56ef-1234567890ab"), ["trail.encryption"]),
        (replace(GOOD, kms_key_id="alias/trailguard-central"), ["trail.encryption"]),
        (replace(GOOD, status=TrailStatus(is_logging=False)), ["trail.logging"]),
        (replace(GOOD, log_file_validation=False), ["trail.log-file-validation"]),
        (replace(GOOD, multi_region=False), ["trail.multi-region"]),
        (replace(GOOD, s3_bucket="someone-elses-bucket"), ["trail.destination"]),
        (replace(GOOD, status=TrailStatus(True, delivery_error="AccessDenied")), ["trail.delivery"]),
        (
            replace(GOOD, status=TrailStatus(True, digest_delivery_error="KMS.AccessDeniedException")),
            ["trail.delivery"],
        ),
    ],
)
def test_each_drift_is_one_violation(trail: Trail, expected: list[str]) -> None:
    assert checks(trail) == expected


def facts(policy: dict[str, object] | None, *, state: str = "Enabled", bucket_region: str = "eu-west-1") -> KeyFacts:
    key = parse_key_arn(KEY)
    assert key is not None
    return KeyFacts(key, state, "SYMMETRIC_DEFAULT", True, json.dumps(policy) if policy else None, bucket_region)


def encrypt_policy(*accounts: str) -> dict[str, object]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "admin",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "encrypt",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": [
                            f"arn:aws:cloudtrail:*:{a}:trail/*" for a in accounts
                        ]
                    }
                },
            },
        ],
    }


def test_key_that_admits_the_account_has_no_gap() -> None:
    assert key_gap(replace(GOOD, kms_key_id=None), facts(encrypt_policy("333333333333")), SETTINGS) is None


def test_key_policy_without_the_account_is_a_gap_naming_the_pattern() -> None:
    gap = key_gap(replace(GOOD, kms_key_id=None), facts(encrypt_policy("012345678901")), SETTINGS)

    assert gap is not None
    assert "arn:aws:cloudtrail:*:333333333333:trail/*" in gap


@pytest.mark.parametrize("state", ["Disabled", "PendingDeletion", "PendingImport"])
def test_key_not_enabled_is_a_gap(state: str) -> None:
    gap = key_gap(GOOD, facts(encrypt_policy("333333333333"), state=state), SETTINGS)

    assert gap is not None
    assert state in gap


def test_key_in_another_region_than_the_bucket_is_a_gap() -> None:
    gap = key_gap(GOOD, facts(encrypt_policy("333333333333"), bucket_region="us-east-1"), SETTINGS)

    assert gap is not None
    assert "KmsKeyNotFoundException" in gap


def test_unreadable_policy_is_a_gap() -> None:
    assert key_gap(GOOD, facts(None), SETTINGS) is not None
