"""Read template.yaml the way SAM and CloudFormation will: functions, their layers, rules and environment.

The template is the truth. Everything the harness routes or invokes comes from
here, so that a wrong pattern, CodeUri, Handler or layer path fails a test instead of a deployment.

- `load_template(path)` parses YAML with the CloudFormation short tags kept as data
  (`!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]}, `!Sub s` -> {"Fn::Sub": s}...).
- `functions(template, parameters)` returns one `FunctionSpec` per `AWS::Serverless::Function`, with
  `Globals.Function` merged in the way SAM merges it, and intrinsic functions resolved from the given
  values (template parameters, pseudo parameters, or any other logical id you choose to give a value).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"
EVENT_RULE_TYPES = frozenset({"EventBridgeRule", "CloudWatchEvent"})

# ------------------------------------------------------------------------------------------------
# YAML with CloudFormation short tags
# ------------------------------------------------------------------------------------------------

_SHORT_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """A SafeLoader that keeps `!Ref`, `!GetAtt`, `!Sub`... as their long-form dicts.

    Plain scalars that look like dates (`2010-09-09`) stay strings, as CloudFormation reads them.
    """


CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _long_form(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _construct(loader, node)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


CloudFormationLoader.add_constructor("!Ref", _long_form("Ref"))
CloudFormationLoader.add_constructor("!Condition", _long_form("Condition"))
CloudFormationLoader.add_constructor("!GetAtt", _get_att)
for _tag in _SHORT_TAGS:
    CloudFormationLoader.add_constructor(f"!{_tag}", _long_form(f"Fn::{_tag}"))


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template, short tags kept as data."""
    with Path(path).open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return document


# ------------------------------------------------------------------------------------------------
# Intrinsic functions
# ------------------------------------------------------------------------------------------------


class UnresolvedError(ValueError):
    """An intrinsic function refers to something no value was given for."""


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Resolver:
    """Resolves intrinsic functions against known values.

    `values` maps a name to its value: template parameters (defaults filled in), pseudo parameters
    (`AWS::Region`...), and optionally resources (`FindingsTopic` -> an ARN) or attributes
    (`CentralEventBus.Arn` -> an ARN). What cannot be resolved raises `UnresolvedError`, or with
    `strict=False` is left in place as the intrinsic dict.
    """

    values: Mapping[str, Any]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = True

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):  # an item that resolves to AWS::NoValue is removed, as CloudFormation does
            return [resolved for item in node if (resolved := self.resolve(item)) is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                try:
                    return handler(self, argument)
                except UnresolvedError:
                    if self.strict:
                        raise
                    return node
        return {key: self.resolve(value) for key, value in node.items()}

    def lookup(self, name: str) -> Any:
        if name not in self.values:
            raise UnresolvedError(f"no value for {name!r}")
        return self.values[name]

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise UnresolvedError(f"no condition {name!r}")
        return bool(self.resolve(self.conditions[name]))

    def _ref(self, argument: Any) -> Any:
        return self.lookup(self.resolve(argument))

    def _get_att(self, argument: Any) -> Any:
        resource, attribute = self.resolve(argument)
        return self.lookup(f"{resource}.{attribute}")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            return _scalar(variables[name] if name in variables else self.lookup(name))

        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _join(self, argument: Any) -> str:
        delimiter, items = self.resolve(argument)
        return str(delimiter).join(_scalar(item) for item in items)

    def _select(self, argument: Any) -> Any:
        index, items = self.resolve(argument)
        return items[int(index)]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = self.resolve(argument)
        return str(text).split(delimiter)

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = self.resolve(argument)
        return bool(_scalar_or_list(left) == _scalar_or_list(right))

    def _not(self, argument: Any) -> bool:
        (value,) = argument
        return not self.resolve(value)

    def _and(self, argument: Any) -> bool:
        return all(self.resolve(value) for value in argument)

    def _or(self, argument: Any) -> bool:
        return any(self.resolve(value) for value in argument)

    def _condition(self, argument: Any) -> bool:
        return self.condition(argument)

    def _to_json_string(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument), separators=(",", ":"))


_INTRINSICS: dict[str, Any] = {
    "Ref": Resolver._ref,
    "Fn::GetAtt": Resolver._get_att,
    "Fn::Sub": Resolver._sub,
    "Fn::Join": Resolver._join,
    "Fn::Select": Resolver._select,
    "Fn::Split": Resolver._split,
    "Fn::If": Resolver._if,
    "Fn::Equals": Resolver._equals,
    "Fn::Not": Resolver._not,
    "Fn::And": Resolver._and,
    "Fn::Or": Resolver._or,
    "Condition": Resolver._condition,
    "Fn::ToJsonString": Resolver._to_json_string,
}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_scalar(item) for item in value)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise UnresolvedError(f"not a scalar: {value!r}")


def _scalar_or_list(value: Any) -> Any:
    return [_scalar(item) for item in value] if isinstance(value, list) else _scalar(value)


def parameter_values(template: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The values `Ref` sees: given values over parameter defaults; list-typed parameters as lists.

    Pseudo parameters default to the simulated central account (222222222222, eu-west-1, aws) unless
    given. Names that are not parameters (resource logical ids, `Resource.Attribute`) pass through.
    """
    given = dict(given or {})
    values: dict[str, Any] = {
        "AWS::AccountId": "222222222222",
        "AWS::Region": "eu-west-1",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "trailguard",
        "AWS::NoValue": None,
    }
    for name, declaration in (template.get("Parameters") or {}).items():
        if name in given:
            value = given.pop(name)
        elif "Default" in declaration:
            value = declaration["Default"]
        else:
            continue
        kind = str(declaration.get("Type", "String"))
        if (kind == "CommaDelimitedList" or kind.startswith("List<")) and isinstance(value, str):
            value = [item.strip() for item in value.split(",")]
        elif not isinstance(value, list):
            value = _scalar(value)
        values[name] = value
    values.update(given)
    return values


NO_VALUE = {"Ref": "AWS::NoValue"}


def statement_branches(statements: Any) -> list[dict[str, Any]]:
    """A policy's statements, each conditional one (`Fn::If` around a whole statement) read as every statement
    it can be: both branches, `AWS::NoValue` dropped. What holds for these holds whichever way a condition goes."""
    found: list[dict[str, Any]] = []
    pending = list(statements) if isinstance(statements, list) else [statements]
    while pending:
        statement = pending.pop(0)
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            _, when_true, when_false = statement["Fn::If"]
            pending[:0] = [when_true, when_false]
        elif statement != NO_VALUE:
            found.append(statement)
    return found


def resolved_statements(template: Mapping[str, Any], statements: Any, values: Mapping[str, Any]) -> list[Any]:
    """A policy's statements as CloudFormation deploys them with these parameter values: conditions decided,
    statements whose condition is false (`AWS::NoValue`) dropped; intrinsics left unresolved stay in place."""
    resolved = resolver(template, values, strict=False).resolve(statements)  # AWS::NoValue resolves to None
    return [statement for statement in (resolved if isinstance(resolved, list) else [resolved]) if statement]


def resolver(template: Mapping[str, Any], values: Mapping[str, Any] | None = None, *, strict: bool = True) -> Resolver:
    """A `Resolver` over this template's parameters (defaults filled in) and conditions."""
    return Resolver(parameter_values(template, values), template.get("Conditions") or {}, strict)


# ------------------------------------------------------------------------------------------------
# Functions, layers, rules
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """One EventBridge rule of a function: its `Events` key, resolved pattern and bus name."""

    name: str
    pattern: dict[str, Any]
    event_bus: str = "default"


@dataclass(frozen=True)
class QueueSource:
    """One SQS event source of a function: the queue's logical id, the batch size, and whether the function
    reports failed records alone (ReportBatchItemFailures)."""

    name: str
    queue: str
    batch_size: int = 10
    partial_failures: bool = False
    maximum_concurrency: Any = None


@dataclass(frozen=True)
class FunctionSpec:
    """What Lambda would run for one `AWS::Serverless::Function`, read from the template.

    `layers_dirs` are the import roots of the template's own layers that the function uses, in the
    function's layer order: the layer's ContentUri folder, or its `python/` subfolder when present.
    `environment` holds the variables with intrinsics resolved where values are known; the others
    (e.g. `!Ref FindingsTopic` when no value was given for FindingsTopic) stay as intrinsic dicts.
    `properties` are the function's raw properties with Globals merged in.
    """

    logical_id: str
    code_uri: Path
    handler: str
    layers_dirs: list[Path]
    rules: list[RuleSpec]
    environment: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    queues: list[QueueSource] = field(default_factory=list)

    @property
    def handler_module(self) -> str:
        """`app` for `app.lambda_handler`, `pkg.mod` for `pkg.mod.handler`."""
        return self.handler.rpartition(".")[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def handler_file(self) -> Path:
        return self.code_uri.joinpath(*self.handler_module.split(".")).with_suffix(".py")


def merge_globals(global_properties: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (resource wins), lists concatenate (globals first), scalars replace."""
    merged: dict[str, Any] = dict(global_properties)
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = [*current, *value]
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in (*_INTRINSICS, "Fn::FindInMap", "Fn::Base64")


def function_properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """The raw properties of a serverless function with `Globals.Function` merged in."""
    resource = template["Resources"][logical_id]
    if resource.get("Type") != SERVERLESS_FUNCTION:
        raise ValueError(f"{logical_id} is not an {SERVERLESS_FUNCTION}")
    global_properties = (template.get("Globals") or {}).get("Function") or {}
    return merge_globals(global_properties, resource.get("Properties") or {})


def functions(
    template: Mapping[str, Any] | str | Path = DEFAULT_TEMPLATE,
    parameters: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
) -> list[FunctionSpec]:
    """One `FunctionSpec` per `AWS::Serverless::Function`, in template order.

    `template` is a parsed template or a path (then `base_dir` defaults to its folder; for a parsed
    template it defaults to the repository root). `parameters` gives values to template parameters
    (e.g. {"LogBucketName": "trailguard-central-logs-222222222222"}), pseudo parameters or resources;
    defaults fill the rest. Rule patterns must resolve completely, else `UnresolvedError`.
    """
    if isinstance(template, (str, Path)):
        base = Path(base_dir) if base_dir is not None else Path(template).resolve().parent
        template = load_template(template)
    else:
        base = Path(base_dir) if base_dir is not None else REPO_ROOT
    values = {**_bus_names(template, parameters), **(parameters or {})}
    strict = resolver(template, values)
    lenient = resolver(template, values, strict=False)
    resources: Mapping[str, Any] = template["Resources"]

    specs = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != SERVERLESS_FUNCTION:
            continue
        properties = function_properties(template, logical_id)
        code_uri = strict.resolve(properties.get("CodeUri"))
        handler = strict.resolve(properties.get("Handler"))
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise ValueError(f"{logical_id}: CodeUri and Handler must be local strings (got {code_uri!r})")
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                code_uri=(base / code_uri).resolve(),
                handler=handler,
                layers_dirs=_layer_dirs(resources, properties.get("Layers") or [], base, strict),
                rules=_rules(properties.get("Events") or {}, strict),
                environment=lenient.resolve((properties.get("Environment") or {}).get("Variables") or {}),
                properties=properties,
                queues=_queues(properties.get("Events") or {}, lenient),
            )
        )
    return specs


def _bus_names(template: Mapping[str, Any], parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """`Ref` of an `AWS::Events::EventBus` is its name: known from the template once parameters are."""
    lenient = resolver(template, parameters, strict=False)
    names = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") == "AWS::Events::EventBus":
            name = lenient.resolve((resource.get("Properties") or {}).get("Name"))
            if isinstance(name, str):
                names[logical_id] = name
    return names


def _layer_dirs(resources: Mapping[str, Any], layers: list[Any], base: Path, strict: Resolver) -> list[Path]:
    dirs = []
    for layer in layers:
        if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
            continue  # a literal ARN, or an intrinsic over a parameter: not this template's code
        resource = resources.get(layer["Ref"])
        if resource is None or resource.get("Type") != SERVERLESS_LAYER:
            continue  # a parameter such as PowertoolsLayerArn: a public layer, not local code
        content_uri = strict.resolve((resource.get("Properties") or {}).get("ContentUri"))
        if not isinstance(content_uri, str):
            raise ValueError(f"layer {layer['Ref']}: ContentUri must be a local folder (got {content_uri!r})")
        folder = (base / content_uri).resolve()
        dirs.append(folder / "python" if (folder / "python").is_dir() else folder)
    return dirs


def _queues(events: Mapping[str, Any], lenient: Resolver) -> list[QueueSource]:
    """The SQS event sources; the queue is named by `!GetAtt <Queue>.Arn` of a queue of the template."""
    sources = []
    for name, event in events.items():
        if event.get("Type") != "SQS":
            continue
        properties = event.get("Properties") or {}
        queue = properties.get("Queue")
        attribute = queue.get("Fn::GetAtt") if isinstance(queue, dict) else None
        if isinstance(attribute, str):
            attribute = attribute.split(".")
        if not (isinstance(attribute, list) and len(attribute) == 2 and attribute[1] == "Arn"):
            raise ValueError(f"{name}: the SQS event's Queue must be !GetAtt <Queue>.Arn, not {queue!r}")
        sources.append(
            QueueSource(
                name=name,
                queue=str(attribute[0]),
                batch_size=int(properties.get("BatchSize", 10)),
                partial_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                maximum_concurrency=lenient.resolve((properties.get("ScalingConfig") or {}).get("MaximumConcurrency")),
            )
        )
    return sources


def _rules(events: Mapping[str, Any], strict: Resolver) -> list[RuleSpec]:
    rules = []
    for name, event in events.items():
        if event.get("Type") not in EVENT_RULE_TYPES:
            continue
        properties = event.get("Properties") or {}
        pattern = strict.resolve(properties.get("Pattern"))
        if isinstance(pattern, str):  # a pattern given as a JSON string (e.g. to match null)
            pattern = json.loads(pattern)
        bus = strict.resolve(properties.get("EventBusName", "default"))
        rules.append(RuleSpec(name=name, pattern=pattern, event_bus=str(bus)))
    return rules
