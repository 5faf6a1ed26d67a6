"""A micro-benchmark of the policy checks the key and bucket guards run, for an organization of N accounts.

``policy_check_seconds(1000)`` times, for the central key and for the log bucket, what one guard event
costs in the policy package: parsing the policy, asking whether CloudTrail is admitted for every account
(a probe trail each) and for the organization trail, and looking for public and external grants. Each is
timed for the two forms of the CloudTrail grants: per account (one entry per account; at 1,000 accounts
over the size AWS stores, so it is assembled here without the builder's limit, to time the worst case the
analyzer can be handed) and organization-wide; the form the builder chooses for that organization is
marked. It prints one line per policy and returns the seconds. Figures, not assertions: the target is
under one second at 1,000 accounts for each policy.

``python -m trailguard.policy.bench [N ...]`` prints the figures for organizations of N accounts (1,000 by
default).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from trailguard.policy.admission import bucket_admission, key_admission
from trailguard.policy.builder import (
    POLICY_VERSION,
    bucket_policy,
    bucket_policy_spec,
    bucket_statements,
    key_policy,
    key_policy_spec,
    key_statements,
    policy_size,
)
from trailguard.policy.document import parse_policy
from trailguard.policy.grants import external_grants, public_grants

MANAGEMENT = "111111111111"
CENTRAL = "222222222222"
ORG_ID = "o-a1b2c3d4e5"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{CENTRAL}:key/00000000-0000-0000-0000-000000000000"
BUCKET = "trailguard-bench-logs"
ORG_TRAIL = f"arn:aws:cloudtrail:{REGION}:{MANAGEMENT}:trail/organization"
RUNS = 3


def bench_accounts(count: int) -> list[str]:
    """``count`` distinct account ids, the management and central accounts among them."""
    others = (f"{n:012d}" for n in range(100_000_000_000, 999_999_999_999, 7_919_003))
    return [MANAGEMENT, CENTRAL, *(a for a, _ in zip(others, range(max(count - 2, 0)), strict=False))][:count]


def _key_check(policy: dict[str, Any], accounts: list[str]) -> Callable[[], None]:
    def check() -> None:
        doc = parse_policy(policy)
        admission = key_admission(doc, KEY_ARN, accounts, organization_trail=ORG_TRAIL, org_id=ORG_ID)
        assert admission.admitted, admission.summary()
        public_grants(doc, KEY_ARN)
        external_grants(doc, frozenset(accounts), ORG_ID)

    return check


def _bucket_check(policy: dict[str, Any], accounts: list[str]) -> Callable[[], None]:
    def check() -> None:
        doc = parse_policy(policy)
        admission = bucket_admission(
            doc, BUCKET, accounts, organization_trail=ORG_TRAIL, org_id=ORG_ID, kms_key_arn=KEY_ARN, region=REGION
        )
        assert admission.admitted, admission.summary()
        public_grants(doc, f"arn:aws:s3:::{BUCKET}")
        external_grants(doc, frozenset(accounts), ORG_ID)

    return check


def _best_of(check: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        check()
        best = min(best, time.perf_counter() - start)
    return best


def policy_check_seconds(accounts: int | Iterable[str]) -> dict[str, float]:
    """Time the key and bucket policy checks for an organization of ``accounts`` (a count or the ids);
    print one line per policy and form, and return the seconds by name (``key``, ``bucket``: the
    per-account form; ``key_organization``, ``bucket_organization``: the organization-wide one)."""
    ids = bench_accounts(accounts) if isinstance(accounts, int) else list(dict.fromkeys(accounts))
    members = [a for a in ids if a != MANAGEMENT]
    key_spec = key_policy_spec(CENTRAL, management_account=MANAGEMENT, org_id=ORG_ID, trail_accounts=members)
    bucket_spec = bucket_policy_spec(BUCKET, members, MANAGEMENT, ORG_ID)
    chosen = {
        "key": key_policy(
            CENTRAL, management_account=MANAGEMENT, org_id=ORG_ID, trail_accounts=members, key_arn=KEY_ARN
        ),
        "bucket": bucket_policy(BUCKET, members, MANAGEMENT, ORG_ID),
    }
    policies: dict[str, dict[str, Any]] = {
        "key": {"Version": POLICY_VERSION, "Statement": key_statements(key_spec)},
        "bucket": {"Version": POLICY_VERSION, "Statement": bucket_statements(bucket_spec)},
        "key_organization": key_policy(
            CENTRAL, management_account=MANAGEMENT, org_id=ORG_ID, key_arn=KEY_ARN, organization_wide=True
        ),
        "bucket_organization": bucket_policy(BUCKET, (), MANAGEMENT, ORG_ID, organization_wide=True),
    }
    seconds: dict[str, float] = {}
    print(f"Policy checks for {len(ids):,} accounts (parse, CloudTrail admitted for every account and the")
    print("organization trail, public and external grants); best of", RUNS, "runs")
    for name, policy in policies.items():
        check = _key_check(policy, ids) if name.startswith("key") else _bucket_check(policy, ids)
        seconds[name] = _best_of(check)
        kind = name.split("_")[0]
        organization_wide = name.endswith("organization")
        form = "organization-wide" if organization_wide else "per account"
        built = ("aws:SourceOrgID" in str(chosen[kind])) is organization_wide
        mark = "  (the form TrailGuard builds)" if built else ""
        print(f"  {kind:6} {form:17} {policy_size(policy):>8,} bytes  {seconds[name]:7.3f} s{mark}")
    return seconds


def main(argv: Sequence[str]) -> int:
    """Print the figures for each organization size given (1,000 accounts by default)."""
    counts = [int(arg.replace(",", "").replace("_", "")) for arg in argv] or [1000]
    for count in counts:
        policy_check_seconds(count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
