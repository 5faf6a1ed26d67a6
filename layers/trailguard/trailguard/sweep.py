"""The scheduled sweep: what events miss (EventBridge delivery is best effort, a forwarder may be missing).

Every trail the organization's accounts own, then the central key and the central bucket, go through the same
pipeline an event naming each would: the same checks, the same repairs, the same one message per
non-compliant resource, with `trigger.type` "sweep". One resource that fails does not stop the others.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trailguard.account.facts import organization_trails
from trailguard.account.guard import GUARD as ACCOUNT
from trailguard.account.guard import AccountTarget
from trailguard.bucket.guard import GUARD as BUCKET
from trailguard.findings import SweepSummary
from trailguard.key.guard import GUARD as KEY
from trailguard.observability import logger
from trailguard.organization import Inventory, inventory, regions
from trailguard.pipeline import SWEEP, evaluate
from trailguard.resource import Deps, Outcome
from trailguard.sessions import AccessError, error_code
from trailguard.trail.facts import Trail, TrailAdapter
from trailguard.trail.guard import GUARD as TRAIL
from trailguard.trail.guard import TrailTarget

Progress = Callable[[int, int], None]  # (resources evaluated so far, resources to evaluate)


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One resource the walk evaluated: its outcome, or why it could not be evaluated."""

    resource: str
    outcome: Outcome | None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Walk:
    """What walking the organization found: the inventory it read and each resource's evaluation, in order."""

    inventory: Inventory
    evaluated: tuple[Evaluated, ...]


def walk(deps: Deps, *, workers: int = 1, progress: Progress | None = None) -> Walk:
    """Evaluate the central key, the central bucket, then account by account each trail and the account's
    coverage, through the pipeline with trigger "sweep". One resource that fails does not stop the others.
    `workers` > 1: that many accounts are evaluated at once (the key and the bucket first, alone)."""
    found = inventory(deps, tolerant=True)
    scope = found.scope(deps.settings)
    management = deps.settings.management_account_id
    unjudged: list[Evaluated] = []
    organization: tuple[Trail, ...] | None
    if management is not None and management in found.unread:
        # The inventory missed the management account: read its organization trails afresh, or judge no coverage
        # (without them every member would look unrecorded).
        try:
            organization = organization_trails(deps)
        except Exception as error:  # noqa: BLE001 - coverage is skipped and said so; the rest of the sweep goes on
            problem = f"organization trails of {management}: {error_code(error)}: {error}"
            unjudged.append(Evaluated(f"account coverage ({management} unread)", None, problem))
            organization = None
    else:
        organization = organization_trails(deps, [t for t in found.trails if t.account == management])
    owned: dict[str, list[Trail]] = {}
    for trail in found.trails:
        owned.setdefault(trail.account, []).append(trail)
    accounts = sorted(found.accounts | set(owned))
    covered = [account for account in accounts if account in found.accounts and account not in found.unread]
    total = 2 + len(found.trails) + (len(covered) if organization is not None else 0)
    done = [0]
    lock = threading.Lock()

    def run(resource: str, evaluation: Callable[[], Outcome]) -> Evaluated:
        try:
            result = Evaluated(resource, evaluation())
        except Exception as error:  # noqa: BLE001 - one resource must not stop the walk; each failure is kept
            logger.exception("sweep could not evaluate a resource", resource=resource)
            result = Evaluated(resource, None, f"{resource}: {error_code(error)}: {error}")
        if progress is not None:
            with lock:
                done[0] += 1
                progress(done[0], total)
        return result

    def account_work(account: str) -> list[Evaluated]:
        # Each trail, then whether every region of the account is recorded (a deleted or stopped trail is found
        # here without its event); the account's clients are released after it.
        results: list[Evaluated] = []
        trails = [_with_status(deps, trail) for trail in owned.get(account, ())]
        for trail in trails:
            # The inventory already holds the trail's configuration, and its status was just read: the trail's
            # checks and the account's coverage share that one GetTrailStatus.
            target = TrailTarget(trail.ref, ("trail.logging",), known=trail)
            results.append(run(trail.arn, partial(evaluate, TRAIL, target, SWEEP, deps)))
        if organization is not None and account in covered:
            coverage = AccountTarget(account, tuple(trails), organization, forwarding=True)
            results.append(run(f"account {account}", partial(evaluate, ACCOUNT, coverage, SWEEP, deps)))
        deps.sessions.release(account)
        return results

    evaluated = [
        run(deps.settings.central_key_arn, lambda: evaluate(KEY, None, SWEEP, deps, scope=scope)),
        run(deps.settings.log_bucket, lambda: evaluate(BUCKET, None, SWEEP, deps, scope=scope)),
    ]
    if workers > 1 and len(accounts) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            per_account = list(pool.map(account_work, accounts))
    else:
        per_account = [account_work(account) for account in accounts]
    evaluated += [item for results in per_account for item in results] + unjudged
    return Walk(found, tuple(evaluated))


def _with_status(deps: Deps, trail: Trail) -> Trail:
    """The trail with its status; as it was when the status cannot be read (its evaluation reads it again and
    reports why, or raises a transient error to the walk)."""
    try:
        return TrailAdapter(deps.sessions).read_status(trail)
    except (AccessError, ClientError, BotoCoreError):
        return trail


def sweep(deps: Deps) -> dict[str, Any]:
    """Evaluate the central key, the central bucket and every trail; publish the sweep's summary; return it."""
    started = time.monotonic()
    walked = walk(deps)
    found = walked.inventory
    results: Counter[str] = Counter()
    by_check: Counter[tuple[str, str]] = Counter()
    changed: list[str] = []
    failures: list[str] = []
    for item in walked.evaluated:
        if item.outcome is None:
            failures.append(item.failure or item.resource)
            continue
        results[item.outcome.result.value] += 1
        by_check.update(item.outcome.findings.items())
        if item.outcome.message_id is not None:
            changed.append(item.resource)
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
