"""Where moto answers differently from AWS in a way TrailGuard relies on, moto is brought in line here.

- **ListTrails.** AWS documents ListTrails as listing the trails "in the current account", each with its home
  region (DescribeTrails, by contrast, is per region). moto answers it per region: the region's own trails and
  the multi-region trails of other regions, so a single-region trail of another region is missing. The sweep
  lists an account's trails with one ListTrails; under moto that call would miss trails. `apply()` makes moto's
  ListTrails list every trail of the account, once, with its home region.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_APPLIED = False


def apply() -> None:
    """Patch moto in this process (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    from moto.cloudtrail import models

    def list_trails(self: Any) -> Iterable[Any]:
        return [
            trail
            for backend in models.cloudtrail_backends[self.account_id].values()
            for trail in backend.trails.values()
        ]

    models.CloudTrailBackend.list_trails = list_trails  # type: ignore[method-assign]
    _APPLIED = True
