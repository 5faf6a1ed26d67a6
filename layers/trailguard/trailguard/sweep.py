"""The scheduled sweep: what events miss (EventBridge delivery is best effort, a forwarder may be missing).

The sweep fans out through SQS, so that no invocation grows with the organization:

- **The planner** (on the schedule) lists the organization's accounts and regions, keeps them in the
  inventory, reads the organization trails once, evaluates the central key and the central bucket (once per
  sweep, against the inventory), and sends one message per account to the sweep queue.
- **The workers** (SQS, in batches, at a bounded concurrency) evaluate each account: its trails (one ListTrails
  for the account, GetTrail and GetTrailStatus of each), then its coverage and forwarding rules, through the
  same pipeline an event would, with trigger "sweep"; they replace the account's rows of the inventory and
  report to the sweep's progress row. The worker whose report completes the sweep publishes its summary.

`walk` is the same evaluation in one process, for `trailguard audit`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from trailguard.account.facts import with_status
from trailguard.account.guard import GUARD as ACCOUNT
from trailguard.account.guard import AccountTarget
from trailguard.bucket.guard import GUARD as BUCKET
from trailguard.findings import Resource, SweepSummary
from trailguard.inventory import Organization
from trailguard.key.guard import GUARD as KEY
from trailguard.ledger import parse_stamp, stamp
from trailguard.observability import logger
from trailguard.organization import (
    REGIONS,
    Census,
    Scope,
    account_trails,
    discover,
    in_scope,
    organization_accounts,
    regions,
)
from trailguard.pipeline import SWEEP, evaluate
from trailguard.resource import Deps, Outcome
from trailguard.sessions import AccessError, error_code
from trailguard.trail.facts import Trail, TrailAdapter, TrailStatus
from trailguard.trail.guard import GUARD as TRAIL
from trailguard.trail.guard import TrailTarget

Progress = Callable[[int, int], None]  # (resources evaluated so far, resources to evaluate)
MESSAGE_SCHEMA = "trailguard.sweep-account/1"
# A sweep unfinished after this long will never finish: every delivery of its messages is over (the queue's
# maxReceiveCount x VisibilityTimeout: 3 x 30 min in template.yaml).
OVERDUE = timedelta(hours=2)
RECENT = 5  # sweeps the planner looks back at for one left unfinished
LISTED = 50  # entries of each list of the summary (changed, failures, unreachable); the rest is counted


@dataclass(frozen=True, slots=True)
class Evaluated:
    """One resource the sweep evaluated: its outcome, or why it could not be evaluated."""

    resource: str
    outcome: Outcome | None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class AccountSweep:
    """What evaluating one account found: its trails, each evaluation, and what could not be read."""

    account: str
    trails: tuple[Trail, ...]
    evaluated: tuple[Evaluated, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Walk:
    """What walking the organization found: the census it read and each resource's evaluation, in order."""

    census: Census
    evaluated: tuple[Evaluated, ...]


def _run(resource: str, evaluation: Callable[[], Outcome]) -> Evaluated:
    try:
        return Evaluated(resource, evaluation())
    except Exception as error:  # noqa: BLE001 - one resource must not stop the sweep; each failure is kept
        logger.exception("sweep could not evaluate a resource", resource=resource)
        return Evaluated(resource, None, f"{resource}: {error_code(error)}: {error}")


def evaluate_central(deps: Deps, scope: Scope) -> list[Evaluated]:
    """The central key, then the central bucket."""
    return [
        _run(deps.settings.central_key_arn, lambda: evaluate(KEY, None, SWEEP, deps, scope=scope)),
        _run(deps.settings.log_bucket, lambda: evaluate(BUCKET, None, SWEEP, deps, scope=scope)),
    ]


def sweep_account(
    deps: Deps,
    account: str,
    names: tuple[str, ...],
    organization: tuple[Trail, ...] | None,
    *,
    progress: Callable[[], None] | None = None,
) -> AccountSweep:
    """Each trail of the account, then whether every region of it is recorded and forwards its events (a deleted
    or stopped trail is found here without its event). `organization`: the organization trails with their
    status (None: unknown, the coverage is not judged). Transient errors reading the account raise; the account's
    clients are released after it."""
    try:
        listed = account_trails(deps, account, names)
        if not listed.problems:
            # The rows as listed; a repair below then keeps its trail's repaired row (the trail guard's confirm).
            deps.inventory.replace_account(account, listed.trails, deps.now())
        evaluated: list[Evaluated] = []
        trails = [_with_status(deps, trail) for trail in listed.trails]
        for trail in trails:
            # The configuration was just read, and its status: the trail's checks and the account's coverage share
            # that one GetTrailStatus.
            target = TrailTarget(trail.ref, ("trail.logging",), known=trail)
            evaluated.append(_run(trail.arn, partial(evaluate, TRAIL, target, SWEEP, deps)))
            if progress is not None:
                progress()
        if organization is not None and not listed.problems:
            coverage = AccountTarget(account, tuple(trails), organization, forwarding=True)
            evaluated.append(_run(f"account {account}", partial(evaluate, ACCOUNT, coverage, SWEEP, deps)))
            if progress is not None:
                progress()
        return AccountSweep(account, tuple(listed.trails), tuple(evaluated), listed.problems)
    finally:
        deps.sessions.release(account)  # memory does not grow with the organization


def _with_status(deps: Deps, trail: Trail) -> Trail:
    """The trail with its status; as it was when the status cannot be read (its evaluation reads it again and
    reports why, or raises a transient error)."""
    try:
        return TrailAdapter(deps.sessions).read_status(trail)
    except (AccessError, ClientError, BotoCoreError):
        return trail


def organization_trails(deps: Deps, names: tuple[str, ...]) -> tuple[tuple[Trail, ...] | None, tuple[str, ...]]:
    """The management account's organization trails with their status (None and why when unreadable: without
    them every member would look unrecorded, so the coverage is not judged)."""
    management = deps.settings.management_account_id
    if management is None:
        return (), ()
    try:
        listed = account_trails(deps, management, names)
        if listed.problems:
            return None, listed.problems
        return with_status(deps, [trail for trail in listed.trails if trail.organization_trail]), ()
    except Exception as error:  # noqa: BLE001 - the coverage is skipped and said so; the rest of the sweep goes on
        return None, (f"organization trails of {management}: {error_code(error)}: {error}",)


# ---------------------------------------------------------------------------------------------------------------
# In one process: trailguard audit.
# ---------------------------------------------------------------------------------------------------------------


def walk(deps: Deps, *, workers: int = 1, progress: Progress | None = None) -> Walk:
    """Evaluate the central key, the central bucket, then account by account each trail and the account's
    coverage, through the pipeline with trigger "sweep", in this process. `workers` > 1: that many accounts at
    once. The key and the bucket are judged against the trails just read."""
    accounts, problems = organization_accounts(deps)
    names = regions(deps)
    deps.sessions.own_account  # resolved once, before the threads ask for it  # noqa: B018
    organization, unjudged = organization_trails(deps, names)
    done, lock = [0], threading.Lock()
    total = [2 + len(accounts)]

    def advance() -> None:
        if progress is not None:
            with lock:
                done[0] += 1
                total[0] = max(total[0], done[0] + 2)
                progress(done[0], total[0])

    def one(account: str) -> AccountSweep:
        try:
            return sweep_account(deps, account, names, organization, progress=advance)
        except Exception as error:  # noqa: BLE001 - an unreadable account is named; the others go on
            return AccountSweep(account, (), (), (f"trails of {account} unreadable ({error_code(error)})",))

    ordered = sorted(accounts)
    if workers > 1 and len(ordered) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            swept = list(pool.map(one, ordered))
    else:
        swept = [one(account) for account in ordered]
    trails = tuple(sorted((trail for item in swept for trail in item.trails), key=lambda trail: trail.arn))
    issues = (*problems, *unjudged, *(problem for item in swept for problem in item.problems))
    census = Census(
        accounts,
        trails,
        issues,
        organization_known=not problems,
        unread=frozenset(item.account for item in swept if item.problems),
    )
    scope = Scope(accounts, in_scope(trails, deps.settings), issues, not problems)
    central = evaluate_central(deps, scope)
    for _ in central:
        advance()
    unjudged_items = [Evaluated(f"account coverage ({problem})", None, problem) for problem in unjudged]
    evaluated = [*central, *(entry for item in swept for entry in item.evaluated), *unjudged_items]
    return Walk(census, tuple(evaluated))


# ---------------------------------------------------------------------------------------------------------------
# On Lambda: the planner and its workers.
# ---------------------------------------------------------------------------------------------------------------


def new_sweep_id(deps: Deps) -> str:
    """Sortable by start time: the latest sweep is the last row."""
    return f"{deps.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def part(evaluated: Iterable[Evaluated], **extra: Any) -> dict[str, Any]:
    """What a piece of the sweep found, in the shape the summary adds up."""
    outcomes: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    changed: list[str] = []
    failures: list[str] = []
    for item in evaluated:
        if item.outcome is None:
            failures.append(item.failure or item.resource)
            continue
        outcomes[item.outcome.result.value] += 1
        findings.update(f"{check} {status}" for check, status in item.outcome.findings.items())
        if item.outcome.message_id is not None:
            changed.append(item.resource)
    return {
        "outcomes": dict(outcomes),
        "findings": dict(findings),
        "changed": changed,
        "failures": failures,
        "trails": 0,
        "unreachable": [],
        **extra,
    }


def trail_message(trail: Trail) -> dict[str, Any]:
    """An organization trail as the planner hands it to the workers (what the coverage needs)."""
    return {
        "arn": trail.arn,
        "home": trail.home_region,
        "multi": trail.multi_region,
        "logging": trail.status.is_logging if trail.status is not None else None,
    }


def trail_from_message(data: dict[str, Any]) -> Trail:
    status = None if data.get("logging") is None else TrailStatus(bool(data["logging"]))
    return Trail(
        Resource.trail(data["arn"]),
        data["home"],
        multi_region=bool(data["multi"]),
        organization_trail=True,
        status=status,
    )


def plan(deps: Deps, send: Callable[[list[dict[str, Any]]], int] | None = None) -> dict[str, Any]:
    """The planner: list, keep, judge the central key and bucket, and send one message per account."""
    settings = deps.settings
    if not settings.sweep_queue_url:
        raise RuntimeError("TRAILGUARD_SWEEP_QUEUE_URL is not set: the sweep has no queue for its workers")
    started = deps.now()
    closed = close_unfinished(deps)
    accounts, problems = organization_accounts(deps)
    names = regions(deps)
    deps.inventory.keep_organization(Organization(accounts, names, started, problems))
    if not problems:  # the trails of accounts that left the organization are no longer anyone's scope
        deps.inventory.forget_accounts_except(accounts)
    organization, unjudged = organization_trails(deps, names)
    central = evaluate_central(deps, discover(deps))
    sweep = new_sweep_id(deps)
    ordered = sorted(accounts)
    deps.inventory.start_sweep(
        sweep,
        len(ordered),
        part(
            central,
            accounts=len(ordered),
            regions=list(names),
            started=stamp(started),
            unreachable=[*problems, *unjudged],
        ),
        started,
    )
    messages = [
        {
            "schema": MESSAGE_SCHEMA,
            "sweep": sweep,
            "account": account,
            "regions": list(names),
            "organization": None if organization is None else [trail_message(t) for t in organization],
        }
        for account in ordered
    ]
    sent = (send or partial(_send, deps))(messages)
    if sent < len(messages):  # the workers wait for no more than were sent; the summary says the rest
        logger.error("sweep messages not sent", sent=sent, planned=len(messages))
        deps.inventory.report(  # one more part, which the summary adds up like an account's
            sweep,
            "unsent",
            part((), unreachable=[f"{len(messages) - sent} account(s) not evaluated: the sweep queue refused them"]),
            started,
        )
        if deps.inventory.expect(sweep, sent + 1).complete:
            finish(deps, sweep)
    result: dict[str, Any] = {
        "result": "planned",
        "sweep": sweep,
        "accounts": len(ordered),
        "regions": list(names),
        "central": {item.resource: (item.outcome.result.value if item.outcome else "failed") for item in central},
        "closed": closed,
    }
    logger.info("sweep planned", **result)
    if not ordered:  # nothing to wait for: the summary goes out now
        finish(deps, sweep)
    return result


def _send(deps: Deps, messages: list[dict[str, Any]]) -> int:
    """SendMessageBatch, ten at a time, an entry SQS refuses sent again; how many were sent (the first batch that
    still fails, or a call that fails, ends the sending: what follows would likely fail too)."""
    settings = deps.settings
    assert settings.sweep_queue_url is not None
    sqs = deps.sessions.client("sqs", deps.sessions.own_account, settings.central_key.region)
    for start in range(0, len(messages), 10):
        batch = messages[start : start + 10]
        entries = [{"Id": str(index), "MessageBody": json.dumps(message)} for index, message in enumerate(batch)]
        try:
            for _ in range(3):
                failed = sqs.send_message_batch(QueueUrl=settings.sweep_queue_url, Entries=entries).get("Failed", [])
                refused = {entry["Id"] for entry in failed}
                entries = [entry for entry in entries if entry["Id"] in refused]
                if not entries:
                    break
        except (ClientError, BotoCoreError) as error:
            logger.error("sweep queue unavailable", error=error_code(error), sent=start)
            return start
        if entries:
            logger.error("sweep queue refused messages", code=failed[0].get("Code"), refused=len(entries))
            return start + len(batch) - len(entries)
    return len(messages)


def work(deps: Deps, body: str, attempt: int) -> dict[str, Any]:
    """A worker's record: evaluate one account, replace its rows of the inventory, report to the sweep. A
    transient failure raises (SQS delivers the message again) until the last attempt, which reports the account
    as not evaluated so that the sweep still completes and says why."""
    message = json.loads(body)
    if not isinstance(message, dict) or message.get("schema") != MESSAGE_SCHEMA:
        raise ValueError(f"not a sweep message ({MESSAGE_SCHEMA})")
    sweep, account, names = str(message["sweep"]), str(message["account"]), tuple(message["regions"])
    organization = message.get("organization")
    trails = None if organization is None else tuple(trail_from_message(item) for item in organization)
    deps.warm.put(REGIONS, names)  # the planner's regions: the coverage needs no DescribeRegions of its own
    try:
        swept = sweep_account(deps, account, names, trails)
    except Exception as error:
        if attempt < deps.settings.sweep_attempts:
            logger.warning("account not swept; SQS will deliver it again", account=account, attempt=attempt)
            raise
        reason = f"{account} not evaluated after {attempt} attempts ({error_code(error)}: {error})"
        logger.error("account not swept", account=account, reason=reason)
        found = part((), unreachable=[reason], account=account)
    else:
        found = part(swept.evaluated, trails=len(swept.trails), unreachable=list(swept.problems), account=account)
    state = deps.inventory.report(sweep, account, found, deps.now())
    result: dict[str, Any] = {"account": account, "sweep": sweep, "reported": state.reported}
    if state.complete:
        summary = finish(deps, sweep)
        if summary is not None:
            result["summary"] = summary
    return result


def finish(deps: Deps, sweep: str, missing: int = 0) -> dict[str, Any] | None:
    """Add up the sweep's parts and publish its summary, once (None: another worker did, or is doing it). A
    publish that fails releases its claim and raises: the record's next delivery publishes it."""
    if not deps.inventory.claim_summary(sweep, deps.now()):
        return None
    try:
        summary = add_up(deps.inventory.sweep_parts(sweep), deps, missing)
        logger.info("sweep done", **summary)
        summary["message_id"] = deps.publisher.publish_summary(SweepSummary(summary, deps.now()))
    except Exception:
        deps.inventory.release_summary(sweep)
        raise
    deps.inventory.published(sweep, deps.now())
    return summary


def close_unfinished(deps: Deps) -> list[str]:
    """The recent sweeps whose summary is not out although every delivery of their messages is over (some accounts
    never reported: their messages went to the dead-letter queue; or the summary could not be published): their
    summaries go out now, naming how many accounts are missing. A sweep still
    within OVERDUE may still be running (a second planner run, a slow retry): it is left alone."""
    closed = []
    for state in deps.inventory.recent_sweeps(RECENT):
        if state.published:  # complete but unpublished too: its summary could not be published in time
            continue
        if state.started is not None and deps.now() - state.started < OVERDUE:
            continue
        if finish(deps, state.sweep, max(state.expected - state.reported, 0)) is not None:
            closed.append(state.sweep)
    return closed


def _capped(items: list[str]) -> list[str]:
    """At most LISTED entries and how many more: a summary stays far below SNS's 256 KB at any size."""
    return items if len(items) <= LISTED else [*items[:LISTED], f"... and {len(items) - LISTED} more"]


def add_up(parts: Iterable[dict[str, Any]], deps: Deps, missing: int = 0) -> dict[str, Any]:
    """{central part, account parts...} -> the summary of trailguard.sweep/1."""
    outcomes: Counter[str] = Counter()
    findings: Counter[str] = Counter()
    changed: list[str] = []
    failures: list[str] = []
    unreachable: list[str] = []
    trails = 0
    head: dict[str, Any] = {}
    for piece in parts:
        if "started" in piece:
            head = piece
        outcomes.update(piece.get("outcomes", {}))
        findings.update(piece.get("findings", {}))
        changed += piece.get("changed", [])
        failures += piece.get("failures", [])
        unreachable += piece.get("unreachable", [])
        trails += int(piece.get("trails", 0))
    if missing:
        failures.append(f"{missing} account(s) never reported: their messages are in the sweep's dead-letter queue")
    started = parse_stamp(head["started"]) if "started" in head else deps.now()
    nested: dict[str, dict[str, int]] = {}
    for key, number in sorted(findings.items()):
        check, _, status = key.partition(" ")
        nested.setdefault(check, {})[status] = number
    return {
        "result": "swept",
        "accounts": int(head.get("accounts", 0)),
        "regions": list(head.get("regions", [])),
        "trails": trails,
        "outcomes": dict(sorted(outcomes.items())),
        "findings": nested,
        "changed": _capped(changed),
        "failures": _capped(failures),
        "unreachable": _capped(unreachable),
        "seconds": round(max((deps.now() - started).total_seconds(), 0.0), 3),
    }
