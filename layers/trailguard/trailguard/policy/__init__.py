"""Pure analysis and construction of the central key and log bucket policies (no AWS calls).

Parse with ``parse_policy``; ask the CloudTrail questions (``cloudtrail_may_encrypt``...), or ask them for
a whole organization at once (``key_admission``/``bucket_admission``: which accounts and trails are
refused, in time linear in the accounts); find ``public_grants`` and ``external_grants``; build with
``key_policy``/``bucket_policy`` and repair with ``merge_key_policy``/``merge_bucket_policy``, in the form
that fits the size AWS stores (per account while it fits, organization-wide beyond when the organization id
is known; ``organization_wide`` True or False forces one).
"""

from trailguard.policy.admission import (
    PROBE_TRAIL_NAME,
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
from trailguard.policy.document import Condition, PolicyDocument, PrincipalSpec, Statement, parse_policy
from trailguard.policy.errors import (
    PolicyError,
    PolicyInputError,
    PolicyParseError,
    PolicyRepairError,
    PolicySizeError,
)
from trailguard.policy.evaluation import Decision, Request, evaluate
from trailguard.policy.grants import Grant, describe_grants, external_grants, key_admin_statements, public_grants
from trailguard.policy.matching import Caller
from trailguard.policy.merge import MergeResult, merge_bucket_policy, merge_key_policy
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
