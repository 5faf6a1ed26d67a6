"""The questions every tool answers, the trails of the simulated organization, and the expected answers.

Pure data: the organization builder creates exactly these trails, and the comparison judges every tool's
verdicts against `expected_trail_verdicts` and `expected_coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    NOT_CHECKED = "-"  # the tool has no check for this question
    NOT_SEEN = "unseen"  # the tool ran the check but said nothing about this resource
    UNAVAILABLE = "n/a"  # the tool could not be installed or run


class Question(StrEnum):
    """What is asked of each trail (the first five) or of each account and region (coverage)."""

    CENTRAL_KEY = "encrypted with the central key"
    ENCRYPTED = "encrypted (any KMS key)"
    LOGGING = "logging"
    VALIDATION = "log file validation"
    MULTI_REGION = "multi-region"
    COVERAGE = "recorded by a logging multi-region trail"


TRAIL_QUESTIONS = (
    Question.CENTRAL_KEY,
    Question.ENCRYPTED,
    Question.LOGGING,
    Question.VALIDATION,
    Question.MULTI_REGION,
)


class Key(StrEnum):
    CENTRAL = "central"
    OTHER = "other"  # a key of the trail's own account, not the central key
    NONE = "none"


@dataclass(frozen=True)
class TrailSpec:
    account: str
    region: str  # home region
    name: str
    key: Key = Key.CENTRAL
    logging: bool = True
    validation: bool = True
    multi_region: bool = True
    organization: bool = False

    @property
    def arn(self) -> str:
        return trail_arn(self.account, self.region, self.name)

    @property
    def state(self) -> str:
        """A short human description of what is wrong with the trail (or that nothing is)."""
        wrong = [
            {Key.OTHER: "another key", Key.NONE: "no key"}.get(self.key, ""),
            "" if self.logging else "logging off",
            "" if self.validation else "validation off",
            "" if self.multi_region else "single-region",
        ]
        kind = "organization trail, " if self.organization else ""
        return kind + (", ".join(w for w in wrong if w) or "compliant")


def trail_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


def account_region(account: str, region: str) -> str:
    """The resource id of an account-region, the unit that coverage is judged on."""
    return f"{account}/{region}"


def expected_trail_verdicts(spec: TrailSpec) -> dict[Question, Verdict]:
    def verdict(ok: bool) -> Verdict:
        return Verdict.PASS if ok else Verdict.FAIL

    return {
        Question.CENTRAL_KEY: verdict(spec.key is Key.CENTRAL),
        Question.ENCRYPTED: verdict(spec.key is not Key.NONE),
        Question.LOGGING: verdict(spec.logging),
        Question.VALIDATION: verdict(spec.validation),
        Question.MULTI_REGION: verdict(spec.multi_region),
    }


def covering_trails(specs: tuple[TrailSpec, ...], account: str, region: str) -> list[TrailSpec]:
    """The logging multi-region trails that record `account` in `region`: its own, or an organization trail.

    A multi-region trail records every region; an organization trail records every account of the
    organization. A single-region trail never counts, even in its home region (the question is the one
    TrailGuard's account.coverage asks).
    """
    del region  # every trail that counts is multi-region
    return [s for s in specs if s.logging and s.multi_region and (s.account == account or s.organization)]


def expected_coverage(
    specs: tuple[TrailSpec, ...], accounts: tuple[str, ...], regions: tuple[str, ...]
) -> dict[str, Verdict]:
    return {
        account_region(account, region): Verdict.PASS if covering_trails(specs, account, region) else Verdict.FAIL
        for account in accounts
        for region in regions
    }


def covered_only_by_organization_trail(specs: tuple[TrailSpec, ...], account: str, region: str) -> bool:
    covering = covering_trails(specs, account, region)
    return bool(covering) and all(s.organization and s.account != account for s in covering)
