"""Configuration read once from the environment and validated (CONTRACT.md section 2)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from trailguard.arns import ACCOUNT_ID, KeyArn, parse_key_arn
from trailguard.errors import ConfigurationError

_BUCKET_NAME = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


class Mode(StrEnum):
    REMEDIATE = "remediate"
    REPORT = "report"


@dataclass(frozen=True, slots=True)
class Settings:
    central_key: KeyArn
    log_bucket: str
    topic_arn: str
    mode: Mode = Mode.REMEDIATE
    remediation_role_name: str = "TrailGuardRemediation"
    management_account_id: str | None = None
    org_id: str | None = None
    exempt_tag: str = "trailguard:exempt"
    repair_policies: bool = False
    idempotency_table: str | None = None
    accounts: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None

    @property
    def central_key_arn(self) -> str:
        return self.central_key.arn

    @property
    def remediate(self) -> bool:
        return self.mode is Mode.REMEDIATE

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate every variable; the first problem raises ConfigurationError naming the variable."""

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        def required(name: str) -> str:
            value = get(name)
            if value is None:
                raise ConfigurationError(name, "is required and not set")
            return value

        def matching(name: str, pattern: re.Pattern[str], what: str, value: str | None) -> str | None:
            if value is not None and not pattern.match(value):
                raise ConfigurationError(name, f"{value!r} is not {what}")
            return value

        key_value = required("TRAILGUARD_CENTRAL_KEY_ARN")
        central_key = parse_key_arn(key_value)
        if central_key is None:
            raise ConfigurationError(
                "TRAILGUARD_CENTRAL_KEY_ARN",
                f"{key_value!r} is not a full KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>); "
                "aliases and bare key ids resolve differently in each account",
            )
        bucket = matching(
            "TRAILGUARD_LOG_BUCKET", _BUCKET_NAME, "a valid S3 bucket name", required("TRAILGUARD_LOG_BUCKET")
        )
        topic = matching("TRAILGUARD_TOPIC_ARN", _TOPIC_ARN, "an SNS topic ARN", required("TRAILGUARD_TOPIC_ARN"))
        mode_value = (get("TRAILGUARD_MODE") or "remediate").lower()
        try:
            mode = Mode(mode_value)
        except ValueError:
            raise ConfigurationError("TRAILGUARD_MODE", f"{mode_value!r} is not 'remediate' or 'report'") from None
        role = matching(
            "TRAILGUARD_REMEDIATION_ROLE_NAME",
            _ROLE_NAME,
            "an IAM role name",
            get("TRAILGUARD_REMEDIATION_ROLE_NAME") or "TrailGuardRemediation",
        )
        management = matching(
            "TRAILGUARD_MANAGEMENT_ACCOUNT_ID",
            ACCOUNT_ID,
            "a twelve-digit account id",
            get("TRAILGUARD_MANAGEMENT_ACCOUNT_ID"),
        )
        org_id = matching("TRAILGUARD_ORG_ID", _ORG_ID, "an organization id (o-...)", get("TRAILGUARD_ORG_ID"))
        repair_value = (get("TRAILGUARD_REPAIR_POLICIES") or "false").lower()
        if repair_value not in {"true", "false"}:
            raise ConfigurationError("TRAILGUARD_REPAIR_POLICIES", f"{repair_value!r} is not 'true' or 'false'")
        table = matching(
            "TRAILGUARD_IDEMPOTENCY_TABLE", _TABLE_NAME, "a DynamoDB table name", get("TRAILGUARD_IDEMPOTENCY_TABLE")
        )
        return cls(
            central_key=central_key,
            log_bucket=bucket or "",
            topic_arn=topic or "",
            mode=mode,
            remediation_role_name=role or "TrailGuardRemediation",
            management_account_id=management,
            org_id=org_id,
            exempt_tag=get("TRAILGUARD_EXEMPT_TAG") or "trailguard:exempt",
            repair_policies=repair_value == "true",
            idempotency_table=table,
            accounts=_list("TRAILGUARD_ACCOUNTS", get("TRAILGUARD_ACCOUNTS"), ACCOUNT_ID, "a twelve-digit account id"),
            regions=_list("TRAILGUARD_REGIONS", get("TRAILGUARD_REGIONS"), _REGION, "an AWS region name"),
        )


def _list(name: str, value: str | None, pattern: re.Pattern[str], what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    for item in items:
        if not pattern.match(item):
            raise ConfigurationError(name, f"{item!r} is not {what}")
    return items or None
