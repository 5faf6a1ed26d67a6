"""The trail checks, one by one, without AWS."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.checks.fixtures import CONTEXT, GOOD_TRAIL, SETTINGS
from trailguard.catalogue import evaluate
from trailguard.trail.facts import Trail, TrailStatus
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
