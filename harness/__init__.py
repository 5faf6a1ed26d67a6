"""Test and demo harness: reads template.yaml and delivers events to the handlers as AWS would.

from harness import functions, invoke, route

specs = functions("template.yaml", {
    "LogBucketName": "trailguard-central-logs-222222222222",   # template parameters...
    "CentralKeyArn": key_arn,
    "FindingsTopic": topic_arn,                                # ...and the stack's own resources
    "IdempotencyTable": "",
})
for spec in route(event, specs):
    invoke(spec, event, environment=spec.environment)
"""

from harness import moto_fixes
from harness.pattern import InvalidPatternError, matches
from harness.routing import LambdaContext, invoke, lambda_context, load_handler, matching_rules, route
from harness.template import (
    FunctionSpec,
    RuleSpec,
    UnresolvedError,
    function_properties,
    functions,
    load_template,
    parameter_values,
)

moto_fixes.apply()  # moto answers ListTrails as AWS documents it (see harness/moto_fixes.py)

__all__ = [
    "FunctionSpec",
    "InvalidPatternError",
    "LambdaContext",
    "RuleSpec",
    "UnresolvedError",
    "function_properties",
    "functions",
    "invoke",
    "lambda_context",
    "load_handler",
    "load_template",
    "matches",
    "matching_rules",
    "parameter_values",
    "route",
]
