"""Plain data for the check unit tests: settings, a compliant trail, key and bucket, and policies."""

from __future__ import annotations

import json
from typing import Any

from trailguard.arns import parse_key_arn
from trailguard.bucket.facts import BLOCK_ALL, BucketState
from trailguard.context import Context
from trailguard.findings import Resource
from trailguard.key.facts import CentralKey, KeyFacts
from trailguard.organization import Scope
from trailguard.settings import Settings
from trailguard.trail.facts import Trail, TrailStatus

CENTRAL = "222222222222"
MEMBER = "333333333333"
OUTSIDER = "999999999999"
KEY = f"arn:aws:kms:eu-west-1:{CENTRAL}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = parse_key_arn(KEY)
assert KEY_ARN is not None
BUCKET = f"trailguard-central-logs-{CENTRAL}"
SETTINGS = Settings.from_env(
    {
        "TRAILGUARD_CENTRAL_KEY_ARN": KEY,
        "TRAILGUARD_LOG_BUCKET": BUCKET,
        "TRAILGUARD_TOPIC_ARN": f"arn:aws:sns:eu-west-1:{CENTRAL}:findings",
    }
)
GOOD_TRAIL = Trail(
    Resource.trail(f"arn:aws:cloudtrail:eu-west-1:{MEMBER}:trail/audit"),
    "eu-west-1",
    kms_key_id=KEY,
    log_file_validation=True,
    multi_region=True,
    s3_bucket=BUCKET,
    status=TrailStatus(is_logging=True),
)
ORGANIZATION = (CENTRAL, MEMBER)  # the accounts of SCOPE: the key and bucket must admit both
SCOPE = Scope(frozenset(ORGANIZATION), (GOOD_TRAIL,))
CONTEXT = Context(SETTINGS, SCOPE, "eu-west-1")

ADMIN = {
    "Sid": "admin",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def key_policy(*accounts: str, describe: bool = True, extra: list[dict[str, Any]] | None = None) -> str:
    statements: list[dict[str, Any]] = [
        ADMIN,
        {
            "Sid": "encrypt",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": [f"arn:aws:cloudtrail:*:{a}:trail/*" for a in accounts]
                }
            },
        },
    ]
    if describe:
        statements.append(
            {
                "Sid": "describe",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements + (extra or [])})


def central_key(
    policy: str | None = None,
    *,
    state: str | None = "Enabled",
    rotation: bool | None = True,
    bucket_region: str | None = "eu-west-1",
) -> CentralKey:
    text = key_policy(*ORGANIZATION) if policy is None else policy
    return CentralKey(KeyFacts(KEY_ARN, state, "SYMMETRIC_DEFAULT", rotation, text), bucket_region)  # type: ignore[arg-type]


def bucket_policy(*accounts: str, tls: bool = True, extra: list[dict[str, Any]] | None = None) -> str:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "acl",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{BUCKET}",
        },
        {
            "Sid": "write",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": [f"arn:aws:s3:::{BUCKET}/AWSLogs/{a}/*" for a in accounts],
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
        },
    ]
    if tls:
        statements.append(
            {
                "Sid": "tls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements + (extra or [])})


def bucket(**changes: Any) -> BucketState:
    values: dict[str, Any] = {
        "name": BUCKET,
        "account": CENTRAL,
        "region": "eu-west-1",
        "policy": bucket_policy(*ORGANIZATION),
        "encryption": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}},
        "versioning": "Enabled",
        "public_access_block": dict(BLOCK_ALL),
        "public_acl_grants": (),
    }
    values.update(changes)
    return BucketState(**values)
