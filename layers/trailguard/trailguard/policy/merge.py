"""Repairs of an existing key or bucket policy: keep what is there, drop public grants, add what CloudTrail
is missing. A repair never widens access (beyond the CloudTrail and log-reader grants it was asked for),
never removes a Deny, and never removes the key's administrator statement.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trailguard.policy.builder import (
    BucketPolicySpec,
    KeyPolicySpec,
    bucket_acl_statement,
    bucket_org_write_statement,
    bucket_policy_problems,
    bucket_policy_spec,
    bucket_write_statement,
    cloudtrail_describe_statement,
    cloudtrail_encrypt_statement,
    deny_insecure_transport_statement,
    key_policy_problems,
    key_policy_spec,
    log_readers_statement,
)
from trailguard.policy.document import PolicyDocument, Statement, parse_policy
from trailguard.policy.errors import PolicyInputError, PolicyRepairError
from trailguard.policy.evaluation import Request, evaluate
from trailguard.policy.grants import grants_key_administration, public_statements
from trailguard.policy.matching import Caller, principal_excluded, principal_matches
from trailguard.policy.questions import (
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    principal_may_decrypt,
)


@dataclass(frozen=True, slots=True)
class MergeResult:
    """The repaired policy (a plain dict, ready for ``json.dumps``) and the changes made, as sentences.
    No changes means the existing policy already serves: write nothing."""

    policy: dict[str, Any]
    changes: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class _Draft:
    """Statements being assembled, with Sids kept unique (S3 rejects repeated Sids)."""

    def __init__(self, existing: PolicyDocument) -> None:
        self.existing = existing
        self.statements: list[dict[str, Any]] = []
        self.changes: list[str] = []
        self.sids = {s.sid for s in existing.statements if s.sid}

    def keep(self, raw: dict[str, Any]) -> None:
        self.statements.append(raw)

    def add(self, statement: dict[str, Any], change: str) -> None:
        sid = str(statement["Sid"])
        unique, number = sid, 2
        while unique in self.sids:
            unique, number = f"{sid}{number}", number + 1
        self.sids.add(unique)
        self.statements.append({**statement, "Sid": unique})
        self.changes.append(f'added statement "{unique}": {change}')

    def interim(self) -> PolicyDocument:
        return parse_policy(self.policy())

    def policy(self) -> dict[str, Any]:
        policy = self.existing.to_dict()
        policy["Statement"] = copy.deepcopy(self.statements)
        return policy

    def result(self, problems: list[str], what: str) -> MergeResult:
        if problems:
            raise PolicyRepairError(f"refusing to repair the {what}: " + "; ".join(problems))
        if not self.changes:
            return MergeResult(self.existing.to_dict(), ())
        notes = [
            f"{warning}; the repaired policy keeps only the last, as AWS already did"
            for warning in self.existing.warnings
        ]
        return MergeResult(self.policy(), (*self.changes, *notes))


def _covers_root(statement: Statement, root: Caller) -> bool:
    if statement.principal_negated:
        return not principal_excluded(statement.principal, root)
    return principal_matches(statement.principal, root)


def merge_key_policy(
    existing: PolicyDocument,
    key_account: str,
    *,
    management_account: str | None = None,
    org_id: str | None = None,
    trail_accounts: Iterable[str] = (),
    log_readers: Iterable[str] = (),
    key_arn: str | None = None,
) -> MergeResult:
    """Repair a key policy: drop public grants (narrowing the only admin statement to the key account root
    instead), add the CloudTrail encrypt/describe and log-reader grants the analyzer finds missing.
    Raises ``PolicyRepairError`` (only that) when the inputs are invalid, or the result would still not
    serve CloudTrail (e.g. a Deny blocks it), would leave no admin statement, or would exceed 32 KiB."""
    try:
        spec = key_policy_spec(
            key_account,
            management_account=management_account,
            org_id=org_id,
            trail_accounts=trail_accounts,
            log_readers=log_readers,
            key_arn=key_arn,
        )
    except PolicyInputError as error:
        raise PolicyRepairError(f"refusing to repair the key policy: {error}") from error
    draft = _Draft(existing)
    _drop_public_key_grants(draft, spec)
    _add_missing_key_grants(draft, spec)
    return draft.result(key_policy_problems(draft.policy(), spec), "key policy")


def _drop_public_key_grants(draft: _Draft, spec: KeyPolicySpec) -> None:
    existing = draft.existing
    public = {statement.index: grant for statement, grant in public_statements(existing, spec.key_arn)}
    admins = {s.index for s in existing.statements if grants_key_administration(s, spec.key_account)}
    private_admin = any(index not in public for index in admins)
    root = Caller.aws(spec.root)
    narrowed = False
    for statement in existing.statements:
        grant = public.get(statement.index)
        if grant is None:
            draft.keep(copy.deepcopy(dict(statement.raw)))
            continue
        is_admin = statement.index in admins
        if is_admin and not private_admin and not narrowed and _covers_root(statement, root):
            raw = copy.deepcopy(dict(statement.raw))
            raw.pop("NotPrincipal", None)
            raw["Principal"] = {"AWS": spec.root}
            draft.keep(raw)
            narrowed = True
            draft.changes.append(
                f"narrowed {statement.label} to {spec.root}: it was public ({grant.reason}) "
                "and is the only statement that lets the key account administer the key"
            )
        else:
            draft.changes.append(f"removed {statement.label}: {grant.reason}")


def _add_missing_key_grants(draft: _Draft, spec: KeyPolicySpec) -> None:
    doc = draft.interim()
    trails = {account: spec.probe_trail(account) for account in spec.encrypting_accounts}
    missing_encrypt = [a for a, trail in trails.items() if not cloudtrail_may_encrypt(doc, spec.key_arn, trail).allowed]
    if missing_encrypt:
        draft.add(
            cloudtrail_encrypt_statement(spec, missing_encrypt),
            f"CloudTrail may encrypt log files of trails in account {', '.join(missing_encrypt)}",
        )
    if any(not cloudtrail_may_describe(doc, spec.key_arn, trail).allowed for trail in trails.values()):
        draft.add(cloudtrail_describe_statement(spec), "CloudTrail may describe the key")
    first_trail = next(iter(trails.values()))
    readers = [r for r in spec.log_readers if not principal_may_decrypt(doc, spec.key_arn, r, first_trail).allowed]
    if readers:
        draft.add(log_readers_statement(spec, readers), f"{', '.join(readers)} may decrypt log files")


def merge_bucket_policy(
    existing: PolicyDocument,
    bucket: str,
    trail_accounts: Iterable[str] = (),
    management_account: str | None = None,
    org_id: str | None = None,
    prefix: str | None = None,
    *,
    partition: str = "aws",
    kms_key_arn: str | None = None,
) -> MergeResult:
    """Repair a log bucket policy: drop public grants, add the CloudTrail ACL-check and write grants the
    analyzer finds missing and a Deny of requests without TLS when there is none. Raises
    ``PolicyRepairError`` (only that) when the inputs are invalid, CloudTrail would still be refused or
    the policy would exceed 20 KiB. Pass ``kms_key_arn`` (the central key) when a Deny of uploads that
    are not SSE-KMS may be present: CloudTrail's uploads then carry the SSE-KMS headers."""
    try:
        spec = bucket_policy_spec(
            bucket,
            trail_accounts,
            management_account,
            org_id,
            prefix,
            partition=partition,
            kms_key_arn=kms_key_arn,
        )
    except PolicyInputError as error:
        raise PolicyRepairError(f"refusing to repair the bucket policy: {error}") from error
    draft = _Draft(existing)
    public = {statement.index: grant for statement, grant in public_statements(existing, spec.bucket_arn)}
    for statement in existing.statements:
        grant = public.get(statement.index)
        if grant is None:
            draft.keep(copy.deepcopy(dict(statement.raw)))
        else:
            draft.changes.append(f"removed {statement.label}: {grant.reason}")
    _add_missing_bucket_grants(draft, spec)
    return draft.result(bucket_policy_problems(draft.policy(), spec), "bucket policy")


def _add_missing_bucket_grants(draft: _Draft, spec: BucketPolicySpec) -> None:
    doc = draft.interim()
    accounts = spec.writing_accounts
    no_acl = [a for a in accounts if not cloudtrail_may_get_bucket_acl(doc, spec.bucket, spec.probe_trail(a)).allowed]
    if no_acl:
        draft.add(
            bucket_acl_statement(spec, no_acl),
            f"CloudTrail may check the bucket ACL for account {', '.join(no_acl)}",
        )
    no_write = [
        a
        for a in accounts
        if not cloudtrail_may_put_object(
            doc,
            spec.bucket,
            cloudtrail_object_key(a, None, spec.prefix),
            spec.probe_trail(a),
            kms_key_arn=spec.kms_key_arn,
        ).allowed
    ]
    if no_write:
        draft.add(
            bucket_write_statement(spec, no_write),
            f"CloudTrail may write logs of account {', '.join(no_write)}",
        )
    if spec.org_id is not None and spec.management_account is not None:
        org_trail = spec.probe_trail(spec.management_account)
        if any(
            not cloudtrail_may_put_object(
                doc,
                spec.bucket,
                cloudtrail_object_key(a, spec.org_id, spec.prefix),
                org_trail,
                kms_key_arn=spec.kms_key_arn,
            ).allowed
            for a in accounts
        ):
            draft.add(bucket_org_write_statement(spec), f"the organization trail may write logs under {spec.org_id}")
    insecure = Request(
        Caller.anonymous(), "s3:GetObject", f"{spec.bucket_arn}/AWSLogs/x", {"aws:SecureTransport": False}
    )
    if not evaluate(doc, insecure).denied_explicitly:
        draft.add(deny_insecure_transport_statement(spec), "requests without TLS are denied")
