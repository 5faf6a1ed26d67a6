"""Configuration: the functions' environment variables, validated once into a typed model.

Each field is named after its variable (`alias`); an invalid or missing value fails fast with a
ConfigurationError that names the variable. The variables are listed in docs/configuration.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from trailguard.arns import (
    ACCOUNT_ID,
    BUCKET_NAME,
    ORG_ID,
    REGION,
    ROLE_NAME,
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
        if value is not None and not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _listing(pattern: re.Pattern[str], what: str) -> BeforeValidator:
    def split(value: Any) -> tuple[str, ...] | None:
        if value is None or isinstance(value, tuple):
            return value
        items = tuple(dict.fromkeys(item.strip() for item in str(value).split(",") if item.strip()))
        for item in items:
            if not pattern.match(item):
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
