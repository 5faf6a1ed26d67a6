"""Which accounts and trails a key or bucket policy refuses, for a whole organization at once.

``key_admission`` and ``bucket_admission`` ask the CloudTrail questions once per trail: each known trail,
and for an account without a known trail one probe trail
(``arn:<partition>:cloudtrail:<region>:<account>:trail/trailguard-probe``), plus the management account's
organization trail when one is given. The policy is compiled once (``evaluation.compiled_statements``), so
the whole answer costs time linear in the number of accounts and trails.

The guards, the builder's self-check and the merge all use these two functions with the same inputs, so
that what a check reports as refused is exactly what a repair adds a grant for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trailguard.policy.document import PolicyDocument
from trailguard.policy.errors import PolicyInputError
from trailguard.policy.ids import (
    PROBE_TRAIL_NAME,
    normalise_prefix,
    parse_key_arn,
    parse_trail_arn,
    require_account_id,
    require_bucket_name,
    require_org_id,
    require_partition,
)
from trailguard.policy.questions import (
    Verdict,
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
)


def probe_trail_arn(account: str, *, partition: str = "aws", region: str = "us-east-1") -> str:
    """The ARN TrailGuard asks about for an account none of whose trails is known: any new trail's."""
    return f"arn:{partition}:cloudtrail:{region}:{require_account_id(account)}:trail/{PROBE_TRAIL_NAME}"


@dataclass(frozen=True, slots=True)
class KnownTrail:
    """A trail whose grants are checked: its ARN and, for the bucket, its S3 key prefix (None: the
    prefix the bucket check is given)."""

    arn: str
    prefix: str | None = None


TrailRef = str | KnownTrail


@dataclass(frozen=True, slots=True)
class Refusal:
    """One request CloudTrail would be refused: for which account and trail (``probe``: no trail of the
    account is known, the ARN is a probe's), which action on what (``target``: the key, the bucket, or
    the log folder ``[prefix/]AWSLogs/[o-org/]ACCOUNT``), and the verdict that says why."""

    account: str
    trail: str
    action: str
    target: str
    verdict: Verdict
    probe: bool
    organization_trail: bool = False

    @property
    def reason(self) -> str:
        return self.verdict.reason


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer for a set of accounts: every refused request, and how much was asked."""

    refusals: tuple[Refusal, ...]
    accounts: int
    trails: int

    @property
    def admitted(self) -> bool:
        return not self.refusals

    @property
    def refused_accounts(self) -> tuple[str, ...]:
        """Accounts some request of whose trails is refused (an organization trail counts for the
        management account), sorted."""
        return tuple(sorted({refusal.account for refusal in self.refusals}))

    @property
    def refused_trails(self) -> tuple[str, ...]:
        return tuple(sorted({refusal.trail for refusal in self.refusals}))

    def refused(self, action: str) -> tuple[Refusal, ...]:
        """The refusals of one action (``kms:GenerateDataKey``, ``s3:PutObject``...)."""
        return tuple(refusal for refusal in self.refusals if refusal.action == action)

    @property
    def unknown_conditions(self) -> tuple[str, ...]:
        return tuple(sorted({name for refusal in self.refusals for name in refusal.verdict.unknown_conditions}))

    def summary(self, limit: int = 3) -> str:
        """One sentence for a person: which accounts are refused and why (the first few reasons)."""
        if self.admitted:
            return f"CloudTrail is admitted for all {self.accounts} account(s) ({self.trails} trail(s))."
        accounts = self.refused_accounts
        shown = ", ".join(accounts[:10]) + (f" and {len(accounts) - 10} more" if len(accounts) > 10 else "")
        reasons = "; ".join(dict.fromkeys(refusal.reason.rstrip(".") for refusal in self.refusals[:limit]))
        return f"CloudTrail is refused for account(s) {shown}: {reasons}."


@dataclass(frozen=True, slots=True)
class _Asked:
    account: str
    arn: str
    prefix: str | None
    probe: bool
    organization: bool = False

    def refusal(self, action: str, target: str, verdict: Verdict) -> Refusal:
        return Refusal(self.account, self.arn, action, target, verdict, self.probe, self.organization)


def _trails(
    accounts: Iterable[str], trails: Iterable[TrailRef], *, partition: str, region: str
) -> tuple[list[_Asked], int]:
    """Every known trail, and a probe for each account without one (accounts in sorted order)."""
    known: dict[str, list[_Asked]] = {}
    for ref in trails:
        trail = ref if isinstance(ref, KnownTrail) else KnownTrail(ref)
        parsed = parse_trail_arn(trail.arn)
        prefix = normalise_prefix(trail.prefix)
        known.setdefault(parsed.account, []).append(_Asked(parsed.account, parsed.arn, prefix, probe=False))
    everyone = sorted({require_account_id(account) for account in accounts} | set(known))
    asked: list[_Asked] = []
    for account in everyone:
        found = known.get(account)
        if found:
            asked.extend(dict.fromkeys(found))  # a trail listed twice is asked about once
        else:
            arn = probe_trail_arn(account, partition=partition, region=region)
            asked.append(_Asked(account, arn, None, probe=True))
    return asked, len(everyone)


def _organization_trail(ref: TrailRef | None, default_prefix: str | None = None) -> _Asked | None:
    if ref is None:
        return None
    trail = ref if isinstance(ref, KnownTrail) else KnownTrail(ref)
    parsed = parse_trail_arn(trail.arn)
    prefix = normalise_prefix(trail.prefix) or default_prefix
    return _Asked(parsed.account, parsed.arn, prefix, probe=False, organization=True)


def key_admission(
    doc: PolicyDocument,
    key_arn: str,
    accounts: Iterable[str],
    *,
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
    org_id: str | None = None,
) -> Admission:
    """Which of these accounts' trails CloudTrail may not encrypt for (``kms:GenerateDataKey``) or describe
    the key for (``kms:DescribeKey``).

    ``trails``: the known trails (their accounts are asked about even when not in ``accounts``); an
    account with none gets a probe trail in the key's region. ``organization_trail``: the management
    account's organization trail (its ARN is the encryption context in every member). ``org_id``: the
    organization the accounts belong to; CloudTrail's requests then carry it as ``aws:SourceOrgID``.
    """
    key = parse_key_arn(key_arn)
    source_org = require_org_id(org_id) if org_id is not None else None
    asked, account_count = _trails(accounts, trails, partition=key.partition, region=key.region)
    org_trail = _organization_trail(organization_trail)
    if org_trail is not None:
        asked.append(org_trail)
    refusals: list[Refusal] = []
    for trail in asked:
        for action, question in (
            ("kms:GenerateDataKey", cloudtrail_may_encrypt),
            ("kms:DescribeKey", cloudtrail_may_describe),
        ):
            verdict = question(doc, key_arn, trail.arn, source_org_id=source_org)
            if not verdict.allowed:
                refusals.append(trail.refusal(action, key_arn, verdict))
    return Admission(tuple(refusals), account_count, len(asked))


def _folder(object_key: str) -> str:
    return object_key.rsplit("/CloudTrail/", 1)[0]


def bucket_admission(
    doc: PolicyDocument,
    bucket: str,
    accounts: Iterable[str],
    *,
    trails: Iterable[TrailRef] = (),
    organization_trail: TrailRef | None = None,
    org_id: str | None = None,
    prefix: str | None = None,
    kms_key_arn: str | None = None,
    partition: str = "aws",
    region: str = "us-east-1",
) -> Admission:
    """Which of these accounts' trails CloudTrail may not deliver to the bucket for: ``s3:GetBucketAcl``
    on the bucket and ``s3:PutObject`` under ``[prefix/]AWSLogs/<account>/``.

    ``organization_trail`` (needs ``org_id``): the management account's organization trail, which also
    writes ``[prefix/]AWSLogs/<org-id>/<account>/`` for every account and ``[prefix/]AWSLogs/<management>/``.
    ``prefix``: the S3 key prefix of trails that give none of their own. ``kms_key_arn``: the key the
    trails encrypt with (uploads then carry the SSE-KMS headers). ``org_id``: as for ``key_admission``.
    """
    require_bucket_name(bucket)
    require_partition(partition)
    source_org = require_org_id(org_id) if org_id is not None else None
    default_prefix = normalise_prefix(prefix)
    asked, account_count = _trails(accounts, trails, partition=partition, region=region)
    members = sorted({trail.account for trail in asked})
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    refusals: list[Refusal] = []

    def ask_write(trail: _Asked, folder_account: str, org_folder: str | None = None) -> None:
        home = parse_trail_arn(trail.arn).region
        object_key = cloudtrail_object_key(folder_account, org_folder, trail.prefix or default_prefix, home)
        verdict = cloudtrail_may_put_object(
            doc, bucket, object_key, trail.arn, kms_key_arn=kms_key_arn, source_org_id=source_org
        )
        if not verdict.allowed:
            refusals.append(trail.refusal("s3:PutObject", _folder(object_key), verdict))

    def ask_acl(trail: _Asked) -> None:
        verdict = cloudtrail_may_get_bucket_acl(doc, bucket, trail.arn, source_org_id=source_org)
        if not verdict.allowed:
            refusals.append(trail.refusal("s3:GetBucketAcl", bucket_arn, verdict))

    for trail in asked:
        ask_acl(trail)
        ask_write(trail, trail.account)
    org_trail = _organization_trail(organization_trail, default_prefix)
    if org_trail is not None:
        if source_org is None:
            raise PolicyInputError("an organization trail is checked with the organization id (org_id)")
        ask_acl(org_trail)
        ask_write(org_trail, org_trail.account)
        for account in dict.fromkeys([*members, org_trail.account]):
            ask_write(org_trail, account, source_org)
    trail_count = len(asked) + (1 if org_trail is not None else 0)
    return Admission(tuple(refusals), account_count, trail_count)
