"""The central bucket's repairs: default encryption back to the central key; with policy repair on, the
CloudTrail grants merged into the bucket policy for every account the checks require, in the form that fits
the bucket policy (public grants out), and Block Public Access on."""

from __future__ import annotations

from trailguard import policy
from trailguard.bucket.checks import bucket_question
from trailguard.bucket.facts import BucketAdapter, BucketState
from trailguard.catalogue import checks_for
from trailguard.context import Context
from trailguard.observability import logger
from trailguard.resource import Attempts
from trailguard.vocabulary import Repair, ResourceType


def policy_checks() -> tuple[str, ...]:
    """The checks a policy rewrite repairs (the registry's `Repair.POLICIES` rows)."""
    return tuple(item.id for item in checks_for(ResourceType.BUCKET) if item.repair is Repair.POLICIES)


def repair(state: BucketState, checks: set[str], context: Context, adapter: BucketAdapter, attempts: Attempts) -> None:
    settings = context.settings
    if "bucket.encryption" in checks:
        bucket_key = bool((state.encryption or {}).get("BucketKeyEnabled"))
        attempts.attempt(
            ["bucket.encryption"],
            "s3:PutEncryptionConfiguration",
            lambda: adapter.put_encryption(settings.central_key_arn, bucket_key),
        )
    rewritten = [name for name in policy_checks() if name in checks]
    if rewritten and settings.repair_policies:
        question = bucket_question(state.name, context)
        try:
            existing = policy.parse_policy(state.policy or {"Version": "2012-10-17", "Statement": []})
            merged = policy.merge_bucket_policy(
                existing,
                state.name,
                trail_accounts=question.admitted.accounts,
                management_account=settings.management_account_id,
                org_id=question.org_id,
                prefix=question.prefix,
                partition=question.partition,
                kms_key_arn=question.kms_key_arn,
                trails=question.trails,
                organization_trail=question.organization_trail,
            )
        except (policy.PolicyRepairError, policy.PolicyParseError) as error:
            attempts.refuse(rewritten, f"the repaired policy was not written: {error}")
        else:
            if merged.changed and attempts.attempt(
                rewritten, "s3:PutBucketPolicy", lambda: adapter.put_policy(merged.policy)
            ):
                logger.info("bucket policy repaired", changes=list(merged.changes))
    if "bucket.public" in checks and settings.repair_policies and not all(state.public_access_block.values()):
        attempts.attempt(["bucket.public"], "s3:PutBucketPublicAccessBlock", adapter.block_public_access)
