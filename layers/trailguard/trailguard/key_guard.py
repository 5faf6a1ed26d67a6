"""The central key pipeline: event -> key -> checks (against every trail in scope) -> repairs -> finding."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trailguard import centralkey, policy
from trailguard.centralkey import KeyFacts
from trailguard.events import ApiCallEvent
from trailguard.findings import Resource, Trigger, Violation
from trailguard.guard import Attempts, Deps, Outcome, conclude, event_trigger, screen
from trailguard.observability import logger
from trailguard.scope import Scope, discover
from trailguard.sessions import is_transient
from trailguard.settings import Settings

KEY_EVENTS = frozenset(
    {
        "PutKeyPolicy",
        "DisableKey",
        "ScheduleKeyDeletion",
        "DisableKeyRotation",
        "DeleteImportedKeyMaterial",
        "UpdatePrimaryRegion",
    }
)
POLICY_CHECKS = ("key.cloudtrail-encrypt", "key.cloudtrail-describe", "key.public")


class KeyAdapter:
    """Reads and repairs the central key, always with the key account's credentials in the key's region."""

    def __init__(self, deps: Deps) -> None:
        key = deps.settings.central_key
        self._kms = deps.sessions.client("kms", key.account, key.region)
        self._arn = key.arn
        # Writes name the key by its id: equivalent to the ARN in the key's own account and region, where
        # these clients are, and the only form moto accepts for EnableKey, CancelKeyDeletion and kin.
        self._id = key.key_id

    def resolve(self, reference: str) -> str | None:
        """The ARN an alias or key id designates in the key's account and region (None if none)."""
        try:
            return str(self._kms.describe_key(KeyId=reference)["KeyMetadata"]["Arn"])
        except ClientError as error:
            if is_transient(error):
                raise
            return None

    def restore(self) -> None:
        """A key pending deletion: CancelKeyDeletion leaves it Disabled, so enable it too."""
        self._kms.cancel_key_deletion(KeyId=self._id)
        self._kms.enable_key(KeyId=self._id)

    def enable(self) -> None:
        self._kms.enable_key(KeyId=self._id)

    def enable_rotation(self) -> None:
        self._kms.enable_key_rotation(KeyId=self._id)

    def put_policy(self, document: dict[str, Any]) -> None:
        self._kms.put_key_policy(KeyId=self._id, PolicyName="default", Policy=json.dumps(document))


def names_central_key(event: ApiCallEvent, settings: Settings, adapter: KeyAdapter) -> bool:
    """Does the event's keyId (key id, key ARN, alias, alias ARN or mrk- id) designate the central key?"""
    key = settings.central_key
    record = event.record
    references = [
        value for value in (record.response("keyId"), record.request("keyId")) if isinstance(value, str) and value
    ]
    if any(reference == key.arn for reference in references):
        return True
    local = event.account_id == key.account and record.awsRegion == key.region
    if not local:
        return False  # ids and aliases resolve in the caller's account and region only
    for reference in references:
        if reference == key.key_id:
            return True
        if "alias/" in reference and adapter.resolve(reference) == key.arn:
            return True
    return False


def evaluate_key(facts: KeyFacts, scope: Scope, settings: Settings) -> list[Violation]:
    """Pure: every key check, the policy ones against the trails in scope."""
    return key_state_violations(facts, settings) + key_policy_violations(facts, scope, settings)


def key_state_violations(facts: KeyFacts, settings: Settings) -> list[Violation]:
    """Pure: the checks that need no knowledge of the organization (state, rotation, region)."""
    key = settings.central_key
    violations: list[Violation] = []
    if facts.state is None:
        violations.append(
            Violation(
                "key.state",
                "TrailGuard cannot read the central key: " + "; ".join(facts.problems) + ".",
                {"readable": False},
                {"readable": True, "KeyState": "Enabled"},
            )
        )
    elif facts.state != "Enabled":
        violations.append(
            Violation(
                "key.state",
                f"The central key is {facts.state}; CloudTrail stops delivering "
                "logs encrypted with a key that is not Enabled.",
                {"KeyState": facts.state},
                {"KeyState": "Enabled"},
            )
        )
    if facts.rotation is False:
        violations.append(
            Violation(
                "key.rotation",
                "Automatic rotation of the central key is off.",
                {"KeyRotationEnabled": False},
                {"KeyRotationEnabled": True},
            )
        )
    if facts.bucket_region is not None and facts.bucket_region != key.region:
        violations.append(
            Violation(
                "key.region",
                f"The central key is in {key.region} but the log bucket is in {facts.bucket_region}.",
                {"KeyRegion": key.region},
                {"KeyRegion": facts.bucket_region},
            )
        )
    return violations


def key_policy_violations(facts: KeyFacts, scope: Scope, settings: Settings) -> list[Violation]:
    """Pure: the key policy checks, against every trail in scope."""
    key = settings.central_key
    violations: list[Violation] = []
    if facts.state is None:
        return violations  # already reported as key.state: nothing is readable
    if facts.policy is None:
        return [
            Violation(
                "key.cloudtrail-encrypt",
                "TrailGuard cannot read the central key policy: " + "; ".join(facts.problems) + ".",
                {"readable": False},
                {"readable": True},
            )
        ]
    try:
        document = policy.parse_policy(facts.policy)
    except policy.PolicyParseError as error:
        violations.append(
            Violation(
                "key.cloudtrail-encrypt",
                f"The central key policy cannot be parsed: {error}.",
                {"policy": "unparseable"},
                {"policy": "valid JSON key policy"},
            )
        )
        return violations
    trails = _probe_trails(scope, settings)
    refused = {
        arn: verdict for arn in trails if not (verdict := policy.cloudtrail_may_encrypt(document, key.arn, arn)).allowed
    }
    if refused:
        accounts = sorted({arn.split(":")[4] for arn in refused})
        first = next(iter(refused.values()))
        violations.append(
            Violation(
                "key.cloudtrail-encrypt",
                f"The central key policy does not let CloudTrail encrypt logs for account(s) {', '.join(accounts)}: "
                f"{first.reason}",
                {
                    "refused_trails": sorted(refused),
                    "unknown_conditions": sorted({c for v in refused.values() for c in v.unknown_conditions}),
                    "scope_problems": list(scope.problems),
                },
                {"admitted_accounts": list(scope.trail_accounts) or accounts},
            )
        )
    undescribed = [arn for arn in trails if not policy.cloudtrail_may_describe(document, key.arn, arn).allowed]
    if undescribed:
        violations.append(
            Violation(
                "key.cloudtrail-describe",
                "The central key policy does not let CloudTrail DescribeKey.",
                {"refused_trails": sorted(undescribed)},
                {"cloudtrail_may_describe": True},
            )
        )
    public = policy.public_grants(document, key.arn)
    if public:
        violations.append(
            Violation(
                "key.public",
                "The central key policy grants " + policy.describe_grants(public) + ".",
                {"grants": [g.to_dict() for g in public]},
                {"grants": []},
            )
        )
    external = policy.external_grants(document, scope.accounts, settings.org_id) if scope.organization_known else []
    if external:
        violations.append(
            Violation(
                "key.external-access",
                "The central key policy grants accounts outside the organization: "
                + policy.describe_grants(external)
                + ".",
                {"grants": [g.to_dict() for g in external]},
                {"grants": []},
            )
        )
    return violations


def _probe_trails(scope: Scope, settings: Settings) -> list[str]:
    """The trail ARNs the key must admit: every trail in scope, or a probe for the management account's
    organization trail (else the central account) when no trail uses the key yet."""
    if scope.trails:
        return [trail.arn for trail in scope.trails]
    key = settings.central_key
    account = settings.management_account_id or key.account
    return [f"arn:{key.partition}:cloudtrail:{key.region}:{account}:trail/trailguard-probe"]


def handle_key_event(event: ApiCallEvent, deps: Deps) -> Outcome:
    skipped = screen(event, KEY_EVENTS, "key")
    if skipped is not None:
        return skipped
    adapter = KeyAdapter(deps)
    if not names_central_key(event, deps.settings, adapter):
        return Outcome("ignored", reason="the event is about another key")
    centralkey.forget()  # the trail guard must not act on stale facts about a key that just changed
    return guard_key(event_trigger(event), deps, adapter)


def guard_key(trigger: Trigger, deps: Deps, adapter: KeyAdapter, scope: Scope | None = None) -> Outcome:
    """Read the key; repair its state first (before the organization scan, which can be long); then check its
    policy against every trail in scope, repair that if allowed, and publish one finding."""
    settings = deps.settings
    key = settings.central_key
    resource = Resource("key", key.arn, key.account, key.region, key.key_id)
    facts = centralkey.read_key_facts(deps.sessions, key, settings.log_bucket)
    state_violations = key_state_violations(facts, settings)
    early = Attempts()
    if settings.remediate and state_violations:
        _repair_state(facts, {v.check for v in state_violations}, adapter, early)
        if early.attempted and facts.rotation is None:
            # A key that was not Enabled could not say whether it rotates: now it can.
            rotation = _rotation_after_restore(deps, adapter, early)
            state_violations += rotation
    policy_violations: list[Violation] = []
    if scope is None and facts.policy is not None:
        try:
            scope = discover(deps)
        except (ClientError, BotoCoreError) as error:
            if not (early.attempted and is_transient(error)):
                raise
            # The key was already repaired: report that now, and let the retry check the policy.
            early.retry = error
            logger.warning("organization scan failed after the key was repaired", error=str(error))
    if scope is not None:
        policy_violations = key_policy_violations(facts, scope, settings)
    scope = scope or Scope(frozenset(), ())
    violations = state_violations + policy_violations
    if not violations:
        logger.info("central key compliant", key_arn=key.arn, trail_accounts=scope.trail_accounts)
        return Outcome("compliant", key.arn)
    checks = {violation.check for violation in violations}

    def repair(attempts: Attempts) -> list[Violation]:
        _repair_policy(facts, checks, scope, deps, adapter, attempts)
        if not attempts.attempted:
            return []
        centralkey.forget()
        return evaluate_key(centralkey.read_key_facts(deps.sessions, key, settings.log_bucket), scope, settings)

    return conclude(deps, resource, trigger, violations, repair, attempts=early)


def _rotation_after_restore(deps: Deps, adapter: KeyAdapter, attempts: Attempts) -> list[Violation]:
    """After EnableKey: read the rotation status the disabled key could not give, and turn rotation on."""
    key = deps.settings.central_key
    restored = centralkey.read_key_facts(deps.sessions, key, deps.settings.log_bucket)
    if restored.rotation is not False:
        return []
    violation = Violation(
        "key.rotation",
        "Automatic rotation of the central key is off.",
        {"KeyRotationEnabled": False},
        {"KeyRotationEnabled": True},
    )
    attempts.attempt(["key.rotation"], "kms:EnableKeyRotation", adapter.enable_rotation)
    return [violation]


def _repair_state(facts: KeyFacts, checks: set[str], adapter: KeyAdapter, attempts: Attempts) -> None:
    """CancelKeyDeletion and EnableKey, then EnableKeyRotation."""
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


def _repair_policy(
    facts: KeyFacts, checks: set[str], scope: Scope, deps: Deps, adapter: KeyAdapter, attempts: Attempts
) -> None:
    """With policy repair on: merge the missing CloudTrail grants in and the public grants out."""
    settings = deps.settings
    policy_checks = [name for name in POLICY_CHECKS if name in checks]
    if "key.cloudtrail-encrypt" in checks and facts.policy is None:
        attempts.refuse(["key.cloudtrail-encrypt"], "the key policy cannot be read, so it cannot be repaired.")
        return
    if not (policy_checks and settings.repair_policies and facts.policy is not None):
        return
    try:
        management = settings.management_account_id
        merged = policy.merge_key_policy(
            policy.parse_policy(facts.policy),
            settings.central_key.account,
            management_account=management,
            org_id=settings.org_id,
            trail_accounts=[account for account in scope.trail_accounts if account != management],
            key_arn=settings.central_key_arn,
        )
    except (policy.PolicyRepairError, policy.PolicyParseError) as error:
        attempts.refuse(policy_checks, f"the repaired policy was not written: {error}")
        return
    if attempts.attempt(policy_checks, "kms:PutKeyPolicy", lambda: adapter.put_policy(merged.policy)):
        logger.info("key policy repaired", changes=list(merged.changes))
