"""Repairs of an existing key or bucket policy: keep what is there, drop public grants, add what CloudTrail
is missing. A repair never widens access (beyond the CloudTrail and log-reader grants it was asked for),
never removes a Deny, and never removes the key's administrator statement. Statements are matched by what
they grant, never by Sid. The grants added are per account while the policy fits the size AWS stores,
organization-wide (``aws:SourceOrgID``) beyond when the organization id is known; only when even those would
not fit do the per-account CloudTrail grants of TrailGuard's own form, naming accounts of the organization
only, give way to them (removing a grant never widens access).

What is missing is what ``key_admission``/``bucket_admission`` refuse for the spec's accounts and the known
``trails``: give a merge the same trails a check was given, and the merge adds a grant exactly when the
check reports a refusal. A merge that finds nothing missing and nothing public returns the existing policy
with no changes (``changed`` is False): write nothing then, or the write's own event starts it again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from trailguard.policy.admission import Refusal, TrailRef
from trailguard.policy.builder import (
    KMS_KEY_POLICY_LIMIT,
    S3_BUCKET_POLICY_LIMIT,
    BucketPolicySpec,
    KeyPolicySpec,
    bucket_acl_statement,
    bucket_org_acl_statement,
    bucket_org_wide_write_statement,
    bucket_org_write_statement,
    bucket_policy_admission,
    bucket_policy_problems,
    bucket_policy_spec,
    bucket_write_statement,
    cloudtrail_describe_statement,
    cloudtrail_encrypt_statement,
    cloudtrail_org_encrypt_statement,
    deny_insecure_transport_statement,
    join_problems,
    key_policy_admission,
    key_policy_problems,
    key_policy_spec,
    log_readers_statement,
    may_switch,
    policy_size,
    require_bucket_policy_size,
    require_key_policy_size,
    switch_note,
)
from trailguard.policy.document import PolicyDocument, Statement, parse_policy
from trailguard.policy.errors import PolicyInputError, PolicyRepairError
from trailguard.policy.evaluation import Request, evaluate
from trailguard.policy.grants import grants_key_administration, public_statements
from trailguard.policy.matching import Caller, principal_excluded, principal_matches
from trailguard.policy.questions import CLOUDTRAIL_CONTEXT_KEY, principal_may_decrypt


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

    def give_way(self, covered: Callable[[Mapping[str, Any]], bool], why: str) -> None:
        """Remove the kept statements ``covered`` says an organization-wide grant replaces."""
        kept: list[dict[str, Any]] = []
        for position, raw in enumerate(self.statements):
            if covered(raw):
                label = raw.get("Sid") or f"statement #{position + 1}"
                self.changes.append(f"removed {label}: {why} the accounts it lists, and the policy must fit")
            else:
                kept.append(raw)
        self.statements = kept

    def interim(self) -> PolicyDocument:
        return parse_policy(self.policy())

    def policy(self) -> dict[str, Any]:
        policy = self.existing.to_dict()
        policy["Statement"] = copy.deepcopy(self.statements)
        return policy

    def result(self, problems: Callable[[dict[str, Any]], list[str]], what: str) -> MergeResult:
        """The merged policy, once ``problems`` (of the policy as it would be written) finds none."""
        if not self.changes:
            found = problems(self.existing.to_dict())
            if found:
                raise PolicyRepairError(f"refusing to repair the {what}: " + join_problems(found))
            return MergeResult(self.existing.to_dict(), ())
        found = problems(self.policy())
        if found:
            raise PolicyRepairError(f"refusing to repair the {what}: " + join_problems(found))
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
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
    organization_wide: bool | None = None,
) -> MergeResult:
    """Repair a key policy: drop public grants (narrowing the only admin statement to the key account root
    instead), add the CloudTrail encrypt/describe and log-reader grants the analyzer finds missing for the
    trail accounts (a probe trail each), the known ``trails`` (e.g. a trail pinned to one region by the
    existing grant) and the ``organization_trail``.

    The encrypt grant added is per account while the result fits the KMS limit; otherwise, with the
    organization id, the organization-wide one (``organization_wide=None``, the default; True always adds
    the organization-wide one, False never). When even that does not fit, the per-account encrypt grants
    of the form TrailGuard writes, for accounts of the organization, give way to it. Raises
    ``PolicyRepairError`` (only that; ``PolicySizeError`` over 32 KiB) when the inputs are invalid, or the
    result would still not serve CloudTrail (e.g. a Deny blocks it) or would leave no admin statement."""
    try:
        spec = key_policy_spec(
            key_account,
            management_account=management_account,
            org_id=org_id,
            trail_accounts=trail_accounts,
            log_readers=log_readers,
            key_arn=key_arn,
            organization_wide=organization_wide,
        )
        known = tuple(trails)

        def draft_for(form: KeyPolicySpec, consolidate: bool) -> _Draft:
            draft = _Draft(existing)
            _drop_public_key_grants(draft, form)
            if consolidate:
                draft.give_way(lambda raw: _per_account_encrypt(raw, form), "the organization-wide grant covers")
            _add_missing_key_grants(draft, form, known, organization_trail)
            return draft

        spec, draft = _fitting(spec, draft_for, KMS_KEY_POLICY_LIMIT, "key policy")
    except PolicyInputError as error:
        raise PolicyRepairError(f"refusing to repair the key policy: {error}") from error

    def problems(policy: dict[str, Any]) -> list[str]:
        if draft.changes:
            require_key_policy_size(policy, spec, policy_size(existing.to_dict()))
        return key_policy_problems(policy, spec, known, organization_trail)

    return draft.result(problems, "key policy")


def _fitting[Spec: (KeyPolicySpec, BucketPolicySpec)](
    spec: Spec, draft_for: Callable[[Spec, bool], _Draft], limit: int, what: str
) -> tuple[Spec, _Draft]:
    """The draft in the form that fits: per account first when TrailGuard chooses; then the organization-wide
    form keeping every existing statement; then the organization-wide form with the per-account CloudTrail
    grants it covers removed. A draft that fits nowhere is returned as the last tried (its size is refused
    with advice)."""
    draft = draft_for(spec, False)
    size = policy_size(draft.policy())
    if not (draft.changes and size > limit):
        return spec, draft
    note: str | None = None
    if may_switch(spec, size, limit):
        note = switch_note(what, size, limit, spec.org_id)
        spec = replace(spec, organization_wide=True)
        draft = draft_for(spec, False)
    if spec.organization_wide and policy_size(draft.policy()) > limit:
        draft = draft_for(spec, True)
    if note is not None:
        draft.changes.append(note)
    return spec, draft


def _normal(value: Any) -> Any:
    """A policy value compared by meaning: a one-element list is its element, lists are unordered."""
    if isinstance(value, Mapping):
        return {str(name): _normal(item) for name, item in value.items()}
    if isinstance(value, list):
        items = [_normal(item) for item in value]
        return items[0] if len(items) == 1 else sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


def _same_grant(raw: Mapping[str, Any], built: Mapping[str, Any]) -> bool:
    """Whether a statement grants exactly what a statement TrailGuard builds grants (the Sid aside)."""
    mine = _normal({name: value for name, value in raw.items() if name != "Sid"})
    theirs = _normal({name: value for name, value in built.items() if name != "Sid"})
    return bool(mine == theirs)


def _listed(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _per_account_encrypt(raw: Mapping[str, Any], spec: KeyPolicySpec) -> bool:
    """A per-account encrypt grant of the form TrailGuard writes, naming only accounts the spec admits."""
    condition = raw.get("Condition")
    patterns = (
        _listed(condition.get("StringLike", {}).get(CLOUDTRAIL_CONTEXT_KEY)) if isinstance(condition, Mapping) else None
    )
    if not patterns:
        return False
    head, tail = f"arn:{spec.partition}:cloudtrail:*:", ":trail/*"
    accounts = [p[len(head) : -len(tail)] for p in patterns if p.startswith(head) and p.endswith(tail)]
    if len(accounts) != len(patterns) or not set(accounts) <= set(spec.encrypting_accounts):
        return False
    return _same_grant(raw, cloudtrail_encrypt_statement(spec, accounts))


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


def _accounts_of(refusals: Iterable[Refusal], first: Iterable[str]) -> list[str]:
    """The refused accounts, those of ``first`` (the spec's order: management account first) leading."""
    refused = {refusal.account for refusal in refusals}
    ordered = [account for account in first if account in refused]
    return ordered + sorted(refused - set(ordered))


def _add_missing_key_grants(
    draft: _Draft, spec: KeyPolicySpec, trails: tuple[TrailRef, ...], organization_trail: TrailRef | None
) -> None:
    doc = draft.interim()
    admission = key_policy_admission(doc, spec, trails, organization_trail)
    missing_encrypt = _accounts_of(admission.refused("kms:GenerateDataKey"), spec.encrypting_accounts)
    if missing_encrypt and spec.organization_wide:
        draft.add(
            cloudtrail_org_encrypt_statement(spec),
            f"CloudTrail may encrypt log files of every trail of organization {spec.org_id}",
        )
    elif missing_encrypt:
        draft.add(
            cloudtrail_encrypt_statement(spec, missing_encrypt),
            f"CloudTrail may encrypt log files of trails in account {', '.join(missing_encrypt)}",
        )
    if admission.refused("kms:DescribeKey"):
        draft.add(cloudtrail_describe_statement(spec), "CloudTrail may describe the key")
    first_trail = spec.probe_trail(spec.encrypting_accounts[0])
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
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
    organization_wide: bool | None = None,
) -> MergeResult:
    """Repair a log bucket policy: drop public grants, add the CloudTrail ACL-check and write grants the
    analyzer finds missing (for the trail accounts, the organization trail, the given one or a probe of the
    management account's, and the known ``trails``) and a Deny of requests without TLS when there is none.

    The grants added are per account while the result fits the S3 limit; otherwise, with the organization
    id, the organization-wide ones (``organization_wide=None``, the default; True always, False never).
    When even those do not fit, the per-account CloudTrail grants of the form TrailGuard writes, for
    accounts of the organization, give way to them. Raises ``PolicyRepairError`` (only that;
    ``PolicySizeError`` over 20 KiB) when the inputs are invalid or CloudTrail would still be refused.
    Pass ``kms_key_arn`` (the central key) when a Deny of uploads that are not SSE-KMS may be present:
    CloudTrail's uploads then carry the SSE-KMS headers."""
    try:
        spec = bucket_policy_spec(
            bucket,
            trail_accounts,
            management_account,
            org_id,
            prefix,
            partition=partition,
            kms_key_arn=kms_key_arn,
            organization_wide=organization_wide,
        )
        known = tuple(trails)
        public = {statement.index: grant for statement, grant in public_statements(existing, spec.bucket_arn)}

        def draft_for(form: BucketPolicySpec, consolidate: bool) -> _Draft:
            draft = _Draft(existing)
            for statement in existing.statements:
                grant = public.get(statement.index)
                if grant is None:
                    draft.keep(copy.deepcopy(dict(statement.raw)))
                else:
                    draft.changes.append(f"removed {statement.label}: {grant.reason}")
            if consolidate:
                draft.give_way(lambda raw: _per_account_bucket_grant(raw, form), "the organization-wide grants cover")
            _add_missing_bucket_grants(draft, form, known, organization_trail)
            return draft

        spec, draft = _fitting(spec, draft_for, S3_BUCKET_POLICY_LIMIT, "bucket policy")
    except PolicyInputError as error:
        raise PolicyRepairError(f"refusing to repair the bucket policy: {error}") from error

    def problems(policy: dict[str, Any]) -> list[str]:
        if draft.changes:
            require_bucket_policy_size(policy, spec, policy_size(existing.to_dict()))
        return bucket_policy_problems(policy, spec, known, organization_trail)

    return draft.result(problems, "bucket policy")


def _per_account_bucket_grant(raw: Mapping[str, Any], spec: BucketPolicySpec) -> bool:
    """A per-account ACL-check or write grant of the form TrailGuard writes (or its write grant for the
    organization trail's folder), naming only accounts the spec admits."""
    condition = raw.get("Condition")
    equals = condition.get("StringEquals") if isinstance(condition, Mapping) else None
    accounts = _listed(equals.get("aws:SourceAccount")) if isinstance(equals, Mapping) else None
    if not accounts or not set(accounts) <= set(spec.writing_accounts):
        return False
    built = [bucket_acl_statement(spec, accounts), bucket_write_statement(spec, accounts)]
    if spec.org_id is not None and spec.management_account is not None:
        built.append(bucket_org_write_statement(spec))
    return any(_same_grant(raw, statement) for statement in built)


def _add_missing_bucket_grants(
    draft: _Draft, spec: BucketPolicySpec, trails: tuple[TrailRef, ...], organization_trail: TrailRef | None
) -> None:
    doc = draft.interim()
    admission = bucket_policy_admission(doc, spec, trails, organization_trail)
    no_acl = _accounts_of(admission.refused("s3:GetBucketAcl"), spec.writing_accounts)
    writes = admission.refused("s3:PutObject")
    in_org_folder = [r for r in writes if r.organization_trail and spec.org_id in r.target.split("/")]
    no_write = _accounts_of((r for r in writes if r not in in_org_folder), spec.writing_accounts)
    org_trail_refused = bool(in_org_folder)
    if spec.organization_wide:
        if no_acl:
            draft.add(
                bucket_org_acl_statement(spec), f"CloudTrail may check the bucket ACL for organization {spec.org_id}"
            )
        if no_write or org_trail_refused:
            draft.add(
                bucket_org_wide_write_statement(spec),
                f"CloudTrail may write logs of every trail of organization {spec.org_id}",
            )
    else:
        if no_acl:
            draft.add(
                bucket_acl_statement(spec, no_acl),
                f"CloudTrail may check the bucket ACL for account {', '.join(no_acl)}",
            )
        if no_write:
            draft.add(
                bucket_write_statement(spec, no_write),
                f"CloudTrail may write logs of account {', '.join(no_write)}",
            )
        if org_trail_refused and spec.org_id is not None and spec.management_account is not None:
            draft.add(bucket_org_write_statement(spec), f"the organization trail may write logs under {spec.org_id}")
    insecure = Request(
        Caller.anonymous(), "s3:GetObject", f"{spec.bucket_arn}/AWSLogs/x", {"aws:SecureTransport": False}
    )
    if not evaluate(doc, insecure).denied_explicitly:
        draft.add(deny_insecure_transport_statement(spec), "requests without TLS are denied")
