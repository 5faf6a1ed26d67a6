"""Configuration: the functions' environment variables, validated once into a typed model.

Each field is named after its variable (`alias`); an invalid or missing value fails fast with a
ConfigurationError that names the variable. The variables are listed in docs/configuration.md.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from trailguard.arns import (
    ACCOUNT_ID,
    BUCKET_NAME,
    BUS_ARN,
    ORG_ID,
    QUEUE_URL,
    REGION,
    ROLE_ARN,
    ROLE_NAME,
    RULE_NAME,
    TABLE_NAME,
    TOPIC_ARN,
    KeyArn,
    parse_key_arn,
)
from trailguard.errors import ConfigurationError
from trailguard.vocabulary import Mode

__all__ = ["Mode", "Settings"]


def _blank_is_unset(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _matching(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and not pattern.fullmatch(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _listing(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def split(value: Any) -> tuple[str, ...] | None:
        if value is None or isinstance(value, tuple):
            return value
        items = tuple(dict.fromkeys(item.strip() for item in str(value).split(",") if item.strip()))
        for item in items:
            if not pattern.fullmatch(item):
                raise ValueError(f"{item!r} is not {what}")
        return items or None

    return BeforeValidator(split)


def _key(value: Any) -> KeyArn:
    if isinstance(value, KeyArn):
        return value
    parsed = parse_key_arn(str(value)) if value is not None else None
    if parsed is None:
        raise ValueError(
            f"{value!r} is not a full KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>); "
            "aliases and bare key ids resolve differently in each account"
        )
    return parsed


def _choice(*allowed: str) -> BeforeValidator:
    def lower(value: Any) -> Any:
        if isinstance(value, str) and value.lower() not in allowed:
            raise ValueError(f"{value!r} is not " + " or ".join(repr(choice) for choice in allowed))
        return value.lower() if isinstance(value, str) else value

    return BeforeValidator(lower)


Optional = BeforeValidator(_blank_is_unset)


@dataclass(frozen=True, slots=True)
class Exemption:
    """A trail ARN pattern the security team exempts (`*` matches any run of characters), with why and until
    when (an exemption past its expiry exempts nothing)."""

    pattern: str
    reason: str | None = None
    expires: date | None = None

    def matches(self, arn: str, today: date) -> bool:
        if self.expires is not None and today > self.expires:
            return False
        return fnmatch.fnmatchcase(arn, self.pattern.replace("[", "[[]"))


def _exemptions(value: Any) -> tuple[Exemption, ...]:
    """`pattern[;reason=...][;expires=YYYY-MM-DD]`, comma-separated."""
    if value is None or isinstance(value, tuple):
        return value or ()
    exemptions = []
    for entry in (part.strip() for part in str(value).split(",")):
        if not entry:
            continue
        pattern, *options = (piece.strip() for piece in entry.split(";"))
        if not pattern.startswith("arn:") or ":trail/" not in pattern:
            raise ValueError(
                f"{pattern!r} is not a trail ARN pattern (arn:aws:cloudtrail:<region>:<account>:trail/<name>)"
            )
        reason, expires = None, None
        for option in options:
            name, _, text = option.partition("=")
            if name == "reason" and text:
                reason = text
            elif name == "expires":
                try:
                    expires = date.fromisoformat(text)
                except ValueError:
                    raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) in {entry!r}") from None
            else:
                raise ValueError(f"{option!r} is not reason=... or expires=YYYY-MM-DD in {entry!r}")
        exemptions.append(Exemption(pattern, reason, expires))
    return tuple(exemptions)


def _whole(minimum: int) -> BeforeValidator:
    def number(value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip().isdigit() or int(value) < minimum:
                raise ValueError(f"{value!r} is not a whole number of at least {minimum}")
            return int(value)
        return value

    return BeforeValidator(number)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, arbitrary_types_allowed=True, extra="ignore")

    central_key: Annotated[KeyArn, Optional, BeforeValidator(_key)] = Field(alias="TRAILGUARD_CENTRAL_KEY_ARN")
    log_bucket: Annotated[str, Optional, _matching(BUCKET_NAME, "a valid S3 bucket name")] = Field(
        alias="TRAILGUARD_LOG_BUCKET"
    )
    topic_arn: Annotated[str, Optional, _matching(TOPIC_ARN, "an SNS topic ARN")] = Field(alias="TRAILGUARD_TOPIC_ARN")
    mode: Annotated[Mode, Optional, _choice("remediate", "report")] = Field(Mode.REMEDIATE, alias="TRAILGUARD_MODE")
    remediation_role_name: Annotated[str, Optional, _matching(ROLE_NAME, "an IAM role name")] = Field(
        "TrailGuardRemediation", alias="TRAILGUARD_REMEDIATION_ROLE_NAME"
    )
    management_account_id: Annotated[str | None, Optional, _matching(ACCOUNT_ID, "a twelve-digit account id")] = Field(
        None, alias="TRAILGUARD_MANAGEMENT_ACCOUNT_ID"
    )
    org_id: Annotated[str | None, Optional, _matching(ORG_ID, "an organization id (o-...)")] = Field(
        None, alias="TRAILGUARD_ORG_ID"
    )
    exempt_tag: Annotated[str, Optional] = Field("trailguard:exempt", alias="TRAILGUARD_EXEMPT_TAG")
    repair_policies: Annotated[bool, Optional, _choice("true", "false")] = Field(
        False, alias="TRAILGUARD_REPAIR_POLICIES"
    )
    idempotency_table: Annotated[str | None, Optional, _matching(TABLE_NAME, "a DynamoDB table name")] = Field(
        None, alias="TRAILGUARD_IDEMPOTENCY_TABLE"
    )
    accounts: Annotated[tuple[str, ...] | None, Optional, _listing(ACCOUNT_ID, "a twelve-digit account id")] = Field(
        None, alias="TRAILGUARD_ACCOUNTS"
    )
    regions: Annotated[tuple[str, ...] | None, Optional, _listing(REGION, "an AWS region name")] = Field(
        None, alias="TRAILGUARD_REGIONS"
    )
    exempt_trails: Annotated[tuple[Exemption, ...], Optional, BeforeValidator(_exemptions)] = Field(
        (), alias="TRAILGUARD_EXEMPT_TRAILS"
    )
    remind_hours: Annotated[int, Optional, _whole(0)] = Field(24, alias="TRAILGUARD_REMIND_HOURS")
    write_budget: Annotated[int, Optional, _whole(1)] = Field(3, alias="TRAILGUARD_WRITE_BUDGET")
    state_table: Annotated[str | None, Optional, _matching(TABLE_NAME, "a DynamoDB table name")] = Field(
        None, alias="TRAILGUARD_STATE_TABLE"
    )
    forwarder_rule: Annotated[str, Optional, _matching(RULE_NAME, "an EventBridge rule name")] = Field(
        "TrailGuardEventForwarder", alias="TRAILGUARD_FORWARDER_RULE"
    )
    central_forward_rule: Annotated[str | None, Optional, _matching(RULE_NAME, "an EventBridge rule name")] = Field(
        None, alias="TRAILGUARD_CENTRAL_FORWARD_RULE"
    )
    central_bus_arn: Annotated[str | None, Optional, _matching(BUS_ARN, "an EventBridge event bus ARN")] = Field(
        None, alias="TRAILGUARD_CENTRAL_BUS_ARN"
    )
    security_hub: Annotated[bool, Optional, _choice("true", "false")] = Field(False, alias="TRAILGUARD_SECURITY_HUB")
    chat_format: Annotated[bool, Optional, _choice("true", "false")] = Field(False, alias="TRAILGUARD_CHAT_FORMAT")
    own_roles: Annotated[tuple[str, ...] | None, Optional, _listing(ROLE_ARN, "an IAM role ARN")] = Field(
        None, alias="TRAILGUARD_FUNCTION_ROLES"
    )
    # The sweep's fan-out: the queue the planner fills with one message per account, and how often a message
    # is tried before its account is reported as not evaluated (the queue's maxReceiveCount).
    sweep_queue_url: Annotated[str | None, Optional, _matching(QUEUE_URL, "an SQS queue URL")] = Field(
        None, alias="TRAILGUARD_SWEEP_QUEUE_URL"
    )
    sweep_attempts: Annotated[int, Optional, _whole(1)] = Field(3, alias="TRAILGUARD_SWEEP_ATTEMPTS")
    # "account": one ListTrails per account lists every region's trails with their home region (ListTrails is
    # documented per account, DescribeTrails per region); "regional": one ListTrails per region.
    trail_listing: Annotated[str, Optional, _choice("account", "regional")] = Field(
        "account", alias="TRAILGUARD_TRAIL_LISTING"
    )
    # The inventory older than this is reported as stale by the key and bucket checks (the sweep rebuilds it).
    inventory_max_age_hours: Annotated[int, Optional, _whole(1)] = Field(24, alias="TRAILGUARD_INVENTORY_MAX_AGE_HOURS")

    def exemption(self, arn: str, today: date) -> Exemption | None:
        """The security team's exemption that covers this trail today, if any."""
        return next((item for item in self.exempt_trails if item.matches(arn, today)), None)

    def is_own_role(self, role_arn: str | None, role_name: str | None = None, account: str | None = None) -> bool:
        """A role TrailGuard acts as: the remediation role in any account, or one of its functions' roles (by
        ARN, or by name in the account of the functions)."""
        name = role_name or (role_arn.rsplit("/", 1)[-1] if role_arn else None)
        if name is None:
            return False
        if name == self.remediation_role_name or (role_arn is not None and role_arn in (self.own_roles or ())):
            return True
        own = {(arn.split(":")[4], arn.rsplit("/", 1)[-1]) for arn in self.own_roles or ()}
        return account is not None and (account, name) in own

    @property
    def central_key_arn(self) -> str:
        return self.central_key.arn

    @property
    def remediate(self) -> bool:
        return self.mode is Mode.REMEDIATE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate every variable; the first problem raises ConfigurationError naming the variable."""
        names = {field.alias for field in cls.model_fields.values() if field.alias}
        values = {name: environ[name] for name in names if name in environ and environ[name].strip()}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            variable = str(first["loc"][0]) if first["loc"] else "configuration"
            problem = "is required and not set" if first["type"] == "missing" else _problem(first["msg"])
            raise ConfigurationError(variable, problem) from None


def _problem(message: str) -> str:
    return message.removeprefix("Value error, ")
