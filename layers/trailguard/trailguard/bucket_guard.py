"""The central bucket pipeline: event -> bucket -> checks (against every trail in scope) -> repairs -> finding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from trailguard import policy
from trailguard.advice import explain
from trailguard.arns import bucket_region
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource, Trigger, Violation
from trailguard.guard import Attempts, Deps, Outcome, conclude, event_trigger, screen
from trailguard.observability import logger
from trailguard.scope import Scope, ScopedTrail, discover
from trailguard.sessions import error_code, is_transient
from trailguard.settings import Settings

BUCKET_EVENTS = frozenset(
    {
        "PutBucketPolicy",
        "DeleteBucketPolicy",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
        "PutBucketPublicAccessBlock",
        "DeleteBucketPublicAccessBlock",
        "PutBucketVersioning",
        "PutBucketAcl",
        "PutBucketOwnershipControls",
    }
)
POLICY_CHECKS = ("bucket.cloudtrail-acl-check", "bucket.cloudtrail-write", "bucket.public", "bucket.tls-only")
PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


@dataclass(frozen=True, slots=True)
class BucketState:
    name: str
    account: str
    region: str
    policy: str | None  # None: no bucket policy
    encryption: dict[str, Any] | None  # the default-encryption rule, None when there is none
    versioning: str | None  # Enabled | Suspended | None (never enabled)
    public_access_block: dict[str, bool]
    public_acl_grants: tuple[str, ...]


class BucketUnreadable(Exception):
    """The central bucket could not be read for a lasting reason (AccessDenied, NoSuchBucket...)."""


class BucketAdapter:
    """Reads and repairs the central bucket with its owner's credentials: the central key's account, where the
    bucket lives beside the key. Every call names the expected owner, so a bucket of the same name in another
    account is never read or changed."""

    def __init__(self, deps: Deps) -> None:
        key = deps.settings.central_key
        self._name = deps.settings.log_bucket
        self._account = key.account
        self._partition = key.partition
        self._s3 = deps.sessions.client("s3", key.account, key.region)
        self._s3control = deps.sessions.client("s3control", key.account, key.region)

    @property
    def arn(self) -> str:
        return f"arn:{self._partition}:s3:::{self._name}"

    def read(self) -> BucketState:
        try:
            return self._read()
        except ClientError as error:
            if is_transient(error):
                raise
            raise BucketUnreadable(explain("Reading the central bucket", error)) from error

    def _read(self) -> BucketState:
        s3, bucket = self._s3, {"Bucket": self._name, "ExpectedBucketOwner": self._account}
        region = bucket_region(s3.get_bucket_location(**bucket).get("LocationConstraint"))
        policy_text = self._optional(lambda: s3.get_bucket_policy(**bucket)["Policy"], "NoSuchBucketPolicy")
        encryption = self._optional(
            lambda: s3.get_bucket_encryption(**bucket)["ServerSideEncryptionConfiguration"]["Rules"][0],
            "ServerSideEncryptionConfigurationNotFoundError",
        )
        versioning = s3.get_bucket_versioning(**bucket).get("Status")
        missing = "NoSuchPublicAccessBlockConfiguration"
        block = self._optional(lambda: s3.get_public_access_block(**bucket)["PublicAccessBlockConfiguration"], missing)
        account_block = self._optional(
            lambda: self._s3control.get_public_access_block(AccountId=self._account)["PublicAccessBlockConfiguration"],
            missing,
        )
        acl = s3.get_bucket_acl(**bucket)
        public_acl = tuple(
            sorted(
                {
                    f"{grant['Permission']} to {grant['Grantee'].get('URI')}"
                    for grant in acl.get("Grants", [])
                    if grant.get("Grantee", {}).get("URI") in PUBLIC_GROUPS
                }
            )
        )
        # Block Public Access is in force where the bucket or the whole account sets it.
        effective = {flag: bool((block or {}).get(flag) or (account_block or {}).get(flag)) for flag in BLOCK_ALL}
        return BucketState(
            self._name, self._account, region, policy_text, encryption, versioning, effective, public_acl
        )

    @staticmethod
    def _optional(read: Any, missing: str) -> Any:
        try:
            return read()
        except ClientError as error:
            if error_code(error) == missing:
                return None
            raise

    def put_encryption(self, key_arn: str, bucket_key: bool) -> None:
        self._s3.put_bucket_encryption(
            Bucket=self._name,
            ExpectedBucketOwner=self._account,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                        "BucketKeyEnabled": bucket_key,
                    }
                ]
            },
        )

    def put_policy(self, document: dict[str, Any]) -> None:
        self._s3.put_bucket_policy(Bucket=self._name, ExpectedBucketOwner=self._account, Policy=json.dumps(document))

    def block_public_access(self) -> None:
        self._s3.put_public_access_block(
            Bucket=self._name, ExpectedBucketOwner=self._account, PublicAccessBlockConfiguration=BLOCK_ALL
        )


def _object_keys(trail: ScopedTrail, scope: Scope, settings: Settings) -> list[str]:
    """Where CloudTrail writes this trail's logs: AWSLogs/<account>/..., and for an organization trail also
    AWSLogs/<org-id>/<member>/... for every member."""
    keys = [policy.cloudtrail_object_key(trail.account, prefix=trail.s3_prefix, region=trail.home_region)]
    if trail.organization and settings.org_id:
        keys += [
            policy.cloudtrail_object_key(
                account, org_id=settings.org_id, prefix=trail.s3_prefix, region=trail.home_region
            )
            for account in sorted(scope.accounts)
        ]
    return keys


def _delivering(scope: Scope, state: BucketState, settings: Settings) -> list[ScopedTrail]:
    trails = [trail for trail in scope.trails if trail.s3_bucket == state.name]
    if trails:
        return trails
    key = settings.central_key
    account = settings.management_account_id or key.account
    probe = f"arn:{key.partition}:cloudtrail:{key.region}:{account}:trail/trailguard-probe"
    return [
        ScopedTrail(
            probe,
            account,
            key.region,
            bool(settings.management_account_id and settings.org_id),
            state.name,
            None,
            key.arn,
        )
    ]


def evaluate_bucket(state: BucketState, scope: Scope, settings: Settings) -> list[Violation]:
    """Pure: every bucket check against the trails that deliver to it."""
    key = settings.central_key
    violations: list[Violation] = []
    rule = (state.encryption or {}).get("ApplyServerSideEncryptionByDefault", {})
    configured = rule.get("KMSMasterKeyID")
    local = state.account == key.account and state.region == key.region
    if rule.get("SSEAlgorithm") != "aws:kms" or configured not in ((key.arn, key.key_id) if local else (key.arn,)):
        violations.append(
            Violation(
                "bucket.encryption",
                f"Default encryption of the log bucket is {rule.get('SSEAlgorithm') or 'off'}"
                + (f" with {configured}" if configured else "")
                + ", not SSE-KMS with the central key.",
                {"SSEAlgorithm": rule.get("SSEAlgorithm"), "KMSMasterKeyID": configured},
                {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key.arn},
            )
        )
    if state.versioning != "Enabled":
        violations.append(
            Violation(
                "bucket.versioning",
                f"Versioning of the log bucket is {state.versioning or 'off'}.",
                {"Status": state.versioning},
                {"Status": "Enabled"},
            )
        )
    document = None
    if state.policy is not None:
        try:
            document = policy.parse_policy(state.policy)
        except policy.PolicyParseError as error:
            logger.warning("bucket policy unparseable", error=str(error))
    document = document or policy.parse_policy({"Version": "2012-10-17", "Statement": []})
    trails = _delivering(scope, state, settings)
    no_acl = [t.arn for t in trails if not policy.cloudtrail_may_get_bucket_acl(document, state.name, t.arn).allowed]
    if no_acl:
        violations.append(
            Violation(
                "bucket.cloudtrail-acl-check",
                "The log bucket policy does not let CloudTrail GetBucketAcl"
                + (" (there is no bucket policy)." if state.policy is None else "."),
                {"refused_trails": no_acl},
                {"cloudtrail_may_get_bucket_acl": True},
            )
        )
    refused: dict[str, str] = {}
    for trail in trails:
        for object_key in _object_keys(trail, scope, settings):
            verdict = policy.cloudtrail_may_put_object(
                document, state.name, object_key, trail.arn, kms_key_arn=trail.kms_key_id
            )
            if not verdict.allowed:
                refused.setdefault(object_key.rsplit("/CloudTrail/", 1)[0], verdict.reason)
    if refused:
        violations.append(
            Violation(
                "bucket.cloudtrail-write",
                f"The log bucket policy does not let CloudTrail write {', '.join(sorted(refused))}"
                + (" (there is no bucket policy)." if state.policy is None else "."),
                {"refused_prefixes": sorted(refused)},
                {"refused_prefixes": []},
            )
        )
    partition = settings.central_key.partition
    public = policy.public_grants(document, f"arn:{partition}:s3:::{state.name}")
    acl_grants = () if state.public_access_block["IgnorePublicAcls"] else state.public_acl_grants
    open_flags = sorted(flag for flag, on in state.public_access_block.items() if not on)
    if public or acl_grants or open_flags:
        parts = []
        if public:
            parts.append("the bucket policy grants " + policy.describe_grants(public))
        if acl_grants:
            parts.append("the bucket ACL grants " + ", ".join(acl_grants))
        if open_flags:
            parts.append("Block Public Access is off (" + ", ".join(open_flags) + ")")
        violations.append(
            Violation(
                "bucket.public",
                "The log bucket is open to the public: " + "; ".join(parts) + ".",
                {
                    "policy_grants": [g.statement for g in public],
                    "acl_grants": list(acl_grants),
                    "public_access_block_off": open_flags,
                },
                {"policy_grants": [], "acl_grants": [], "public_access_block_off": []},
            )
        )
    # Without the organization's account list, every legitimate grant would look external.
    external = policy.external_grants(document, scope.accounts, settings.org_id) if scope.organization_known else []
    if external:
        violations.append(
            Violation(
                "bucket.external-access",
                "The log bucket policy grants accounts outside the organization: "
                + policy.describe_grants(external)
                + ".",
                {"grants": [g.to_dict() for g in external]},
                {"grants": []},
            )
        )
    insecure = policy.evaluate(
        document,
        policy.Request(
            policy.Caller.aws(f"arn:{partition}:iam::{state.account}:root"),
            "s3:GetObject",
            f"arn:{partition}:s3:::{state.name}/AWSLogs/x",
            {"aws:SecureTransport": "false"},
        ),
    )
    if not insecure.denied_explicitly:
        violations.append(
            Violation(
                "bucket.tls-only",
                "The log bucket policy does not deny requests without TLS.",
                {"denies_insecure_transport": False},
                {"denies_insecure_transport": True},
            )
        )
    return violations


def handle_bucket_event(event: ApiCallEvent, deps: Deps) -> Outcome:
    skipped = screen(event, BUCKET_EVENTS, "bucket")
    if skipped is not None:
        return skipped
    if event.record.request("bucketName") != deps.settings.log_bucket:
        return Outcome("ignored", reason="the event is about another bucket")
    return guard_bucket(event_trigger(event), deps, BucketAdapter(deps))


def guard_bucket(trigger: Trigger, deps: Deps, adapter: BucketAdapter, scope: Scope | None = None) -> Outcome:
    settings = deps.settings
    key = settings.central_key
    arn = adapter.arn
    try:
        state = adapter.read()
    except BucketUnreadable as error:
        # Lost access to the log bucket (a policy that denies TrailGuard, a deleted bucket): the most critical
        # state of all, so it is reported, never dropped.
        violation = Violation(
            "bucket.cloudtrail-write",
            f"TrailGuard cannot read the central log bucket: {error}",
            {"readable": False},
            {"readable": True},
        )
        resource = Resource("bucket", arn, key.account, key.region, settings.log_bucket)
        attempts = Attempts()
        if settings.remediate:
            attempts.refuse(
                [violation.check],
                f"TrailGuard has lost access to the bucket (it expects it in the central key's account "
                f"{key.account}); restore the bucket policy's grant to the TrailGuard roles.",
            )
        return conclude(deps, resource, trigger, [violation], lambda _: [], attempts=attempts)
    scope = scope or discover(deps)
    violations = evaluate_bucket(state, scope, settings)
    resource = Resource("bucket", arn, state.account, state.region, state.name)
    if not violations:
        logger.info("central bucket compliant", bucket=state.name)
        return Outcome("compliant", arn)
    return conclude(
        deps,
        resource,
        trigger,
        violations,
        lambda attempts: _repair(state, {v.check for v in violations}, scope, deps, adapter, attempts),
    )


def _repair(
    state: BucketState, checks: set[str], scope: Scope, deps: Deps, adapter: BucketAdapter, attempts: Attempts
) -> list[Violation]:
    """Default encryption back to the central key, and (policy repair on) the merged bucket policy with Block
    Public Access on; returns what a fresh read finds."""
    settings = deps.settings
    if "bucket.encryption" in checks:
        bucket_key = bool((state.encryption or {}).get("BucketKeyEnabled"))
        attempts.attempt(
            ["bucket.encryption"],
            "s3:PutEncryptionConfiguration",
            lambda: adapter.put_encryption(settings.central_key_arn, bucket_key),
        )
    policy_checks = [name for name in POLICY_CHECKS if name in checks]
    if policy_checks and settings.repair_policies:
        try:
            existing = policy.parse_policy(state.policy or {"Version": "2012-10-17", "Statement": []})
            management = settings.management_account_id
            prefixes = {trail.s3_prefix for trail in scope.trails if trail.s3_bucket == state.name}
            merged = policy.merge_bucket_policy(
                existing,
                state.name,
                trail_accounts=[account for account in scope.trail_accounts if account != management],
                management_account=management,
                org_id=settings.org_id,
                prefix=prefixes.pop() if len(prefixes) == 1 else None,
                partition=settings.central_key.partition,
                kms_key_arn=settings.central_key_arn,
            )
        except (policy.PolicyRepairError, policy.PolicyParseError) as error:
            attempts.refuse(policy_checks, f"the repaired policy was not written: {error}")
        else:
            if merged.changed and attempts.attempt(
                policy_checks, "s3:PutBucketPolicy", lambda: adapter.put_policy(merged.policy)
            ):
                logger.info("bucket policy repaired", changes=list(merged.changes))
    if "bucket.public" in checks and settings.repair_policies and not all(state.public_access_block.values()):
        attempts.attempt(["bucket.public"], "s3:PutBucketPublicAccessBlock", adapter.block_public_access)
    if not attempts.attempted:
        return []
    return evaluate_bucket(adapter.read(), scope, settings)
