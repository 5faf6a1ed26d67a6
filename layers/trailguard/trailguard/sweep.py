"""The scheduled sweep: what events miss (EventBridge delivery is best effort, a forwarder may be missing).

Every trail the organization's accounts own, then the central key and the central bucket, go through the same
pipeline an event naming each would: the same checks, the same repairs, the same one message per
non-compliant resource, with `trigger.type` "sweep". One resource that fails does not stop the others.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from trailguard.account.facts import organization_trails
from trailguard.account.guard import GUARD as ACCOUNT
from trailguard.account.guard import AccountTarget
from trailguard.bucket.guard import GUARD as BUCKET
from trailguard.findings import SweepSummary
from trailguard.key.guard import GUARD as KEY
from trailguard.observability import logger
from trailguard.organization import inventory, regions
from trailguard.pipeline import SWEEP, evaluate
from trailguard.resource import Deps, Outcome
from trailguard.sessions import error_code
from trailguard.trail.facts import Trail
from trailguard.trail.guard import GUARD as TRAIL
from trailguard.trail.guard import TrailTarget


def sweep(deps: Deps) -> dict[str, Any]:
    """Evaluate the central key, the central bucket and every trail; publish the sweep's summary; return it."""
    started = time.monotonic()
    found = inventory(deps, tolerant=True)
    scope = found.scope(deps.settings)
    results: Counter[str] = Counter()
    by_check: Counter[tuple[str, str]] = Counter()
    changed: list[str] = []
    failures: list[str] = []

    def run(resource: str, evaluation: Callable[[], Outcome]) -> None:
        try:
            outcome = evaluation()
        except Exception as error:  # noqa: BLE001 - one resource must not stop the sweep; each failure is kept
            failures.append(f"{resource}: {error_code(error)}: {error}")
            logger.exception("sweep could not evaluate a resource", resource=resource)
            return
        results[outcome.result.value] += 1
        by_check.update(outcome.findings.items())
        if outcome.message_id is not None:
            changed.append(resource)

    run(deps.settings.central_key_arn, lambda: evaluate(KEY, None, SWEEP, deps, scope=scope))
    run(deps.settings.log_bucket, lambda: evaluate(BUCKET, None, SWEEP, deps, scope=scope))
    management = deps.settings.management_account_id
    organization: tuple[Trail, ...] | None
    if management is not None and management in found.unread:
        # The inventory missed the management account: read its organization trails afresh, or judge no coverage
        # (without them every member would look unrecorded).
        try:
            organization = organization_trails(deps)
        except Exception as error:  # noqa: BLE001 - coverage is skipped and said so; the rest of the sweep goes on
            failures.append(f"organization trails of {management}: {error_code(error)}: {error}")
            organization = None
    else:
        organization = organization_trails(deps, [t for t in found.trails if t.account == management])
    owned: dict[str, list[Trail]] = {}
    for trail in found.trails:
        owned.setdefault(trail.account, []).append(trail)
    # Account by account (its clients released after it): each trail, then whether every region of the account
    # is recorded (a deleted or stopped trail is found here without its event).
    for account in sorted(found.accounts | set(owned)):
        for trail in owned.get(account, ()):
            # The inventory already holds the trail's configuration: only its status is read before the checks.
            target = TrailTarget(trail.ref, ("trail.logging",), known=trail)
            run(trail.arn, partial(evaluate, TRAIL, target, SWEEP, deps))
        if organization is not None and account in found.accounts and account not in found.unread:
            coverage = AccountTarget(account, tuple(owned.get(account, ())), organization, forwarding=True)
            run(f"account {account}", partial(evaluate, ACCOUNT, coverage, SWEEP, deps))
        deps.sessions.release(account)
    summary: dict[str, Any] = {
        "result": "swept",
        "accounts": len(found.accounts),
        "regions": list(regions(deps)),
        "trails": len(found.trails),
        "outcomes": dict(sorted(results.items())),
        "findings": _nested(by_check),
        "changed": changed,
        "failures": failures,
        "unreachable": list(found.problems),
        "seconds": round(time.monotonic() - started, 3),
    }
    logger.info("sweep done", **summary)
    summary["message_id"] = deps.publisher.publish_summary(SweepSummary(summary, deps.now()))
    return summary


def _nested(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """{check: {status: resources}}."""
    nested: dict[str, dict[str, int]] = {}
    for (check, status), number in sorted(counts.items()):
        nested.setdefault(check, {})[status] = number
    return nested
