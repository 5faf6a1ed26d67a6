"""The organization and the trails that depend on the central key and bucket.

"The organization" is TRAILGUARD_ACCOUNTS, else the accounts listed through Organizations (from this
account if it is a delegated administrator, else through the management account's remediation role); the
central and management accounts always belong to it. The key and the bucket must admit every account of
it, since TrailGuard moves any trail of any account onto the key. The trails in scope (those that use the
central key or deliver to the central bucket) are asked about by ARN, so that grants pinned to trails are
judged trail by trail; the key and bucket guards take them from the inventory the sweep keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from trailguard.arns import organizations_region, parse_trail_arn
from trailguard.findings import Resource
from trailguard.observability import logger
from trailguard.sessions import AccessError, error_code, error_message, is_transient
from trailguard.settings import Settings
from trailguard.trail.facts import Trail
from trailguard.warm import ORGANIZATION_TTL

if TYPE_CHECKING:
    from trailguard.resource import Deps

WORKERS = 8  # accounts read at once by the census
REGIONS = "regions"  # the warm entry of the regions in scope


@dataclass(frozen=True, slots=True)
class Scope:
    accounts: frozenset[str]  # the organization
    trails: tuple[Trail, ...]  # trails that use the central key or deliver to the central bucket
    problems: tuple[str, ...] = ()  # what could not be read or is not known (a missing or stale inventory), and why
    organization_known: bool = True  # False when the organization could not be listed (nor configured)


def _always(settings: Settings) -> set[str]:
    """The central and management accounts: always part of the organization."""
    return {settings.central_key.account, *([settings.management_account_id] if settings.management_account_id else [])}


def organization_accounts(deps: Deps) -> tuple[frozenset[str], tuple[str, ...]]:
    settings = deps.settings
    always = _always(settings)
    if settings.accounts:
        return frozenset(always | set(settings.accounts)), ()
    listed, problems = deps.warm.value("accounts", ORGANIZATION_TTL, lambda: _list_accounts(deps))
    if problems:
        deps.warm.drop("accounts")  # a failure is not remembered: the next event tries again
    return frozenset(always | set(listed)), problems


def _list_accounts(deps: Deps) -> tuple[frozenset[str], tuple[str, ...]]:
    settings = deps.settings
    callers = [deps.sessions.own_account]
    if settings.management_account_id and settings.management_account_id not in callers:
        callers.append(settings.management_account_id)
    problems: list[str] = []
    for caller in callers:
        try:
            client = deps.sessions.client("organizations", caller, organizations_region(settings.central_key.partition))
            accounts = {
                str(account["Id"])
                for page in client.get_paginator("list_accounts").paginate()
                for account in page["Accounts"]
                if account.get("Status", "ACTIVE") == "ACTIVE"
            }
            if accounts:
                return frozenset(accounts), ()
            problems.append(f"ListAccounts from {caller} returned no account")
        except AccessError as error:
            problems.append(str(error))
        except ClientError as error:
            if is_transient(error):
                raise
            problems.append(f"ListAccounts from {caller} failed ({error_code(error)}: {error_message(error)})")
    logger.warning("organization not listed; set TRAILGUARD_ACCOUNTS", problems=problems)
    return frozenset(), tuple(problems)


def regions(deps: Deps) -> tuple[str, ...]:
    if deps.settings.regions:
        return deps.settings.regions
    key_region = deps.settings.central_key.region

    def enabled() -> tuple[str, ...]:
        ec2 = deps.sessions.client("ec2", deps.sessions.own_account, key_region)
        names = sorted(region["RegionName"] for region in ec2.describe_regions(AllRegions=False)["Regions"])
        return tuple(names) or (key_region,)

    return deps.warm.value(REGIONS, ORGANIZATION_TTL, enabled)


@dataclass(frozen=True, slots=True)
class Census:
    """Every trail the organization's accounts own (their configuration), read afresh, and what could not be
    read: the audit's view of the organization (the sweep reads it account by account, in its workers)."""

    accounts: frozenset[str]
    trails: tuple[Trail, ...]  # by ARN
    problems: tuple[str, ...]
    organization_known: bool
    unread: frozenset[str] = frozenset()  # accounts whose trails could not all be read

    def scope(self, settings: Settings) -> Scope:
        """The trails that use the central key or deliver to the central bucket."""
        return Scope(self.accounts, in_scope(self.trails, settings), self.problems, self.organization_known)


def in_scope(trails: Iterable[Trail], settings: Settings) -> tuple[Trail, ...]:
    return tuple(
        trail
        for trail in trails
        if trail.kms_key_id == settings.central_key_arn or trail.s3_bucket == settings.log_bucket
    )


def discover(deps: Deps) -> Scope:
    """The organization and the trails that use the central key or deliver to the central bucket, from the
    inventory the sweep keeps (and trail events keep current): no account or region is read here. The accounts
    are the inventory's when it is fresh, else listed (one paginated ListAccounts, kept warm); a missing or stale
    inventory is named in the scope's problems, and the next sweep rebuilds it."""
    settings = deps.settings
    problems: list[str] = []
    kept = deps.inventory.organization()
    max_age = timedelta(hours=settings.inventory_max_age_hours)
    if kept is None or kept.swept is None:
        problems.append("the inventory of the organization's trails is empty until the first sweep builds it")
    elif deps.now() - kept.swept > max_age:
        problems.append(
            f"the inventory was last rebuilt by a sweep at {kept.swept:%Y-%m-%dT%H:%M:%SZ}, more than "
            f"{settings.inventory_max_age_hours} h ago: the sweep is not completing (see the sweep heartbeat alarm)"
        )
    listing: tuple[str, ...] = ()
    if kept is not None and not settings.accounts and not kept.problems and not problems:
        accounts = frozenset(kept.accounts | _always(settings))
    else:
        accounts, listing = organization_accounts(deps)
    trails = tuple(deps.inventory.trails(key_arn=settings.central_key_arn, bucket=settings.log_bucket))
    if problems:
        logger.warning("inventory incomplete", problems=problems)
    return Scope(accounts, in_scope(trails, settings), (*listing, *problems), organization_known=not listing)


def census(deps: Deps, *, tolerant: bool = False) -> Census:
    """Every trail of the organization, read in its home region with its owner's credentials (`account_trails`
    for each account, in parallel). `tolerant` (the audit): an account whose reading fails even transiently is
    named in the problems instead of raising."""
    accounts, problems = organization_accounts(deps)
    names = regions(deps)
    deps.sessions.own_account  # resolved once, before the threads ask for it  # noqa: B018
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda account: _census_account(deps, account, names, tolerant), sorted(accounts)))
    found = {trail.arn: trail for trails, _ in results for trail in trails}
    issues = [*problems, *(issue for _, account_issues in results for issue in account_issues)]
    if issues:
        logger.warning("trails of the organization partly unknown", problems=issues)
    trails = tuple(found[arn] for arn in sorted(found))
    unread = frozenset(
        account for account, (_, account_issues) in zip(sorted(accounts), results, strict=True) if account_issues
    )
    return Census(accounts, trails, tuple(issues), organization_known=not problems, unread=unread)


def _census_account(deps: Deps, account: str, names: tuple[str, ...], tolerant: bool) -> tuple[list[Trail], list[str]]:
    try:
        listed = account_trails(deps, account, names)
        return listed.trails, list(listed.problems)
    except (ClientError, BotoCoreError) as error:
        if not tolerant:
            raise
        return [], [f"trails of {account} unreadable ({error_code(error)})"]
    finally:
        deps.sessions.release(account)  # memory does not grow with the organization


@dataclass(frozen=True, slots=True)
class Listed:
    """An account's own trails (configuration read in each trail's home region), and what could not be read."""

    trails: list[Trail]
    problems: tuple[str, ...] = ()


def account_trails(deps: Deps, account: str, names: tuple[str, ...]) -> Listed:
    """The trails `account` owns whose home region is one of `names`: one ListTrails for the whole account
    (ListTrails lists the account's trails with each one's home region, where DescribeTrails is per region),
    then GetTrail of each in its home region. Per region instead (one ListTrails each) when
    TRAILGUARD_TRAIL_LISTING=regional, or when the answer names no home region. Shadow copies and the
    organization trail seen from a member are skipped. Transient errors raise; lasting ones are problems."""
    first = deps.settings.central_key.region if deps.settings.central_key.region in names else names[0]
    listing: dict[str, str] = {}  # ARN -> home region
    problems: list[str] = []
    try:
        if deps.settings.trail_listing == "account":
            infos = list(_list_trails(deps.sessions.client("cloudtrail", account, first)))
            if all(info.get("HomeRegion") for info in infos):
                listing = {info["TrailARN"]: info["HomeRegion"] for info in infos}
            else:
                listing = _listed_per_region(deps, account, names)
        else:
            listing = _listed_per_region(deps, account, names)
    except AccessError as error:
        return Listed([], (str(error),))
    except (ClientError, BotoCoreError) as error:
        if is_transient(error):
            raise
        return Listed([], (f"trails of {account} unreadable ({error_code(error)}: {error_message(error)})",))
    trails: list[Trail] = []
    for arn, home in sorted(listing.items()):
        parsed = parse_trail_arn(arn)
        if parsed is None or parsed.account != account or home not in names:
            continue  # organization trails seen from members; trails of regions outside the scope
        client = deps.sessions.client("cloudtrail", account, home)
        try:
            config = client.get_trail(Name=arn)["Trail"]
        except ClientError as error:
            if is_transient(error):
                raise
            if error_code(error) != "TrailNotFoundException":  # deleted since it was listed: nothing to judge
                problems.append(f"trail {arn} unreadable ({error_code(error)})")
            continue
        trails.append(Trail.from_api(Resource.trail(arn), {**config, "HomeRegion": home}))
    return Listed(trails, tuple(problems))


def _listed_per_region(deps: Deps, account: str, names: tuple[str, ...]) -> dict[str, str]:
    listing: dict[str, str] = {}
    for region in names:
        for info in _list_trails(deps.sessions.client("cloudtrail", account, region)):
            arn = info["TrailARN"]
            parsed = parse_trail_arn(arn)
            home = info.get("HomeRegion") or (parsed.region if parsed else region)
            if home == region:  # a shadow copy is listed in its own home region
                listing[arn] = home
    return listing


def _list_trails(client: Any) -> Iterable[dict[str, Any]]:
    token: str | None = None
    while True:
        response = client.list_trails(**({"NextToken": token} if token else {}))
        yield from response.get("Trails", [])
        token = response.get("NextToken")
        if not token:
            return
