"""What people do to an organization's audit trail, and what TrailGuard must answer to each.

Each scenario makes a real change in the simulated organization (with the actor's own account), then
delivers the CloudTrail event that change produces (a sample from events/) to the stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.org import CENTRAL, MANAGEMENT, MEMBER_A, MEMBER_B, OTHER, SimulatedOrg, central_key_policy

Setup = Callable[[SimulatedOrg], None]


@dataclass(frozen=True)
class Scenario:
    title: str
    setup: Setup
    event: str
    expect: str  # the handler's result: remediated, open, remediation_failed, compliant, exempt, ignored
    settings: dict[str, str] = field(default_factory=dict)
    teardown: Setup | None = None
    trail_name: str | None = None  # deliver the sample as if it named this trail instead of audit-trail
    # What real AWS refuses and moto accepts, as (operation, error code, message): injected for this scenario.
    refusals: tuple[tuple[str, str, str], ...] = ()


def _trail(account: str, name: str, region: str = "eu-west-1", **options: object) -> Setup:
    def setup(org: SimulatedOrg) -> None:
        org.create_trail(account, name, region, **options)  # type: ignore[arg-type]

    return setup


def _remove_key(org: SimulatedOrg) -> None:
    arn = f"arn:aws:cloudtrail:eu-west-1:{MEMBER_A}:trail/audit-trail"
    org.client("cloudtrail", MEMBER_A).update_trail(Name=arn, KmsKeyId="")


def _stop_logging(org: SimulatedOrg) -> None:
    org.client("cloudtrail", MEMBER_A).stop_logging(Name="audit-trail")


def _other_key(org: SimulatedOrg) -> None:
    org.client("cloudtrail", MEMBER_A).update_trail(
        Name="audit-trail", KmsKeyId="arn:aws:kms:eu-west-1:333333333333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
    )


def _narrow_key_policy(org: SimulatedOrg) -> None:
    _other_key(org)
    policy = central_key_policy(CENTRAL, [MANAGEMENT, CENTRAL, MEMBER_B])
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))


def _restore_key_policy(org: SimulatedOrg) -> None:
    policy = central_key_policy(CENTRAL, org.accounts)
    org.client("kms", CENTRAL).put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))


def _org_trail_without_key(org: SimulatedOrg) -> None:
    arn = org.create_trail(MANAGEMENT, "org-trail", organization=True)
    org.client("cloudtrail", MANAGEMENT).update_trail(Name=arn, KmsKeyId="")


def _delete_trail(org: SimulatedOrg) -> None:
    org.client("cloudtrail", MEMBER_A).delete_trail(Name="audit-trail")


def _schedule_deletion(org: SimulatedOrg) -> None:
    org.client("kms", CENTRAL).schedule_key_deletion(KeyId=org.key_id, PendingWindowInDays=7)


def _drop_cloudtrail_grant(org: SimulatedOrg) -> None:
    kms = org.client("kms", CENTRAL)
    policy = json.loads(kms.get_key_policy(KeyId=org.key_id, PolicyName="default")["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if "kms:GenerateDataKey*" not in json.dumps(s)]
    policy["Statement"].append(
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    )
    kms.put_key_policy(KeyId=org.key_id, PolicyName="default", Policy=json.dumps(policy))


def _delete_bucket_policy(org: SimulatedOrg) -> None:
    org.client("s3", CENTRAL).delete_bucket_policy(Bucket=org.bucket)


def _aes256(org: SimulatedOrg) -> None:
    org.client("s3", CENTRAL).put_bucket_encryption(
        Bucket=org.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def _lost_events(org: SimulatedOrg) -> None:
    org.client("cloudtrail", MEMBER_B, OTHER).stop_logging(Name="audit-trail")
    org.client("kms", CENTRAL).disable_key_rotation(KeyId=org.key_id)


def _nothing(org: SimulatedOrg) -> None:
    return None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "A member creates a trail without a KMS key",
        _trail(MEMBER_A, "audit-trail", key=None),
        "trail/create_trail_no_key.json",
        "remediated",
    ),
    Scenario(
        "Another member (id with a leading zero) does the same in us-east-1",
        _trail(MEMBER_B, "audit-trail", OTHER, key=None),
        "trail/create_trail_us_east_1.json",
        "remediated",
    ),
    Scenario(
        "TrailGuard's own UpdateTrail comes back as an event",
        _nothing,
        "trail/update_trail_other_key.json",
        "compliant",
    ),
    Scenario(
        "A console user removes the key (trail named by ARN)",
        _remove_key,
        "trail/update_trail_remove_key_console.json",
        "remediated",
    ),
    Scenario("Someone stops logging", _stop_logging, "trail/stop_logging.json", "remediated"),
    Scenario(
        "The same, with TRAILGUARD_MODE=report",
        _stop_logging,
        "trail/stop_logging.json",
        "open",
        settings={"TRAILGUARD_MODE": "report"},
        teardown=lambda org: org.client("cloudtrail", MEMBER_A).start_logging(Name="audit-trail"),
    ),
    Scenario(
        "A trail the security team exempts (TRAILGUARD_EXEMPT_TRAILS) is left alone",
        _trail(MEMBER_A, "lab-trail", key=None),
        "trail/create_trail_no_key.json",
        "exempt",
        settings={"TRAILGUARD_EXEMPT_TRAILS": f"arn:aws:cloudtrail:*:{MEMBER_A}:trail/lab-*;reason=a lab"},
        trail_name="lab-trail",
    ),
    Scenario(
        "A member tags its trail trailguard:exempt=true and removes its key: repaired, the request reported",
        _trail(MEMBER_A, "tagged-trail", key=None, tags={"trailguard:exempt": "true"}),
        "trail/create_trail_no_key.json",
        "open",
        trail_name="tagged-trail",
    ),
    Scenario(
        "The central key policy stops admitting member 333333333333 (AWS refuses UpdateTrail; TrailGuard says why)",
        _narrow_key_policy,
        "trail/update_trail_other_key.json",
        "remediation_failed",
        teardown=_restore_key_policy,
        refusals=(
            (
                "UpdateTrail",
                "InsufficientEncryptionPolicyException",
                "Insufficient permissions to access S3 bucket or KMS key.",
            ),
        ),
    ),
    Scenario(
        "The organization trail loses its key (repaired through the management account)",
        _org_trail_without_key,
        "trail/update_org_trail_remove_key.json",
        "remediated",
    ),
    Scenario("A member deletes its trail", _delete_trail, "trail/delete_trail.json", "open"),
    Scenario(
        "Someone schedules the central key for deletion",
        _schedule_deletion,
        "key/schedule_key_deletion.json",
        "remediated",
    ),
    Scenario(
        "A key policy edit drops the CloudTrail grant and adds a public one (policy repair on)",
        _drop_cloudtrail_grant,
        "key/put_key_policy.json",
        "remediated",
        settings={"TRAILGUARD_REPAIR_POLICIES": "true"},
    ),
    Scenario(
        "Someone deletes the log bucket policy (policy repair off)",
        _delete_bucket_policy,
        "bucket/delete_bucket_policy.json",
        "open",
    ),
    Scenario(
        "... and with policy repair on",
        _nothing,
        "bucket/delete_bucket_policy_old_host.json",
        "remediated",
        settings={"TRAILGUARD_REPAIR_POLICIES": "true"},
    ),
    Scenario(
        "Default encryption of the log bucket is switched to AES256",
        _aes256,
        "bucket/put_bucket_encryption_aes256.json",
        "remediated",
    ),
    Scenario("A call about a key TrailGuard does not guard", _nothing, "key/put_key_policy_other_key.json", "ignored"),
    Scenario(
        "Events were lost (a region without the forwarder): the scheduled sweep finds the drift",
        _lost_events,
        "schedule/sweep.json",
        "swept",
    ),
)
