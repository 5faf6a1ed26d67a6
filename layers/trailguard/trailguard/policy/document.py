"""A resource policy (KMS key policy, S3 bucket policy) parsed and normalised, as AWS reads it.

``parse_policy`` accepts JSON text (as ``PutKeyPolicy`` carries it), bytes, or an already parsed mapping
(as ``PutBucketPolicy`` events carry it). JSON objects with a repeated key keep only the last value, as
AWS does; each repetition is recorded in ``PolicyDocument.warnings`` because it silently loses a grant or,
worse, a condition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trailguard.policy.errors import PolicyParseError
from trailguard.policy.ids import is_account_id

Effect = Literal["Allow", "Deny"]
SetQualifier = Literal["", "ForAnyValue", "ForAllValues"]

_TOP_ELEMENTS = ("Version", "Id", "Statement")
_STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_VERSIONS = ("2012-10-17", "2008-10-17")
_PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")

# Canonical names of the condition operators the analyzer evaluates, by lower-case name.
KNOWN_OPERATORS: Mapping[str, str] = {
    name.lower(): name
    for name in (
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "Null",
    )
}


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A ``Principal`` or ``NotPrincipal`` element.

    ``everyone`` is true for ``"*"`` and for ``{"AWS": "*"}``. Bare 12-digit account ids in ``aws`` are
    rewritten to ``arn:aws:iam::ACCOUNT:root`` (what they mean); service names are lower-cased.
    """

    everyone: bool = False
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.everyone:
            return "*"
        names = [*self.aws, *self.service, *self.federated, *self.canonical_user]
        return ", ".join(names)


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, condition key, values) triple of a ``Condition`` block.

    ``base`` is the canonical operator name without set qualifier and ``IfExists`` (``"StringLike"``), or
    None when the analyzer does not know the operator. Values are strings (JSON booleans and numbers are
    written as AWS reads them: ``true``, ``42``).
    """

    operator: str
    key: str
    values: tuple[str, ...]
    base: str | None
    qualifier: SetQualifier
    if_exists: bool

    @property
    def known(self) -> bool:
        return self.base is not None

    @property
    def key_lower(self) -> str:
        return self.key.lower()

    @classmethod
    def build(cls, operator: str, key: str, values: tuple[str, ...]) -> Condition:
        qualifier: SetQualifier = ""
        rest = operator
        lowered = operator.lower()
        if lowered.startswith("foranyvalue:"):
            qualifier, rest = "ForAnyValue", operator[len("ForAnyValue:") :]
        elif lowered.startswith("forallvalues:"):
            qualifier, rest = "ForAllValues", operator[len("ForAllValues:") :]
        if_exists = rest.lower().endswith("ifexists") and len(rest) > len("IfExists")
        name = rest[: -len("IfExists")] if if_exists else rest
        base = KNOWN_OPERATORS.get(name.lower())
        if base == "Null" and if_exists:
            base = None
        return cls(operator, key, values, base, qualifier, if_exists)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement, normalised. ``raw`` is the statement as AWS keeps it (for rewriting policies)."""

    index: int
    sid: str | None
    effect: Effect
    principal: PrincipalSpec
    principal_negated: bool
    actions: tuple[str, ...]
    actions_negated: bool
    resources: tuple[str, ...]
    resources_negated: bool
    conditions: tuple[Condition, ...]
    raw: Mapping[str, Any]

    @property
    def label(self) -> str:
        """How findings name the statement: its Sid, or ``statement #N`` (1-based) without one."""
        return self.sid if self.sid else f"statement #{self.index}"

    @property
    def unknown_operators(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.operator for c in self.conditions if not c.known))


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    warnings: tuple[str, ...]
    raw: Mapping[str, Any]
    # The statements compiled for evaluation (``evaluation.compiled_statements``), made on first use.
    compiled: object = field(default=None, compare=False, repr=False)

    def keep_compiled(self, compiled: object) -> None:
        """Remember the compiled statements (the document itself never changes, so neither do they)."""
        object.__setattr__(self, "compiled", compiled)

    @property
    def uses_variables(self) -> bool:
        """Policy variables (``${aws:username}``) are substituted only in version 2012-10-17."""
        return self.version == "2012-10-17"

    def to_dict(self) -> dict[str, Any]:
        """A fresh plain copy of the policy as AWS keeps it (repeated JSON keys resolved to the last)."""
        copied = _plain(self.raw)
        assert isinstance(copied, dict)
        return copied


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers which keys the text repeated (and how many times)."""

    duplicates: dict[str, int]


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    counts: dict[str, int] = {}
    for key, value in pairs:
        if key in obj:
            counts[key] = counts.get(key, 1) + 1
        obj[key] = value
    obj.duplicates = counts
    return obj


def _reject_constant(name: str) -> Any:
    raise PolicyParseError(f"the policy is not valid JSON: {name} is not a JSON value")


def parse_policy(source: str | bytes | bytearray | Mapping[str, Any]) -> PolicyDocument:
    """Parse and validate a resource policy; raise ``PolicyParseError`` (only that) when it is malformed."""
    try:
        if isinstance(source, bytes | bytearray):
            try:
                text = bytes(source).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyParseError(f"the policy is not UTF-8 text (invalid byte at offset {exc.start})") from None
            raw: object = _load_json(text)
        elif isinstance(source, str):
            raw = _load_json(source)
        elif isinstance(source, Mapping):
            raw = source
        else:
            raise PolicyParseError(f"a policy must be JSON text or a mapping, got {type(source).__name__}")
        return _document(raw)
    except RecursionError:
        raise PolicyParseError("the policy is nested too deeply to be a policy") from None


def _load_json(text: str) -> object:
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise PolicyParseError("the policy is empty")
    try:
        return json.loads(text, object_pairs_hook=_object_from_pairs, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PolicyParseError(
            f"the policy is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's digit limit
        if isinstance(exc, PolicyParseError):
            raise
        raise PolicyParseError(f"the policy is not valid JSON: {_one_line(str(exc))}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def _quote(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return json.dumps(text)


def _document(raw: object) -> PolicyDocument:
    if not isinstance(raw, Mapping):
        raise PolicyParseError(f"a policy must be a JSON object, got {_json_type(raw)}")
    for key in raw:
        if key not in _TOP_ELEMENTS:
            raise PolicyParseError(
                f'unknown policy element {_quote(key)}: a policy has only "Version", "Id" and "Statement"'
            )
    version = raw.get("Version", "2008-10-17")
    if version not in _VERSIONS or not isinstance(version, str):
        raise PolicyParseError(f'"Version" must be "2012-10-17" or "2008-10-17", got {_quote(version)}')
    policy_id = raw.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyParseError(f'"Id" must be a string, got {_json_type(policy_id)}')
    if "Statement" not in raw:
        raise PolicyParseError('the policy has no "Statement"')
    items = raw["Statement"]
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list | tuple):
        raise PolicyParseError(f'"Statement" must be an object or a list of objects, got {_json_type(items)}')
    statements = tuple(_statement(index, item) for index, item in enumerate(items, 1))
    warnings = _duplicate_warnings(raw)
    return PolicyDocument(str(version), policy_id, statements, tuple(warnings), _plain(raw))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _statement_name(index: int, item: object) -> str:
    sid = item.get("Sid") if isinstance(item, Mapping) else None
    return f"statement #{index} ({_quote(sid)})" if isinstance(sid, str) and sid else f"statement #{index}"


def _statement(index: int, item: object) -> Statement:
    where = _statement_name(index, item)
    if not isinstance(item, Mapping):
        raise PolicyParseError(f"{where} must be a JSON object, got {_json_type(item)}")
    for key in item:
        if key not in _STATEMENT_ELEMENTS:
            raise PolicyParseError(f"{where} has an unknown element {_quote(key)}")
    sid = item.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyParseError(f'{where} "Sid" must be a string, got {_json_type(sid)}')
    effect = item.get("Effect")
    if not isinstance(effect, str) or effect not in ("Allow", "Deny"):
        raise PolicyParseError(f'{where} "Effect" must be "Allow" or "Deny", got {_quote(effect)}')
    principal_key = _exactly_one(item, "Principal", "NotPrincipal", where)
    action_key = _exactly_one(item, "Action", "NotAction", where)
    resource_key = _exactly_one(item, "Resource", "NotResource", where)
    return Statement(
        index=index,
        sid=sid or None,
        effect="Allow" if effect == "Allow" else "Deny",
        principal=_principal(item[principal_key], f"{where} {principal_key}"),
        principal_negated=principal_key == "NotPrincipal",
        actions=_strings(item[action_key], f"{where} {action_key}"),
        actions_negated=action_key == "NotAction",
        resources=_strings(item[resource_key], f"{where} {resource_key}"),
        resources_negated=resource_key == "NotResource",
        conditions=_conditions(item.get("Condition"), where),
        raw=_plain(item),
    )


def _exactly_one(item: Mapping[str, Any], positive: str, negative: str, where: str) -> str:
    if positive in item and negative in item:
        raise PolicyParseError(f'{where} has both "{positive}" and "{negative}"')
    if positive not in item and negative not in item:
        raise PolicyParseError(f'{where} has neither "{positive}" nor "{negative}"')
    return positive if positive in item else negative


def _strings(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise PolicyParseError(f"{where} must be a string or a list of strings, got {_json_type(value)}")
    if not items:
        raise PolicyParseError(f"{where} must not be an empty list")
    for item in items:
        if not isinstance(item, str):
            raise PolicyParseError(f"{where} must contain only strings, found {_json_type(item)}")
        if not item:
            raise PolicyParseError(f"{where} must not contain an empty string")
    return tuple(items)


def _principal(value: object, where: str) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(everyone=True)
    if isinstance(value, str):
        raise PolicyParseError(f'{where} must be "*" or an object such as {{"AWS": ...}}, got {_quote(value)}')
    if not isinstance(value, Mapping):
        raise PolicyParseError(f'{where} must be "*" or an object, got {_json_type(value)}')
    if not value:
        raise PolicyParseError(f"{where} must name at least one principal")
    found: dict[str, tuple[str, ...]] = {}
    for kind, names in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise PolicyParseError(
                f"{where} has an unknown principal type {_quote(kind)} (AWS, Service, Federated, CanonicalUser)"
            )
        found[kind] = _strings(names, f"{where} {kind}")
    aws = found.get("AWS", ())
    return PrincipalSpec(
        everyone="*" in aws,
        aws=tuple(f"arn:aws:iam::{name}:root" if is_account_id(name) else name for name in aws if name != "*"),
        service=tuple(name.lower() for name in found.get("Service", ())),
        federated=found.get("Federated", ()),
        canonical_user=found.get("CanonicalUser", ()),
    )


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PolicyParseError(f"{where} Condition must be an object, got {_json_type(value)}")
    conditions: list[Condition] = []
    for operator, block in value.items():
        if not isinstance(operator, str) or not operator:
            raise PolicyParseError(f"{where} Condition has an empty operator name")
        if not isinstance(block, Mapping) or not block:
            raise PolicyParseError(
                f"{where} Condition operator {_quote(operator)} must map condition keys to values, "
                f"got {_json_type(block)}"
            )
        for key, raw_values in block.items():
            if not isinstance(key, str) or not key:
                raise PolicyParseError(f"{where} Condition operator {_quote(operator)} has an empty condition key")
            values = _condition_values(raw_values, f"{where} Condition {_quote(operator)} {_quote(key)}")
            conditions.append(Condition.build(operator, key, values))
    return tuple(conditions)


def _condition_values(value: object, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(_condition_scalar(item, where) for item in items)


def _condition_scalar(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise PolicyParseError(f"{where} values must be strings, numbers or booleans, found {_json_type(value)}")


def _plain(value: Any) -> Any:
    """A deep copy made only of dict, list and JSON scalars (validated policies contain nothing else)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _duplicate_warnings(raw: Mapping[str, Any]) -> list[str]:
    warnings: list[str] = []
    _warn_duplicates(raw, "the policy", warnings)
    statements = raw.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if isinstance(statements, list | tuple):
        for index, item in enumerate(statements, 1):
            where = _statement_name(index, item)
            _warn_duplicates(item, where, warnings)
            if not isinstance(item, Mapping):
                continue
            for element, value in item.items():
                _warn_duplicates(value, f"{where} {element}", warnings)
                if element == "Condition" and isinstance(value, Mapping):
                    for operator, block in value.items():
                        _warn_nested(block, f"{where} Condition operator {_quote(operator)}", warnings)
                else:
                    _warn_children(value, f"{where} {element}", warnings)
    return warnings


def _warn_duplicates(node: object, where: str, warnings: list[str]) -> None:
    if not isinstance(node, _JsonObject):
        return
    for key, count in node.duplicates.items():
        times = "twice" if count == 2 else f"{count} times"
        lost = "the first is" if count == 2 else f"the other {count - 1} are"
        warnings.append(
            f"{where} has the key {_quote(key)} {times}: only the last is kept, {lost} silently lost "
            "(AWS parses the policy the same way)"
        )


def _warn_nested(node: object, where: str, warnings: list[str]) -> None:
    _warn_duplicates(node, where, warnings)
    _warn_children(node, where, warnings)


def _warn_children(node: object, where: str, warnings: list[str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _warn_nested(value, f"{where} {_quote(key)}", warnings)
    elif isinstance(node, list | tuple):
        for value in node:
            _warn_nested(value, where, warnings)
