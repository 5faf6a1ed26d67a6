"""What a check may know besides the resource it looks at, and what the checks of several rooms share."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from trailguard import policy
from trailguard.findings import Violation
from trailguard.settings import Settings

if TYPE_CHECKING:
    from trailguard.organization import Scope


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    scope: Scope | None = None  # the organization and the trails using the key or bucket (key and bucket checks)
    bucket_region: str | None = None  # the central bucket's region, when known (key.region)


@lru_cache(maxsize=16)
def parsed_policy(text: str) -> policy.PolicyDocument | policy.PolicyParseError:
    """A policy document parsed once for all the checks that read it (or why it cannot be parsed)."""
    try:
        return policy.parse_policy(text)
    except policy.PolicyParseError as error:
        return error


def grants_violation(check: str, lead: str, grants: list[policy.Grant]) -> Violation | None:
    """A policy check that finds grants it does not accept (public, external): they are named, and expected gone."""
    if not grants:
        return None
    return Violation(
        check, lead + policy.describe_grants(grants) + ".", {"grants": [g.to_dict() for g in grants]}, {"grants": []}
    )
