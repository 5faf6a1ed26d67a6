"""The trail checks, one by one, without AWS; and the check made before UpdateTrail sets the central key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.checks.fixtures import CONTEXT, GOOD_TRAIL, MEMBER, SETTINGS, central_key, key_policy
from trailguard.catalogue import evaluate
from trailguard.trail.facts import Trail, TrailStatus
from trailguard.trail.repairs import key_gap
from trailguard.vocabulary import ResourceType

# One trail per drift, and the one check it must fail (read by test_registry: every check has a case).
CASES: dict[str, list[Trail]] = {
    "trail.encryption": [
        replace(GOOD_TRAIL, kms_key_id=None),
        replace(GOOD_TRAIL, kms_key_id="arn:aws:kms:eu-west-1:333333333333:key/0987dcba-09fe-87dc-65ba-ab0987654321"),
        # a bare key id or alias is not trusted: it resolves in the caller's account
        replace(GOOD_TRAIL, kms_key_id="1234abcd-12ab-34cd-56ef-1234567890ab"),
        replace(GOOD_TRAIL, kms_key_id="alias/trailguard-central"),
    ],
    "trail.logging": [replace(GOOD_TRAIL, status=TrailStatus(is_logging=False))],
    "trail.log-file-validation": [replace(GOOD_TRAIL, log_file_validation=False)],
    "trail.destination": [replace(GOOD_TRAIL, s3_bucket="someone-elses-bucket")],
    "trail.delivery": [
        replace(GOOD_TRAIL, status=TrailStatus(True, delivery_error="AccessDenied")),
        replace(GOOD_TRAIL, status=TrailStatus(True, digest_delivery_error="KMS.AccessDeniedException")),
    ],
    "trail.deleted": [Trail.gone(GOOD_TRAIL.ref)],
    # the member's tag asks for an exemption: reported, never obeyed
    "trail.exemption-requested": [replace(GOOD_TRAIL, tags={"trailguard:exempt": "true"})],
}


def checks(trail: Trail) -> list[str]:
    return [violation.check for violation in evaluate(ResourceType.TRAIL, trail, CONTEXT)]


def test_compliant_trail_has_no_violation() -> None:
    assert checks(GOOD_TRAIL) == []


@pytest.mark.parametrize(("expected", "trail"), [(name, trail) for name, trails in CASES.items() for trail in trails])
def test_each_drift_is_one_violation(expected: str, trail: Trail) -> None:
    assert checks(trail) == [expected]


def test_tags_not_read_or_without_the_request_are_not_a_violation() -> None:
    assert checks(replace(GOOD_TRAIL, tags={"trailguard:exempt": "false", "team": "audit"})) == []


def test_a_single_region_trail_is_not_a_finding_by_itself() -> None:
    assert checks(replace(GOOD_TRAIL, multi_region=False)) == []


def test_status_not_yet_read_is_not_a_violation() -> None:
    assert checks(replace(GOOD_TRAIL, status=None)) == []


def test_violation_says_what_is_wrong_and_what_is_expected() -> None:
    (violation,) = evaluate(ResourceType.TRAIL, replace(GOOD_TRAIL, kms_key_id=None), CONTEXT)

    assert violation.summary == "Trail audit is not encrypted with SSE-KMS (no KMS key)."
    assert violation.observed == {"KmsKeyId": None}
    assert violation.expected == {"KmsKeyId": SETTINGS.central_key_arn}


def test_key_that_admits_the_account_has_no_gap() -> None:
    assert key_gap(replace(GOOD_TRAIL, kms_key_id=None), central_key(key_policy(MEMBER)), SETTINGS) is None


def test_key_policy_without_the_account_is_a_gap_naming_the_pattern() -> None:
    gap = key_gap(replace(GOOD_TRAIL, kms_key_id=None), central_key(key_policy("012345678901")), SETTINGS)

    assert gap is not None
    assert "arn:aws:cloudtrail:*:333333333333:trail/*" in gap


@pytest.mark.parametrize("state", ["Disabled", "PendingDeletion", "PendingImport"])
def test_key_not_enabled_is_a_gap(state: str) -> None:
    gap = key_gap(GOOD_TRAIL, central_key(state=state), SETTINGS)

    assert gap is not None
    assert state in gap


def test_key_in_another_region_than_the_bucket_is_a_gap() -> None:
    gap = key_gap(GOOD_TRAIL, central_key(bucket_region="us-east-1"), SETTINGS)

    assert gap is not None
    assert "KmsKeyNotFoundException" in gap


def test_unreadable_or_unparseable_policy_is_a_gap() -> None:
    assert key_gap(GOOD_TRAIL, central_key(""), SETTINGS) is not None
    assert key_gap(GOOD_TRAIL, central_key("{not json"), SETTINGS) is not None


def test_unreadable_key_is_a_gap() -> None:
    gap = key_gap(GOOD_TRAIL, central_key(state=None), SETTINGS)

    assert gap is not None
    assert "could not be read" in gap
