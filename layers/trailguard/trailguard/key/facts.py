"""The central key as TrailGuard sees it, and how it is read and changed (always with the key account's
credentials, in the key's region: GetKeyPolicy and PutKeyPolicy are not cross-account)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from trailguard.arns import KeyArn
from trailguard.events import ApiCallEvent
from trailguard.observability import logger
from trailguard.sessions import SessionFactory, error_code, error_message, is_transient
from trailguard.settings import Settings


@dataclass(frozen=True, slots=True)
class KeyFacts:
    key: KeyArn
    state: str | None  # Enabled, Disabled, PendingDeletion, ... None when unreadable
    key_spec: str | None
    rotation: bool | None  # None when unknown (a key that is not Enabled cannot say)
    policy: str | None  # the key policy JSON, as KMS returns it
    problems: tuple[str, ...] = ()  # what could not be read, and why

    @property
    def enabled(self) -> bool:
        return self.state == "Enabled"


class Recorder:
    """Reads facts one call at a time: a lasting failure (AccessDenied, NotFound) becomes a named problem and
    None, a transient one raises."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def read(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except ClientError as error:
            if is_transient(error):
                raise
            problem = f"{what} failed ({error_code(error)}: {error_message(error)})"
            logger.warning("central fact unreadable", problem=problem)
            self.problems.append(problem)
            return None


def read_key_facts(sessions: SessionFactory, key: KeyArn, recorder: Recorder | None = None) -> KeyFacts:
    """DescribeKey, GetKeyRotationStatus (only when Enabled: it fails otherwise), GetKeyPolicy."""
    kms = sessions.client("kms", key.account, key.region)
    recorder = recorder or Recorder()
    metadata = recorder.read(f"DescribeKey on {key.arn}", lambda: kms.describe_key(KeyId=key.arn)["KeyMetadata"]) or {}
    state = metadata.get("KeyState")
    rotation = None
    if state == "Enabled":
        # The key id, not the ARN: equivalent in the key's own account and region, and what moto accepts.
        status = recorder.read(
            f"GetKeyRotationStatus on {key.arn}", lambda: kms.get_key_rotation_status(KeyId=key.key_id)
        )
        rotation = None if status is None else bool(status["KeyRotationEnabled"])
    policy = recorder.read(
        f"GetKeyPolicy on {key.arn}", lambda: kms.get_key_policy(KeyId=key.key_id, PolicyName="default")["Policy"]
    )
    return KeyFacts(key, state, metadata.get("KeySpec"), rotation, policy, tuple(recorder.problems))


class KeyAdapter:
    """Changes the central key. Writes name the key by its id: equivalent to the ARN in the key's own account
    and region, where these clients are, and the only form moto accepts for EnableKey, CancelKeyDeletion and
    kin."""

    def __init__(self, sessions: SessionFactory, key: KeyArn) -> None:
        self._kms = sessions.client("kms", key.account, key.region)
        self._id = key.key_id

    def resolve(self, reference: str) -> str | None:
        """The ARN an alias or key id designates in the key's account and region (None if none)."""
        try:
            return str(self._kms.describe_key(KeyId=reference)["KeyMetadata"]["Arn"])
        except ClientError as error:
            if is_transient(error):
                raise
            return None

    def restore(self) -> None:
        """A key pending deletion: CancelKeyDeletion leaves it Disabled, so enable it too."""
        self._kms.cancel_key_deletion(KeyId=self._id)
        self._kms.enable_key(KeyId=self._id)

    def enable(self) -> None:
        self._kms.enable_key(KeyId=self._id)

    def enable_rotation(self) -> None:
        self._kms.enable_key_rotation(KeyId=self._id)

    def put_policy(self, document: dict[str, Any]) -> None:
        self._kms.put_key_policy(KeyId=self._id, PolicyName="default", Policy=json.dumps(document))


def names_central_key(event: ApiCallEvent, settings: Settings, adapter: KeyAdapter) -> bool:
    """Does the event's keyId (key id, key ARN, alias, alias ARN or mrk- id) designate the central key?"""
    key = settings.central_key
    record = event.record
    references = [
        value for value in (record.response("keyId"), record.request("keyId")) if isinstance(value, str) and value
    ]
    if any(reference == key.arn for reference in references):
        return True
    local = event.account_id == key.account and record.awsRegion == key.region
    if not local:
        return False  # ids and aliases resolve in the caller's account and region only
    for reference in references:
        if reference == key.key_id:
            return True
        if "alias/" in reference and adapter.resolve(reference) == key.arn:
            return True
    return False


@dataclass(frozen=True, slots=True)
class CentralKey:
    """What the key's checks look at: the key's facts, and the central bucket's region (a bucket fact the
    key must agree with: CloudTrail needs a key in the region of the bucket it writes to)."""

    facts: KeyFacts
    bucket_region: str | None


def read_central_key(sessions: SessionFactory, settings: Settings) -> CentralKey:
    """The key's facts, then the bucket's region (GetBucketLocation): four calls."""
    from trailguard.bucket.facts import read_bucket_region

    recorder = Recorder()
    facts = read_key_facts(sessions, settings.central_key, recorder)
    region = read_bucket_region(sessions, settings, recorder)
    return CentralKey(
        KeyFacts(facts.key, facts.state, facts.key_spec, facts.rotation, facts.policy, tuple(recorder.problems)),
        region,
    )
