"""A policy is compiled once and evaluated without scanning its lists: the answers never change, only the cost.

The compiled evaluator is compared with the statement-by-statement reference (``statement_applies_to`` and
``conditions_hold``, which scan every value), on random policies whose lists are long enough to be indexed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.policy.policy_testkit import (
    ACTION_POOL,
    AWS_ENTRY_POOL,
    BUCKET_ARN,
    CENTRAL,
    CONDITION_KEY_POOL,
    CONDITION_VALUE_POOL,
    KEY_ARN,
    MEMBER,
    OPERATOR_POOL,
    ORG_ID,
    OUTSIDER,
    RESOURCE_POOL,
    SERVICE_POOL,
    trail,
)
from trailguard.policy import Caller, PolicyDocument, Request, evaluate, parse_policy
from trailguard.policy.evaluation import conditions_hold, request_context, statement_applies_to
from trailguard.policy.matching import glob_match, glob_scan
from trailguard.policy.patterns import MATCHERS, SMALL, PatternKind, PatternSet

ACCOUNTS = [f"{n:012d}" for n in range(100_000_000_001, 100_000_000_031)]
WIDE_VALUES = [
    *CONDITION_VALUE_POOL,
    *(f"arn:aws:cloudtrail:*:{a}:trail/*" for a in ACCOUNTS),
    *ACCOUNTS,
    f"arn:aws:cloudtrail:eu-west-1:{MEMBER}:trail/*",
    "arn:aws:cloudtrail:*:*:trail/*",
    "arn:aws:cloudtrail:??-west-1:*",
    "*:trail/audit",
]
WIDE_RESOURCES = [*RESOURCE_POOL, *(f"{BUCKET_ARN}/AWSLogs/{a}/*" for a in ACCOUNTS), f"{BUCKET_ARN}/*/CloudTrail/*"]
WIDE_ENTRIES = [*AWS_ENTRY_POOL, *ACCOUNTS, *(f"arn:aws:iam::{a}:role/Reader" for a in ACCOUNTS)]


def wide(pool: list[str]) -> st.SearchStrategy[list[str]]:
    """Lists long enough to be compiled into an index (and sometimes short enough to be scanned)."""
    return st.lists(st.sampled_from(pool), min_size=1, max_size=3 * SMALL)


@st.composite
def wide_statements(draw: st.DrawFn) -> dict[str, Any]:
    principal: Any = draw(
        st.one_of(
            st.just("*"),
            wide(WIDE_ENTRIES).map(lambda entries: {"AWS": entries}),
            st.lists(st.sampled_from(SERVICE_POOL), min_size=1).map(lambda names: {"Service": names}),
        )
    )
    statement: dict[str, Any] = {
        "Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"])),
        "NotPrincipal" if draw(st.integers(0, 9)) == 0 else "Principal": principal,
        "NotAction" if draw(st.integers(0, 7)) == 0 else "Action": draw(wide(ACTION_POOL)),
        "NotResource" if draw(st.integers(0, 9)) == 0 else "Resource": draw(wide(WIDE_RESOURCES)),
    }
    if draw(st.booleans()):
        block: dict[str, dict[str, Any]] = {}
        for _ in range(draw(st.integers(1, 3))):
            operator = draw(st.sampled_from(OPERATOR_POOL))
            block.setdefault(operator, {})[draw(st.sampled_from(CONDITION_KEY_POOL))] = draw(wide(WIDE_VALUES))
        statement["Condition"] = block
    return statement


@st.composite
def wide_policies(draw: st.DrawFn) -> dict[str, Any]:
    policy: dict[str, Any] = {"Statement": draw(st.lists(wide_statements(), min_size=1, max_size=4))}
    if draw(st.integers(0, 5)) > 0:
        policy["Version"] = "2012-10-17"
    return policy


CALLERS = [
    Caller.service("cloudtrail.amazonaws.com"),
    Caller.service("s3.amazonaws.com"),
    Caller.aws(f"arn:aws:iam::{CENTRAL}:root"),
    Caller.aws(f"arn:aws:sts::{ACCOUNTS[3]}:assumed-role/Reader/jane"),
    Caller.aws(f"arn:aws:iam::{OUTSIDER}:user/mallory"),
    Caller.anonymous(),
]
REQUEST_RESOURCES = [
    KEY_ARN,
    BUCKET_ARN,
    f"{BUCKET_ARN}/AWSLogs/{ACCOUNTS[7]}/CloudTrail/eu-west-1/x.json.gz",
    f"{BUCKET_ARN}/AWSLogs/{ORG_ID}/{MEMBER}/CloudTrail/eu-west-1/x.json.gz",
    "not-an-arn",
]


ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey", "s3:PutObject", "s3:GetBucketAcl"]


@st.composite
def requests(draw: st.DrawFn) -> Request:
    source = draw(st.sampled_from([*ACCOUNTS[:5], MEMBER, OUTSIDER]))
    arn = trail(
        source, draw(st.sampled_from(["audit", "trailguard-probe"])), draw(st.sampled_from(["eu-west-1", "us-east-1"]))
    )
    context: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "kms:EncryptionContext:aws:cloudtrail:arn": st.just(arn),
                "aws:SourceArn": st.just(arn),
                "aws:SourceAccount": st.just(source),
                "aws:SourceOrgID": st.sampled_from([ORG_ID, "o-zzzzzzzzzz"]),
                "aws:PrincipalOrgID": st.just(ORG_ID),
                "kms:CallerAccount": st.sampled_from([source, CENTRAL]),
                "s3:x-amz-acl": st.just("bucket-owner-full-control"),
                "aws:SecureTransport": st.booleans(),
                "kms:EncryptionContextKeys": st.just(["aws:cloudtrail:arn", "aws:s3:arn"]),
            },
        )
    )
    return Request(
        draw(st.sampled_from(CALLERS)),
        draw(
            st.sampled_from(
                ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey", "s3:PutObject", "s3:GetBucketAcl"]
            )
        ),
        draw(st.sampled_from(REQUEST_RESOURCES)),
        context,
    )


def reference(doc: PolicyDocument, request: Request) -> tuple[bool, bool, tuple[str, ...], tuple[str, ...]]:
    """The evaluation statement by statement, every list scanned (the semantics the compiled form keeps)."""
    context = request_context(request)
    allows: list[str] = []
    denies: list[str] = []
    for statement in doc.statements:
        if not statement_applies_to(statement, request, context, variables=doc.uses_variables):
            continue
        holds, _ = conditions_hold(statement, context, variables=doc.uses_variables)
        if holds:
            (denies if statement.effect == "Deny" else allows).append(statement.label)
    return bool(allows) and not denies, bool(denies), tuple(allows), tuple(denies)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=wide_policies(), asked=st.lists(requests(), min_size=1, max_size=6))
def test_the_compiled_evaluation_answers_as_the_reference(policy: dict[str, Any], asked: list[Request]) -> None:
    # Given a policy with lists long enough to be indexed, When requests are evaluated
    doc = parse_policy(policy)
    for request in asked:
        decision = evaluate(doc, request)
        # Then every answer is the one the statement-by-statement reference gives
        expected = reference(doc, request)
        assert (decision.allowed, decision.denied_explicitly, decision.matched_allow, decision.matched_deny) == expected


PATTERN_TEXT = st.text(alphabet="abcdefgh:/*?", max_size=7)
ARN_LIKE = st.builds(lambda body: "arn:" + body, st.text(alphabet="abcdefgh:/*?", max_size=12))
VALUES = st.one_of(
    st.text(alphabet="ab:/", max_size=9), st.builds(lambda b: "arn:" + b, st.text(alphabet="ab:/", max_size=12))
)
# Mostly patterns with some literal text: a bare "*" matches everything and would hide a wrong index.
PATTERNS = st.one_of(
    PATTERN_TEXT.filter(lambda p: p.strip("*?") != ""),
    ARN_LIKE,
    st.sampled_from(["*", "A:b", "AB*", "*cd", "?e*", "arn:*", "*s3:::b*", "arn:aws:s3:::b/?"]),
)
KINDS: list[PatternKind] = ["equals", "equals_ignore_case", "like", "arn", "action", "resource"]


def instantiate(pattern: str, fill: str) -> str:
    """A value the pattern matches as a glob: each ``*`` replaced by ``fill``, each ``?`` by its first
    character (or ``a``)."""
    return pattern.replace("*", fill).replace("?", fill[:1] or "a")


@settings(max_examples=500, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    patterns=st.one_of(
        st.lists(PATTERNS, max_size=SMALL),  # scanned
        st.lists(PATTERNS, min_size=SMALL + 1, max_size=40, unique=True),  # indexed
    ),
    others=st.lists(VALUES, max_size=4),
    fills=st.lists(st.text(alphabet="ab:/", max_size=4), min_size=1, max_size=4),
    data=st.data(),
)
def test_a_pattern_set_answers_as_a_scan(
    kind: PatternKind, patterns: list[str], others: list[str], fills: list[str], data: st.DataObject
) -> None:
    # Given any patterns, and values made from some of them (so that many do match) and random ones
    made = [instantiate(data.draw(st.sampled_from(patterns)), fill) for fill in fills] if patterns else []
    compiled = PatternSet(patterns, kind)
    match = MATCHERS[kind]
    # Then the compiled set answers each value as a scan of the patterns does
    for value in [*made, *(v.upper() for v in made), *others, "arn:aws:s3:::b/x", "arn:a:b:c:d:e:f"]:
        assert compiled.matches(value) == any(match(pattern, value) for pattern in patterns), (kind, value)


@settings(max_examples=500, deadline=None)
@given(pattern=st.text(alphabet="ab*", max_size=8), value=st.text(alphabet="ab", max_size=10))
def test_segment_glob_matching_agrees_with_the_scan(pattern: str, value: str) -> None:
    assert glob_match(pattern, value) == glob_scan(pattern, value)


def test_a_value_is_checked_against_a_few_candidates_not_every_pattern() -> None:
    # Given the encryption-context patterns of 5,000 accounts
    accounts = [f"{n:012d}" for n in range(5000)]
    patterns = PatternSet([f"arn:aws:cloudtrail:*:{a}:trail/*" for a in accounts], "like")
    resources = PatternSet([f"arn:aws:s3:::logs/AWSLogs/{a}/*" for a in accounts], "resource")
    # When one account's trail is looked up, Then only that account's pattern is a candidate
    index = patterns._wild
    assert index is not None
    value = f"arn:aws:cloudtrail:eu-west-1:{accounts[4321]}:trail/audit"
    assert list(index.candidates(value)) == [f"arn:aws:cloudtrail:*:{accounts[4321]}:trail/*"]
    assert patterns.matches(value)
    assert not patterns.matches("arn:aws:cloudtrail:eu-west-1:999999999999:trail/audit")
    object_arn = f"arn:aws:s3:::logs/AWSLogs/{accounts[17]}/CloudTrail/eu-west-1/f.json.gz"
    arn_index = resources._arn_wild
    assert arn_index is not None
    assert list(arn_index.candidates(object_arn)) == [f"arn:aws:s3:::logs/AWSLogs/{accounts[17]}/*"]
    assert resources.matches(object_arn)
