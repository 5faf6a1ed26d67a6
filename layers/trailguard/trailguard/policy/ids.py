"""Identifiers: account ids, organization ids, ARNs. Account ids are 12-character strings, never ints."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trailguard.policy.errors import PolicyInputError

# The one set of identifier patterns of the project (match them whole: `fullmatch`).
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
BUCKET_NAME = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
PARTITION = re.compile(r"aws(-[a-z]+)*")
_ACCOUNT_ID, _ORG_ID, _BUCKET, _PARTITION = ACCOUNT_ID, ORG_ID, BUCKET_NAME, PARTITION
_TRAIL_ARN = re.compile(r"arn:(aws(?:-[a-z]+)*):cloudtrail:([a-z0-9-]+):([0-9]{12}):trail/([A-Za-z0-9._-]{1,128})")
_KEY_ARN = re.compile(r"arn:(aws(?:-[a-z]+)*):kms:([a-z0-9-]+):([0-9]{12}):key/[A-Za-z0-9-]+")
_IAM_PRINCIPAL_ARN = re.compile(
    r"arn:aws(?:-[a-z]+)*:(?:iam::[0-9]{12}:(?:root|user/.+|role/.+)|sts::[0-9]{12}:assumed-role/[^/]+/.+)"
)


# The trail name TrailGuard asks a policy about for an account none of whose trails is known (any new trail's).
PROBE_TRAIL_NAME = "trailguard-probe"


def is_account_id(value: object) -> bool:
    """True for a 12-digit account id string (leading zeros are part of the id)."""
    return isinstance(value, str) and _ACCOUNT_ID.fullmatch(value) is not None


def is_org_id(value: object) -> bool:
    """True for an organization id such as ``o-a1b2c3d4e5``."""
    return isinstance(value, str) and _ORG_ID.fullmatch(value) is not None


def require_account_id(value: str, what: str = "account id") -> str:
    if not is_account_id(value):
        raise PolicyInputError(f"{what} must be a 12-digit AWS account id, got {value!r}")
    return value


def require_org_id(value: str, what: str = "organization id") -> str:
    if not is_org_id(value):
        raise PolicyInputError(
            f"{what} must look like o-xxxxxxxxxx (10 to 32 lowercase letters or digits), got {value!r}"
        )
    return value


def require_bucket_name(value: str) -> str:
    if not isinstance(value, str) or _BUCKET.fullmatch(value) is None or ".." in value:
        raise PolicyInputError(
            f"bucket must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens), got {value!r}"
        )
    return value


def require_partition(value: str) -> str:
    if not isinstance(value, str) or _PARTITION.fullmatch(value) is None:
        raise PolicyInputError(f"partition must look like aws, aws-cn or aws-us-gov, got {value!r}")
    return value


def require_principal_arn(value: str, what: str = "principal") -> str:
    """An IAM root/user/role ARN or an STS assumed-role session ARN; a bare account id becomes its root."""
    if is_account_id(value):
        return f"arn:aws:iam::{value}:root"
    if not isinstance(value, str) or _IAM_PRINCIPAL_ARN.fullmatch(value) is None:
        raise PolicyInputError(
            f"{what} must be an IAM root, user or role ARN or an assumed-role session ARN, got {value!r}"
        )
    return value


def normalise_prefix(value: str | None) -> str | None:
    """An S3 key prefix without leading or trailing slashes, or None when empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PolicyInputError(f"prefix must be a string, got {value!r}")
    stripped = value.strip("/")
    if any(ch in stripped for ch in '*?$\n\r\t"\\'):
        raise PolicyInputError(f"prefix must not contain wildcards, quotes or control characters, got {value!r}")
    return stripped or None


@dataclass(frozen=True, slots=True)
class Arn:
    """The six colon-separated components of an ARN; ``resource`` keeps any further colons."""

    partition: str
    service: str
    region: str
    account: str
    resource: str


def parse_arn(value: str) -> Arn | None:
    """Split an ARN into its components, or None when ``value`` is not an ARN."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


@dataclass(frozen=True, slots=True)
class TrailArn:
    arn: str
    partition: str
    region: str
    account: str
    name: str


def parse_trail_arn(value: str) -> TrailArn:
    """A CloudTrail trail ARN ``arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME``."""
    match = _TRAIL_ARN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PolicyInputError(f"not a CloudTrail trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME): {value!r}")
    return TrailArn(value, match.group(1), match.group(2), match.group(3), match.group(4))


def parse_key_arn(value: str) -> Arn:
    """A KMS key ARN ``arn:aws:kms:REGION:ACCOUNT:key/ID`` (aliases are not accepted)."""
    if not isinstance(value, str) or _KEY_ARN.fullmatch(value) is None:
        raise PolicyInputError(f"not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): {value!r}")
    arn = parse_arn(value)
    assert arn is not None
    return arn


def principal_account(entry: str) -> str | None:
    """The account of a policy's AWS principal entry (account id or IAM/STS ARN), if it names one."""
    if is_account_id(entry):
        return entry
    arn = parse_arn(entry)
    if arn is not None and arn.service in ("iam", "sts") and is_account_id(arn.account):
        return arn.account
    return None
