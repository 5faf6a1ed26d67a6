"""Whatever it is handed, the analyzer answers or refuses cleanly; a Deny of everything closes everything."""

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
    policy_texts,
)
from trailguard.policy import PolicyDocument, PolicyParseError, external_grants, parse_policy, public_grants


def parse_or_refusal(source: Any) -> PolicyDocument | str:
    """The document, or the one-line reason it was refused (any other exception fails the test)."""
    try:
        return parse_policy(source)
    except PolicyParseError as error:
        return str(error)


def assert_answers_or_refuses(source: Any) -> None:
    outcome = parse_or_refusal(source)
    if isinstance(outcome, str):
        # Then it is refused with a one-line reason...
        assert outcome
        assert "\n" not in outcome
        return
    # ...or every question gets a Verdict whose reason is one sentence that agrees with it
    for verdict in ask_everything(outcome):
        assert verdict.reason.endswith(".")
        assert (" may not " in verdict.reason) != verdict.allowed


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=any_policy_source())
def test_any_input_is_parsed_or_refused_and_every_question_answers(source: Any) -> None:
    # Given anything: a policy, a broken policy, JSON with repeated keys, text, bytes, junk
    # When it is parsed and, if it parses, every question is asked
    assert_answers_or_refuses(source)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.one_of(policy_texts(), st.text(max_size=200)))
def test_shrinkable_policy_texts_are_parsed_or_refused(source: str | bytes) -> None:
    # The same, from hypothesis-native strategies (slower to draw, but a failure shrinks to a small policy)
    assert_answers_or_refuses(source)


DENY_EVERYTHING = {"Sid": "DenyAll", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}


@settings(max_examples=500, deadline=None)
@given(policy=policies(), position=st.integers(0, 6))
def test_an_explicit_deny_of_everything_makes_every_question_false(policy: dict[str, Any], position: int) -> None:
    # Given any policy with an explicit Deny of all actions to "*" added anywhere
    body = policy["Statement"]
    statements = list(body) if isinstance(body, list) else [body]
    statements.insert(min(position, len(statements)), DENY_EVERYTHING)
    doc = parse_policy({**policy, "Statement": statements})
    # Then no question is allowed, each names the Deny, and nothing is reported as granted
    for verdict in ask_everything(doc):
        assert not verdict.allowed
        assert "DenyAll" in verdict.statements
    assert public_grants(doc, KEY_ARN) == []
    assert public_grants(doc, BUCKET_ARN) == []
    assert external_grants(doc, ORG_ACCOUNTS, ORG_ID) == []
