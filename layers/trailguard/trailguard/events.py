"""'AWS API Call via CloudTrail' events, parsed into typed models with every quirk of REFERENCE.md section 4."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from trailguard.errors import EventParseError

API_CALL = "AWS API Call via CloudTrail"

AccountId = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]


class SessionIssuer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str | None = None
    arn: str | None = None
    accountId: AccountId | None = None
    userName: str | None = None


class SessionContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sessionIssuer: SessionIssuer | None = None


class UserIdentity(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str | None = None
    arn: str | None = None
    accountId: AccountId | None = None
    principalId: str | None = None
    invokedBy: str | None = None
    sessionContext: SessionContext | None = None

    @property
    def actor(self) -> str:
        """Who made the call, as one string: the session or user ARN, the service, or the account."""
        if self.arn:
            return self.arn
        if self.type == "AWSService" and self.invokedBy:
            return self.invokedBy
        if self.sessionContext and self.sessionContext.sessionIssuer and self.sessionContext.sessionIssuer.arn:
            return self.sessionContext.sessionIssuer.arn
        if self.accountId:
            return f"account {self.accountId}"
        return "unknown"

    @property
    def role_arn(self) -> str | None:
        """For an assumed role, the role (not the session) that made the call."""
        if self.sessionContext and self.sessionContext.sessionIssuer:
            return self.sessionContext.sessionIssuer.arn
        return None


class CloudTrailRecord(BaseModel):
    """The CloudTrail record carried in `detail`; fields outside this model are ignored."""

    model_config = ConfigDict(extra="ignore")

    eventID: str | None = None
    eventName: str
    eventSource: str
    awsRegion: str
    recipientAccountId: AccountId | None = None
    eventTime: str | None = None
    userIdentity: UserIdentity = Field(default_factory=UserIdentity)
    requestParameters: dict[str, Any] | None = None
    responseElements: dict[str, Any] | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    readOnly: bool | None = None

    @field_validator("requestParameters", "responseElements", mode="before")
    @classmethod
    def _object_or_null(cls, value: Any) -> Any:
        # Some producers serialise these blocks as JSON strings; an empty string means "no block".
        if isinstance(value, str):
            if not value.strip():
                return None
            return json.loads(value)
        return value

    def request(self, name: str) -> Any:
        return (self.requestParameters or {}).get(name)

    def response(self, name: str) -> Any:
        return (self.responseElements or {}).get(name)


class ApiCallEvent(EventBridgeModel):
    account: AccountId
    detail: CloudTrailRecord

    @property
    def record(self) -> CloudTrailRecord:
        return self.detail

    @property
    def account_id(self) -> str:
        """The account where the call was made (recipientAccountId, else the envelope's account)."""
        return self.detail.recipientAccountId or self.account

    @property
    def failed(self) -> bool:
        return bool(self.detail.errorCode)


def parse_api_call(event: Any) -> ApiCallEvent:
    """Parse an EventBridge envelope; raise EventParseError with the reason when it is not one we can read."""
    if not isinstance(event, dict):
        raise EventParseError(f"event is a {type(event).__name__}, not a JSON object")
    if event.get("detail-type") != API_CALL:
        raise EventParseError(f"detail-type is {event.get('detail-type')!r}, not {API_CALL!r}")
    try:
        return parse(event=event, model=ApiCallEvent)
    except (ValidationError, ValueError, TypeError) as error:
        raise EventParseError(_reason(error)) from None


def _reason(error: BaseException) -> str:
    cause = error.__cause__ or error
    if isinstance(cause, ValidationError):
        first = cause.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" + (
            f" ({len(cause.errors())} problems)" if cause.error_count() > 1 else ""
        )
    return str(cause) or type(cause).__name__
