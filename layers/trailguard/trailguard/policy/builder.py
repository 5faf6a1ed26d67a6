"""The one place where the grants CloudTrail needs are written (REFERENCE.md sections 1 and 2).

The key and bucket guards call these functions to build or repair policies; every policy built here is
checked with the analyzer before it is returned, so a builder bug cannot reach AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trailguard.policy.document import PolicyDocument, parse_policy
from trailguard.policy.errors import PolicyInputError, PolicyRepairError
from trailguard.policy.grants import key_admin_statements
from trailguard.policy.ids import (
    is_account_id,
    normalise_prefix,
    parse_key_arn,
    require_account_id,
    require_bucket_name,
    require_org_id,
    require_partition,
    require_principal_arn,
)
from trailguard.policy.questions import (
    CLOUDTRAIL_CONTEXT_KEY,
    CLOUDTRAIL_SERVICE,
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    principal_may_decrypt,
)

POLICY_VERSION = "2012-10-17"
KMS_KEY_POLICY_LIMIT = 32 * 1024
S3_BUCKET_POLICY_LIMIT = 20 * 1024
PROBE_TRAIL_NAME = "trailguard-probe"

SID_KEY_ADMIN = "TrailGuardKeyAdministration"
SID_CLOUDTRAIL_ENCRYPT = "TrailGuardCloudTrailEncrypt"
SID_CLOUDTRAIL_DESCRIBE = "TrailGuardCloudTrailDescribeKey"
SID_LOG_READERS = "TrailGuardLogReadersDecrypt"
SID_BUCKET_ACL = "TrailGuardCloudTrailAclCheck"
SID_BUCKET_WRITE = "TrailGuardCloudTrailWrite"
SID_BUCKET_ORG_WRITE = "TrailGuardCloudTrailOrganizationWrite"
SID_DENY_INSECURE_TRANSPORT = "TrailGuardDenyInsecureTransport"


def policy_size(policy: Mapping[str, Any]) -> int:
    """Bytes of the policy as compact JSON (how TrailGuard sends it; the limits count these bytes)."""
    return len(json.dumps(policy, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _accounts(values: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    return tuple(sorted({require_account_id(value, what) for value in values}))


def _writers(management_account: str | None, trail_accounts: tuple[str, ...]) -> tuple[str, ...]:
    first = (management_account,) if management_account else ()
    return first + tuple(a for a in trail_accounts if a != management_account)


def _check_org(management_account: str | None, org_id: str | None, writers: tuple[str, ...]) -> None:
    if org_id is not None:
        require_org_id(org_id)
        if management_account is None:
            raise PolicyInputError("an organization id needs the management account: organization trails belong to it")
    if not writers:
        raise PolicyInputError(
            "nothing to grant: give the management account (organization trails) or at least one trail account"
        )


@dataclass(frozen=True, slots=True)
class KeyPolicySpec:
    """What the central key must grant. Build it with ``key_policy_spec`` (it validates)."""

    key_account: str
    management_account: str | None
    org_id: str | None
    trail_accounts: tuple[str, ...]
    log_readers: tuple[str, ...]
    key_arn: str
    partition: str
    region: str

    @property
    def encrypting_accounts(self) -> tuple[str, ...]:
        """The accounts whose trails use the key: the management account first (organization trails)."""
        return _writers(self.management_account, self.trail_accounts)

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.key_account}:root"

    def probe_trail(self, account: str) -> str:
        return f"arn:{self.partition}:cloudtrail:{self.region}:{account}:trail/{PROBE_TRAIL_NAME}"


def key_policy_spec(
    key_account: str,
    *,
    management_account: str | None = None,
    org_id: str | None = None,
    trail_accounts: Iterable[str] = (),
    log_readers: Iterable[str] = (),
    key_arn: str | None = None,
) -> KeyPolicySpec:
    require_account_id(key_account, "key account")
    if management_account is not None:
        require_account_id(management_account, "management account")
    accounts = _accounts(trail_accounts, "trail account")
    _check_org(management_account, org_id, _writers(management_account, accounts))
    partition, region = "aws", "us-east-1"
    if key_arn is not None:
        arn = parse_key_arn(key_arn)
        if arn.account != key_account:
            raise PolicyInputError(f"the key ARN {key_arn} is not in the key account {key_account}")
        partition, region = require_partition(arn.partition), arn.region
    else:
        key_arn = f"arn:{partition}:kms:{region}:{key_account}:key/00000000-0000-0000-0000-000000000000"
    readers = tuple(
        dict.fromkeys(
            f"arn:{partition}:iam::{reader}:root"
            if is_account_id(reader)
            else require_principal_arn(reader, "log reader")
            for reader in ([log_readers] if isinstance(log_readers, str) else log_readers)
        )
    )
    return KeyPolicySpec(key_account, management_account, org_id, accounts, readers, key_arn, partition, region)


def key_admin_statement(spec: KeyPolicySpec) -> dict[str, Any]:
    return {
        "Sid": SID_KEY_ADMIN,
        "Effect": "Allow",
        "Principal": {"AWS": spec.root},
        "Action": "kms:*",
        "Resource": "*",
    }


def cloudtrail_encrypt_statement(spec: KeyPolicySpec, accounts: Iterable[str]) -> dict[str, Any]:
    """``kms:GenerateDataKey*`` for CloudTrail, limited by encryption context to trails of ``accounts``.

    No ``aws:SourceArn`` list: a fixed list of trails would break every trail created later.
    """
    patterns = [f"arn:{spec.partition}:cloudtrail:*:{account}:trail/*" for account in accounts]
    return {
        "Sid": SID_CLOUDTRAIL_ENCRYPT,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {"StringLike": {CLOUDTRAIL_CONTEXT_KEY: patterns}},
    }


def cloudtrail_describe_statement(spec: KeyPolicySpec) -> dict[str, Any]:
    del spec  # the statement is the same for every key; the parameter keeps the builders uniform
    return {
        "Sid": SID_CLOUDTRAIL_DESCRIBE,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "kms:DescribeKey",
        "Resource": "*",
    }


def log_readers_statement(spec: KeyPolicySpec, readers: Iterable[str]) -> dict[str, Any]:
    del spec
    return {
        "Sid": SID_LOG_READERS,
        "Effect": "Allow",
        "Principal": {"AWS": list(readers)},
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"Null": {CLOUDTRAIL_CONTEXT_KEY: "false"}},
    }


def required_key_statements(
    key_account: str,
    *,
    management_account: str | None = None,
    org_id: str | None = None,
    trail_accounts: Iterable[str] = (),
    log_readers: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The statements a central CloudTrail key needs: administration by the key account's root,
    CloudTrail encrypt (for the management account's organization trails and each account's own trails),
    CloudTrail describe, and decrypt for the log readers (only when some are given)."""
    spec = key_policy_spec(
        key_account,
        management_account=management_account,
        org_id=org_id,
        trail_accounts=trail_accounts,
        log_readers=log_readers,
    )
    return _key_statements(spec)


def _key_statements(spec: KeyPolicySpec) -> list[dict[str, Any]]:
    statements = [
        key_admin_statement(spec),
        cloudtrail_encrypt_statement(spec, spec.encrypting_accounts),
        cloudtrail_describe_statement(spec),
    ]
    if spec.log_readers:
        statements.append(log_readers_statement(spec, spec.log_readers))
    return statements


def key_policy(
    key_account: str,
    *,
    management_account: str | None = None,
    org_id: str | None = None,
    trail_accounts: Iterable[str] = (),
    log_readers: Iterable[str] = (),
    key_arn: str | None = None,
) -> dict[str, Any]:
    """A complete key policy for the central key; raises ``PolicyRepairError`` if it would not pass."""
    spec = key_policy_spec(
        key_account,
        management_account=management_account,
        org_id=org_id,
        trail_accounts=trail_accounts,
        log_readers=log_readers,
        key_arn=key_arn,
    )
    policy: dict[str, Any] = {
        "Version": POLICY_VERSION,
        "Id": "TrailGuardCentralKey",
        "Statement": _key_statements(spec),
    }
    problems = key_policy_problems(policy, spec)
    if problems:
        raise PolicyRepairError("the built key policy does not pass its own checks: " + "; ".join(problems))
    return policy


def key_policy_problems(policy: Mapping[str, Any] | PolicyDocument, spec: KeyPolicySpec) -> list[str]:
    """What keeps this key policy from serving the spec (empty when it does). A policy over the size
    limit is reported for that alone: AWS would not store it."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    size = policy_size(doc.to_dict())
    if size > KMS_KEY_POLICY_LIMIT:
        return [f"the policy would be {size} bytes, over the KMS limit of {KMS_KEY_POLICY_LIMIT}"]
    problems: list[str] = []
    for account in spec.encrypting_accounts:
        trail = spec.probe_trail(account)
        for question in (cloudtrail_may_encrypt, cloudtrail_may_describe):
            verdict = question(doc, spec.key_arn, trail)
            if not verdict.allowed:
                problems.append(verdict.reason.rstrip("."))
    first_trail = spec.probe_trail(spec.encrypting_accounts[0])
    for reader in spec.log_readers:
        verdict = principal_may_decrypt(doc, spec.key_arn, reader, first_trail)
        if not verdict.allowed:
            problems.append(verdict.reason.rstrip("."))
    if not key_admin_statements(doc, spec.key_account):
        problems.append(f"no statement would let account {spec.key_account} administer the key")
    return problems


@dataclass(frozen=True, slots=True)
class BucketPolicySpec:
    """What the central log bucket must grant. Build it with ``bucket_policy_spec`` (it validates)."""

    bucket: str
    trail_accounts: tuple[str, ...]
    management_account: str | None
    org_id: str | None
    prefix: str | None
    partition: str
    kms_key_arn: str | None = None
    region: str = "us-east-1"

    @property
    def writing_accounts(self) -> tuple[str, ...]:
        return _writers(self.management_account, self.trail_accounts)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def logs_arn(self, folder: str) -> str:
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{self.bucket_arn}/{head}AWSLogs/{folder}/*"

    def probe_trail(self, account: str) -> str:
        return f"arn:{self.partition}:cloudtrail:{self.region}:{account}:trail/{PROBE_TRAIL_NAME}"


def bucket_policy_spec(
    bucket: str,
    trail_accounts: Iterable[str] = (),
    management_account: str | None = None,
    org_id: str | None = None,
    prefix: str | None = None,
    *,
    partition: str = "aws",
    kms_key_arn: str | None = None,
) -> BucketPolicySpec:
    """``kms_key_arn``: the key the trails encrypt with, so that the write checks carry SSE-KMS headers
    (a Deny of uploads that are not ``aws:kms`` then does not count as blocking CloudTrail)."""
    require_bucket_name(bucket)
    require_partition(partition)
    if management_account is not None:
        require_account_id(management_account, "management account")
    if kms_key_arn is not None:
        parse_key_arn(kms_key_arn)
    accounts = _accounts(trail_accounts, "trail account")
    _check_org(management_account, org_id, _writers(management_account, accounts))
    prefix = normalise_prefix(prefix)
    return BucketPolicySpec(bucket, accounts, management_account, org_id, prefix, partition, kms_key_arn)


def bucket_acl_statement(spec: BucketPolicySpec, accounts: Iterable[str]) -> dict[str, Any]:
    return {
        "Sid": SID_BUCKET_ACL,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "s3:GetBucketAcl",
        "Resource": spec.bucket_arn,
        "Condition": {"StringEquals": {"aws:SourceAccount": list(accounts)}},
    }


def bucket_write_statement(spec: BucketPolicySpec, accounts: Iterable[str]) -> dict[str, Any]:
    """PutObject under ``AWSLogs/<account>/`` for trails of those accounts (an organization trail also
    writes digest files under the management account's folder)."""
    listed = list(accounts)
    return {
        "Sid": SID_BUCKET_WRITE,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "s3:PutObject",
        "Resource": [spec.logs_arn(account) for account in listed],
        "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceAccount": listed}},
    }


def bucket_org_write_statement(spec: BucketPolicySpec) -> dict[str, Any]:
    """PutObject under ``AWSLogs/<org-id>/`` for the organization trail (source: the management account)."""
    if spec.org_id is None or spec.management_account is None:
        raise PolicyInputError("an organization write grant needs the organization id and management account")
    return {
        "Sid": SID_BUCKET_ORG_WRITE,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "s3:PutObject",
        "Resource": spec.logs_arn(spec.org_id),
        "Condition": {
            "StringEquals": {
                "s3:x-amz-acl": "bucket-owner-full-control",
                "aws:SourceAccount": spec.management_account,
            }
        },
    }


def deny_insecure_transport_statement(spec: BucketPolicySpec) -> dict[str, Any]:
    return {
        "Sid": SID_DENY_INSECURE_TRANSPORT,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [spec.bucket_arn, f"{spec.bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def bucket_policy(
    bucket: str,
    trail_accounts: Iterable[str] = (),
    management_account: str | None = None,
    org_id: str | None = None,
    prefix: str | None = None,
    *,
    partition: str = "aws",
) -> dict[str, Any]:
    """A complete policy for the central log bucket; raises ``PolicyRepairError`` if it would not pass."""
    spec = bucket_policy_spec(bucket, trail_accounts, management_account, org_id, prefix, partition=partition)
    statements = [
        bucket_acl_statement(spec, spec.writing_accounts),
        bucket_write_statement(spec, spec.writing_accounts),
    ]
    if spec.org_id is not None:
        statements.append(bucket_org_write_statement(spec))
    statements.append(deny_insecure_transport_statement(spec))
    policy: dict[str, Any] = {"Version": POLICY_VERSION, "Id": "TrailGuardLogBucket", "Statement": statements}
    problems = bucket_policy_problems(policy, spec)
    if problems:
        raise PolicyRepairError("the built bucket policy does not pass its own checks: " + "; ".join(problems))
    return policy


def bucket_policy_problems(policy: Mapping[str, Any] | PolicyDocument, spec: BucketPolicySpec) -> list[str]:
    """What keeps this bucket policy from serving the spec (empty when it does)."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    size = policy_size(doc.to_dict())
    if size > S3_BUCKET_POLICY_LIMIT:
        return [f"the policy would be {size} bytes, over the S3 limit of {S3_BUCKET_POLICY_LIMIT}"]
    problems: list[str] = []
    for account in spec.writing_accounts:
        trail = spec.probe_trail(account)
        checks = [
            cloudtrail_may_get_bucket_acl(doc, spec.bucket, trail),
            cloudtrail_may_put_object(
                doc,
                spec.bucket,
                cloudtrail_object_key(account, None, spec.prefix),
                trail,
                kms_key_arn=spec.kms_key_arn,
            ),
        ]
        if spec.org_id is not None and spec.management_account is not None:
            org_trail = spec.probe_trail(spec.management_account)
            key = cloudtrail_object_key(account, spec.org_id, spec.prefix)
            checks.append(cloudtrail_may_put_object(doc, spec.bucket, key, org_trail, kms_key_arn=spec.kms_key_arn))
        problems.extend(verdict.reason.rstrip(".") for verdict in checks if not verdict.allowed)
    return problems
