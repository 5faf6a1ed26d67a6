"""The central key's checks, one by one, without AWS."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.unit.checks.fixtures import (
    CENTRAL,
    CONTEXT,
    GOOD_TRAIL,
    MEMBER,
    OUTSIDER,
    SCOPE,
    central_key,
    key_policy,
)
from trailguard.catalogue import evaluate
from trailguard.context import Context
from trailguard.key.facts import CentralKey
from trailguard.organization import Scope
from trailguard.vocabulary import ResourceType

PUBLIC = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
EXTERNAL = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"},
    "Action": "kms:Decrypt",
    "Resource": "*",
}

# One key per drift (with the context it is judged in), and the one check it must fail.
CASES: dict[str, list[tuple[CentralKey, Context]]] = {
    "key.state": [
        (central_key(state="Disabled", rotation=None), CONTEXT),
        (central_key(state="PendingDeletion", rotation=None), CONTEXT),
        (central_key(state=None, rotation=None, policy=""), CONTEXT),  # unreadable: only key.state is said
    ],
    "key.rotation": [(central_key(rotation=False), CONTEXT)],
    "key.region": [(central_key(bucket_region="us-east-1"), CONTEXT)],
    "key.cloudtrail-encrypt": [
        (central_key(key_policy(CENTRAL)), CONTEXT),  # the member's trail is refused
        (central_key("{not json"), CONTEXT),
    ],
    "key.cloudtrail-describe": [(central_key(key_policy(MEMBER, describe=False)), CONTEXT)],
    "key.public": [(central_key(key_policy(MEMBER, extra=[PUBLIC])), CONTEXT)],
    "key.external-access": [(central_key(key_policy(MEMBER, extra=[EXTERNAL])), CONTEXT)],
}


def checks(central: CentralKey, context: Context = CONTEXT) -> list[str]:
    return [violation.check for violation in evaluate(ResourceType.KEY, central, context)]


def test_compliant_key_has_no_violation() -> None:
    assert checks(central_key()) == []


@pytest.mark.parametrize(
    ("expected", "central", "context"),
    [(name, central, context) for name, cases in CASES.items() for central, context in cases],
)
def test_each_drift_is_one_violation(expected: str, central: CentralKey, context: Context) -> None:
    assert checks(central, context) == [expected]


def test_state_and_policy_checks_are_separate_phases() -> None:
    disabled = central_key(key_policy(CENTRAL), state="Disabled", rotation=None)

    assert [v.check for v in evaluate(ResourceType.KEY, disabled, CONTEXT, "state")] == ["key.state"]
    assert [v.check for v in evaluate(ResourceType.KEY, disabled, CONTEXT, "policy")] == ["key.cloudtrail-encrypt"]


def test_refused_accounts_are_named() -> None:
    other = replace(GOOD_TRAIL, ref=replace(GOOD_TRAIL.ref, arn="arn:aws:cloudtrail:eu-west-1:444444444444:trail/x"))
    context = Context(CONTEXT.settings, Scope(SCOPE.accounts | {"444444444444"}, (GOOD_TRAIL, other)), "eu-west-1")

    (violation,) = evaluate(ResourceType.KEY, central_key(key_policy(MEMBER)), context)

    assert violation.check == "key.cloudtrail-encrypt"
    assert "444444444444" in violation.summary
    assert violation.observed["refused_trails"] == ["arn:aws:cloudtrail:eu-west-1:444444444444:trail/x"]


def test_without_trails_the_key_must_admit_the_central_account() -> None:
    context = Context(CONTEXT.settings, Scope(SCOPE.accounts, ()), "eu-west-1")

    assert checks(central_key(key_policy(MEMBER)), context) == ["key.cloudtrail-encrypt"]
    assert checks(central_key(key_policy(CENTRAL)), context) == []


def test_external_access_is_not_judged_when_the_organization_is_unknown() -> None:
    unknown = Context(CONTEXT.settings, Scope(SCOPE.accounts, SCOPE.trails, organization_known=False), "eu-west-1")

    assert checks(central_key(key_policy(MEMBER, extra=[EXTERNAL])), unknown) == []
