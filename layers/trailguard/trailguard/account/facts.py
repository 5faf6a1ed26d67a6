"""What records an account: its own multi-region trails and the organization's trails, with their status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trailguard.findings import Resource
from trailguard.organization import regions
from trailguard.sessions import is_transient
from trailguard.trail.facts import Trail, TrailAdapter
from trailguard.vocabulary import ResourceType
from trailguard.warm import ORGANIZATION_TTL

if TYPE_CHECKING:
    from trailguard.resource import Deps

ORGANIZATION_TRAILS = "organization-trails"  # the warm entry of the organization's trails and their status


@dataclass(frozen=True, slots=True)
class Coverage:
    """An account, the regions it must be recorded in, and the trails that can record it."""

    account: str
    regions: tuple[str, ...]
    own: tuple[Trail, ...]  # the account's own multi-region trails, status read
    organization: tuple[Trail, ...]  # the organization's trails (owned by the management account), status read
    management: bool  # the account is the organization's management account
    problems: tuple[str, ...] = ()
    forwarding: dict[str, str] | None = None  # region -> why its events do not reach TrailGuard; None: not read

    def recorded_by(self) -> list[Trail]:
        """The logging multi-region trails that record the account in every region."""
        candidates = [*self.own, *self.organization]
        return [t for t in candidates if t.multi_region and t.status is not None and t.status.is_logging]


def account_resource(deps: Deps, account: str) -> Resource:
    settings = deps.settings
    partition = settings.central_key.partition
    if settings.org_id and settings.management_account_id:
        arn = f"arn:{partition}:organizations::{settings.management_account_id}:account/{settings.org_id}/{account}"
    else:
        arn = f"arn:{partition}:iam::{account}:root"
    return Resource(ResourceType.ACCOUNT, arn, account, settings.central_key.region, account, partition)


def with_status(deps: Deps, trails: Iterable[Trail]) -> tuple[Trail, ...]:
    """GetTrailStatus of each trail, in its home region with its owner's credentials."""
    adapter = TrailAdapter(deps.sessions)
    return tuple(trail if trail.status is not None else adapter.read_status(trail) for trail in trails)


def account_trails(deps: Deps, account: str) -> list[Trail]:
    """The trails an account owns, every region's (DescribeTrails with shadow trails, in one region)."""
    region = deps.settings.central_key.region
    client = deps.sessions.client("cloudtrail", account, region)
    found: dict[str, Trail] = {}
    for info in client.describe_trails(includeShadowTrails=True).get("trailList", []):
        arn = str(info.get("TrailARN", ""))
        if arn.split(":")[4:5] == [account] and arn not in found:
            found[arn] = Trail.from_api(Resource.trail(arn), _config(info))
    return list(found.values())


def _config(info: dict[str, Any]) -> dict[str, Any]:
    return {**info, "HomeRegion": info.get("HomeRegion") or str(info["TrailARN"]).split(":")[3]}


def organization_trails(deps: Deps, known: Iterable[Trail] | None = None) -> tuple[Trail, ...]:
    """The organization trails (owned by the management account), with their status; reused for a few minutes
    by a warm container. `known`: the management account's trails, already read (the sweep's inventory)."""
    management = deps.settings.management_account_id
    if management is None:
        return ()

    def read() -> tuple[Trail, ...]:
        trails = known if known is not None else account_trails(deps, management)
        return with_status(deps, [trail for trail in trails if trail.organization_trail])

    if known is not None:
        value = read()
        deps.warm.put(ORGANIZATION_TRAILS, value)
        return value
    return deps.warm.value(ORGANIZATION_TRAILS, ORGANIZATION_TTL, read)


def read_coverage(
    deps: Deps,
    account: str,
    own: Iterable[Trail] | None = None,
    organization: tuple[Trail, ...] | None = None,
    *,
    forwarding: bool = False,
) -> Coverage:
    """The account's coverage: its own multi-region trails (from `own`, or read) and the organization's."""
    problems: list[str] = []
    try:
        trails = list(own) if own is not None else account_trails(deps, account)
        mine = with_status(deps, [trail for trail in trails if trail.multi_region and not trail.organization_trail])
    except ClientError as error:
        if is_transient(error):
            raise
        problems.append(f"the trails of {account} could not be read ({error.response.get('Error', {}).get('Code')})")
        mine = ()
    org = organization if organization is not None else organization_trails(deps)
    management = account == deps.settings.management_account_id
    names = tuple(regions(deps))
    broken = read_forwarding(deps, account, names) if forwarding and deps.settings.central_bus_arn else None
    return Coverage(account, names, mine, org, management, tuple(problems), broken)


def read_forwarding(deps: Deps, account: str, names: Iterable[str]) -> dict[str, str]:
    """In each region, is the account's forwarding rule there, enabled, and aimed at the central bus? Only the
    regions where it is not, with why (DescribeRule and ListTargetsByRule)."""
    settings = deps.settings
    bus = settings.central_bus_arn
    broken: dict[str, str] = {}
    for region in names:
        local = account == settings.central_key.account and region == settings.central_key.region
        rule = settings.central_forward_rule if local and settings.central_forward_rule else settings.forwarder_rule
        client = deps.sessions.client("events", account, region)
        try:
            described = client.describe_rule(Name=rule, EventBusName="default")
            if described.get("State") != "ENABLED":
                broken[region] = f"rule {rule} is {described.get('State')}"
                continue
            targets = [t.get("Arn") for t in client.list_targets_by_rule(Rule=rule, EventBusName="default")["Targets"]]
            if bus not in targets:
                broken[region] = (
                    f"rule {rule} does not target the central bus (targets: {', '.join(map(str, targets)) or 'none'})"
                )
        except ClientError as error:
            if is_transient(error):
                raise
            code = error.response.get("Error", {}).get("Code")
            broken[region] = (
                f"rule {rule} is missing" if code == "ResourceNotFoundException" else f"rule {rule} unreadable ({code})"
            )
    return broken
