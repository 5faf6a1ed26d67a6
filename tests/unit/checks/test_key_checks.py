"""The central key's checks, one by one, without AWS."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.unit.checks.fixtures import (
    CENTRAL,
    CONTEXT,
    GOOD_TRAIL,
    KEY,
    MEMBER,
    ORGANIZATION,
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
    "key.cloudtrail-describe": [(central_key(key_policy(*ORGANIZATION, describe=False)), CONTEXT)],
    "key.public": [(central_key(key_policy(*ORGANIZATION, extra=[PUBLIC])), CONTEXT)],
    "key.external-access": [(central_key(key_policy(*ORGANIZATION, extra=[EXTERNAL])), CONTEXT)],
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
    # The central account (no trail of its own: asked about through a probe) and the account of trail x
    assert f"2 accounts ({CENTRAL}, 444444444444)" in violation.summary
    assert violation.observed["refused_accounts"] == [CENTRAL, "444444444444"]
    assert violation.observed["refused_trails"] == ["arn:aws:cloudtrail:eu-west-1:444444444444:trail/x"]
    assert violation.observed["required_accounts"] == "every active account of the organization (3)"


def test_every_account_of_the_organization_must_be_admitted_with_or_without_trails() -> None:
    # Given an organization of the central account and a member, neither with a trail in scope
    context = Context(CONTEXT.settings, Scope(SCOPE.accounts, ()), "eu-west-1")

    # Then the key must admit both: a member whose trail never used the key is no exception
    assert checks(central_key(key_policy(MEMBER)), context) == ["key.cloudtrail-encrypt"]
    assert checks(central_key(key_policy(CENTRAL)), context) == ["key.cloudtrail-encrypt"]
    assert checks(central_key(key_policy(CENTRAL, MEMBER)), context) == []


def test_the_organization_trail_must_be_admitted_when_the_management_account_is_set() -> None:
    settings = CONTEXT.settings.model_copy(update={"management_account_id": "111111111111"})
    context = Context(settings, Scope(SCOPE.accounts | {"111111111111"}, ()), "eu-west-1")

    (violation,) = evaluate(ResourceType.KEY, central_key(key_policy(*ORGANIZATION)), context)

    assert violation.summary.startswith(
        "The central key policy does not let CloudTrail encrypt logs for account 111111111111 and the "
        "organization trail: "
    )
    assert violation.observed["organization_trail_refused"] is True
    assert checks(central_key(key_policy(*ORGANIZATION, "111111111111")), context) == []


def test_without_the_organization_only_the_accounts_with_trails_are_required_and_the_finding_says_so() -> None:
    unknown = Scope(SCOPE.accounts, SCOPE.trails, organization_known=False)
    context = Context(CONTEXT.settings, unknown, "eu-west-1")

    # The member's trail is in scope: the member is required, the central account (no trail) is not
    assert checks(central_key(key_policy(MEMBER)), context) == []
    (violation,) = evaluate(ResourceType.KEY, central_key(key_policy(CENTRAL)), context)
    assert violation.observed["refused_accounts"] == [MEMBER]
    assert "only the accounts with trails in scope" in violation.observed["required_accounts"]
    # And with no trail in scope either, the central account (no management account is set)
    no_trails = Context(CONTEXT.settings, Scope(SCOPE.accounts, (), organization_known=False), "eu-west-1")
    assert checks(central_key(key_policy(CENTRAL)), no_trails) == []
    assert checks(central_key(key_policy(MEMBER)), no_trails) == ["key.cloudtrail-encrypt"]


THOUSAND = [f"{n:012d}" for n in range(100_000_000_000, 100_000_001_000)]


def test_a_finding_about_1000_refused_accounts_names_the_first_ten_and_lists_all_in_its_details() -> None:
    # Given an organization of 1,000 accounts and a key policy that admits only the central account
    context = Context(CONTEXT.settings, Scope(frozenset({CENTRAL, *THOUSAND}), ()), "eu-west-1")

    (violation,) = evaluate(ResourceType.KEY, central_key(key_policy(CENTRAL)), context)

    # Then the sentence names ten accounts and counts the rest; the details list every one
    assert f"1,000 accounts ({', '.join(THOUSAND[:10])} and 990 more)" in violation.summary
    assert len(violation.summary) < 600
    assert violation.observed["refused_accounts"] == THOUSAND
    assert violation.observed["refused_trails"] == [], "probe trails are not listed: their accounts are"
    assert len(json.dumps(violation.observed)) < 20_000


def test_an_organization_wide_key_policy_admits_every_account_when_the_organization_id_is_known() -> None:
    from trailguard.policy import key_policy as build

    settings = CONTEXT.settings.model_copy(update={"management_account_id": "111111111111", "org_id": "o-a1b2c3d4e5"})
    organization = frozenset({CENTRAL, "111111111111", *THOUSAND})
    context = Context(settings, Scope(organization, (GOOD_TRAIL,)), "eu-west-1")
    text = json.dumps(
        build(
            CENTRAL,
            management_account="111111111111",
            org_id="o-a1b2c3d4e5",
            trail_accounts=sorted(organization),
            key_arn=KEY,
        )
    )

    assert "aws:SourceOrgID" in text, "1,002 accounts one by one would not fit: the builder chose"
    assert checks(central_key(text), context) == []


def test_external_access_is_not_judged_when_the_organization_is_unknown() -> None:
    unknown = Context(CONTEXT.settings, Scope(SCOPE.accounts, SCOPE.trails, organization_known=False), "eu-west-1")

    assert checks(central_key(key_policy(MEMBER, extra=[EXTERNAL])), unknown) == []
