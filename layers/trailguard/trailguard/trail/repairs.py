"""The trail repairs: UpdateTrail (the central key, log file validation) and StartLogging, in the trail's home
region with its owner's credentials.

UpdateTrail sets the central key without reading the key first: AWS refuses a key or bucket that does not admit
the trail, and only then are the facts read to say why (`trailguard.trail.refusals`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from trailguard.sessions import error_code, is_transient
from trailguard.trail.facts import Trail, TrailAdapter
from trailguard.trail.refusals import ACTION, KEY_REFUSALS, explain_refusal

if TYPE_CHECKING:
    from trailguard.resource import Attempts, Deps

# The UpdateTrail parameter that repairs each check.
UPDATE_FIELDS = {"trail.encryption": "KmsKeyId", "trail.log-file-validation": "EnableLogFileValidation"}


@dataclass(slots=True)
class _Caught:
    """The AWS error a repair call raised, kept for its explanation (the call still raises it to `Attempts`)."""

    error: ClientError | None = None

    def around(self, call: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                call()
            except ClientError as error:
                self.error = error
                raise

        return run


def repair(trail: Trail, checks: set[str], deps: Deps, attempts: Attempts) -> None:
    adapter = TrailAdapter(deps.sessions)
    changes: dict[str, Any] = {}
    if "trail.encryption" in checks:
        changes["KmsKeyId"] = deps.settings.central_key_arn
    if "trail.log-file-validation" in checks:
        changes["EnableLogFileValidation"] = True
    if changes:
        update(trail, changes, deps, attempts, adapter)
    if "trail.logging" in checks:
        attempts.attempt(["trail.logging"], "cloudtrail:StartLogging", lambda: adapter.start_logging(trail.ref))


def update(trail: Trail, changes: dict[str, Any], deps: Deps, attempts: Attempts, adapter: TrailAdapter) -> None:
    """One UpdateTrail with every change. When AWS refuses the central key, the refusal is explained from the
    facts read then, and the other changes are made without the key (a key problem does not block them)."""
    updating = [name for name, field in UPDATE_FIELDS.items() if field in changes]
    caught = _Caught()
    if attempts.attempt(updating, ACTION, caught.around(lambda: adapter.update(trail.ref, **changes))):
        return
    error = caught.error
    if "KmsKeyId" not in changes or error is None:
        return  # no key was set, or the write gate stopped the call before AWS saw it
    if is_transient(error):
        return  # retried as a whole (Attempts keeps the error to raise)
    attempts.refuse(updating, explain_refusal(trail, error, deps))
    rest = {field: value for field, value in changes.items() if field != "KmsKeyId"}
    if rest and error_code(error) in KEY_REFUSALS:
        others = [name for name, field in UPDATE_FIELDS.items() if field in rest]
        for name in others:
            attempts.failed.pop(name, None)
        attempts.attempt(others, ACTION, lambda: adapter.update(trail.ref, **rest))


def confirm(trail: Trail, attempts: Attempts, deps: Deps) -> Trail:
    """Read again what the repairs changed: the configuration after UpdateTrail, the status after StartLogging."""
    adapter = TrailAdapter(deps.sessions)
    actions = set(attempts.attempted.values())
    fresh = adapter.read_config(trail) if "cloudtrail:UpdateTrail" in actions else trail
    return adapter.read_status(fresh) if "cloudtrail:StartLogging" in actions else fresh
