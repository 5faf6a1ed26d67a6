"""Matching of Action, Resource and Principal elements, and the wildcard/ARN matchers conditions share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trailguard.policy.document import PrincipalSpec
from trailguard.policy.ids import is_account_id, parse_arn

PrincipalKind = Literal["AWS", "Service", "Anonymous"]


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` is any run of characters (also ``/`` and ``:``), ``?`` one character.

    No regex: patterns come from policies that anyone with PutKeyPolicy can write, so they must not be
    able to make the analyzer backtrack exponentially. A pattern with ``*`` only is matched segment by
    segment (the first a prefix, the last a suffix, each other one at its leftmost place after the
    previous one, which is exact for ``*``); one with ``?`` by a two-pointer scan (``glob_scan``).
    """
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    if "?" in pattern:
        return glob_scan(pattern, value)
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == value
    first, last = parts[0], parts[-1]
    if len(first) + len(last) > len(value) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for part in parts[1:-1]:
        if part:
            found = value.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
    return True


def glob_scan(pattern: str, value: str) -> bool:
    """``glob_match`` by a two-pointer scan with one backtrack point (any pattern, ``?`` included)."""
    p = v = 0
    star = -1
    resume = 0
    while v < len(value):
        if p < len(pattern) and pattern[p] == "*":
            star, resume = p, v
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif star >= 0:
            p = star + 1
            resume += 1
            v = resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def arn_match(pattern: str, value: str) -> bool:
    """``ArnLike``/``ArnEquals``: each of the six colon-separated components matched on its own."""
    left = pattern.split(":", 5)
    right = value.split(":", 5)
    if len(left) != 6 or len(right) != 6:
        return False
    return all(glob_match(p, v) for p, v in zip(left, right, strict=True))


def action_matches(pattern: str, action: str) -> bool:
    """Action names are case-insensitive: ``kms:GenerateDataKey*`` matches ``KMS:generatedatakey``."""
    return pattern == "*" or glob_match(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    """Resource ARNs are case-sensitive; ``*`` matches every resource (in a key policy: this key)."""
    if pattern == "*":
        return True
    if parse_arn(pattern) is not None and parse_arn(resource) is not None:
        return arn_match(pattern, resource)
    return glob_match(pattern, resource)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a request: an IAM identity (by ARN), an AWS service principal, or an anonymous caller.

    Build one with ``Caller.aws(arn)``, ``Caller.service(name)`` or ``Caller.anonymous()``.
    ``account`` is the caller's account when known (derived from the ARN by ``Caller.aws``).
    """

    kind: PrincipalKind
    id: str = ""
    account: str | None = None

    @classmethod
    def aws(cls, arn: str, account: str | None = None) -> Caller:
        """An IAM root, user, role or assumed-role session; a bare account id means the account's root."""
        if is_account_id(arn):
            arn = f"arn:aws:iam::{arn}:root"
        if account is None:
            parsed = parse_arn(arn)
            account = parsed.account if parsed is not None and is_account_id(parsed.account) else None
        return cls("AWS", arn, account)

    @classmethod
    def service(cls, name: str) -> Caller:
        return cls("Service", name.lower())

    @classmethod
    def anonymous(cls) -> Caller:
        return cls("Anonymous")

    @property
    def role_arn(self) -> str | None:
        """For an assumed-role session ``arn:aws:sts::A:assumed-role/R/S``: ``arn:aws:iam::A:role/R``."""
        parsed = parse_arn(self.id) if self.kind == "AWS" else None
        if parsed is None or parsed.service != "sts" or not parsed.resource.startswith("assumed-role/"):
            return None
        parts = parsed.resource.split("/")
        if len(parts) < 3:
            return None
        return f"arn:{parsed.partition}:iam::{parsed.account}:role/{parts[1]}"

    @property
    def principal_arn(self) -> str:
        """The value of ``aws:PrincipalArn``: the role ARN for a session, else the caller's ARN."""
        return self.role_arn or self.id


def root_account(entry: str) -> str | None:
    parsed = parse_arn(entry)
    if parsed is not None and parsed.service == "iam" and parsed.resource == "root" and is_account_id(parsed.account):
        return parsed.account
    return None


def role_name(entry: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN ``arn:aws:iam::A:role/[path/]NAME`` (sessions omit the path)."""
    parsed = parse_arn(entry)
    if parsed is None or parsed.service != "iam" or not parsed.resource.startswith("role/"):
        return None
    return parsed.account, parsed.resource.rsplit("/", 1)[-1]


def _entry_covers(entry: str, caller: Caller) -> bool:
    """Does one AWS principal entry of a policy name this caller?

    An account root names every identity of the account; a role names its assumed-role sessions.
    """
    root = root_account(entry)
    if root is not None:
        return caller.account == root
    if entry == caller.id:
        return True
    role = role_name(entry)
    session_role = caller.role_arn
    if role is not None and session_role is not None:
        return role_name(session_role) == role
    return False


def principal_matches(spec: PrincipalSpec, caller: Caller) -> bool:
    """Does a ``Principal`` element name this caller?"""
    if spec.everyone:
        return True
    if caller.kind == "Service":
        return caller.id in spec.service
    if caller.kind == "Anonymous":
        return False
    return any(_entry_covers(entry, caller) for entry in spec.aws)


def principal_excluded(spec: PrincipalSpec, caller: Caller) -> bool:
    """Does a ``NotPrincipal`` element exclude this caller?

    As AWS documents it, an IAM identity is excluded only when its account is listed too (the request is
    also evaluated for the account): a user or session needs both its ARN (or its role's) and the
    account root; naming only the account excludes just the root.
    """
    if spec.everyone:
        return True
    if caller.kind == "Service":
        return caller.id in spec.service
    if caller.kind == "Anonymous":
        return False
    account_listed = any(root_account(entry) == caller.account for entry in spec.aws if caller.account)
    if not account_listed:
        return False
    if root_account(caller.id) is not None:
        return True
    role = caller.role_arn
    return any(entry == caller.id or (role is not None and role_name(entry) == role_name(role)) for entry in spec.aws)
