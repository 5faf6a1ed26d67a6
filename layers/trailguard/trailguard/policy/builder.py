"""The one place where the grants CloudTrail needs are written.

The key and bucket guards call these functions to build or repair policies; every policy built here is
checked with the analyzer before it is returned, so a builder bug cannot reach AWS, and none is ever
returned over the size AWS stores (``PolicySizeError`` says which limit and what to do instead).

Two forms of the CloudTrail grants, chosen automatically (``organization_wide=None``, the default):

- per account, while the policy fits what AWS stores: one entry per account to admit, as the CloudTrail
  documentation writes them (``arn:aws:cloudtrail:*:<ACCOUNT>:trail/*`` in the key's encryption-context
  condition; ``[prefix/]AWSLogs/<ACCOUNT>/*`` with ``aws:SourceAccount`` on the bucket). The policies grow
  with the accounts: the key reaches the KMS limit at about 730 accounts, the bucket the S3 limit at about
  180.
- organization-wide, when the per-account form would not fit and the organization id is known (or when
  asked for, ``organization_wide=True``): one grant admits every trail of every account of the
  organization, whatever its size, through the ``aws:SourceOrgID`` condition key. AWS sets that key on a
  service principal's request from the account the service acts for (the trail's owner; the management
  account for an organization trail). On S3 it is the condition AWS Control Tower's log bucket policy puts
  on CloudTrail's writes. On KMS it is an inference: the IAM reference gives ``aws:SourceOrgID`` the same
  availability as ``aws:SourceAccount`` on service-principal requests, and the CloudTrail documentation
  lists ``aws:SourceAccount`` (and ``aws:SourceArn``) for CloudTrail's KMS requests; AWS Organizations'
  confused-deputy resource control policy example, which covers ``kms:*``, also relies on it. That is why
  the key takes this form only when the per-account one cannot fit. ``aws:PrincipalOrgID`` would not do:
  CloudTrail itself is not a member of the organization.

Without the organization id a policy that would not fit is refused (``PolicySizeError``, whose advice is
to give the id); ``organization_wide=False`` keeps the per-account form whatever the size (and is refused
the same way when it does not fit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from trailguard.policy.admission import (
    Admission,
    TrailRef,
    bucket_admission,
    key_admission,
    probe_trail_arn,
)
from trailguard.policy.document import PolicyDocument, parse_policy
from trailguard.policy.errors import PolicyInputError, PolicyRepairError, PolicySizeError
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
from trailguard.policy.questions import CLOUDTRAIL_CONTEXT_KEY, CLOUDTRAIL_SERVICE, principal_may_decrypt

POLICY_VERSION = "2012-10-17"
KMS_KEY_POLICY_LIMIT = 32 * 1024
S3_BUCKET_POLICY_LIMIT = 20 * 1024
SID_KEY_ADMIN = "TrailGuardKeyAdministration"
SID_CLOUDTRAIL_ENCRYPT = "TrailGuardCloudTrailEncrypt"
SID_CLOUDTRAIL_ENCRYPT_ORG = "TrailGuardCloudTrailEncryptOrganization"
SID_CLOUDTRAIL_DESCRIBE = "TrailGuardCloudTrailDescribeKey"
SID_LOG_READERS = "TrailGuardLogReadersDecrypt"
SID_BUCKET_ACL = "TrailGuardCloudTrailAclCheck"
SID_BUCKET_WRITE = "TrailGuardCloudTrailWrite"
SID_BUCKET_ORG_WRITE = "TrailGuardCloudTrailOrganizationWrite"
SID_BUCKET_ACL_ORG = "TrailGuardCloudTrailAclCheckOrganization"
SID_BUCKET_WRITE_ORG = "TrailGuardCloudTrailWriteOrganization"
ORGANIZATION_ID_HINT = "TRAILGUARD_ORG_ID for the guards, --org-id on the command line"
PER_ACCOUNT_HINT = "organization_wide=False, --per-account on the command line"
MAX_LISTED_PROBLEMS = 5
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


def _check_org(
    management_account: str | None, org_id: str | None, writers: tuple[str, ...], organization_wide: bool | None
) -> None:
    if org_id is not None:
        require_org_id(org_id)
        if management_account is None:
            raise PolicyInputError("an organization id needs the management account: organization trails belong to it")
    elif organization_wide is True:
        raise PolicyInputError("the organization-wide form needs the organization id (o-...)")
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
    organization_wide: bool = False
    automatic: bool = False  # the form is TrailGuard's choice: organization-wide only when per account does not fit

    @property
    def encrypting_accounts(self) -> tuple[str, ...]:
        """The accounts whose trails use the key: the management account first (organization trails)."""
        return _writers(self.management_account, self.trail_accounts)

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.key_account}:root"

    def probe_trail(self, account: str) -> str:
        return probe_trail_arn(account, partition=self.partition, region=self.region)


def key_policy_spec(
    key_account: str,
    *,
    management_account: str | None = None,
    org_id: str | None = None,
    trail_accounts: Iterable[str] = (),
    log_readers: Iterable[str] = (),
    key_arn: str | None = None,
    organization_wide: bool | None = False,
) -> KeyPolicySpec:
    """``organization_wide``: True admits every account of the organization ``org_id`` with one grant (the
    trail accounts are then the ones the self-check probes; they must belong to the organization); None
    lets the builder and the merge choose (``automatic``: per account while the policy fits)."""
    require_account_id(key_account, "key account")
    if management_account is not None:
        require_account_id(management_account, "management account")
    accounts = _accounts(trail_accounts, "trail account")
    _check_org(management_account, org_id, _writers(management_account, accounts), organization_wide)
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
    return KeyPolicySpec(
        key_account,
        management_account,
        org_id,
        accounts,
        readers,
        key_arn,
        partition,
        region,
        organization_wide is True,
        organization_wide is None,
    )


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


def cloudtrail_org_encrypt_statement(spec: KeyPolicySpec) -> dict[str, Any]:
    """``kms:GenerateDataKey*`` for CloudTrail, for every trail of every account of the organization.

    Two conditions, both needed: the encryption context names a CloudTrail trail of any account and
    region of the partition (``arn:<partition>:cloudtrail:*:*:trail/*``: the key encrypts trail log files
    and nothing else), and ``aws:SourceOrgID`` pins the trail's owner to the organization (see the module
    documentation for why AWS sets it on these requests). A region-pinned or account-listed pattern would
    make the policy grow again, and ``aws:SourceArn`` would break every trail created later.
    """
    if spec.org_id is None:
        raise PolicyInputError("the organization-wide encrypt grant needs the organization id")
    return {
        "Sid": SID_CLOUDTRAIL_ENCRYPT_ORG,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {
            "StringLike": {CLOUDTRAIL_CONTEXT_KEY: f"arn:{spec.partition}:cloudtrail:*:*:trail/*"},
            "StringEquals": {"aws:SourceOrgID": spec.org_id},
        },
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
    organization_wide: bool = False,
) -> list[dict[str, Any]]:
    """The statements a central CloudTrail key needs: administration by the key account's root,
    CloudTrail encrypt (for the management account's organization trails and each account's own trails,
    or for every account of the organization), CloudTrail describe, and decrypt for the log readers (only
    when some are given)."""
    spec = key_policy_spec(
        key_account,
        management_account=management_account,
        org_id=org_id,
        trail_accounts=trail_accounts,
        log_readers=log_readers,
        organization_wide=organization_wide,
    )
    return key_statements(spec)


def key_statements(spec: KeyPolicySpec) -> list[dict[str, Any]]:
    encrypt = (
        cloudtrail_org_encrypt_statement(spec)
        if spec.organization_wide
        else cloudtrail_encrypt_statement(spec, spec.encrypting_accounts)
    )
    statements = [key_admin_statement(spec), encrypt, cloudtrail_describe_statement(spec)]
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
    organization_wide: bool | None = None,
) -> dict[str, Any]:
    """A complete key policy for the central key, in the form that fits (``organization_wide=None``: per
    account while it fits, else organization-wide when ``org_id`` is known). Raises ``PolicySizeError``
    when it would exceed the KMS limit, ``PolicyRepairError`` if it would not pass its own checks."""
    spec = key_policy_spec(
        key_account,
        management_account=management_account,
        org_id=org_id,
        trail_accounts=trail_accounts,
        log_readers=log_readers,
        key_arn=key_arn,
        organization_wide=organization_wide,
    )
    policy = _document("TrailGuardCentralKey", key_statements(spec))
    if may_switch(spec, policy_size(policy), KMS_KEY_POLICY_LIMIT):
        spec = replace(spec, organization_wide=True)
        policy = _document("TrailGuardCentralKey", key_statements(spec))
    require_key_policy_size(policy, spec)
    return _checked(policy, key_policy_problems(policy, spec), "key policy")


def may_switch(spec: KeyPolicySpec | BucketPolicySpec, size: int, limit: int) -> bool:
    """Whether a per-account policy of ``size`` bytes is replaced by the organization-wide form: only when the
    form is TrailGuard's choice, it does not fit, and the organization id is known."""
    return spec.automatic and not spec.organization_wide and spec.org_id is not None and size > limit


def switch_note(what: str, size: int, limit: int, org_id: str | None) -> str:
    """The sentence that says why the organization-wide form was chosen."""
    return (
        f"the per-account CloudTrail grants would make the {what} {size:,} bytes, over the limit of {limit:,}: "
        f"the organization-wide form (aws:SourceOrgID = {org_id}) is used instead"
    )


def _document(policy_id: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Id": policy_id, "Statement": statements}


def _checked(policy: dict[str, Any], problems: list[str], what: str) -> dict[str, Any]:
    """A built policy, once its own checks find nothing wrong with it."""
    if problems:
        raise PolicyRepairError(f"the built {what} does not pass its own checks: " + join_problems(problems))
    return policy


def join_problems(problems: list[str]) -> str:
    """The first few problems, and how many more (a thousand refused accounts make one line, not a page)."""
    shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")


def size_advice(
    accounts: int,
    organization_wide: bool,
    org_id: str | None,
    existing_size: int | None = None,
    *,
    automatic: bool = True,
) -> str:
    """What to do instead of a policy over the size limit, in one sentence. ``existing_size``: the size of
    the policy a merge started from; ``automatic``: whether TrailGuard chose the form (else the caller asked
    for the per-account one)."""
    steps: list[str] = []
    if existing_size is not None:
        steps.append(f"the existing policy is already {existing_size:,} bytes: remove statements it no longer needs")
    if not organization_wide and accounts > 1:
        lead = f"the CloudTrail grants name {accounts:,} accounts one by one"
        if org_id is None:
            steps.append(
                f"{lead}: set the organization id ({ORGANIZATION_ID_HINT}) and TrailGuard uses the "
                "organization-wide form instead, one grant for every account of the organization"
            )
        elif not automatic:
            steps.append(
                f"{lead}: let TrailGuard use the organization-wide form, one grant for every account of "
                f"organization {org_id} (it does when the per-account form is not asked for: drop {PER_ACCOUNT_HINT})"
            )
    if not steps:
        steps.append("its CloudTrail grants are already as short as they get: shorten its other statements")
    return "; or ".join(steps)


def require_key_policy_size(policy: Mapping[str, Any], spec: KeyPolicySpec, existing_size: int | None = None) -> None:
    """Raise ``PolicySizeError`` when AWS would refuse to store this key policy."""
    size = policy_size(policy)
    if size > KMS_KEY_POLICY_LIMIT:
        advice = size_advice(
            len(spec.encrypting_accounts), spec.organization_wide, spec.org_id, existing_size, automatic=spec.automatic
        )
        if spec.log_readers and existing_size is None:
            advice += f" (it also names {len(spec.log_readers):,} log readers)"
        raise PolicySizeError("key", size, KMS_KEY_POLICY_LIMIT, advice)


def admission_problems(admission: Admission) -> list[str]:
    """One problem per distinct reason of a refusal."""
    return list(dict.fromkeys(refusal.reason.rstrip(".") for refusal in admission.refusals))


def key_policy_admission(
    policy: Mapping[str, Any] | PolicyDocument,
    spec: KeyPolicySpec,
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
) -> Admission:
    """What the key policy refuses CloudTrail for the spec's accounts (and these known trails, and the
    organization trail when one is given)."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    return key_admission(
        doc,
        spec.key_arn,
        spec.encrypting_accounts,
        trails=trails,
        organization_trail=organization_trail,
        org_id=spec.org_id,
    )


def key_policy_problems(
    policy: Mapping[str, Any] | PolicyDocument,
    spec: KeyPolicySpec,
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
) -> list[str]:
    """What keeps this key policy from serving the spec (empty when it does). A policy over the size
    limit is reported for that alone: AWS would not store it."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    size = policy_size(doc.to_dict())
    if size > KMS_KEY_POLICY_LIMIT:
        return [f"the policy would be {size:,} bytes, over the KMS key policy limit of {KMS_KEY_POLICY_LIMIT:,}"]
    problems = admission_problems(key_policy_admission(doc, spec, trails, organization_trail))
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
    organization_wide: bool = False
    automatic: bool = False  # the form is TrailGuard's choice: organization-wide only when per account does not fit

    @property
    def writing_accounts(self) -> tuple[str, ...]:
        return _writers(self.management_account, self.trail_accounts)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def logs_arn(self, folder: str | None) -> str:
        """``bucket/[prefix/]AWSLogs/<folder>/*``, or every folder (``AWSLogs/*``) when ``folder`` is None."""
        head = f"{self.prefix}/" if self.prefix else ""
        return f"{self.bucket_arn}/{head}AWSLogs/{folder}/*" if folder else f"{self.bucket_arn}/{head}AWSLogs/*"

    def probe_trail(self, account: str) -> str:
        return probe_trail_arn(account, partition=self.partition, region=self.region)

    @property
    def organization_trail(self) -> str | None:
        """A probe for the management account's organization trail, when there is an organization."""
        if self.org_id is None or self.management_account is None:
            return None
        return self.probe_trail(self.management_account)


def bucket_policy_spec(
    bucket: str,
    trail_accounts: Iterable[str] = (),
    management_account: str | None = None,
    org_id: str | None = None,
    prefix: str | None = None,
    *,
    partition: str = "aws",
    kms_key_arn: str | None = None,
    organization_wide: bool | None = False,
) -> BucketPolicySpec:
    """``kms_key_arn``: the key the trails encrypt with, so that the write checks carry SSE-KMS headers
    (a Deny of uploads that are not ``aws:kms`` then does not count as blocking CloudTrail); the bucket is
    in its region. ``organization_wide``: True admits every account of the organization ``org_id`` with
    one grant per action; None lets the builder and the merge choose (per account while the policy fits)."""
    require_bucket_name(bucket)
    require_partition(partition)
    if management_account is not None:
        require_account_id(management_account, "management account")
    region = "us-east-1"
    if kms_key_arn is not None:
        region = parse_key_arn(kms_key_arn).region
    accounts = _accounts(trail_accounts, "trail account")
    _check_org(management_account, org_id, _writers(management_account, accounts), organization_wide)
    prefix = normalise_prefix(prefix)
    return BucketPolicySpec(
        bucket,
        accounts,
        management_account,
        org_id,
        prefix,
        partition,
        kms_key_arn,
        region,
        organization_wide is True,
        organization_wide is None,
    )


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


def _require_org_id(spec: BucketPolicySpec) -> str:
    if spec.org_id is None:
        raise PolicyInputError("an organization-wide grant needs the organization id")
    return spec.org_id


def bucket_org_acl_statement(spec: BucketPolicySpec) -> dict[str, Any]:
    """``s3:GetBucketAcl`` for CloudTrail on behalf of any account of the organization."""
    return {
        "Sid": SID_BUCKET_ACL_ORG,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "s3:GetBucketAcl",
        "Resource": spec.bucket_arn,
        "Condition": {"StringEquals": {"aws:SourceOrgID": _require_org_id(spec)}},
    }


def bucket_org_wide_write_statement(spec: BucketPolicySpec) -> dict[str, Any]:
    """``s3:PutObject`` under ``[prefix/]AWSLogs/`` for every trail of every account of the organization:
    each account's own trails (``AWSLogs/<account>/``) and the organization trail (``AWSLogs/<org-id>/``
    for every member, ``AWSLogs/<management>/``), one grant pinned by ``aws:SourceOrgID`` as AWS Control
    Tower pins its log bucket. Unlike the per-account form, a member's trail could also write under
    another member's folder (its own prefix chosen so): members are trusted to that extent, outsiders not
    at all."""
    return {
        "Sid": SID_BUCKET_WRITE_ORG,
        "Effect": "Allow",
        "Principal": {"Service": CLOUDTRAIL_SERVICE},
        "Action": "s3:PutObject",
        "Resource": spec.logs_arn(None),
        "Condition": {
            "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceOrgID": _require_org_id(spec)}
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


def bucket_statements(spec: BucketPolicySpec) -> list[dict[str, Any]]:
    if spec.organization_wide:
        return [
            bucket_org_acl_statement(spec),
            bucket_org_wide_write_statement(spec),
            deny_insecure_transport_statement(spec),
        ]
    statements = [
        bucket_acl_statement(spec, spec.writing_accounts),
        bucket_write_statement(spec, spec.writing_accounts),
    ]
    if spec.org_id is not None:
        statements.append(bucket_org_write_statement(spec))
    statements.append(deny_insecure_transport_statement(spec))
    return statements


def bucket_policy(
    bucket: str,
    trail_accounts: Iterable[str] = (),
    management_account: str | None = None,
    org_id: str | None = None,
    prefix: str | None = None,
    *,
    partition: str = "aws",
    organization_wide: bool | None = None,
) -> dict[str, Any]:
    """A complete policy for the central log bucket, in the form that fits (``organization_wide=None``: per
    account while it fits, else organization-wide when ``org_id`` is known). Raises ``PolicySizeError``
    when it would exceed the S3 limit, ``PolicyRepairError`` if it would not pass its own checks."""
    spec = bucket_policy_spec(
        bucket,
        trail_accounts,
        management_account,
        org_id,
        prefix,
        partition=partition,
        organization_wide=organization_wide,
    )
    policy = _document("TrailGuardLogBucket", bucket_statements(spec))
    if may_switch(spec, policy_size(policy), S3_BUCKET_POLICY_LIMIT):
        spec = replace(spec, organization_wide=True)
        policy = _document("TrailGuardLogBucket", bucket_statements(spec))
    require_bucket_policy_size(policy, spec)
    return _checked(policy, bucket_policy_problems(policy, spec), "bucket policy")


def require_bucket_policy_size(
    policy: Mapping[str, Any], spec: BucketPolicySpec, existing_size: int | None = None
) -> None:
    """Raise ``PolicySizeError`` when AWS would refuse to store this bucket policy."""
    size = policy_size(policy)
    if size > S3_BUCKET_POLICY_LIMIT:
        advice = size_advice(
            len(spec.writing_accounts), spec.organization_wide, spec.org_id, existing_size, automatic=spec.automatic
        )
        raise PolicySizeError("bucket", size, S3_BUCKET_POLICY_LIMIT, advice)


def bucket_policy_admission(
    policy: Mapping[str, Any] | PolicyDocument,
    spec: BucketPolicySpec,
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
) -> Admission:
    """What the bucket policy refuses CloudTrail for the spec's accounts, the organization trail (the one
    given, else a probe of the management account's when there is an organization) and these known
    trails."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    return bucket_admission(
        doc,
        spec.bucket,
        spec.writing_accounts,
        trails=trails,
        organization_trail=organization_trail if organization_trail is not None else spec.organization_trail,
        org_id=spec.org_id,
        prefix=spec.prefix,
        kms_key_arn=spec.kms_key_arn,
        partition=spec.partition,
        region=spec.region,
    )


def bucket_policy_problems(
    policy: Mapping[str, Any] | PolicyDocument,
    spec: BucketPolicySpec,
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
) -> list[str]:
    """What keeps this bucket policy from serving the spec (empty when it does)."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    size = policy_size(doc.to_dict())
    if size > S3_BUCKET_POLICY_LIMIT:
        return [f"the policy would be {size:,} bytes, over the S3 bucket policy limit of {S3_BUCKET_POLICY_LIMIT:,}"]
    return admission_problems(bucket_policy_admission(doc, spec, trails, organization_trail))
