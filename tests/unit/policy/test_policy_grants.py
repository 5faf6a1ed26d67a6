"""Who a policy grants to: public grants (not pinned to the organization, an account or a source), grants to
accounts outside the organization, and the key's administrator statements."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.policy.policy_testkit import (
    BUCKET_ARN,
    CENTRAL,
    KEY_ARN,
    MEMBER,
    ORG_ACCOUNTS,
    ORG_ID,
    OUTSIDER,
)
from trailguard.policy import external_grants, key_admin_statements, parse_policy, public_grants


def grant(condition: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": "S",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    statement.update(fields)
    if "NotPrincipal" in fields:
        del statement["Principal"]
    if condition is not None:
        statement["Condition"] = condition
    return statement


def public(*statements: dict[str, Any], resource: str | None = KEY_ARN) -> list[str]:
    return [g.statement for g in public_grants(parse_policy({"Statement": list(statements)}), resource)]


def external(*statements: dict[str, Any], org_id: str | None = ORG_ID) -> list[str]:
    return [g.principal for g in external_grants(parse_policy({"Statement": list(statements)}), ORG_ACCOUNTS, org_id)]


@pytest.mark.parametrize(
    ("condition", "is_public", "why"),
    [
        (None, True, "no condition at all"),
        ({"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}, False, "pinned to the organization"),
        ({"StringEquals": {"aws:PrincipalAccount": [MEMBER, CENTRAL]}}, False, "pinned to two accounts"),
        ({"StringEquals": {"kms:CallerAccount": MEMBER}}, False, "pinned to the calling account"),
        ({"StringEquals": {"aws:SourceAccount": MEMBER}}, False, "pinned to a source account"),
        (
            {"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{MEMBER}:trail/*"}},
            False,
            "source ARN of one account",
        ),
        ({"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{MEMBER}:role/*"}}, False, "roles of one account"),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/Reader"}}, True, "a role name in any account"),
        ({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}, False, "one VPC endpoint"),
        ({"StringLike": {"aws:userid": "AROAEXAMPLE:*"}}, False, "one role's sessions by unique id"),
        ({"StringLike": {"aws:PrincipalOrgID": "*"}}, True, 'a StringLike "*" matches everyone'),
        ({"StringLike": {"aws:PrincipalOrgID": "o-*"}}, True, "every organization"),
        ({"StringLike": {"aws:PrincipalAccount": "1111*"}}, True, "a wildcard account"),
        ({"StringEquals": {"aws:PrincipalAccount": [MEMBER, "*"]}}, True, "one open value in an OR list"),
        (
            {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID}},
            True,
            "IfExists admits requests without the key",
        ),
        (
            {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ORG_ID}},
            True,
            "ForAllValues is true on absence",
        ),
        ({"ForAnyValue:StringEquals": {"aws:PrincipalOrgID": ORG_ID}}, False, "ForAnyValue needs the key"),
        (
            {"StringNotEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}},
            True,
            "a negated operator pins nothing",
        ),
        (
            {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com"}},
            True,
            "ViaService alone: any caller",
        ),
        (
            {"StringEquals": {"kms:ViaService": "ec2.eu-west-1.amazonaws.com", "kms:CallerAccount": MEMBER}},
            False,
            "ViaService with CallerAccount, as the console's alias statement",
        ),
        ({"Bool": {"aws:SecureTransport": "true"}}, True, "TLS says nothing about who calls"),
        (
            {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*"}},
            True,
            "context only",
        ),
        (
            {"StringMatchesRegex": {"aws:PrincipalOrgID": ORG_ID}},
            True,
            "unknown operators are treated as open",
        ),
        ({"StringEquals": {"s3:DataAccessPointAccount": MEMBER}}, False, "access points of one account"),
        (
            {"StringEquals": {"aws:PrincipalOrgPaths": f"{ORG_ID}/r-ab12/ou-ab12-11111111/*"}},
            False,
            "an OU path",
        ),
        (
            {"StringEquals": {"aws:SourceArn": "arn:aws:s3:::one-bucket"}},
            False,
            "one bucket (names are global)",
        ),
    ],
)
def test_principal_star_is_public_unless_pinned(condition: dict[str, Any] | None, is_public: bool, why: str) -> None:
    # Given a principal-* grant with this condition, Then it is public exactly when nothing pins the caller
    assert bool(public(grant(condition))) is is_public, why


def test_public_grant_describes_principal_actions_and_reason() -> None:
    (found,) = public_grants(parse_policy({"Statement": [grant(Action=["kms:Decrypt", "kms:Encrypt"])]}), KEY_ARN)
    assert (found.statement, found.principal, found.actions) == ("S", "*", ("kms:Decrypt", "kms:Encrypt"))
    assert found.reason == "S grants kms:Decrypt, kms:Encrypt to * without any condition"
    assert found.unknown_conditions == ()


def test_not_principal_allow_and_not_action_are_described() -> None:
    statement = grant(NotPrincipal={"AWS": f"arn:aws:iam::{CENTRAL}:root"}, NotAction="kms:Decrypt")
    del statement["Action"]
    (found,) = public_grants(parse_policy({"Statement": [statement]}), KEY_ARN)
    assert found.principal == f"everyone except arn:aws:iam::{CENTRAL}:root"
    assert found.actions == ("NOT kms:Decrypt",)


def test_a_named_principal_and_a_service_are_not_public() -> None:
    assert public(grant(Principal={"AWS": f"arn:aws:iam::{OUTSIDER}:root"})) == []
    assert public(grant(Principal={"Service": "cloudtrail.amazonaws.com"})) == []


def test_deny_statements_are_never_grants() -> None:
    assert public({**grant(), "Effect": "Deny"}) == []


def test_an_unconditional_deny_of_everything_voids_public_grants() -> None:
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}
    assert public(grant(), deny) == []
    assert external(grant(Principal={"AWS": OUTSIDER}), deny) == []
    conditional = {**deny, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert public(grant(), conditional) == ["S"]


def test_bucket_grants_are_matched_to_the_bucket_and_its_objects() -> None:
    on_objects = grant(Action="s3:GetObject", Resource=f"{BUCKET_ARN}/AWSLogs/*")
    elsewhere = grant(Sid="Other", Action="s3:GetObject", Resource="arn:aws:s3:::another-bucket/*")
    not_resource = grant(Sid="Not", Action="s3:GetObject", NotResource="arn:aws:s3:::another-bucket/*")
    del not_resource["Resource"]
    assert public(on_objects, elsewhere, not_resource, resource=BUCKET_ARN) == ["S", "Not"]
    assert public(elsewhere, resource=None) == ["Other"]


@pytest.mark.parametrize(
    ("statement", "principals"),
    [
        (grant(Principal={"AWS": f"arn:aws:iam::{OUTSIDER}:root"}), [f"arn:aws:iam::{OUTSIDER}:root"]),
        (grant(Principal={"AWS": OUTSIDER}), [f"arn:aws:iam::{OUTSIDER}:root"]),
        (
            grant(Principal={"AWS": f"arn:aws:sts::{OUTSIDER}:assumed-role/R/s"}),
            [f"arn:aws:sts::{OUTSIDER}:assumed-role/R/s"],
        ),
        (
            grant(Principal={"AWS": [f"arn:aws:iam::{MEMBER}:role/R", f"arn:aws:iam::{OUTSIDER}:user/u"]}),
            [f"arn:aws:iam::{OUTSIDER}:user/u"],
        ),
        (grant(Principal={"AWS": f"arn:aws:iam::{MEMBER}:root"}), []),
        (grant(Principal={"Service": "cloudtrail.amazonaws.com"}), []),
        (grant(Principal={"AWS": "AROADELETEDROLEID"}), []),
        (grant({"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}), []),
        (grant({"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}), ["*"]),
        (grant({"StringEquals": {"kms:CallerAccount": OUTSIDER}}), ["*"]),
        (grant({"StringEquals": {"aws:SourceAccount": [MEMBER, OUTSIDER]}}), ["*"]),
        (grant({"StringEquals": {"kms:CallerAccount": MEMBER}}), []),
        (grant({"ArnLike": {"aws:SourceArn": f"arn:aws:cloudtrail:*:{OUTSIDER}:trail/*"}}), ["*"]),
        (grant(), []),
        (
            grant(
                {"StringEquals": {"aws:PrincipalOrgID": ORG_ID}},
                Principal={"AWS": f"arn:aws:iam::{OUTSIDER}:root"},
            ),
            [],
        ),
        (grant({"StringEquals": {"aws:SourceVpce": "vpce-1"}}), []),
    ],
)
def test_external_grants(statement: dict[str, Any], principals: list[str]) -> None:
    # Given one Allow statement, Then it is external exactly when it admits an account outside the org
    assert external(statement) == principals


def test_an_organization_pin_is_external_when_the_organization_is_unknown() -> None:
    assert external(grant({"StringEquals": {"aws:PrincipalOrgID": ORG_ID}}), org_id=None) == ["*"]


def test_external_grant_reason_names_the_account() -> None:
    doc = parse_policy({"Statement": [grant(Principal={"AWS": OUTSIDER})]})
    (found,) = external_grants(doc, ORG_ACCOUNTS, ORG_ID)
    assert (
        found.reason == f"S grants kms:Decrypt to arn:aws:iam::{OUTSIDER}:root of account {OUTSIDER}, "
        "outside the organization"
    )


@pytest.mark.parametrize(
    ("statement", "is_admin"),
    [
        (grant(Principal={"AWS": f"arn:aws:iam::{CENTRAL}:root"}, Action="kms:*"), True),
        (grant(Principal={"AWS": CENTRAL}, Action="*"), True),
        (grant(Principal={"AWS": f"arn:aws:iam::{CENTRAL}:role/KeyAdmin"}, Action="kms:PutKeyPolicy"), True),
        (grant(Principal={"AWS": f"arn:aws:iam::{CENTRAL}:role/KeyAdmin"}, Action="kms:Put*"), True),
        (grant(Principal={"AWS": f"arn:aws:iam::{CENTRAL}:role/KeyAdmin"}, Action="kms:Decrypt"), False),
        (grant(Principal={"AWS": f"arn:aws:iam::{MEMBER}:root"}, Action="kms:*"), False),
        (grant(Action="kms:*"), True),
        ({**grant(Principal={"AWS": CENTRAL}, Action="kms:*"), "Effect": "Deny"}, False),
    ],
)
def test_key_admin_statements_are_found_by_content(statement: dict[str, Any], is_admin: bool) -> None:
    doc = parse_policy({"Statement": [statement]})
    assert bool(key_admin_statements(doc, CENTRAL)) is is_admin
