"""The central key's repairs: its state (CancelKeyDeletion, EnableKey, EnableKeyRotation) and, with policy
repair on, its policy (the missing CloudTrail grants merged in for every account the check requires, in the
form that fits the key policy, public grants out)."""

from __future__ import annotations

from trailguard import policy
from trailguard.catalogue import checks_for
from trailguard.context import Context
from trailguard.key.checks import key_question
from trailguard.key.facts import CentralKey, KeyAdapter
from trailguard.observability import logger
from trailguard.resource import Attempts
from trailguard.vocabulary import Repair, ResourceType


def policy_checks() -> tuple[str, ...]:
    """The checks a policy rewrite repairs (the registry's `Repair.POLICIES` rows)."""
    return tuple(item.id for item in checks_for(ResourceType.KEY) if item.repair is Repair.POLICIES)


def repair_state(central: CentralKey, checks: set[str], adapter: KeyAdapter, attempts: Attempts) -> None:
    """CancelKeyDeletion and EnableKey, then EnableKeyRotation."""
    facts = central.facts
    enabled = facts.state == "Enabled"
    if "key.state" in checks:
        if facts.state in ("PendingDeletion", "PendingReplicaDeletion"):
            enabled = attempts.attempt(["key.state"], "kms:CancelKeyDeletion+kms:EnableKey", adapter.restore)
        elif facts.state == "Disabled":
            enabled = attempts.attempt(["key.state"], "kms:EnableKey", adapter.enable)
        elif facts.state is None:
            attempts.refuse(
                ["key.state"],
                "TrailGuard has lost access to the central key; restore its key policy "
                "(the administrator statement) or the function role's permissions.",
            )
        else:
            attempts.refuse(
                ["key.state"],
                f"a key in state {facts.state} cannot be re-enabled by TrailGuard; for PendingImport re-import "
                "the key material, otherwise restore the key by hand.",
            )
    if "key.rotation" in checks:
        if enabled:
            attempts.attempt(["key.rotation"], "kms:EnableKeyRotation", adapter.enable_rotation)
        else:
            attempts.refuse(["key.rotation"], "rotation cannot be enabled while the key is not Enabled.")


def repair_policy(
    central: CentralKey, checks: set[str], context: Context, adapter: KeyAdapter, attempts: Attempts
) -> None:
    """With policy repair on: merge the missing CloudTrail grants in (for the accounts, trails and organization
    trail the check asks about) and the public grants out; written only when the merge changed something."""
    settings, facts = context.settings, central.facts
    rewritten = [name for name in policy_checks() if name in checks]
    if "key.cloudtrail-encrypt" in checks and facts.policy is None:
        attempts.refuse(["key.cloudtrail-encrypt"], "the key policy cannot be read, so it cannot be repaired.")
        return
    if not (rewritten and settings.repair_policies and facts.policy is not None):
        return
    question = key_question(context)
    try:
        merged = policy.merge_key_policy(
            policy.parse_policy(facts.policy),
            settings.central_key.account,
            management_account=settings.management_account_id,
            org_id=question.org_id,
            trail_accounts=question.admitted.accounts,
            key_arn=question.key_arn,
            trails=question.trails,
            organization_trail=question.organization_trail,
        )
    except (policy.PolicyRepairError, policy.PolicyParseError) as error:
        attempts.refuse(rewritten, f"the repaired policy was not written: {error}")
        return
    if not merged.changed:
        attempts.refuse(
            rewritten,
            "the merged policy is the same as the current one, so nothing was written; the grant TrailGuard "
            "expects is already there in a form the check does not accept: review the statement by hand.",
        )
        return
    if attempts.attempt(rewritten, "kms:PutKeyPolicy", lambda: adapter.put_policy(merged.policy)):
        logger.info("key policy repaired", changes=list(merged.changes))
