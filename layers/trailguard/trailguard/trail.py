"""A CloudTrail trail as TrailGuard sees it, and the adapter that reads and changes it through AWS."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from trailguard.arns import parse_trail_arn
from trailguard.sessions import SessionFactory, error_code


@dataclass(frozen=True, slots=True)
class TrailRef:
    """Which trail, where: the account in its ARN owns it and only its home region may change it."""

    arn: str
    account: str
    region: str
    name: str
    partition: str = "aws"

    @classmethod
    def of(cls, arn: str) -> TrailRef:
        """The trail a full ARN names (its account owns it; its region is the home region)."""
        parsed = parse_trail_arn(arn)
        if parsed is None:
            raise ValueError(f"{arn!r} is not a trail ARN")
        return cls(parsed.arn, parsed.account, parsed.region, parsed.name, parsed.partition)


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
    ref: TrailRef
    home_region: str
    kms_key_id: str | None
    log_file_validation: bool
    multi_region: bool
    organization_trail: bool
    s3_bucket: str | None
    status: TrailStatus

    @classmethod
    def from_api(cls, ref: TrailRef, trail: dict[str, Any], status: dict[str, Any]) -> Trail:
        arn = trail.get("TrailARN") or ref.arn
        if parse_trail_arn(arn) is not None:
            ref = TrailRef.of(arn)
        return cls(
            ref=ref,
            home_region=trail.get("HomeRegion") or ref.region,
            kms_key_id=trail.get("KmsKeyId") or None,
            log_file_validation=bool(trail.get("LogFileValidationEnabled")),
            multi_region=bool(trail.get("IsMultiRegionTrail")),
            organization_trail=bool(trail.get("IsOrganizationTrail")),
            s3_bucket=trail.get("S3BucketName"),
            status=TrailStatus.from_api(status),
        )

    def with_status(self, status: dict[str, Any]) -> Trail:
        return replace(self, status=TrailStatus.from_api(status))

    def with_config(self, trail: dict[str, Any]) -> Trail:
        return replace(Trail.from_api(self.ref, trail, {}), status=self.status)


class TrailNotFound(Exception):
    pass


class TrailAdapter:
    """Reads and repairs trails; every call is made in the trail's home region with its account's credentials."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def _client(self, ref: TrailRef) -> Any:
        return self._sessions.client("cloudtrail", ref.account, ref.region)

    def read(self, ref: TrailRef) -> Trail:
        """GetTrail then GetTrailStatus: two calls. Raises TrailNotFound when the trail is gone."""
        client = self._client(ref)
        try:
            trail = client.get_trail(Name=ref.arn)["Trail"]
        except ClientError as error:
            if error_code(error) == "TrailNotFoundException":
                raise TrailNotFound(ref.arn) from error
            raise
        status = client.get_trail_status(Name=ref.arn)
        return Trail.from_api(ref, trail, status)

    def read_config(self, trail: Trail) -> Trail:
        return trail.with_config(self._client(trail.ref).get_trail(Name=trail.ref.arn)["Trail"])

    def read_status(self, trail: Trail) -> Trail:
        return trail.with_status(self._client(trail.ref).get_trail_status(Name=trail.ref.arn))

    def tags(self, ref: TrailRef) -> dict[str, str]:
        response = self._client(ref).list_tags(ResourceIdList=[ref.arn])
        tags: dict[str, str] = {}
        for entry in response.get("ResourceTagList", []):
            if entry.get("ResourceId") in (ref.arn, None):
                tags.update({tag["Key"]: tag.get("Value", "") for tag in entry.get("TagsList", [])})
        return tags

    def update(self, ref: TrailRef, **changes: Any) -> None:
        self._client(ref).update_trail(Name=ref.arn, **changes)

    def start_logging(self, ref: TrailRef) -> None:
        self._client(ref).start_logging(Name=ref.arn)
