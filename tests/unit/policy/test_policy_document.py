"""Parsing and normalising policies as AWS reads them, and refusing malformed ones with a clear message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trailguard.policy import PolicyParseError, parse_policy

ADMIN = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
    "Action": "kms:*",
    "Resource": "*",
}


def policy(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    body: dict[str, Any] = {"Statement": list(statements)}
    if version:
        body["Version"] = version
    return body


def test_statement_object_and_strings_are_normalised_to_tuples() -> None:
    # Given a policy whose Statement is one object and whose Action/Resource are strings
    doc = parse_policy(json.dumps({"Version": "2012-10-17", "Statement": ADMIN}))
    # Then it reads as one statement with 1-tuples
    (statement,) = doc.statements
    assert statement.actions == ("kms:*",)
    assert statement.resources == ("*",)
    assert statement.effect == "Allow"
    assert statement.label == "statement #1"
    assert doc.warnings == ()


@pytest.mark.parametrize(
    ("principal", "everyone", "aws", "service"),
    [
        ("*", True, (), ()),
        ({"AWS": "*"}, True, (), ()),
        ({"AWS": ["*", "111111111111"]}, True, ("arn:aws:iam::111111111111:root",), ()),
        ({"AWS": "012345678901"}, False, ("arn:aws:iam::012345678901:root",), ()),
        ({"AWS": ["arn:aws:iam::111111111111:role/R"]}, False, ("arn:aws:iam::111111111111:role/R",), ()),
        ({"Service": "CloudTrail.amazonaws.com"}, False, (), ("cloudtrail.amazonaws.com",)),
    ],
)
def test_principal_forms(principal: Any, everyone: bool, aws: tuple[str, ...], service: tuple[str, ...]) -> None:
    # Given each form of Principal, Then it is normalised (bare ids become roots, leading zeros kept)
    doc = parse_policy(policy({**ADMIN, "Principal": principal}))
    spec = doc.statements[0].principal
    assert (spec.everyone, spec.aws, spec.service) == (everyone, aws, service)


def test_federated_canonical_user_and_not_principal_are_kept() -> None:
    doc = parse_policy(
        policy(
            {**ADMIN, "Principal": {"Federated": "cognito-identity.amazonaws.com", "CanonicalUser": "abc"}},
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": "111111111111"},
                "NotAction": "kms:Decrypt",
                "NotResource": "x",
            },
        )
    )
    first, second = doc.statements
    assert first.principal.federated == ("cognito-identity.amazonaws.com",)
    assert first.principal.canonical_user == ("abc",)
    assert (second.principal_negated, second.actions_negated, second.resources_negated) == (True, True, True)


def test_condition_values_are_strings_as_aws_reads_them() -> None:
    # Given JSON booleans and numbers in a Condition
    doc = parse_policy(
        policy(
            {
                **ADMIN,
                "Condition": {"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"s3:max-keys": 10}},
            }
        )
    )
    # Then they are the strings AWS compares
    bool_condition, numeric = doc.statements[0].conditions
    assert bool_condition.values == ("false",)
    assert numeric.values == ("10",)


def test_operator_name_is_split_into_qualifier_base_and_if_exists() -> None:
    doc = parse_policy(
        policy({**ADMIN, "Condition": {"ForAnyValue:StringLikeIfExists": {"k": "v"}, "Weird": {"k": "v"}}})
    )
    known, unknown = doc.statements[0].conditions
    assert (known.qualifier, known.base, known.if_exists) == ("ForAnyValue", "StringLike", True)
    assert unknown.base is None
    assert not unknown.known


def test_version_defaults_to_2008_and_mapping_input_is_accepted() -> None:
    doc = parse_policy(policy(ADMIN, version=None))
    assert doc.version == "2008-10-17"
    assert not doc.uses_variables


def test_bytes_input_is_utf8() -> None:
    doc = parse_policy(json.dumps(policy(ADMIN)).encode())
    assert len(doc.statements) == 1


def test_repeated_keys_keep_the_last_and_are_reported_where_they_are() -> None:
    # Given JSON text with a key repeated at three levels
    text = """{"Version": "2012-10-17", "Statement": [
      {"Sid": "A", "Effect": "Deny", "Effect": "Allow",
       "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*",
       "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5",
                                      "aws:PrincipalOrgID": "o-zzzzzzzzzz"},
                     "StringEquals": {"kms:CallerAccount": "111111111111"},
                     "StringEquals": {"kms:CallerAccount": "222222222222"}}}]}"""
    # When it is parsed
    doc = parse_policy(text)
    # Then only the last value of each key is kept, as AWS does
    (statement,) = doc.statements
    assert statement.effect == "Allow"
    assert [(c.key, c.values) for c in statement.conditions] == [("kms:CallerAccount", ("222222222222",))]
    assert doc.warnings == (
        'statement #1 ("A") has the key "Effect" twice: only the last is kept, the first is silently lost '
        "(AWS parses the policy the same way)",
        'statement #1 ("A") Condition has the key "StringEquals" 3 times: only the last is kept, '
        "the other 2 are "
        "silently lost (AWS parses the policy the same way)",
    )
    # And the lost value is not in the document AWS would keep
    assert "o-a1b2c3d4e5" not in json.dumps(doc.to_dict())


def test_repeated_key_inside_a_condition_block_is_reported() -> None:
    text = (
        '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*", '
        '"Condition": {"StringEquals": {"aws:SourceAccount": "1", "aws:SourceAccount": "2"}}}}'
    )
    (warning,) = parse_policy(text).warnings
    assert warning.startswith('statement #1 Condition operator "StringEquals" has the key "aws:SourceAccount" twice')


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "the policy is empty"),
        ("{", "not valid JSON"),
        ('{"Statement": [NaN]}', "NaN is not a JSON value"),
        ("[]", "must be a JSON object, got a list"),
        (b"\xff\xfe", "not UTF-8"),
        ({"Statement": []} | {"Extra": 1}, 'unknown policy element "Extra"'),
        ({"Version": "2020-01-01", "Statement": []}, '"Version" must be'),
        ({"Version": "2012-10-17"}, 'no "Statement"'),
        ({"Statement": "x"}, '"Statement" must be an object or a list'),
        ({"Statement": [1]}, "statement #1 must be a JSON object"),
        ({"Statement": [{**ADMIN, "Effect": "allow"}]}, '"Effect" must be "Allow" or "Deny", got "allow"'),
        ({"Statement": [{**ADMIN, "NotAction": "x"}]}, 'has both "Action" and "NotAction"'),
        (
            {"Statement": [{k: v for k, v in ADMIN.items() if k != "Resource"}]},
            'neither "Resource" nor "NotResource"',
        ),
        ({"Statement": [{k: v for k, v in ADMIN.items() if k != "Principal"}]}, 'neither "Principal" nor'),
        (
            {"Statement": [{**ADMIN, "Principal": "arn:aws:iam::111111111111:root"}]},
            'must be "*" or an object',
        ),
        ({"Statement": [{**ADMIN, "Principal": {"Users": "x"}}]}, 'unknown principal type "Users"'),
        ({"Statement": [{**ADMIN, "Principal": {}}]}, "must name at least one principal"),
        ({"Statement": [{**ADMIN, "Action": []}]}, "Action must not be an empty list"),
        ({"Statement": [{**ADMIN, "Action": [1]}]}, "Action must contain only strings"),
        ({"Statement": [{**ADMIN, "Sid": 3}]}, '"Sid" must be a string'),
        ({"Statement": [{**ADMIN, "Condition": []}]}, "Condition must be an object"),
        ({"Statement": [{**ADMIN, "Condition": {"StringEquals": "x"}}]}, "must map condition keys to values"),
        (
            {"Statement": [{**ADMIN, "Condition": {"StringEquals": {"k": {"a": 1}}}}]},
            "values must be strings",
        ),
        ({"Statement": [{**ADMIN, "Condition": {"StringEquals": {"k": None}}}]}, "found null"),
        ({"Statement": [{**ADMIN, "Foo": 1}]}, 'unknown element "Foo"'),
        (42, "must be JSON text or a mapping"),
        ("1" * 5000, "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "policy"),
    ],
)
def test_malformed_policies_raise_a_clear_parse_error(source: Any, message: str) -> None:
    # Given a malformed policy, When it is parsed, Then PolicyParseError says what is wrong
    with pytest.raises(PolicyParseError) as raised:
        parse_policy(source)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(PolicyParseError, ValueError)
