"""Shared names and hypothesis strategies for the policy tests (not a test module)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from trailguard.policy import (
    Caller,
    PolicyDocument,
    Request,
    Verdict,
    cloudtrail_may_describe,
    cloudtrail_may_encrypt,
    cloudtrail_may_get_bucket_acl,
    cloudtrail_may_put_object,
    cloudtrail_object_key,
    evaluate,
    external_grants,
    parse_policy,
    principal_may_decrypt,
    public_grants,
)

MGMT = "111111111111"
CENTRAL = "222222222222"
MEMBER = "333333333333"
ZERO = "012345678901"  # leading zero: an id is a string, never an int
OUTSIDER = "999999999999"
ORG_ID = "o-a1b2c3d4e5"
ORG_ACCOUNTS = frozenset({MGMT, CENTRAL, MEMBER, ZERO})
KEY_ARN = f"arn:aws:kms:eu-west-1:{CENTRAL}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "central-trail-logs"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
CORPUS = Path(__file__).parent / "corpus"


def trail(account: str, name: str = "audit", region: str = "eu-west-1") -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


ORG_TRAIL = trail(MGMT, "org-trail", "us-east-1")


def corpus(name: str) -> PolicyDocument:
    """A corpus policy, parsed from its text (so repeated JSON keys are seen as AWS sees them)."""
    return parse_policy(CORPUS.joinpath(name).read_text())


def ask_everything(doc: PolicyDocument) -> list[Verdict]:
    """Every question of the product, for a few trails; also the grant finders and a raw evaluation."""
    verdicts: list[Verdict] = []
    for account in (MGMT, MEMBER, OUTSIDER):
        arn = trail(account)
        verdicts += [
            cloudtrail_may_encrypt(doc, KEY_ARN, arn),
            cloudtrail_may_describe(doc, KEY_ARN, arn),
            principal_may_decrypt(doc, KEY_ARN, f"arn:aws:sts::{account}:assumed-role/Reader/s", arn),
            cloudtrail_may_get_bucket_acl(doc, BUCKET, arn),
            cloudtrail_may_put_object(doc, BUCKET, cloudtrail_object_key(account), arn),
            cloudtrail_may_put_object(doc, BUCKET, cloudtrail_object_key(account, ORG_ID), ORG_TRAIL),
        ]
    for grant in [
        *public_grants(doc, KEY_ARN),
        *public_grants(doc, BUCKET_ARN),
        *external_grants(doc, ORG_ACCOUNTS, ORG_ID),
    ]:
        assert isinstance(grant.reason, str)
        assert grant.reason
    decision = evaluate(
        doc, Request(Caller.anonymous(), "s3:GetObject", f"{BUCKET_ARN}/x", {"aws:SecureTransport": False})
    )
    assert isinstance(decision.allowed, bool)
    return verdicts


# --- the pieces real key and bucket policies are made of -------------------------------------------------

AWS_ENTRY_POOL = [
    "*",
    CENTRAL,
    ZERO,
    f"arn:aws:iam::{CENTRAL}:root",
    f"arn:aws:iam::{MEMBER}:root",
    f"arn:aws:iam::{OUTSIDER}:root",
    f"arn:aws:iam::{CENTRAL}:role/KeyAdmin",
    f"arn:aws:iam::{CENTRAL}:role/path/Reader",
    f"arn:aws:iam::{MEMBER}:user/alice",
    f"arn:aws:sts::{CENTRAL}:assumed-role/KeyAdmin/jane",
    "AROAEXAMPLEDELETEDROLE",
]
SERVICE_POOL = [
    "cloudtrail.amazonaws.com",
    "CloudTrail.amazonaws.com",
    "s3.amazonaws.com",
    "logs.amazonaws.com",
]
ACTION_POOL = [
    "*",
    "kms:*",
    "kms:GenerateDataKey*",
    "kms:GenerateDataKey",
    "KMS:generatedatakey",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:DescribeKey",
    "kms:?escribeKey",
    "kms:PutKeyPolicy",
    "kms:Get*",
    "s3:*",
    "s3:GetObject",
    "s3:PutObject",
    "s3:GetBucketAcl",
    "s3:Get*",
]
RESOURCE_POOL = [
    "*",
    KEY_ARN,
    f"arn:aws:kms:*:{CENTRAL}:key/*",
    "arn:aws:kms:eu-west-1:999999999999:key/other",
    BUCKET_ARN,
    f"{BUCKET_ARN}/*",
    f"{BUCKET_ARN}/AWSLogs/*",
    f"{BUCKET_ARN}/AWSLogs/{MEMBER}/*",
    f"{BUCKET_ARN}/AWSLogs/{ORG_ID}/*",
    f"{BUCKET_ARN}/home/${{aws:username}}/*",
    "arn:aws:s3:::other-bucket/*",
]
OPERATOR_POOL = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "StringEqualsIfExists",
    "StringNotEqualsIfExists",
    "ArnEquals",
    "ArnLike",
    "ArnNotLike",
    "ArnLikeIfExists",
    "Bool",
    "BoolIfExists",
    "Null",
    "NumericLessThan",
    "DateGreaterThan",
    "IpAddress",
    "NotIpAddress",
    "ForAnyValue:StringEquals",
    "ForAllValues:StringLike",
    "ForAnyValue:StringNotLikeIfExists",
    "StringMatchesRegex",
    "stringequals",
]
CONDITION_KEY_POOL = [
    "aws:SourceArn",
    "aws:SourceAccount",
    "aws:PrincipalOrgID",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "kms:CallerAccount",
    "kms:ViaService",
    "kms:EncryptionContext:aws:cloudtrail:arn",
    "KMS:encryptioncontext:AWS:CloudTrail:ARN",
    "kms:EncryptionContextKeys",
    "aws:SecureTransport",
    "aws:PrincipalIsAWSService",
    "s3:x-amz-acl",
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:userid",
]
CONDITION_VALUE_POOL = [
    "*",
    MGMT,
    CENTRAL,
    MEMBER,
    ZERO,
    OUTSIDER,
    ORG_ID,
    "o-*",
    "true",
    "false",
    "bucket-owner-full-control",
    f"arn:aws:cloudtrail:*:{MGMT}:trail/*",
    f"arn:aws:cloudtrail:*:{MEMBER}:trail/*",
    trail(MEMBER),
    ORG_TRAIL,
    f"arn:aws:iam::{CENTRAL}:role/*",
    "aws:cloudtrail:arn",
    "ec2.eu-west-1.amazonaws.com",
    "10.0.0.0/8",
    "2026-01-01T00:00:00Z",
    "42",
    "${aws:PrincipalAccount}",
    "AROAEXAMPLE:*",
]
SID_POOL = ["Admin", "CloudTrail", "Readers", "TrailGuardCloudTrailEncrypt", "S1"]
ADMIN_STATEMENT: dict[str, Any] = {
    "Sid": "Admin",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
    "Action": "kms:*",
    "Resource": "*",
}

# --- hypothesis strategies (shrinkable; used by the property tests) ----------------------------------------


def _one_or_list(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, st.lists(values, min_size=1, max_size=3))


AWS_ENTRIES = st.sampled_from(AWS_ENTRY_POOL)
SERVICES = st.sampled_from(SERVICE_POOL)


@st.composite
def principals(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return "*"
    if choice == 1:
        return {"AWS": draw(_one_or_list(AWS_ENTRIES))}
    if choice == 2:
        return {"Service": draw(_one_or_list(SERVICES))}
    return {"AWS": draw(_one_or_list(AWS_ENTRIES)), "Service": draw(_one_or_list(SERVICES))}


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    block: dict[str, dict[str, Any]] = {}
    for _ in range(draw(st.integers(1, 3))):
        operator = draw(st.sampled_from(OPERATOR_POOL))
        key = draw(st.sampled_from(CONDITION_KEY_POOL))
        block.setdefault(operator, {})[key] = draw(_one_or_list(st.sampled_from(CONDITION_VALUE_POOL)))
    return block


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    statement: dict[str, Any] = {}
    if draw(st.booleans()):
        statement["Sid"] = draw(st.sampled_from(SID_POOL))
    statement["Effect"] = draw(st.sampled_from(["Allow", "Allow", "Deny"]))
    statement["NotPrincipal" if draw(st.integers(0, 9)) == 0 else "Principal"] = draw(principals())
    statement["NotAction" if draw(st.integers(0, 7)) == 0 else "Action"] = draw(
        _one_or_list(st.sampled_from(ACTION_POOL))
    )
    resources = _one_or_list(st.sampled_from(RESOURCE_POOL))
    statement["NotResource" if draw(st.integers(0, 9)) == 0 else "Resource"] = draw(resources)
    if draw(st.booleans()):
        statement["Condition"] = draw(conditions())
    return statement


@st.composite
def policies(draw: st.DrawFn, *, with_admin: bool = False) -> dict[str, Any]:
    """Valid policies: random statements built from the pieces real key and bucket policies use."""
    items = draw(st.lists(statements(), max_size=5))
    if with_admin and draw(st.integers(0, 4)) > 0:
        items.insert(draw(st.integers(0, len(items))), dict(ADMIN_STATEMENT))
    body: Any = items[0] if len(items) == 1 and draw(st.booleans()) else items
    policy: dict[str, Any] = {"Statement": body}
    if draw(st.integers(0, 5)) > 0:
        policy["Version"] = "2012-10-17"
    return policy


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**13), st.floats(allow_nan=False), st.text(max_size=8)
)
JSON_KEYS = st.one_of(
    st.sampled_from(["Statement", "Effect", "Principal", "Action", "Resource", "Condition", "AWS"]),
    st.text(max_size=5),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(JSON_KEYS, children, max_size=3)),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    copied = list(node)
    copied[head] = _replace(copied[head], rest, value)
    return copied


@st.composite
def mutated_policies(draw: st.DrawFn) -> Any:
    """A valid policy with one element replaced by random JSON (often malformed)."""
    policy = draw(policies())
    path = draw(st.sampled_from(_paths(policy)))
    return _replace(policy, path, draw(JSON_VALUES))


DUPLICATIONS = [
    ('"Condition": {', '"Condition": {"StringEquals": {"aws:SourceAccount": "999999999999"}, '),
    ('"Statement": [', '"Statement": {"Effect": "Allow"}, "Statement": ['),
    ('"Effect": "Allow"', '"Effect": "Deny", "Effect": "Allow"'),
    ('"Principal": {', '"Principal": {"AWS": "*", '),
]


@st.composite
def policy_texts(draw: st.DrawFn) -> str | bytes:
    """JSON text of valid or mutated policies, sometimes with repeated keys, cut short, or as bytes."""
    document = draw(st.one_of(policies(), mutated_policies()))
    text = json.dumps(document, indent=draw(st.sampled_from([None, 2])))
    for old, new in DUPLICATIONS:
        if old in text and draw(st.booleans()):
            text = text.replace(old, new, 1)
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode() if draw(st.integers(0, 4)) == 0 else text


# --- a seeded generator of the same shapes (fast: for the 10,000-example fuzz test) ------------------------
# Hypothesis spends ~1.5 ms drawing one structured policy; building it from one drawn seed costs ~0.05 ms.
# The seed is drawn by hypothesis, so a failure replays from its database (it shrinks the seed only).


def _pick_some(rng: random.Random, pool: list[str]) -> Any:
    return rng.choice(pool) if rng.random() < 0.6 else rng.sample(pool, rng.randint(1, 3))


def random_statement(rng: random.Random) -> dict[str, Any]:
    statement: dict[str, Any] = {}
    if rng.random() < 0.5:
        statement["Sid"] = rng.choice(SID_POOL)
    statement["Effect"] = rng.choice(["Allow", "Allow", "Deny"])
    kind = rng.randrange(4)
    principal: Any = (
        "*"
        if kind == 0
        else {"AWS": _pick_some(rng, AWS_ENTRY_POOL)}
        if kind == 1
        else {"Service": _pick_some(rng, SERVICE_POOL)}
        if kind == 2
        else {"AWS": _pick_some(rng, AWS_ENTRY_POOL), "Service": _pick_some(rng, SERVICE_POOL)}
    )
    statement["NotPrincipal" if rng.random() < 0.1 else "Principal"] = principal
    statement["NotAction" if rng.random() < 0.12 else "Action"] = _pick_some(rng, ACTION_POOL)
    statement["NotResource" if rng.random() < 0.1 else "Resource"] = _pick_some(rng, RESOURCE_POOL)
    if rng.random() < 0.5:
        block: dict[str, dict[str, Any]] = {}
        for _ in range(rng.randint(1, 3)):
            operator, key = rng.choice(OPERATOR_POOL), rng.choice(CONDITION_KEY_POOL)
            block.setdefault(operator, {})[key] = _pick_some(rng, CONDITION_VALUE_POOL)
        statement["Condition"] = block
    return statement


def random_policy(rng: random.Random) -> dict[str, Any]:
    items = [random_statement(rng) for _ in range(rng.randint(0, 5))]
    if rng.random() < 0.5:
        items.insert(rng.randint(0, len(items)), dict(ADMIN_STATEMENT))
    policy: dict[str, Any] = {"Statement": items[0] if len(items) == 1 and rng.random() < 0.5 else items}
    if rng.random() < 0.85:
        policy["Version"] = "2012-10-17"
    return policy


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 6)
    scalars: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        123456789012,
        1.5,
        "",
        "*",
        "Allow",
        "x" * rng.randint(0, 5),
    ]
    if kind < 6:
        return rng.choice(scalars)
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["Statement", "Effect", "Principal", "Action", "Resource", "Condition", "AWS", "StringEquals", "k"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def random_policy_source(rng: random.Random) -> Any:
    """A valid policy, a policy with one element replaced by random JSON, or either as (damaged) JSON text."""
    document: Any = random_policy(rng)
    if rng.random() < 0.4:
        path = rng.choice(_paths(document))
        document = _replace(document, path, random_json(rng))
    if rng.random() < 0.4:
        return document
    text = json.dumps(document, indent=rng.choice([None, 2]))
    for old, new in DUPLICATIONS:
        if old in text and rng.random() < 0.5:
            text = text.replace(old, new, 1)
    if rng.random() < 0.1:
        text = text[: rng.randint(0, len(text))]
    return text.encode() if rng.random() < 0.2 else text


def any_policy_source() -> st.SearchStrategy[Any]:
    """Everything parse_policy may be handed: policies (valid or not) as mappings, text or bytes, and junk."""
    seeded = st.randoms(use_true_random=True).map(random_policy_source)
    return st.one_of(seeded, seeded, seeded, JSON_VALUES, st.text(max_size=40), st.binary(max_size=40))
