"""Who a policy grants to: public grants, grants outside the organization, and the key's admin statements.

A statement whose principal is everyone (``"*"``, ``{"AWS": "*"}``, or ``NotPrincipal`` with ``Allow``) is
public unless one of its conditions *pins* the caller to the organization, an account or a source: a
positive operator (``StringEquals``, ``StringEqualsIgnoreCase``, ``StringLike``, ``ArnEquals``,
``ArnLike``, optionally ``ForAnyValue:``; never ``IfExists``, which lets the key be absent) on a pinning key,
with no value that leaves the identity open (``"*"``, ``"o-*"``, ``arn:aws:iam::*:...``).
Statements are matched by content, never by Sid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from trailguard.policy.document import Condition, PolicyDocument, Statement
from trailguard.policy.ids import is_account_id, parse_arn, principal_account
from trailguard.policy.matching import Caller, action_matches, principal_excluded, resource_matches

PinKind = Literal["org", "account", "source", "other"]

_ACCOUNT_KEYS = frozenset(
    {"aws:principalaccount", "kms:calleraccount", "aws:sourceaccount", "s3:dataaccesspointaccount"}
)
_ORG_KEYS = frozenset({"aws:principalorgid", "aws:sourceorgid"})
_ORG_PATH_KEYS = frozenset({"aws:principalorgpaths", "aws:sourceorgpaths"})
_ARN_KEYS = frozenset({"aws:sourcearn", "aws:principalarn"})
_OTHER_KEYS = frozenset({"aws:sourcevpc", "aws:sourcevpce", "aws:userid"})
_STRING_PIN_OPERATORS = frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike"})
_ARN_PIN_OPERATORS = frozenset({"ArnEquals", "ArnLike"})
_WILDCARDS = ("*", "?", "${")


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant worth reporting: the statement (Sid or ``statement #N``), to whom, which actions
    (``NOT x`` for a ``NotAction`` statement), why in one sentence, and unknown condition operators."""

    statement: str
    principal: str
    actions: tuple[str, ...]
    reason: str
    unknown_conditions: tuple[str, ...] = ()

    def describe(self) -> str:
        """For a person: "s3:GetObject to * (statement PublicRead)"."""
        return f"{', '.join(self.actions)} to {self.principal} (statement {self.statement})"

    def to_dict(self) -> dict[str, Any]:
        """For a finding's `observed`."""
        return {
            "statement": self.statement,
            "principal": self.principal,
            "actions": list(self.actions),
            "reason": self.reason,
            "unknown_conditions": list(self.unknown_conditions),
        }


def describe_grants(grants: Iterable[Grant]) -> str:
    return "; ".join(grant.describe() for grant in grants)


@dataclass(frozen=True, slots=True)
class Pin:
    """What a pinning condition restricts the caller to: an organization id, accounts, or something else
    that is not everyone (a VPC, a user id). ``accounts`` is empty when the values name no account."""

    kind: PinKind
    key: str
    organizations: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()


def _has_wildcard(value: str) -> bool:
    return any(token in value for token in _WILDCARDS)


def _pin_value(key: str, value: str) -> tuple[PinKind, str | None] | None:
    """(kind, organization or account) when this single value restricts the caller, else None."""
    if key in _ACCOUNT_KEYS:
        return ("account", value) if is_account_id(value) else None
    if key in _ORG_KEYS:
        return ("org", value) if value and not _has_wildcard(value) else None
    if key in _ORG_PATH_KEYS:
        org = value.split("/", 1)[0]
        return ("org", org) if org and not _has_wildcard(org) else None
    if key in _ARN_KEYS:
        arn = parse_arn(value)
        if arn is None:
            return None
        if is_account_id(arn.account):
            return ("account" if key == "aws:principalarn" else "source", arn.account)
        if not arn.account and arn.resource and not _has_wildcard(value):
            return ("source", None)  # e.g. one S3 bucket: bucket names are global
        return None
    if key in _OTHER_KEYS:
        return ("other", None) if value and not value.startswith(("*", "?", "${")) else None
    return None


def condition_pin(condition: Condition) -> Pin | None:
    """The pin a condition sets, or None when it does not restrict who the caller is."""
    if condition.base is None or condition.if_exists or condition.qualifier == "ForAllValues":
        return None
    key = condition.key_lower
    if condition.base in _ARN_PIN_OPERATORS:
        if key not in _ARN_KEYS:
            return None
    elif condition.base not in _STRING_PIN_OPERATORS:
        return None
    if not condition.values:
        return None
    kinds: set[PinKind] = set()
    organizations: list[str] = []
    accounts: list[str] = []
    for value in condition.values:
        pinned = _pin_value(key, value)
        if pinned is None:
            return None  # one open value (a list is OR) leaves the statement open
        kind, name = pinned
        kinds.add(kind)
        if name is not None:
            (organizations if kind == "org" else accounts).append(name)
    kind = kinds.pop() if len(kinds) == 1 else "other"
    return Pin(kind, condition.key, tuple(dict.fromkeys(organizations)), tuple(dict.fromkeys(accounts)))


def statement_pins(statement: Statement) -> tuple[Pin, ...]:
    return tuple(pin for condition in statement.conditions if (pin := condition_pin(condition)) is not None)


def grants_to_everyone(statement: Statement) -> bool:
    """Allow to ``"*"`` / ``{"AWS": "*"}``, or ``NotPrincipal`` with Allow (everyone but a few)."""
    if statement.effect != "Allow":
        return False
    if statement.principal_negated:
        return not statement.principal.everyone
    return statement.principal.everyone


def _describe_principal(statement: Statement) -> str:
    if statement.principal_negated:
        return f"everyone except {statement.principal.describe()}"
    return statement.principal.describe()


def _describe_actions(statement: Statement) -> tuple[str, ...]:
    if statement.actions_negated:
        return tuple(f"NOT {action}" for action in statement.actions)
    return statement.actions


def _applies_to_resource(statement: Statement, resource_arn: str | None) -> bool:
    """Could the statement cover the resource or an object under it (``bucket`` and ``bucket/...``)?

    Over-approximates on purpose: a security check would rather look at one statement too many.
    """
    if resource_arn is None:
        return True
    child = f"{resource_arn}/*"
    covers_resource = any(resource_matches(p, resource_arn) for p in statement.resources)
    covers_children = any(resource_matches(p, child) or _may_cover_child(p, resource_arn) for p in statement.resources)
    if statement.resources_negated:
        return not (covers_resource and any(resource_matches(p, child) for p in statement.resources))
    return covers_resource or covers_children


def _may_cover_child(pattern: str, resource_arn: str) -> bool:
    cut = min(
        (i for i in (pattern.find("*"), pattern.find("?"), pattern.find("${")) if i >= 0),
        default=len(pattern),
    )
    literal = pattern[:cut]
    child = resource_arn + "/"
    return literal.startswith(child) or (cut < len(pattern) and child.startswith(literal))


def _blanket_denies(doc: PolicyDocument) -> list[Statement]:
    """Unconditional Denies to everyone (the only Denies that can void an Allow whatever the request)."""
    return [
        s
        for s in doc.statements
        if s.effect == "Deny"
        and not s.conditions
        and not s.principal_negated
        and s.principal.everyone
        and not s.actions_negated
        and not s.resources_negated
    ]


def _deny_covers(deny: Statement, allow: Statement, resource_arn: str | None) -> bool:
    """A blanket Deny (``_blanket_denies``) that covers every action of the Allow on the resource."""
    resources_covered = "*" in deny.resources or (
        resource_arn is not None
        and any(resource_matches(p, resource_arn) for p in deny.resources)
        and any(resource_matches(p, f"{resource_arn}/*") for p in deny.resources)
    )
    if not resources_covered:
        return False
    if allow.actions_negated:
        return "*" in deny.actions
    return all(any(action_matches(d, a) for d in deny.actions) for a in allow.actions)


def neutralised(
    doc: PolicyDocument,
    statement: Statement,
    resource_arn: str | None = None,
    denies: list[Statement] | None = None,
) -> bool:
    """Is this Allow made void by an unconditional Deny of the same actions to everyone? (``denies``: the
    document's ``_blanket_denies``, when the caller asks about many statements.)"""
    blanket = _blanket_denies(doc) if denies is None else denies
    return any(_deny_covers(deny, statement, resource_arn) for deny in blanket)


def public_statements(doc: PolicyDocument, resource_arn: str | None = None) -> list[tuple[Statement, Grant]]:
    found: list[tuple[Statement, Grant]] = []
    denies = _blanket_denies(doc)
    for statement in doc.statements:
        if not grants_to_everyone(statement) or not _applies_to_resource(statement, resource_arn):
            continue
        if statement_pins(statement) or neutralised(doc, statement, resource_arn, denies):
            continue
        unknown = statement.unknown_operators
        principal = _describe_principal(statement)
        actions = _describe_actions(statement)
        if unknown:
            reason = (
                f"{statement.label} grants {', '.join(actions)} to {principal} and its only restrictions use "
                f"condition operators the analyzer does not know ({', '.join(unknown)}), "
                "so it is treated as public"
            )
        elif statement.conditions:
            reason = (
                f"{statement.label} grants {', '.join(actions)} to {principal} "
                "with conditions that do not pin "
                "the caller to the organization, an account or a source"
            )
        else:
            reason = f"{statement.label} grants {', '.join(actions)} to {principal} without any condition"
        found.append((statement, Grant(statement.label, principal, actions, reason, unknown)))
    return found


def public_grants(doc: PolicyDocument, resource_arn: str | None = None) -> list[Grant]:
    """Allow statements that grant anything to a caller not pinned to the organization, an account or a
    source. ``resource_arn`` (the key ARN, or ``arn:aws:s3:::bucket``) limits the search to statements that
    may cover it or objects under it; None looks at every statement."""
    return [grant for _, grant in public_statements(doc, resource_arn)]


def external_grants(doc: PolicyDocument, org_accounts: Iterable[str], org_id: str | None) -> list[Grant]:
    """Allow statements granting to an AWS account outside ``org_accounts`` (or outside organization
    ``org_id``). Service principals are not external. Unpinned grants to everyone are reported by
    ``public_grants``, not here."""
    members = org_accounts if isinstance(org_accounts, frozenset) else frozenset(org_accounts)
    found: list[Grant] = []
    denies = _blanket_denies(doc)
    for statement in doc.statements:
        if statement.effect != "Allow" or neutralised(doc, statement, None, denies):
            continue
        pins = statement_pins(statement)
        if _restricted_to_org(pins, members, org_id):
            continue
        actions = _describe_actions(statement)
        if grants_to_everyone(statement):
            if pins:
                found.extend(_external_pinned(statement, pins, members, org_id, actions))
            continue
        if statement.principal_negated:
            continue  # NotPrincipal "*" with Allow grants to no one
        for entry in statement.principal.aws:
            account = principal_account(entry)
            if account is not None and account not in members:
                reason = (
                    f"{statement.label} grants {', '.join(actions)} to {entry} "
                    f"of account {account}, outside the organization"
                )
                found.append(Grant(statement.label, entry, actions, reason, statement.unknown_operators))
    return found


def _restricted_to_org(pins: Iterable[Pin], org_accounts: frozenset[str], org_id: str | None) -> bool:
    """Conditions are AND: one pin inside the organization keeps every outsider out."""
    for pin in pins:
        if pin.kind == "org" and org_id is not None and pin.organizations and set(pin.organizations) <= {org_id}:
            return True
        if pin.accounts and not pin.organizations and set(pin.accounts) <= org_accounts:
            return True
    return False


def _external_pinned(
    statement: Statement,
    pins: tuple[Pin, ...],
    org_accounts: frozenset[str],
    org_id: str | None,
    actions: tuple[str, ...],
) -> list[Grant]:
    outside_accounts = sorted({a for pin in pins for a in pin.accounts if a not in org_accounts})
    other_orgs = sorted({o for pin in pins for o in pin.organizations if o != org_id})
    if not outside_accounts and not other_orgs:
        return []
    whom = [*(f"account {a}" for a in outside_accounts), *(f"organization {o}" for o in other_orgs)]
    reason = (
        f"{statement.label} grants {', '.join(actions)} to {_describe_principal(statement)} pinned to "
        f"{', '.join(whom)}, outside the organization"
    )
    return [Grant(statement.label, _describe_principal(statement), actions, reason, statement.unknown_operators)]


def grants_key_administration(statement: Statement, key_account: str) -> bool:
    """Allow of ``kms:PutKeyPolicy`` (``kms:*``, ``*``...) to the key account's root or one of its IAM
    principals (conditions aside: this is about the statement's shape, used to never remove it)."""
    if statement.effect != "Allow":
        return False
    hit = any(action_matches(pattern, "kms:PutKeyPolicy") for pattern in statement.actions)
    if hit == statement.actions_negated:
        return False
    spec = statement.principal
    if statement.principal_negated:
        return not principal_excluded(spec, Caller.aws(f"arn:aws:iam::{key_account}:root"))
    if spec.everyone:
        return True
    return any(principal_account(entry) == key_account for entry in spec.aws)


def key_admin_statements(doc: PolicyDocument, key_account: str) -> tuple[str, ...]:
    """Labels of the statements letting the key account administer the key (``grants_key_administration``)."""
    return tuple(s.label for s in doc.statements if grants_key_administration(s, key_account))


def covers_action(statement: Statement, action: str) -> bool:
    hit = any(action_matches(pattern, action) for pattern in statement.actions)
    return hit != statement.actions_negated
