"""The organization and the trails that depend on the central key and bucket.

"The organization" is TRAILGUARD_ACCOUNTS, else the accounts listed through Organizations (from this
account if it is a delegated administrator, else through the management account's remediation role); the
central and management accounts always belong to it. A trail is in scope when it uses the central key
or delivers to the central bucket: TrailGuard puts every such trail on the key, so the key and bucket
policies must admit its account (the management account for organization trails).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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

WORKERS = 8  # accounts read at once by the key and bucket guards


@dataclass(frozen=True, slots=True)
class Scope:
    accounts: frozenset[str]  # the organization
    trails: tuple[Trail, ...]  # trails that use the central key or deliver to the central bucket
    problems: tuple[str, ...] = ()  # accounts or regions that could not be read, and why
    organization_known: bool = True  # False when the organization could not be listed (nor configured)

    @property
    def trail_accounts(self) -> tuple[str, ...]:
        """Accounts whose trails the key must admit (organization trails count for the management account)."""
        return tuple(sorted({trail.account for trail in self.trails}))


def organization_accounts(deps: Deps) -> tuple[frozenset[str], tuple[str, ...]]:
    settings = deps.settings
    always = {settings.central_key.account}
    if settings.management_account_id:
        always.add(settings.management_account_id)
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

    return deps.warm.value("regions", ORGANIZATION_TTL, enabled)


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every trail the organization's accounts own (their configuration), and what could not be read."""

    accounts: frozenset[str]
    trails: tuple[Trail, ...]  # by ARN
    problems: tuple[str, ...]
    organization_known: bool
    unread: frozenset[str] = frozenset()  # accounts whose trails could not all be read

    def scope(self, settings: Settings) -> Scope:
        """The trails that use the central key or deliver to the central bucket."""
        scoped = tuple(
            trail
            for trail in self.trails
            if trail.kms_key_id == settings.central_key_arn or trail.s3_bucket == settings.log_bucket
        )
        return Scope(self.accounts, scoped, self.problems, self.organization_known)


def discover(deps: Deps) -> Scope:
    """Every trail of the organization that uses the central key or delivers to the central bucket."""
    return inventory(deps).scope(deps.settings)


def inventory(deps: Deps, *, tolerant: bool = False) -> Inventory:
    """Every trail of the organization, read in its home region with its owner's credentials: ListTrails in
    each account and region (shadow copies and organization trails seen from members are skipped), GetTrail
    for each. Accounts are read in parallel, each account's regions one after another. `tolerant` (the
    sweep): an account whose reading fails even transiently is named in the problems instead of raising."""
    accounts, problems = organization_accounts(deps)
    names = regions(deps)
    deps.sessions.own_account  # resolved once, before the threads ask for it  # noqa: B018
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda account: _inventory_account(deps, account, names, tolerant), sorted(accounts)))
    found = {trail.arn: trail for trails, _ in results for trail in trails.values()}
    issues = [*problems, *(issue for _, account_issues in results for issue in account_issues)]
    if issues:
        logger.warning("trails of the organization partly unknown", problems=issues)
    trails = tuple(found[arn] for arn in sorted(found))
    unread = frozenset(
        account for account, (_, account_issues) in zip(sorted(accounts), results, strict=True) if account_issues
    )
    return Inventory(accounts, trails, tuple(issues), organization_known=not problems, unread=unread)


def _inventory_account(
    deps: Deps, account: str, names: tuple[str, ...], tolerant: bool
) -> tuple[dict[str, Trail], list[str]]:
    found: dict[str, Trail] = {}
    issues: list[str] = []
    try:
        for region in names:
            try:
                _inventory_region(deps, account, region, found)
            except AccessError as error:
                issues.append(str(error))
                break  # no credentials for this account: no other region will do better
            except (ClientError, BotoCoreError) as error:
                if is_transient(error) and not tolerant:
                    raise
                issues.append(f"trails of {account} in {region} unreadable ({error_code(error)})")
    finally:
        deps.sessions.release(account)  # memory does not grow with the organization
    return found, issues


def _inventory_region(deps: Deps, account: str, region: str, found: dict[str, Trail]) -> None:
    client = deps.sessions.client("cloudtrail", account, region)
    for info in _list_trails(client):
        arn = info["TrailARN"]
        parsed = parse_trail_arn(arn)
        home = info.get("HomeRegion") or (parsed.region if parsed else region)
        if arn in found or parsed is None or home != region or parsed.account != account:
            continue  # shadow copies, other regions' trails and organization trails seen from members
        found[arn] = Trail.from_api(Resource.trail(arn), {**client.get_trail(Name=arn)["Trail"], "HomeRegion": home})


def _list_trails(client: Any) -> Iterable[dict[str, Any]]:
    token: str | None = None
    while True:
        response = client.list_trails(**({"NextToken": token} if token else {}))
        yield from response.get("Trails", [])
        token = response.get("NextToken")
        if not token:
            return
