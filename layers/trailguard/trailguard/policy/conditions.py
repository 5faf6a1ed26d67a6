"""Condition operators, evaluated as AWS evaluates them.

Context keys are case-insensitive; every context value is a tuple of strings (a single-valued key is a
1-tuple; ``True`` is ``"true"``; an empty list counts as absent). Semantics:

- plain operator, key absent: false, except the negated forms (``StringNotEquals``, ``ArnNotLike``,
  ``NotIpAddress``...), which are true;
- ``...IfExists``: true when the key is absent, else as the plain operator;
- ``Null``: ``"true"`` wants the key absent, ``"false"`` present;
- several policy values are OR for positive operators and NOR for negated ones ("matches none");
- ``ForAnyValue:``: some context value satisfies the operator (absent key: false);
  ``ForAllValues:``: every context value does (absent key: true);
- a plain operator on a multi-valued key: positive forms need some context value to match, negated forms
  need none to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from trailguard.policy.document import Condition
from trailguard.policy.matching import arn_match, glob_match
from trailguard.policy.patterns import PatternKind, PatternSet

Context = Mapping[str, tuple[str, ...]]

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text) else None


def _date(text: str) -> datetime | None:
    try:
        if _NUMBER.fullmatch(text):
            return datetime.fromtimestamp(float(text), UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _compare_numbers(test: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def match(policy: str, context: str) -> bool:
        left, right = _number(context), _number(policy)
        return left is not None and right is not None and test(left, right)

    return match


def _compare_dates(test: Callable[[datetime, datetime], bool]) -> Callable[[str, str], bool]:
    def match(policy: str, context: str) -> bool:
        left, right = _date(context), _date(policy)
        return left is not None and right is not None and test(left, right)

    return match


def _ip_in(policy: str, context: str) -> bool:
    try:
        return ipaddress.ip_address(context) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Operator:
    negated: bool
    match: Callable[[str, str], bool]  # (policy value, context value) -> the positive form matches


def _equals(policy: str, context: str) -> bool:
    return policy == context


def _equals_ignore_case(policy: str, context: str) -> bool:
    return policy.casefold() == context.casefold()


def _like(policy: str, context: str) -> bool:
    return glob_match(policy, context)


def _bool(policy: str, context: str) -> bool:
    return policy.lower() in ("true", "false") and policy.lower() == context.lower()


_OPERATORS: Mapping[str, _Operator] = {
    "StringEquals": _Operator(False, _equals),
    "StringNotEquals": _Operator(True, _equals),
    "StringEqualsIgnoreCase": _Operator(False, _equals_ignore_case),
    "StringNotEqualsIgnoreCase": _Operator(True, _equals_ignore_case),
    "StringLike": _Operator(False, _like),
    "StringNotLike": _Operator(True, _like),
    "NumericEquals": _Operator(False, _compare_numbers(lambda a, b: a == b)),
    "NumericNotEquals": _Operator(True, _compare_numbers(lambda a, b: a == b)),
    "NumericLessThan": _Operator(False, _compare_numbers(lambda a, b: a < b)),
    "NumericLessThanEquals": _Operator(False, _compare_numbers(lambda a, b: a <= b)),
    "NumericGreaterThan": _Operator(False, _compare_numbers(lambda a, b: a > b)),
    "NumericGreaterThanEquals": _Operator(False, _compare_numbers(lambda a, b: a >= b)),
    "DateEquals": _Operator(False, _compare_dates(lambda a, b: a == b)),
    "DateNotEquals": _Operator(True, _compare_dates(lambda a, b: a == b)),
    "DateLessThan": _Operator(False, _compare_dates(lambda a, b: a < b)),
    "DateLessThanEquals": _Operator(False, _compare_dates(lambda a, b: a <= b)),
    "DateGreaterThan": _Operator(False, _compare_dates(lambda a, b: a > b)),
    "DateGreaterThanEquals": _Operator(False, _compare_dates(lambda a, b: a >= b)),
    "Bool": _Operator(False, _bool),
    "BinaryEquals": _Operator(False, _equals),
    "IpAddress": _Operator(False, _ip_in),
    "NotIpAddress": _Operator(True, _ip_in),
    "ArnEquals": _Operator(False, arn_match),
    "ArnLike": _Operator(False, arn_match),
    "ArnNotEquals": _Operator(True, arn_match),
    "ArnNotLike": _Operator(True, arn_match),
}


def normalise_context(
    context: Mapping[str, str | bool | list[str] | tuple[str, ...]],
) -> dict[str, tuple[str, ...]]:
    """Lower-cased keys, tuple-of-strings values; keys with an empty list are dropped (absent)."""
    normalised: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            values: tuple[str, ...] = ("true" if value else "false",)
        elif isinstance(value, str):
            values = (value,)
        else:
            values = tuple(str(item) for item in value)
        if values:
            normalised[key.lower()] = values
    return normalised


def resolve_variables(value: str, context: Context) -> str | None:
    """Substitute policy variables (``${aws:username}``, ``${key, 'default'}``, ``${*}``).

    None when a variable has no single value in the context and no default: such a policy value matches
    nothing. (The literal forms ``${*}``, ``${?}``, ``${$}`` become the bare character.)
    """
    if "${" not in value:
        return value
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        inner = match.group(1)
        if inner in ("*", "?", "$"):
            return inner
        name, comma, default = inner.partition(",")
        values = context.get(name.strip().lower())
        if values is not None and len(values) == 1:
            return values[0]
        default = default.strip()
        if comma and len(default) >= 2 and default[0] == default[-1] == "'":
            return default[1:-1]
        missing = True
        return ""

    resolved = _VARIABLE.sub(substitute, value)
    return None if missing else resolved


def evaluate_condition(condition: Condition, context: Context, *, variables: bool = True) -> bool | None:
    """True/False, or None when the operator is unknown to the analyzer."""
    if condition.base is None:
        return None
    if condition.base == "Null":
        return _null(condition, context)
    operator = _OPERATORS[condition.base]
    policy_values = [
        resolved
        for value in condition.values
        if (resolved := resolve_variables(value, context) if variables else value) is not None
    ]

    def hits(context_value: str) -> bool:
        return any(operator.match(policy_value, context_value) for policy_value in policy_values)

    return _outcome(condition, operator, context.get(condition.key_lower), hits)


def _null(condition: Condition, context: Context) -> bool:
    present = context.get(condition.key_lower)
    wanted = {value.lower() for value in condition.values}
    return ("true" in wanted and present is None) or ("false" in wanted and present is not None)


def _outcome(
    condition: Condition, operator: _Operator, present: tuple[str, ...] | None, hits: Callable[[str], bool]
) -> bool:
    """The condition's answer, given whether one context value matches one of its values (``hits``)."""
    if present is None:
        if condition.if_exists or condition.qualifier == "ForAllValues":
            return True
        if condition.qualifier == "ForAnyValue":
            return False
        return operator.negated
    if condition.qualifier == "ForAllValues":
        return all(hits(value) != operator.negated for value in present)
    if condition.qualifier == "ForAnyValue":
        return any(hits(value) != operator.negated for value in present)
    matched = any(hits(value) for value in present)
    return matched != operator.negated


# Operators whose values are compiled into a PatternSet (the others are few-valued: scanned).
_INDEXED: Mapping[str, PatternKind] = {
    "StringEquals": "equals",
    "StringNotEquals": "equals",
    "BinaryEquals": "equals",
    "StringEqualsIgnoreCase": "equals_ignore_case",
    "StringNotEqualsIgnoreCase": "equals_ignore_case",
    "StringLike": "like",
    "StringNotLike": "like",
    "ArnEquals": "arn",
    "ArnLike": "arn",
    "ArnNotEquals": "arn",
    "ArnNotLike": "arn",
}


class CompiledCondition:
    """A condition whose values are compiled once: evaluating it does not scan a list of N values.

    Values holding policy variables (``${aws:username}``) depend on the request: they are resolved and
    matched one by one at evaluation time, exactly as ``evaluate_condition`` does.
    """

    def __init__(self, condition: Condition, *, variables: bool) -> None:
        self.condition = condition
        self._variables = variables
        self._operator = _OPERATORS.get(condition.base or "")
        dynamic = [v for v in condition.values if variables and "${" in v]
        static = [v for v in condition.values if not (variables and "${" in v)]
        self._dynamic = tuple(dynamic)
        kind = _INDEXED.get(condition.base or "")
        self._index = PatternSet(static, kind) if kind is not None else None
        self._scan = tuple(static) if kind is None else ()

    def evaluate(self, context: Context) -> bool | None:
        condition, operator = self.condition, self._operator
        if condition.base is None:
            return None
        if condition.base == "Null":
            return _null(condition, context)
        assert operator is not None
        index, scan = self._index, self._scan
        resolved = [value for raw in self._dynamic if (value := resolve_variables(raw, context)) is not None]

        def hits(context_value: str) -> bool:
            if index is not None and index.matches(context_value):
                return True
            return any(operator.match(value, context_value) for value in (*scan, *resolved))

        return _outcome(condition, operator, context.get(condition.key_lower), hits)
