"""Evaluation of one request against one resource policy, as AWS evaluates resource policies.

An explicit Deny wins; otherwise the request is allowed when an Allow statement matches; otherwise it is
implicitly denied. A condition operator the analyzer does not know makes an Allow statement not match and
a Deny statement match (conservative both ways); its name is recorded in ``Decision.unknown_conditions``.

``statement_applies_to`` and ``conditions_hold`` state the semantics one statement at a time, scanning every
listed value. ``evaluate`` gives the same answers from the document compiled once (``CompiledStatement``:
sets and indexed patterns), so that asking a question for each of N accounts of a policy listing N accounts
costs time linear in N; the tests hold the two to the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trailguard.policy.conditions import (
    CompiledCondition,
    Context,
    evaluate_condition,
    normalise_context,
    resolve_variables,
)
from trailguard.policy.document import PolicyDocument, PrincipalSpec, Statement
from trailguard.policy.matching import (
    Caller,
    action_matches,
    principal_excluded,
    principal_matches,
    resource_matches,
    role_name,
    root_account,
)
from trailguard.policy.patterns import PatternSet

ContextValue = str | bool | list[str] | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Request:
    """A request: who (``Caller``), which action (``kms:GenerateDataKey``), on which resource ARN, and the
    request context (condition keys, any case). Keys AWS always sets are filled in from the caller when
    the context does not give them: ``aws:PrincipalArn``, ``aws:PrincipalAccount`` and
    ``aws:PrincipalIsAWSService`` for an ``AWS`` caller; ``aws:PrincipalIsAWSService`` and
    ``aws:PrincipalServiceName`` for a ``Service`` caller."""

    principal: Caller
    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    denied_explicitly: bool
    matched_allow: tuple[str, ...]
    matched_deny: tuple[str, ...]
    unknown_conditions: tuple[str, ...]


def request_context(request: Request) -> dict[str, tuple[str, ...]]:
    context = normalise_context(request.context)
    caller = request.principal
    if caller.kind == "AWS":
        context.setdefault("aws:principalarn", (caller.principal_arn,))
        context.setdefault("aws:principalisawsservice", ("false",))
        if caller.account:
            context.setdefault("aws:principalaccount", (caller.account,))
    elif caller.kind == "Service":
        context.setdefault("aws:principalisawsservice", ("true",))
        context.setdefault("aws:principalservicename", (caller.id,))
    return context


def statement_applies_to(statement: Statement, request: Request, context: Context, *, variables: bool) -> bool:
    """Principal, action and resource match (conditions aside)."""
    if statement.principal_negated:
        if principal_excluded(statement.principal, request.principal):
            return False
    elif not principal_matches(statement.principal, request.principal):
        return False
    action_hit = any(action_matches(pattern, request.action) for pattern in statement.actions)
    if action_hit == statement.actions_negated:
        return False
    resource_hit = any(
        resource_matches(pattern, request.resource)
        for raw in statement.resources
        if (pattern := resolve_variables(raw, context) if variables else raw) is not None
    )
    return resource_hit != statement.resources_negated


def conditions_hold(statement: Statement, context: Context, *, variables: bool) -> tuple[bool, tuple[str, ...]]:
    """(do the conditions hold, unknown operators that decided it).

    Unknown operators are reported only when every known condition holds (otherwise they decide nothing).
    """
    unknown: list[str] = []
    for condition in statement.conditions:
        outcome = evaluate_condition(condition, context, variables=variables)
        if outcome is None:
            unknown.append(condition.operator)
        elif not outcome:
            return False, ()
    if unknown:
        return statement.effect == "Deny", tuple(dict.fromkeys(unknown))
    return True, ()


class _CompiledPrincipal:
    """A ``Principal`` element compiled for ``principal_matches``: sets instead of lists."""

    def __init__(self, spec: PrincipalSpec) -> None:
        self.everyone = spec.everyone
        self.services = frozenset(spec.service)
        self.roots = frozenset(account for entry in spec.aws if (account := root_account(entry)) is not None)
        self.ids = frozenset(entry for entry in spec.aws if root_account(entry) is None)
        self.roles = frozenset(role for entry in spec.aws if (role := role_name(entry)) is not None)

    def matches(self, caller: Caller) -> bool:
        if self.everyone:
            return True
        if caller.kind == "Service":
            return caller.id in self.services
        if caller.kind == "Anonymous":
            return False
        if caller.account is not None and caller.account in self.roots:
            return True
        if caller.id in self.ids:
            return True
        session_role = caller.role_arn
        return session_role is not None and role_name(session_role) in self.roles


class CompiledStatement:
    """A statement whose principals, actions, resources and condition values are compiled once."""

    def __init__(self, statement: Statement, *, variables: bool) -> None:
        self.statement = statement
        self._variables = variables
        self._principal = None if statement.principal_negated else _CompiledPrincipal(statement.principal)
        self._actions = PatternSet(statement.actions, "action")
        dynamic = [r for r in statement.resources if variables and "${" in r]
        self._dynamic_resources = tuple(dynamic)
        self._resources = PatternSet((r for r in statement.resources if r not in dynamic), "resource")
        self.conditions = tuple(CompiledCondition(c, variables=variables) for c in statement.conditions)

    def applies_to(self, request: Request, context: Context) -> bool:
        """Principal, action and resource match (conditions aside): ``statement_applies_to``, compiled."""
        statement = self.statement
        if self._principal is None:
            if principal_excluded(statement.principal, request.principal):
                return False
        elif not self._principal.matches(request.principal):
            return False
        if self._actions.matches(request.action) == statement.actions_negated:
            return False
        resource_hit = self._resources.matches(request.resource) or any(
            resource_matches(pattern, request.resource)
            for raw in self._dynamic_resources
            if (pattern := resolve_variables(raw, context)) is not None
        )
        return resource_hit != statement.resources_negated

    def conditions_hold(self, context: Context) -> tuple[bool, tuple[str, ...]]:
        """``conditions_hold``, compiled."""
        unknown: list[str] = []
        for condition in self.conditions:
            outcome = condition.evaluate(context)
            if outcome is None:
                unknown.append(condition.condition.operator)
            elif not outcome:
                return False, ()
        if unknown:
            return self.statement.effect == "Deny", tuple(dict.fromkeys(unknown))
        return True, ()


def compiled_statements(doc: PolicyDocument) -> tuple[CompiledStatement, ...]:
    """The document's statements compiled, once per document (kept on it)."""
    cached = doc.compiled
    if cached is None:
        cached = tuple(CompiledStatement(s, variables=doc.uses_variables) for s in doc.statements)
        doc.keep_compiled(cached)
    assert isinstance(cached, tuple)
    return cached


def evaluate(doc: PolicyDocument, request: Request) -> Decision:
    """Evaluate one request. The document is compiled on first use, so asking N requests of a policy
    listing N accounts costs time linear in N, not quadratic."""
    context = request_context(request)
    allows: list[str] = []
    denies: list[str] = []
    unknown: dict[str, None] = {}
    for compiled in compiled_statements(doc):
        if not compiled.applies_to(request, context):
            continue
        holds, unknown_here = compiled.conditions_hold(context)
        unknown.update(dict.fromkeys(unknown_here))
        if holds:
            (denies if compiled.statement.effect == "Deny" else allows).append(compiled.statement.label)
    return Decision(
        allowed=bool(allows) and not denies,
        denied_explicitly=bool(denies),
        matched_allow=tuple(allows),
        matched_deny=tuple(denies),
        unknown_conditions=tuple(unknown),
    )
