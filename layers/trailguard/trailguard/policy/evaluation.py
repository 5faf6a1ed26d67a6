"""Evaluation of one request against one resource policy, as AWS evaluates resource policies.

An explicit Deny wins; otherwise the request is allowed when an Allow statement matches; otherwise it is
implicitly denied. A condition operator the analyzer does not know makes an Allow statement not match and
a Deny statement match (conservative both ways); its name is recorded in ``Decision.unknown_conditions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from trailguard.policy.conditions import Context, evaluate_condition, normalise_context, resolve_variables
from trailguard.policy.document import PolicyDocument, Statement
from trailguard.policy.matching import (
    Caller,
    action_matches,
    principal_excluded,
    principal_matches,
    resource_matches,
)

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


def evaluate(doc: PolicyDocument, request: Request) -> Decision:
    context = request_context(request)
    variables = doc.uses_variables
    allows: list[str] = []
    denies: list[str] = []
    unknown: dict[str, None] = {}
    for statement in doc.statements:
        if not statement_applies_to(statement, request, context, variables=variables):
            continue
        holds, unknown_here = conditions_hold(statement, context, variables=variables)
        unknown.update(dict.fromkeys(unknown_here))
        if holds:
            (denies if statement.effect == "Deny" else allows).append(statement.label)
    return Decision(
        allowed=bool(allows) and not denies,
        denied_explicitly=bool(denies),
        matched_allow=tuple(allows),
        matched_deny=tuple(denies),
        unknown_conditions=tuple(unknown),
    )
