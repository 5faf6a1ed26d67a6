"""Facts about the central key that every guard depends on; the trail guard caches them per warm container."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from trailguard.arns import KeyArn, bucket_region
from trailguard.observability import logger
from trailguard.sessions import SessionFactory, error_code, error_message, is_transient

CACHE_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class KeyFacts:
    key: KeyArn
    state: str | None  # Enabled, Disabled, PendingDeletion, ... None when unreadable
    key_spec: str | None
    rotation: bool | None  # None when unknown (a key that is not Enabled cannot say)
    policy: str | None  # the key policy JSON, as KMS returns it
    bucket_region: str | None  # region of the central log bucket
    problems: tuple[str, ...] = ()  # what could not be read, and why

    @property
    def enabled(self) -> bool:
        return self.state == "Enabled"


_CACHE: dict[tuple[str, str], tuple[float, KeyFacts]] = {}


def forget() -> None:
    """Drop cached facts (the trail guard re-reads before refusing a repair; tests between cases)."""
    _CACHE.clear()


def key_facts(
    sessions: SessionFactory, key: KeyArn, bucket: str, *, fresh: bool = False, now: float | None = None
) -> tuple[KeyFacts, bool]:
    """The key's facts and whether they came from the cache (at most CACHE_SECONDS old)."""
    stamp = time.monotonic() if now is None else now
    cached = _CACHE.get((key.arn, bucket))
    if not fresh and cached is not None and stamp - cached[0] < CACHE_SECONDS:
        return cached[1], True
    facts = read_key_facts(sessions, key, bucket)
    _CACHE[(key.arn, bucket)] = (stamp, facts)
    return facts, False


def read_key_facts(sessions: SessionFactory, key: KeyArn, bucket: str) -> KeyFacts:
    """DescribeKey, GetKeyRotationStatus, GetKeyPolicy (only the key's own account may call it), GetBucketLocation.

    What cannot be read for a lasting reason (AccessDenied, NotFound) is named in `problems`; a transient
    failure raises.
    """
    kms = sessions.client("kms", key.account, key.region)
    problems: list[str] = []

    def read(what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ClientError as error:
            if is_transient(error):
                raise
            problem = f"{what} failed ({error_code(error)}: {error_message(error)})"
            logger.warning("central key fact unreadable", problem=problem)
            problems.append(problem)
            return None

    metadata = read(f"DescribeKey on {key.arn}", lambda: kms.describe_key(KeyId=key.arn)["KeyMetadata"]) or {}
    state = metadata.get("KeyState")
    rotation = None
    if state == "Enabled":  # GetKeyRotationStatus fails on a key that is disabled or pending deletion
        # The key id, not the ARN: equivalent in the key's own account and region, and what moto accepts.
        status = read(f"GetKeyRotationStatus on {key.arn}", lambda: kms.get_key_rotation_status(KeyId=key.key_id))
        rotation = None if status is None else bool(status["KeyRotationEnabled"])
    policy = read(
        f"GetKeyPolicy on {key.arn}", lambda: kms.get_key_policy(KeyId=key.key_id, PolicyName="default")["Policy"]
    )
    s3 = sessions.client("s3", key.account, key.region)
    location = read(
        f"GetBucketLocation on {bucket}",
        lambda: s3.get_bucket_location(Bucket=bucket, ExpectedBucketOwner=key.account),
    )
    return KeyFacts(
        key,
        state,
        metadata.get("KeySpec"),
        rotation,
        policy,
        None if location is None else bucket_region(location.get("LocationConstraint")),
        tuple(problems),
    )
