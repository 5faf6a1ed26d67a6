"""Facts about the central key that trail repairs depend on, cached for a few minutes per warm container."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from trailguard.arns import KeyArn
from trailguard.observability import logger
from trailguard.sessions import SessionFactory, error_code, error_message, is_transient

CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class KeyFacts:
    key: KeyArn
    state: str | None  # Enabled, Disabled, PendingDeletion, ... None when unreadable
    key_spec: str | None
    policy: str | None  # the key policy JSON, as KMS returns it
    bucket_region: str | None  # region of the central log bucket
    problems: tuple[str, ...] = ()  # what could not be read, and why

    @property
    def enabled(self) -> bool:
        return self.state == "Enabled"


_CACHE: dict[tuple[str, str], tuple[float, KeyFacts]] = {}


def forget() -> None:
    """Drop cached facts: the key guard calls this when the key changes, tests between cases."""
    _CACHE.clear()


def key_facts(sessions: SessionFactory, key: KeyArn, bucket: str, *, now: float | None = None) -> KeyFacts:
    stamp = time.monotonic() if now is None else now
    cached = _CACHE.get((key.arn, bucket))
    if cached is not None and stamp - cached[0] < CACHE_SECONDS:
        return cached[1]
    facts = read_key_facts(sessions, key, bucket)
    _CACHE[(key.arn, bucket)] = (stamp, facts)
    return facts


def read_key_facts(sessions: SessionFactory, key: KeyArn, bucket: str) -> KeyFacts:
    """DescribeKey, GetKeyPolicy (only the key's own account may call it) and GetBucketLocation."""
    kms = sessions.client("kms", key.account, key.region)
    problems: list[str] = []
    state = spec = policy = bucket_region = None
    try:
        metadata: dict[str, Any] = kms.describe_key(KeyId=key.arn)["KeyMetadata"]
        state, spec = metadata.get("KeyState"), metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
    except ClientError as error:
        _unreadable(error, problems, f"DescribeKey on {key.arn}")
    try:
        policy = kms.get_key_policy(KeyId=key.arn, PolicyName="default")["Policy"]
    except ClientError as error:
        _unreadable(error, problems, f"GetKeyPolicy on {key.arn}")
    try:
        s3 = sessions.client("s3", key.account, key.region)
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        bucket_region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    except ClientError as error:
        _unreadable(error, problems, f"GetBucketLocation on {bucket}")
    return KeyFacts(key, state, spec, policy, bucket_region, tuple(problems))


def _unreadable(error: ClientError, problems: list[str], what: str) -> None:
    if is_transient(error):
        raise error
    problem = f"{what} failed ({error_code(error)}: {error_message(error)})"
    logger.warning("central key fact unreadable", problem=problem)
    problems.append(problem)
