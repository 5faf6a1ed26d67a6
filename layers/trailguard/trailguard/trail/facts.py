"""A CloudTrail trail as TrailGuard sees it, and how it is read (in its home region, with its owner's
credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from trailguard.arns import parse_trail_arn, partition_of, trail_arn
from trailguard.errors import EventParseError
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource
from trailguard.sessions import SessionFactory, error_code
from trailguard.vocabulary import ResourceType


@dataclass(frozen=True, slots=True)
class TrailStatus:
    is_logging: bool
    delivery_error: str | None = None
    digest_delivery_error: str | None = None

    @classmethod
    def from_api(cls, status: dict[str, Any]) -> TrailStatus:
        return cls(
            is_logging=bool(status.get("IsLogging")),
            delivery_error=status.get("LatestDeliveryError") or None,
            digest_delivery_error=status.get("LatestDigestDeliveryError") or None,
        )


@dataclass(frozen=True, slots=True)
class Trail:
    """The one model of a trail: its configuration (GetTrail), and its status (GetTrailStatus) once read."""

    ref: Resource
    home_region: str
    kms_key_id: str | None = None
    log_file_validation: bool = False
    multi_region: bool = False
    organization_trail: bool = False
    s3_bucket: str | None = None
    status: TrailStatus | None = None  # None until GetTrailStatus is read
    s3_prefix: str | None = None
    exists: bool = True  # False: the trail was deleted
    tags: Mapping[str, str] | None = field(default=None, compare=False)  # None until read
    # Everything GetTrail returned, for a check on a field the model does not name.
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def arn(self) -> str:
        return self.ref.arn

    @property
    def account(self) -> str:
        return self.ref.account

    @classmethod
    def from_api(cls, ref: Resource, trail: dict[str, Any], status: dict[str, Any] | None = None) -> Trail:
        arn = trail.get("TrailARN") or ref.arn
        if parse_trail_arn(arn) is not None:
            ref = Resource.trail(arn)
        return cls(
            ref=ref,
            home_region=trail.get("HomeRegion") or ref.region,
            kms_key_id=trail.get("KmsKeyId") or None,
            log_file_validation=bool(trail.get("LogFileValidationEnabled")),
            multi_region=bool(trail.get("IsMultiRegionTrail")),
            organization_trail=bool(trail.get("IsOrganizationTrail")),
            s3_bucket=trail.get("S3BucketName"),
            status=None if status is None else TrailStatus.from_api(status),
            s3_prefix=trail.get("S3KeyPrefix") or None,
            config=dict(trail),
        )

    @classmethod
    def gone(cls, ref: Resource) -> Trail:
        return cls(ref, ref.region, exists=False)

    def with_status(self, status: dict[str, Any]) -> Trail:
        return replace(self, status=TrailStatus.from_api(status))

    def with_config(self, trail: dict[str, Any]) -> Trail:
        return replace(Trail.from_api(self.ref, trail), status=self.status)


class TrailNotFound(Exception):
    pass


class TrailAdapter:
    """Reads and changes trails; every call is made in the trail's home region with its account's credentials."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def _client(self, ref: Resource) -> Any:
        return self._sessions.client("cloudtrail", ref.account, ref.region)

    def read(self, ref: Resource) -> Trail:
        """GetTrail then GetTrailStatus: two calls. Raises TrailNotFound when the trail is gone."""
        client = self._client(ref)
        try:
            trail = client.get_trail(Name=ref.arn)["Trail"]
        except ClientError as error:
            if error_code(error) == "TrailNotFoundException":
                raise TrailNotFound(ref.arn) from error
            raise
        return Trail.from_api(ref, trail, client.get_trail_status(Name=ref.arn))

    def read_config(self, trail: Trail) -> Trail:
        return trail.with_config(self._client(trail.ref).get_trail(Name=trail.arn)["Trail"])

    def read_status(self, trail: Trail) -> Trail:
        return trail.with_status(self._client(trail.ref).get_trail_status(Name=trail.arn))

    def tags(self, ref: Resource) -> dict[str, str]:
        response = self._client(ref).list_tags(ResourceIdList=[ref.arn])
        tags: dict[str, str] = {}
        for entry in response.get("ResourceTagList", []):
            if entry.get("ResourceId") in (ref.arn, None):
                tags.update({tag["Key"]: tag.get("Value", "") for tag in entry.get("TagsList", [])})
        return tags

    def update(self, ref: Resource, **changes: Any) -> None:
        self._client(ref).update_trail(Name=ref.arn, **changes)

    def start_logging(self, ref: Resource) -> None:
        self._client(ref).start_logging(Name=ref.arn)


def named_trail(event: ApiCallEvent) -> Resource:
    """The trail an event names: a bare name or a full ARN (console), or the ARN in the response."""
    record = event.record
    name = record.response("trailARN") or record.request("name")
    if not isinstance(name, str) or not name.strip():
        raise EventParseError(f"{record.eventName} event has no requestParameters.name")
    name = name.strip()
    if parse_trail_arn(name) is not None:
        return Resource.trail(name)
    if ":" in name or "/" in name:
        raise EventParseError(f"requestParameters.name {name!r} is neither a trail name nor a trail ARN")
    partition = partition_of(record.awsRegion)
    arn = trail_arn(partition, record.awsRegion, event.account_id, name)
    return Resource(ResourceType.TRAIL, arn, event.account_id, record.awsRegion, name, partition)
