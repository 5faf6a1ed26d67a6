"""The account's repairs: none. Creating or starting a trail for an account chooses where its logs go and what
they cost, so `account.coverage` is reported, with what to do, never repaired."""

from __future__ import annotations

from trailguard.account.facts import Coverage
from trailguard.resource import Attempts


def repair(coverage: Coverage, checks: set[str], attempts: Attempts) -> None:
    """Nothing to run: every account check is reported only (the registry says so)."""
    return
