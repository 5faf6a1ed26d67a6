"""ARNs and account ids as AWS writes them. Account ids stay twelve-digit strings, leading zeros kept."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trailguard.policy import ids
from trailguard.policy.errors import PolicyInputError
from trailguard.policy.ids import PROBE_TRAIL_NAME, TrailArn

# Identifier patterns, matched whole (`fullmatch`). Account, organization, bucket and partition patterns are the
# policy package's own (trailguard.policy.ids), so that the analyzer and the settings agree.
ACCOUNT_ID = ids.ACCOUNT_ID
ORG_ID = ids.ORG_ID
BUCKET_NAME = ids.BUCKET_NAME
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
RULE_NAME = re.compile(r"[\.\-_A-Za-z0-9]{1,64}")
BUS_ARN = re.compile(r"arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\.\-_A-Za-z0-9/]{1,256}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
QUEUE_URL = re.compile(r"https?://[A-Za-z0-9.:-]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?")
_KEY_ID = re.compile(r"(mrk-)?[0-9a-fA-F-]{32,36}")
PROBE_TRAIL = PROBE_TRAIL_NAME  # the trail name TrailGuard asks a policy about when no real trail is known


@dataclass(frozen=True, slots=True)
class KeyArn:
    arn: str
    partition: str
    region: str
    account: str
    key_id: str

    @property
    def multi_region(self) -> bool:
        return self.key_id.startswith("mrk-")


def parse_key_arn(value: str) -> KeyArn | None:
    """A full KMS key ARN (the policy package's parser), with a key id as KMS writes it; None otherwise."""
    try:
        arn = ids.parse_key_arn(value)
    except PolicyInputError:
        return None
    key_id = arn.resource.removeprefix("key/")
    if _KEY_ID.fullmatch(key_id) is None:
        return None
    return KeyArn(value, arn.partition, arn.region, arn.account, key_id)


def parse_trail_arn(value: str) -> TrailArn | None:
    """The parts of a trail ARN, or None when the value is not one (e.g. a bare trail name)."""
    try:
        return ids.parse_trail_arn(value)
    except PolicyInputError:
        return None


def trail_arn(partition: str, region: str, account: str, name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account}:trail/{name}"


def probe_trail_arn(key: KeyArn, account: str) -> str:
    """A trail ARN of `account` in the key's region, to ask a policy whether that account's trails are admitted."""
    return trail_arn(key.partition, key.region, account, PROBE_TRAIL)


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def same_key(reference: str | None, central: KeyArn) -> bool:
    """True when a trail's KmsKeyId designates the central key.

    Real AWS returns the full key ARN; only an exact ARN match is trusted, because a bare key id
    or alias resolves in the caller's account and region, not necessarily to the central key.
    """
    return reference is not None and reference == central.arn


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def bucket_region(location_constraint: str | None) -> str:
    """GetBucketLocation's LocationConstraint as a region name (null means us-east-1, EU means eu-west-1)."""
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location_constraint, location_constraint or "")


def organizations_region(partition: str) -> str:
    """Organizations is a global service, served from one region per partition."""
    return {"aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-west-1"}.get(partition, "us-east-1")
