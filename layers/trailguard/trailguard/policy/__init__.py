"""Pure analysis and construction of the central key and log bucket policies (no AWS calls).

Parse with ``parse_policy``; ask the CloudTrail questions (``cloudtrail_may_encrypt``...), or ask them for
a whole organization at once (``key_admission``/``bucket_admission``: which accounts and trails are
refused, in time linear in the accounts); find ``public_grants`` and ``external_grants``; build with
``key_policy``/``bucket_policy`` and repair with ``merge_key_policy``/``merge_bucket_policy``, in the form
that fits the size AWS stores (per account while it fits, organization-wide beyond when the organization id
is known; ``organization_wide`` True or False forces one).

The package loads its parts when a name is first used (``policy.parse_policy``, ``from trailguard.policy
import key_policy``): a handler that never analyses a policy (the trail guard on a compliant trail) does not
pay for the analyzer at its cold start. ``load()`` imports every part at once, for the callers that analyse a
policy on every event (the key and bucket guards), at their init rather than at their first event.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trailguard.policy.admission import (
        Admission,
        KnownTrail,
        Refusal,
        bucket_admission,
        key_admission,
        probe_trail_arn,
    )
    from trailguard.policy.builder import (
        KMS_KEY_POLICY_LIMIT,
        S3_BUCKET_POLICY_LIMIT,
        BucketPolicySpec,
        KeyPolicySpec,
        bucket_policy,
        bucket_policy_problems,
        bucket_policy_spec,
        key_policy,
        key_policy_problems,
        key_policy_spec,
        policy_size,
        required_key_statements,
    )
    from trailguard.policy.document import (
        Condition,
        PolicyDocument,
        PrincipalSpec,
        Statement,
        parse_policy,
    )
    from trailguard.policy.errors import (
        PolicyError,
        PolicyInputError,
        PolicyParseError,
        PolicyRepairError,
        PolicySizeError,
    )
    from trailguard.policy.evaluation import (
        Decision,
        Request,
        evaluate,
    )
    from trailguard.policy.grants import (
        Grant,
        describe_grants,
        external_grants,
        key_admin_statements,
        public_grants,
    )
    from trailguard.policy.ids import PROBE_TRAIL_NAME
    from trailguard.policy.matching import (
        Caller,
    )
    from trailguard.policy.merge import (
        MergeResult,
        merge_bucket_policy,
        merge_key_policy,
    )
    from trailguard.policy.questions import (
        CLOUDTRAIL_SERVICE,
        Verdict,
        cloudtrail_may_describe,
        cloudtrail_may_encrypt,
        cloudtrail_may_get_bucket_acl,
        cloudtrail_may_put_object,
        cloudtrail_object_key,
        principal_may_decrypt,
    )

# Each public name and the part of the package that defines it.
_HOMES: dict[str, str] = {
    "PROBE_TRAIL_NAME": "ids",
    "Admission": "admission",
    "KnownTrail": "admission",
    "Refusal": "admission",
    "bucket_admission": "admission",
    "key_admission": "admission",
    "probe_trail_arn": "admission",
    "KMS_KEY_POLICY_LIMIT": "builder",
    "S3_BUCKET_POLICY_LIMIT": "builder",
    "BucketPolicySpec": "builder",
    "KeyPolicySpec": "builder",
    "bucket_policy": "builder",
    "bucket_policy_problems": "builder",
    "bucket_policy_spec": "builder",
    "key_policy": "builder",
    "key_policy_problems": "builder",
    "key_policy_spec": "builder",
    "policy_size": "builder",
    "required_key_statements": "builder",
    "Condition": "document",
    "PolicyDocument": "document",
    "PrincipalSpec": "document",
    "Statement": "document",
    "parse_policy": "document",
    "PolicyError": "errors",
    "PolicyInputError": "errors",
    "PolicyParseError": "errors",
    "PolicyRepairError": "errors",
    "PolicySizeError": "errors",
    "Decision": "evaluation",
    "Request": "evaluation",
    "evaluate": "evaluation",
    "Grant": "grants",
    "describe_grants": "grants",
    "external_grants": "grants",
    "key_admin_statements": "grants",
    "public_grants": "grants",
    "Caller": "matching",
    "MergeResult": "merge",
    "merge_bucket_policy": "merge",
    "merge_key_policy": "merge",
    "CLOUDTRAIL_SERVICE": "questions",
    "Verdict": "questions",
    "cloudtrail_may_describe": "questions",
    "cloudtrail_may_encrypt": "questions",
    "cloudtrail_may_get_bucket_acl": "questions",
    "cloudtrail_may_put_object": "questions",
    "cloudtrail_object_key": "questions",
    "principal_may_decrypt": "questions",
}


def __getattr__(name: str) -> Any:
    """A public name, from the part of the package that defines it (imported at its first use)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


def load() -> None:
    """Import every part of the analyzer now."""
    for home in dict.fromkeys(_HOMES.values()):
        importlib.import_module(f"{__name__}.{home}")


__all__ = [
    "CLOUDTRAIL_SERVICE",
    "KMS_KEY_POLICY_LIMIT",
    "PROBE_TRAIL_NAME",
    "S3_BUCKET_POLICY_LIMIT",
    "Admission",
    "BucketPolicySpec",
    "Caller",
    "Condition",
    "Decision",
    "Grant",
    "KeyPolicySpec",
    "KnownTrail",
    "MergeResult",
    "PolicyDocument",
    "PolicyError",
    "PolicyInputError",
    "PolicyParseError",
    "PolicyRepairError",
    "PolicySizeError",
    "PrincipalSpec",
    "Refusal",
    "Request",
    "Statement",
    "Verdict",
    "bucket_admission",
    "bucket_policy",
    "bucket_policy_problems",
    "bucket_policy_spec",
    "cloudtrail_may_describe",
    "cloudtrail_may_encrypt",
    "cloudtrail_may_get_bucket_acl",
    "cloudtrail_may_put_object",
    "cloudtrail_object_key",
    "describe_grants",
    "evaluate",
    "external_grants",
    "key_admin_statements",
    "key_admission",
    "key_policy",
    "key_policy_problems",
    "key_policy_spec",
    "merge_bucket_policy",
    "merge_key_policy",
    "parse_policy",
    "policy_size",
    "principal_may_decrypt",
    "probe_trail_arn",
    "public_grants",
    "required_key_statements",
]
