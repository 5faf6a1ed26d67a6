"""'AWS API Call via CloudTrail' events, parsed into typed models.

An event is judged by the resource it names, never by who made the call:

- Before anything walks it, an event must be plain JSON within explicit bounds (MAX_EVENT_CHARS,
  MAX_NESTING); `requestParameters`/`responseElements` sent as JSON strings are parsed only after a
  bounded scan of their nesting. JSON strings inside them (a KMS `policy`) are never parsed here.
- The fields that name the call and its resource (eventSource, eventName, awsRegion, the account, the
  trail, key or bucket identifier of RESOURCE_FIELDS, the event ids) must be well formed, and the region
  must be one botocore's endpoint data knows; otherwise the event is refused with EventParseError.
- The fields that only describe the caller or the call (userIdentity.*, eventTime, errorMessage,
  readOnly; sourceIPAddress, userAgent and the rest are not read at all) never refuse an event: an odd
  value becomes None, text is escaped and capped.
- `errorCode` present with any value, "" and null included, means the call failed.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from botocore.loaders import create_loader
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trailguard.arns import ACCOUNT_ID, parse_trail_arn
from trailguard.errors import EventParseError, escaped, shown

API_CALL = "AWS API Call via CloudTrail"

# EventBridge refuses events larger than 256 KB, so nothing larger was delivered by it.
MAX_EVENT_CHARS = 256 * 1024
# Objects and arrays inside one another, the envelope included; CloudTrail records nest about ten deep.
MAX_NESTING = 32
MAX_ID_CHARS = 256
MAX_DESCRIPTIVE_CHARS = 2048
MAX_ERROR_CODE_CHARS = 128

# Powertools Idempotency takes the key of an event with this expression: the CloudTrail eventID, else the
# envelope id (an empty string is false in JMESPath). ApiCallEvent.event_key is the same rule.
EVENT_KEY_JMESPATH = "detail.eventID || id"

AccountId = Annotated[str, StringConstraints(pattern=f"^{ACCOUNT_ID.pattern}$")]

_EVENT_NAME = re.compile(r"[A-Za-z0-9_]{1,128}")
_EVENT_SOURCE = re.compile(r"[a-z0-9][a-z0-9.-]{0,127}")
_EVENT_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_CHARS}}}")
_TRAIL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]")
_KEY_REFERENCE = re.compile(r"[A-Za-z0-9:/_+=,.@-]{1,2048}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[^:]*:role/(?:[^/]+/)*([^/]+)")
_ASSUMED_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:sts::[^:]*:assumed-role/([^/]+)/.*")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


# ------------------------------------------------------------------------------------------------------
# Regions: botocore's own endpoint data (partitions.json, a few KB), read once per process
# ------------------------------------------------------------------------------------------------------


@functools.cache
def _region_partitions() -> Mapping[str, str]:
    data = create_loader().load_data("partitions")
    regions: dict[str, str] = {}
    for partition in data["partitions"]:
        pattern = re.compile(partition["regionRegex"])
        # Only names of the region form: the endpoint data also lists pseudo-regions such as aws-global.
        regions.update({name: partition["id"] for name in partition["regions"] if pattern.fullmatch(name)})
    return regions


def region_partition(region: str) -> str | None:
    """The partition of a region (opt-in regions included), or None for a region botocore does not know."""
    return _region_partitions().get(region)


# ------------------------------------------------------------------------------------------------------
# Bounds and shapes, checked before any recursive code sees the event
# ------------------------------------------------------------------------------------------------------


def bounds_problem(event: Any) -> str | None:
    """Why `event` is not plain JSON within MAX_EVENT_CHARS and MAX_NESTING, or None. Iterative."""
    size = 0
    pending: list[tuple[Any, int]] = [(event, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            size += len(value) + 2
        elif value is None or isinstance(value, bool):
            size += 4
        elif isinstance(value, int):
            size += math.ceil(value.bit_length() * 0.302) + 1
        elif isinstance(value, float):
            size += 24
        elif isinstance(value, dict | list):
            if depth > MAX_NESTING:
                return f"objects and arrays are nested deeper than {MAX_NESTING} levels"
            size += 2 + len(value)  # brackets and separators, counted before the items are looked at
            if size > MAX_EVENT_CHARS:
                break
            if isinstance(value, dict):
                for key in value:
                    if not isinstance(key, str):
                        return f"an object has a {type(key).__name__} key"
                    size += len(key) + 3
                pending.extend((item, depth + 1) for item in value.values())
            else:
                pending.extend((item, depth + 1) for item in value)
        else:
            return f"a value is a {type(value).__name__}, which JSON cannot carry"
        if size > MAX_EVENT_CHARS:
            break
    return f"the event is larger than {MAX_EVENT_CHARS} characters" if size > MAX_EVENT_CHARS else None


def json_nesting(text: str, limit: int = MAX_NESTING) -> int:
    """How deeply objects and arrays nest in a JSON text, found without parsing it (brackets inside
    strings do not count); the count stops once it passes `limit`."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if bracket[0] in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def load_json_object(text: str) -> dict[str, Any] | None:
    """A JSON object sent as a string; None for an empty string. The nesting is bounded before parsing."""
    if not text.strip():
        return None
    if len(text) > MAX_EVENT_CHARS:
        raise ValueError(f"the JSON string is longer than {MAX_EVENT_CHARS} characters")
    if json_nesting(text) > MAX_NESTING:
        raise ValueError(f"the JSON string nests deeper than {MAX_NESTING} levels")
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError("the string is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError(f"the JSON string holds a {type(value).__name__}, not an object")
    problem = bounds_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# ------------------------------------------------------------------------------------------------------
# Fields that only describe the caller or the call: never a reason to refuse an event
# ------------------------------------------------------------------------------------------------------


def _descriptive_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return escaped(value[:MAX_DESCRIPTIVE_CHARS])


def _descriptive_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _object_or_none(value: Any) -> Any:
    return value if isinstance(value, dict) else None


Descriptive = Annotated[str | None, BeforeValidator(_descriptive_text)]
DescriptiveFlag = Annotated[bool | None, BeforeValidator(_descriptive_flag)]


class SessionIssuer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Descriptive = None
    arn: Descriptive = None
    accountId: Descriptive = None
    userName: Descriptive = None


class SessionContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sessionIssuer: Annotated[SessionIssuer | None, BeforeValidator(_object_or_none)] = None


class UserIdentity(BaseModel):
    """Who made the call. Redacted or odd values (accountId "HIDDEN_DUE_TO_SECURITY_REASONS", "...")
    are kept as text or become None; they never refuse the event."""

    model_config = ConfigDict(extra="ignore")

    type: Descriptive = None
    arn: Descriptive = None
    accountId: Descriptive = None
    principalId: Descriptive = None
    invokedBy: Descriptive = None
    sessionContext: Annotated[SessionContext | None, BeforeValidator(_object_or_none)] = None

    @property
    def actor(self) -> str:
        """Who made the call, as one string: the session or user ARN, the service, or the account."""
        if self.arn:
            return self.arn
        if self.type == "AWSService" and self.invokedBy:
            return self.invokedBy
        if self.role_arn:
            return self.role_arn
        if self.accountId:
            return f"account {self.accountId}"
        return "unknown"

    @property
    def role_arn(self) -> str | None:
        """For an assumed role, the role (not the session) that made the call."""
        if self.sessionContext and self.sessionContext.sessionIssuer:
            return self.sessionContext.sessionIssuer.arn
        return None

    @property
    def role_name(self) -> str | None:
        """The name (without path) of the IAM role that made the call, or None when no role did.

        From sessionContext.sessionIssuer.arn (arn:aws:iam::<acct>:role/<path/><name>), else from an
        assumed-role session ARN (arn:aws:sts::<acct>:assumed-role/<name>/<session>). Missing or odd
        fields give None.
        """
        issuer = self.role_arn
        if issuer and (match := _ROLE_ARN.fullmatch(issuer)):
            return match[1]
        if self.arn and (match := _ASSUMED_ROLE_ARN.fullmatch(self.arn)):
            return match[1]
        return None


def _user_identity(value: Any) -> Any:
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------------------------------------------
# Fields that name the call and its resource: a bad one refuses the event
# ------------------------------------------------------------------------------------------------------


def _trail_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a trail name or ARN"
    arn = parse_trail_arn(value)
    if arn is not None:
        if region_partition(arn.region) is None:
            return f"names region {shown(arn.region)}, which does not exist"
        name = arn.name
    else:
        name = value
    if _TRAIL_NAME.fullmatch(name) is None:
        return f"{shown(value)} is neither a trail name (3-128 letters, digits, . _ -) nor a trail ARN"
    return None


def _key_problem(value: Any) -> str | None:
    if not isinstance(value, str) or _KEY_REFERENCE.fullmatch(value) is None:
        return f"{shown(value)} is not a key id, key ARN or alias"
    return None


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"is a {type(value).__name__}, not a string"
    return None


# eventSource -> the (block, field) that name the resource, and what makes a value unusable. An absent or
# null field is not a problem here: the guard that needs it says so.
RESOURCE_FIELDS: dict[str, tuple[tuple[str, str, Callable[[Any], str | None]], ...]] = {
    "cloudtrail.amazonaws.com": (
        ("requestParameters", "name", _trail_problem),
        ("requestParameters", "trailName", _trail_problem),
        ("responseElements", "trailARN", _trail_problem),
    ),
    "kms.amazonaws.com": (
        ("requestParameters", "keyId", _key_problem),
        ("responseElements", "keyId", _key_problem),
    ),
    "s3.amazonaws.com": (("requestParameters", "bucketName", _text_problem),),
}


def _event_id(value: Any) -> str | None:
    """An event id: None or "" when absent, else visible ASCII of at most MAX_ID_CHARS."""
    if value is None or value == "":
        return None if value is None else ""
    if not isinstance(value, str) or _EVENT_ID.fullmatch(value) is None:
        raise ValueError(f"{shown(value)} is not an event id")
    return value


def _error_code(value: Any) -> str:
    """A present errorCode as text for reasons and logs: "" and null are written out, other types named."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return escaped(value[:MAX_ERROR_CODE_CHARS]) if value else '""'
    return f"<{type(value).__name__}>"


class CloudTrailRecord(BaseModel):
    """The CloudTrail record carried in `detail`; fields outside this model are ignored."""

    model_config = ConfigDict(extra="ignore")

    eventID: Annotated[str | None, BeforeValidator(_event_id)] = None
    eventName: str
    eventSource: str
    awsRegion: str
    recipientAccountId: AccountId | None = None
    eventTime: Descriptive = None
    userIdentity: Annotated[UserIdentity, BeforeValidator(_user_identity)] = Field(default_factory=UserIdentity)
    requestParameters: dict[str, Any] | None = None
    responseElements: dict[str, Any] | None = None
    # Present, with any value ("" and null included), means the call failed: None only when absent.
    errorCode: Annotated[str | None, BeforeValidator(_error_code)] = None
    errorMessage: Descriptive = None
    readOnly: DescriptiveFlag = None

    @field_validator("eventName")
    @classmethod
    def _event_name(cls, value: str) -> str:
        if _EVENT_NAME.fullmatch(value) is None:
            raise ValueError(f"{shown(value)} is not an API action name")
        return value

    @field_validator("eventSource")
    @classmethod
    def _event_source(cls, value: str) -> str:
        if _EVENT_SOURCE.fullmatch(value) is None:
            raise ValueError(f"{shown(value)} is not a service host name")
        return value

    @field_validator("awsRegion")
    @classmethod
    def _region(cls, value: str) -> str:
        if region_partition(value) is None:
            raise ValueError(f"{shown(value)} is not a region of any AWS partition")
        return value

    @field_validator("requestParameters", "responseElements", mode="before")
    @classmethod
    def _object_or_null(cls, value: Any) -> Any:
        # Some producers serialise these blocks as JSON strings; an empty string means "no block".
        if isinstance(value, str):
            return load_json_object(value)
        return value

    @model_validator(mode="after")
    def _names_a_usable_resource(self) -> CloudTrailRecord:
        for block, name, problem_of in RESOURCE_FIELDS.get(self.eventSource, ()):
            value = (getattr(self, block) or {}).get(name)
            problem = None if value is None else problem_of(value)
            if problem is not None:
                raise ValueError(f"{block}.{name} {problem}")
        return self

    @property
    def failed(self) -> bool:
        """The call failed: `errorCode` is present, whatever its value."""
        return "errorCode" in self.model_fields_set

    def request(self, name: str) -> Any:
        return (self.requestParameters or {}).get(name)

    def response(self, name: str) -> Any:
        return (self.responseElements or {}).get(name)


def _envelope_id(value: Any) -> str:
    return _event_id(value) or ""


class ApiCallEvent(BaseModel):
    """The EventBridge envelope with its CloudTrail record. The envelope's fields, their order (errors are
    reported in it) and their rules are those of Powertools' parser model (EventBridgeModel); that parser is
    not imported, as it builds a model for every event source AWS has when it is imported."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: Annotated[str, BeforeValidator(_envelope_id)] = ""
    source: str
    account: AccountId
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: CloudTrailRecord
    replay_name: str | None = Field(None, alias="replay-name")

    @field_validator("detail", mode="before")
    @classmethod
    def _scheduler_detail(cls, value: Any, info: ValidationInfo) -> Any:
        # EventBridge Scheduler sends an empty detail as the string "{}" (as the Powertools model reads it).
        return {} if info.data.get("source") == "aws.scheduler" and value == "{}" else value

    @model_validator(mode="after")
    def _has_a_key(self) -> ApiCallEvent:
        if not self.event_key:
            raise ValueError("the event has neither detail.eventID nor an envelope id")
        return self

    @property
    def record(self) -> CloudTrailRecord:
        return self.detail

    @property
    def account_id(self) -> str:
        """The account where the call was made (recipientAccountId, else the envelope's account)."""
        return self.detail.recipientAccountId or self.account

    @property
    def failed(self) -> bool:
        return self.detail.failed

    @property
    def event_key(self) -> str:
        """What makes a CloudTrail event itself, across redeliveries: its eventID, else the envelope id.
        Exactly once handling is keyed on it (EVENT_KEY_JMESPATH is the same rule)."""
        return self.detail.eventID or self.id


def parse_api_call(event: Any) -> ApiCallEvent:
    """Parse an EventBridge envelope; raise EventParseError with the reason when it is not one we can read."""
    if not isinstance(event, dict):
        raise EventParseError(f"event is a {type(event).__name__}, not a JSON object")
    problem = bounds_problem(event)
    if problem is not None:
        raise EventParseError(problem)
    if event.get("detail-type") != API_CALL:
        raise EventParseError(f"detail-type is {shown(event.get('detail-type'))}, not {API_CALL!r}")
    try:
        return ApiCallEvent.model_validate(event)
    except (ValidationError, ValueError, TypeError) as error:
        raise EventParseError(_reason(error)) from None


def _reason(error: BaseException) -> str:
    cause = error.__cause__ or error
    if isinstance(cause, ValidationError):
        first = cause.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        return f"{where + ': ' if where else ''}{message}" + (
            f" ({cause.error_count()} problems)" if cause.error_count() > 1 else ""
        )
    return str(cause) or type(cause).__name__
