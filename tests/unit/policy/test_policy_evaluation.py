"""Evaluating a request against a resource policy: matching and condition operators, as AWS does it."""

from __future__ import annotations

from typing import Any

import pytest

from trailguard.policy import Caller, Request, evaluate, parse_policy
from trailguard.policy.evaluation import ContextValue
from trailguard.policy.matching import glob_match

KEY = "arn:aws:kms:eu-west-1:222222222222:key/k"
ROLE_SESSION = Caller.aws("arn:aws:sts::111111111111:assumed-role/Reader/jane")


def allow(**fields: Any) -> dict[str, Any]:
    """An Allow of kms:Decrypt on "*" to "*"; a NotX field replaces its X."""
    statement = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*", **fields}
    for element in ("Principal", "Action", "Resource"):
        if f"Not{element}" in fields:
            del statement[element]
    return statement


def allowed(
    statements: list[dict[str, Any]],
    context: dict[str, ContextValue] | None = None,
    caller: Caller = ROLE_SESSION,
    action: str = "kms:Decrypt",
    resource: str = KEY,
) -> bool:
    doc = parse_policy({"Version": "2012-10-17", "Statement": statements})
    return evaluate(doc, Request(caller, action, resource, context or {})).allowed


def when(operator: str, key: str, values: Any, context: dict[str, ContextValue]) -> bool:
    """Given an Allow with one condition, When the request has this context, Then is it allowed?"""
    return allowed([allow(Condition={operator: {key: values}})], context)


@pytest.mark.parametrize(
    ("operator", "values", "context", "expected"),
    [
        ("StringEquals", "a", {"k": "a"}, True),
        ("StringEquals", "a", {"k": "A"}, False),
        ("StringEquals", ["x", "a"], {"k": "a"}, True),
        ("StringEquals", "a", {}, False),
        ("StringNotEquals", "a", {}, True),
        ("StringNotEquals", ["a", "b"], {"k": "b"}, False),
        ("StringNotEquals", ["a", "b"], {"k": "c"}, True),
        ("StringEqualsIgnoreCase", "a", {"k": "A"}, True),
        ("StringNotEqualsIgnoreCase", "a", {"k": "A"}, False),
        ("StringLike", "a*c?", {"k": "abbbcd"}, True),
        ("StringLike", "a*c?", {"k": "abbbc"}, False),
        ("StringLike", "*", {}, False),
        ("StringNotLike", "a*", {"k": "b"}, True),
        ("StringEqualsIfExists", "a", {}, True),
        ("StringEqualsIfExists", "a", {"k": "b"}, False),
        ("Null", "true", {}, True),
        ("Null", "true", {"k": "x"}, False),
        ("Null", "false", {"k": "x"}, True),
        ("Bool", "true", {"k": True}, True),
        ("Bool", "false", {"k": True}, False),
        ("Bool", "false", {}, False),
        ("NumericLessThan", "10", {"k": "9"}, True),
        ("NumericLessThan", "10", {"k": "x"}, False),
        ("NumericGreaterThanEquals", "10", {"k": "10"}, True),
        ("NumericNotEquals", "10", {}, True),
        ("DateLessThan", "2026-01-01T00:00:00Z", {"k": "2025-12-31T23:59:59Z"}, True),
        ("DateGreaterThan", "2026-01-01T00:00:00Z", {"k": "1700000000"}, False),
        ("IpAddress", "10.0.0.0/8", {"k": "10.1.2.3"}, True),
        ("NotIpAddress", "10.0.0.0/8", {"k": "192.168.0.1"}, True),
        ("NotIpAddress", "10.0.0.0/8", {}, True),
        (
            "ArnLike",
            "arn:aws:cloudtrail:*:111111111111:trail/*",
            {"k": "arn:aws:cloudtrail:eu-west-1:111111111111:trail/t"},
            True,
        ),
        (
            "ArnLike",
            "arn:aws:cloudtrail:*:trail/*",
            {"k": "arn:aws:cloudtrail:eu-west-1:111111111111:trail/t"},
            False,
        ),
        ("ArnEquals", "arn:aws:iam::111111111111:role/*", {"k": "arn:aws:iam::111111111111:role/R"}, True),
        ("ArnNotLike", "arn:aws:iam::111111111111:*", {"k": "arn:aws:iam::999999999999:role/R"}, True),
        ("ArnNotEquals", "arn:aws:iam::111111111111:*", {}, True),
        ("ArnLike", "arn:*", {"k": "not-an-arn"}, False),
        ("ForAnyValue:StringEquals", "a", {"k": ["b", "a"]}, True),
        ("ForAnyValue:StringEquals", "a", {}, False),
        ("ForAllValues:StringEquals", ["a", "b"], {"k": ["a", "b"]}, True),
        ("ForAllValues:StringEquals", ["a"], {"k": ["a", "b"]}, False),
        ("ForAllValues:StringEquals", ["a"], {}, True),
        ("ForAllValues:StringEquals", ["a"], {"k": []}, True),
        ("ForAnyValue:StringNotEquals", ["a"], {"k": ["a", "b"]}, True),
        ("ForAllValues:StringNotLike", ["a*"], {"k": ["b", "ab"]}, False),
        ("stringequals", "a", {"k": "a"}, True),
    ],
)
def test_condition_operators(operator: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert when(operator, "k", values, context) is expected


def test_condition_keys_are_case_insensitive() -> None:
    assert when("StringEquals", "KMS:CallerAccount", "111111111111", {"kms:calleraccount": "111111111111"})


def test_several_keys_in_one_operator_and_several_operators_are_and() -> None:
    condition = {"StringEquals": {"a": "1", "b": "2"}, "StringLike": {"c": "3*"}}
    assert allowed([allow(Condition=condition)], {"a": "1", "b": "2", "c": "33"})
    assert not allowed([allow(Condition=condition)], {"a": "1", "b": "2", "c": "4"})
    assert not allowed([allow(Condition=condition)], {"a": "1", "c": "33"})


def test_policy_variables_are_resolved_from_the_context() -> None:
    statement = allow(Condition={"StringEquals": {"kms:CallerAccount": "${aws:PrincipalAccount}"}})
    assert allowed([statement], {"kms:CallerAccount": "111111111111"})
    assert not allowed([statement], {"kms:CallerAccount": "999999999999"})
    with_default = allow(Condition={"StringEquals": {"k": "${missing, 'dflt'}"}})
    assert allowed([with_default], {"k": "dflt"})


def test_unknown_operator_never_grants_and_always_denies() -> None:
    # Given an unknown operator in an Allow and, separately, in a Deny
    unknown = {"StringMatchesRegex": {"k": ".*"}}
    doc = parse_policy({"Statement": [allow(Sid="A", Condition=unknown)]})
    decision = evaluate(doc, Request(ROLE_SESSION, "kms:Decrypt", KEY, {"k": "x"}))
    # Then the Allow does not match and the operator is named
    assert not decision.allowed
    assert decision.unknown_conditions == ("StringMatchesRegex",)
    doc = parse_policy({"Statement": [allow(Sid="A"), {**allow(Sid="D", Condition=unknown), "Effect": "Deny"}]})
    decision = evaluate(doc, Request(ROLE_SESSION, "kms:Decrypt", KEY, {}))
    # And the Deny matches
    assert (decision.allowed, decision.denied_explicitly, decision.matched_deny) == (False, True, ("D",))
    assert decision.unknown_conditions == ("StringMatchesRegex",)


def test_unknown_operator_is_not_reported_when_a_known_condition_already_fails() -> None:
    doc = parse_policy({"Statement": [allow(Condition={"StringMatchesRegex": {"k": "x"}, "StringEquals": {"j": "y"}})]})
    assert evaluate(doc, Request(ROLE_SESSION, "kms:Decrypt", KEY, {})).unknown_conditions == ()


def test_explicit_deny_wins_and_labels_are_sid_or_number() -> None:
    doc = parse_policy({"Statement": [allow(Sid="Open"), {**allow(), "Effect": "Deny"}]})
    decision = evaluate(doc, Request(ROLE_SESSION, "kms:Decrypt", KEY))
    assert (decision.allowed, decision.matched_allow, decision.matched_deny) == (
        False,
        ("Open",),
        ("statement #2",),
    )


def test_no_matching_statement_is_an_implicit_deny() -> None:
    decision = evaluate(
        parse_policy({"Statement": [allow(Action="kms:Encrypt")]}), Request(ROLE_SESSION, "kms:Decrypt", KEY)
    )
    assert (decision.allowed, decision.denied_explicitly) == (False, False)


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", True),
        ("KMS:decrypt", "kms:Decrypt", True),
        ("kms:?ecrypt", "kms:Decrypt", True),
        ("kms:Encrypt", "kms:Decrypt", False),
        ("*", "s3:PutObject", True),
    ],
)
def test_actions_match_with_wildcards_ignoring_case(pattern: str, action: str, expected: bool) -> None:
    assert allowed([allow(Action=pattern)], action=action) is expected


def test_not_action_and_not_resource() -> None:
    assert allowed([allow(NotAction="kms:Encrypt")])
    assert not allowed([allow(NotAction=["kms:Enc*", "kms:Decrypt"])])
    assert not allowed([allow(NotResource=KEY)])


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("arn:aws:s3:::b/AWSLogs/*", "arn:aws:s3:::b/AWSLogs/1/x:y.json", True),
        ("arn:aws:s3:::B/*", "arn:aws:s3:::b/x", False),
        ("arn:aws:kms:*:222222222222:key/*", KEY, True),
        ("arn:aws:kms:*:999999999999:key/*", KEY, False),
    ],
)
def test_resources_match_with_wildcards_and_case(pattern: str, resource: str, expected: bool) -> None:
    assert allowed([allow(Resource=pattern)], resource=resource) is expected


@pytest.mark.parametrize(
    ("principal", "caller", "expected"),
    [
        ({"AWS": "111111111111"}, ROLE_SESSION, True),
        ({"AWS": "arn:aws:iam::111111111111:root"}, Caller.aws("arn:aws:iam::111111111111:user/u"), True),
        ({"AWS": "arn:aws:iam::111111111111:root"}, Caller.aws("arn:aws:iam::999999999999:root"), False),
        ({"AWS": "arn:aws:iam::111111111111:role/team/Reader"}, ROLE_SESSION, True),
        ({"AWS": "arn:aws:iam::111111111111:role/Writer"}, ROLE_SESSION, False),
        ({"AWS": "arn:aws:sts::111111111111:assumed-role/Reader/jane"}, ROLE_SESSION, True),
        ({"AWS": "arn:aws:iam::111111111111:user/u"}, Caller.aws("arn:aws:iam::111111111111:root"), False),
        ({"Service": "cloudtrail.amazonaws.com"}, Caller.service("CloudTrail.amazonaws.com"), True),
        ({"Service": "cloudtrail.amazonaws.com"}, ROLE_SESSION, False),
        ({"AWS": "111111111111"}, Caller.service("cloudtrail.amazonaws.com"), False),
        ("*", Caller.anonymous(), True),
        ({"AWS": "*"}, Caller.service("cloudtrail.amazonaws.com"), True),
        ({"AWS": "111111111111"}, Caller.anonymous(), False),
    ],
)
def test_principals(principal: Any, caller: Caller, expected: bool) -> None:
    assert allowed([allow(Principal=principal)], caller=caller) is expected


@pytest.mark.parametrize(
    ("not_principal", "caller", "denied"),
    [
        (
            {"AWS": ["arn:aws:iam::111111111111:role/Reader", "arn:aws:iam::111111111111:root"]},
            ROLE_SESSION,
            False,
        ),
        ({"AWS": "arn:aws:iam::111111111111:role/Reader"}, ROLE_SESSION, True),
        ({"AWS": "111111111111"}, ROLE_SESSION, True),
        ({"AWS": "111111111111"}, Caller.aws("111111111111"), False),
        ({"Service": "cloudtrail.amazonaws.com"}, Caller.service("cloudtrail.amazonaws.com"), False),
        ({"AWS": "*"}, Caller.anonymous(), False),
        ({"AWS": "111111111111"}, Caller.anonymous(), True),
    ],
)
def test_not_principal_in_a_deny(not_principal: Any, caller: Caller, denied: bool) -> None:
    deny = {"Effect": "Deny", "NotPrincipal": not_principal, "Action": "*", "Resource": "*"}
    doc = parse_policy({"Statement": [allow(), deny]})
    assert evaluate(doc, Request(caller, "kms:Decrypt", KEY)).denied_explicitly is denied


def test_caller_context_keys_are_filled_in() -> None:
    statement = allow(
        Condition={
            "ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/Reader"},
            "StringEquals": {"aws:PrincipalAccount": "111111111111"},
            "Bool": {"aws:PrincipalIsAWSService": "false"},
        }
    )
    assert allowed([statement])
    assert not allowed([statement], {"aws:PrincipalAccount": "999999999999"})


def test_glob_is_linear_on_hostile_patterns() -> None:
    # A pattern that makes backtracking regex engines explode stays instant here
    assert not glob_match("*a" * 40 + "b", "a" * 5000)
    assert glob_match("a*b*c", "axxbyyc")
    assert glob_match("", "")
    assert not glob_match("", "x")
