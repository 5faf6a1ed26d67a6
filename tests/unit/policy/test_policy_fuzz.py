"""Whatever it is handed, the analyzer answers or refuses cleanly; and a Deny of everything closes everything."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.policy.policy_testkit import (
    BUCKET_ARN,
    KEY_ARN,
    ORG_ACCOUNTS,
    ORG_ID,
    any_policy_source,
    ask_everything,
    policies,
)
from trailguard.policy import PolicyParseError, Verdict, external_grants, parse_policy, public_grants


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=any_policy_source())
def test_any_input_is_parsed_or_refused_and_every_question_answers(source: Any) -> None:
    # Given anything: a policy, a broken policy, JSON with repeated keys, text, bytes, junk
    # When it is parsed
    try:
        doc = parse_policy(source)
    except PolicyParseError as error:
        # Then it is refused with a one-line reason...
        assert str(error)
        assert "\n" not in str(error)
        return
    # ...or every question gets a Verdict with a one-sentence reason
    for verdict in ask_everything(doc):
        assert isinstance(verdict, Verdict)
        assert verdict.reason.endswith(".")
        assert (" may not " in verdict.reason) != verdict.allowed


DENY_EVERYTHING = {"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}


@settings(max_examples=500, deadline=None)
@given(policy=policies(), position=st.integers(0, 6))
def test_an_explicit_deny_of_everything_makes_every_question_false(
    policy: dict[str, Any], position: int
) -> None:
    # Given any policy with an explicit Deny of all actions to "*" added anywhere
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    statements = list(statements)
    statements.insert(min(position, len(statements)), DENY_EVERYTHING)
    doc = parse_policy({**policy, "Statement": statements})
    # Then no question is allowed, each names the Deny, and nothing is reported as granted
    for verdict in ask_everything(doc):
        assert not verdict.allowed
        assert "DenyAll" in verdict.statements
    assert public_grants(doc, KEY_ARN) == []
    assert public_grants(doc, BUCKET_ARN) == []
    assert external_grants(doc, ORG_ACCOUNTS, ORG_ID) == []


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_is_parsed_or_refused(text: str) -> None:
    try:
        parse_policy(text)
    except PolicyParseError:
        pass
