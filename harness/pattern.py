"""An EventBridge event-pattern matcher, faithful to the documented semantics (aws/event-ruler).

Why not moto's `EventPattern`: it covers exists/prefix/anything-but/numeric for flat events, but it
does not look into arrays of objects (`{"resources": {"ARN": [...]}}` never matches), treats `{}` and
`[]` as present values for `exists`, and lets `true` match `1` (Python equality). The tests in
tests/unit/test_routing.py pin the semantics below and compare with moto where both agree.

Semantics implemented:
- A pattern is an object; each key must match (AND). A key's value is either a nested pattern
  (object) or a non-empty list of filters, of which any may match (OR). `"$or": [p1, p2, ...]` at any
  level matches if one sub-pattern does.
- Filters apply to leaf values only. An object value is not a leaf; arrays are "crushed": an array of
  scalars gives each scalar as a value, an array of objects lets the nested pattern match any one
  element (fields matched inside one element never combine with a sibling element's fields).
- Exact values are typed: "1" is not 1, true is not 1, null matches only null, "" only "".
- `exists: true`: the leaf has at least one value (null counts). `exists: false`: the field has no
  leaf value anywhere in the event (an object, `[]`, or absence all count as "not there"); inside an
  array of objects that means absent from every element (the documentation is silent: the cautious reading).
- `prefix` / `suffix` (string, or {"equals-ignore-case": string}), `equals-ignore-case`, `wildcard`
  (`*`, `\\*` for a literal star), `cidr`: strings only. `numeric`: JSON numbers only (not booleans).
- `anything-but` (a value, a list of values, or one of prefix / suffix / equals-ignore-case /
  wildcard): needs a value to be present; with an array, matches if some element qualifies.
"""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_MISSING = object()
Path = tuple[str, ...]

_NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}
_STRING_MATCHERS = frozenset({"prefix", "suffix", "equals-ignore-case", "wildcard"})
_FILTERS = frozenset({"exists", "anything-but", "numeric", "cidr", *_STRING_MATCHERS})


class InvalidPatternError(ValueError):
    """The pattern would be refused by EventBridge (PutRule: InvalidEventPatternException)."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if EventBridge would deliver `event` to a rule with this `pattern`."""
    validate(pattern)
    return _match_object(pattern, event, event, ())


def validate(pattern: Any, path: Path = ()) -> None:
    """Raise `InvalidPatternError` for what EventBridge refuses: scalars, empty lists, unknown filters."""
    where = ".".join(path) or "<pattern>"
    if not isinstance(pattern, Mapping):
        raise InvalidPatternError(f"{where}: a pattern must be an object")
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidPatternError(f"{where}.$or: needs a list of at least two patterns")
            for branch in value:
                validate(branch, (*path, "$or"))
        elif isinstance(value, Mapping):
            validate(value, (*path, key))
        elif isinstance(value, list):
            if not value:
                raise InvalidPatternError(f"{where}.{key}: empty arrays are not allowed")
            for item in value:
                _validate_filter(item, f"{where}.{key}")
        else:
            raise InvalidPatternError(f"{where}.{key}: must be an object or an array")


def _validate_filter(item: Any, where: str) -> None:
    if not isinstance(item, Mapping):
        if isinstance(item, (list, tuple)):
            raise InvalidPatternError(f"{where}: nested arrays are not allowed")
        return
    if len(item) != 1 or next(iter(item)) not in _FILTERS:
        raise InvalidPatternError(f"{where}: unknown filter {dict(item)!r}")
    ((name, operand),) = item.items()
    if name == "exists" and not isinstance(operand, bool):
        raise InvalidPatternError(f"{where}: exists takes true or false")
    if name == "numeric":
        pairs = list(operand) if isinstance(operand, list) else []
        if (
            not pairs
            or len(pairs) % 2
            or not all(
                op in _NUMERIC_OPERATORS and _is_number(value)
                for op, value in zip(pairs[::2], pairs[1::2], strict=True)
            )
        ):
            raise InvalidPatternError(f"{where}: numeric takes [operator, number, ...]")
    if (
        name == "anything-but"
        and isinstance(operand, Mapping)
        and (len(operand) != 1 or next(iter(operand)) not in _STRING_MATCHERS)
    ):
        raise InvalidPatternError(f"{where}: anything-but takes a value, a list, or one string matcher")
    if name == "cidr":
        try:
            ipaddress.ip_network(operand, strict=False)
        except (TypeError, ValueError) as error:
            raise InvalidPatternError(f"{where}: invalid cidr {operand!r}") from error


# ------------------------------------------------------------------------------------------------
# Matching
# ------------------------------------------------------------------------------------------------


def _match_object(pattern: Mapping[str, Any], node: Any, root: Any, path: Path) -> bool:
    fields = node if isinstance(node, Mapping) else {}
    for key, expected in pattern.items():
        if key == "$or":
            ok = any(_match_object(branch, node, root, path) for branch in expected)
        elif isinstance(expected, Mapping):
            ok = _match_nested(expected, fields.get(key, _MISSING), root, (*path, key))
        else:
            ok = _match_field(expected, fields.get(key, _MISSING), root, (*path, key))
        if not ok:
            return False
    return True


def _match_nested(pattern: Mapping[str, Any], value: Any, root: Any, path: Path) -> bool:
    if isinstance(value, list):
        elements = [item for item in _crush(value) if isinstance(item, Mapping)]
        return any(_match_object(pattern, element, root, path) for element in elements or [{}])
    return _match_object(pattern, value, root, path)


def _match_field(filters: Sequence[Any], value: Any, root: Any, path: Path) -> bool:
    values = _leaves(value)
    for expected in filters:
        if isinstance(expected, Mapping) and "exists" in expected:
            if expected["exists"] and values:
                return True
            if not expected["exists"] and not _leaves_anywhere(root, path):
                return True
        elif any(_match_value(expected, item) for item in values):
            return True
    return False


def _crush(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in values:
        flat.extend(_crush(item) if isinstance(item, list) else [item])
    return flat


def _leaves(value: Any) -> list[Any]:
    if value is _MISSING or isinstance(value, Mapping):
        return []
    if isinstance(value, list):
        return [item for item in _crush(value) if not isinstance(item, Mapping)]
    return [value]


def _leaves_anywhere(root: Any, path: Path) -> list[Any]:
    """Every leaf value at `path`, through every element of every array on the way."""
    nodes = [root]
    for key in path:
        nodes = [
            element[key]
            for node in nodes
            for element in (_crush(node) if isinstance(node, list) else [node])
            if isinstance(element, Mapping) and key in element
        ]
    return [leaf for node in nodes for leaf in _leaves(node)]


def _match_value(expected: Any, value: Any) -> bool:
    if not isinstance(expected, Mapping):
        return _same(expected, value)
    ((name, operand),) = expected.items()
    if name == "anything-but":
        if isinstance(operand, Mapping):
            return isinstance(value, str) and not _match_value(operand, value)
        excluded = operand if isinstance(operand, list) else [operand]
        return not any(_same(item, value) for item in excluded)
    if name == "numeric":
        return _is_number(value) and all(
            _NUMERIC_OPERATORS[op](value, bound) for op, bound in zip(operand[::2], operand[1::2], strict=True)
        )
    if not isinstance(value, str):
        return False
    if name == "cidr":
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(operand, strict=False)
        except ValueError:
            return False
    if name == "equals-ignore-case":
        return value.casefold() == str(operand).casefold()
    if name == "wildcard":
        return _wildcard(str(operand)).fullmatch(value) is not None
    ignore_case = isinstance(operand, Mapping)
    text = str(operand["equals-ignore-case"]) if ignore_case else str(operand)
    subject, text = (value.casefold(), text.casefold()) if ignore_case else (value, text)
    return subject.startswith(text) if name == "prefix" else subject.endswith(text)


def _same(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return value is expected
    if _is_number(expected):
        return _is_number(value) and value == expected
    return isinstance(value, str) and value == expected


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wildcard(text: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in "*\\":
            parts.append(re.escape(text[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)
