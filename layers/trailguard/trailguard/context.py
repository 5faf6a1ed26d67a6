"""What a check may know besides the resource it looks at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trailguard.settings import Settings

if TYPE_CHECKING:
    from trailguard.organization import Scope


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    scope: Scope | None = None  # the organization and the trails using the key or bucket (key and bucket checks)
    bucket_region: str | None = None  # the central bucket's region, when known (key.region)
