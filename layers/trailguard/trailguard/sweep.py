"""The scheduled sweep: what events miss (EventBridge delivery is best effort, a forwarder may be missing).

Every trail the organization's accounts own, then the central key and the central bucket, are evaluated as
an event naming each would have them: the same checks, the same repairs, the same one message per
non-compliant resource, with `trigger.type` "sweep". One resource that fails does not stop the others.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from trailguard.bucket_guard import BucketAdapter, guard_bucket
from trailguard.findings import Trigger
from trailguard.guard import Deps, Outcome
from trailguard.key_guard import KeyAdapter, guard_key
from trailguard.observability import logger
from trailguard.scope import inventory
from trailguard.sessions import AccessError, error_code
from trailguard.trail import Trail, TrailAdapter, TrailRef
from trailguard.trail_guard import guard_trail, report_unreadable

SWEEP = Trigger("sweep")


def sweep(deps: Deps) -> dict[str, Any]:
    """Evaluate the central key, the central bucket and every trail; return what happened, counted."""
    found = inventory(deps, tolerant=True)
    scope = found.scope(deps.settings)
    results: Counter[str] = Counter()
    failures: list[str] = []

    def run(resource: str, guard: Any) -> None:
        try:
            outcome: Outcome = guard()
        except Exception as error:  # noqa: BLE001 - one resource must not stop the sweep; each failure is kept
            failures.append(f"{resource}: {error_code(error)}: {error}")
            logger.exception("sweep could not evaluate a resource", resource=resource)
            return
        results[outcome.result] += 1

    run(deps.settings.central_key_arn, lambda: guard_key(SWEEP, deps, KeyAdapter(deps), scope))
    run(deps.settings.log_bucket, lambda: guard_bucket(SWEEP, deps, BucketAdapter(deps), scope))
    adapter = TrailAdapter(deps.sessions)
    for arn, config in found.trails:
        run(arn, partial(_guard_trail, arn, config, deps, adapter))
    summary: dict[str, Any] = {
        "result": "swept",
        "trails": len(found.trails),
        "outcomes": dict(sorted(results.items())),
        "failures": failures,
        "unreachable": list(found.problems),
    }
    logger.info("sweep done", **summary)
    return summary


def _guard_trail(arn: str, config: dict[str, Any], deps: Deps, adapter: TrailAdapter) -> Outcome:
    """The inventory already holds the trail's configuration: only its status is read before the checks."""
    ref = TrailRef.of(arn)
    try:
        trail = adapter.read_status(Trail.from_api(ref, config, {}))
    except (AccessError, ClientError) as error:
        return report_unreadable(deps, ref, SWEEP, ("trail.logging",), error)
    return guard_trail(trail, SWEEP, deps, adapter)
