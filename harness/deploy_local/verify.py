"""Checks of what CloudFormation created on moto against what the templates declare.

Two readings of the expected values meet here: the template CloudFormation received (the SAM transform's
output, resolved with the deployed parameters and physical ids), and template.yaml as the test harness
reads it (function environment, rule patterns). A difference between either and the live resource fails.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import MEMBER_TEMPLATE, TEMPLATE, Deployment
from harness.deploy_local.tools import LocalCloud
from harness.deploy_local.transform import artifact_locations, s3_location
from harness.org import CENTRAL, EVENTS, MEMBER_A, PLACEHOLDER_KEY_ID
from harness.pattern import matches
from harness.template import FunctionSpec, Resolver, functions, load_template, parameter_values

# The queue the sweep's planner fills and its workers read.
SWEEP_QUEUE = "SweepQueue"
# What each events/ folder must reach on the central bus (files under */unrouted/ reach nothing).
ROUTES = {"trail": "TrailGuardFunction", "key": "KeyGuardFunction", "bucket": "BucketGuardFunction"}
# Properties moto's CloudFormation does not pass on to the resource it creates (listed as not checked).
MOTO_DROPS = {
    "AWS::Lambda::Function": ("Layers", "Architectures", "TracingConfig", "DeadLetterConfig", "LoggingConfig"),
    "AWS::Lambda::LayerVersion": ("LayerName", "CompatibleArchitectures"),
    "AWS::DynamoDB::Table": ("TimeToLiveSpecification", "SSESpecification", "PointInTimeRecoverySpecification"),
    "AWS::IAM::Role": ("ManagedPolicyArns",),
}


@dataclass(frozen=True)
class StackResource:
    logical_id: str
    type: str
    physical_id: str


@dataclass
class StackView:
    """One deployed stack: its account, the template CloudFormation got, live resources, resolved values."""

    cloud: LocalCloud
    account: str
    name: str
    template: dict[str, Any]
    resources: dict[str, StackResource]
    values: dict[str, Any]

    @property
    def resolver(self) -> Resolver:
        return Resolver(self.values, self.template.get("Conditions") or {})

    def resolve(self, node: Any) -> Any:
        return self.resolver.resolve(node)

    def client(self, service: str) -> Any:
        return self.cloud.client(service, self.account)

    def declared(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """The created resources of a type, with their declared properties resolved."""
        declared = {}
        for logical_id, resource in self.template.get("Resources", {}).items():
            if resource.get("Type") != resource_type or logical_id not in self.resources:
                continue
            condition = resource.get("Condition")
            if condition is None or self.resolver.condition(condition):
                declared[logical_id] = self.resolve(resource.get("Properties") or {})
        return declared

    def physical(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        return resource.physical_id if resource else ""


def stack_view(
    cloud: LocalCloud,
    account: str,
    name: str,
    template: dict[str, Any],
    parameters: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> StackView:
    pages = cloud.client("cloudformation", account).get_paginator("list_stack_resources").paginate(StackName=name)
    resources = {
        item["LogicalResourceId"]: StackResource(
            item["LogicalResourceId"], item.get("ResourceType", ""), item.get("PhysicalResourceId", "")
        )
        for page in pages
        for item in page["StackResourceSummaries"]
        if item.get("LogicalResourceId")  # moto lists the resources it skipped without a logical id
    }
    values = parameter_values(template, parameters)
    values.update(
        {"AWS::AccountId": account, "AWS::Region": cloud.region, "AWS::StackName": name, "AWS::Partition": "aws"}
    )
    values.update(extra or {})
    view = StackView(cloud, account, name, template, resources, values)
    # Buses first: rules name theirs through the bus's Name attribute.
    for resource in sorted(resources.values(), key=lambda r: r.type != "AWS::Events::EventBus"):
        values.update(_live_values(view, resource))
    return view


def _live_values(view: StackView, resource: StackResource) -> dict[str, Any]:
    """`Ref` and `Fn::GetAtt` values of one created resource, read from the live resource."""
    lenient = Resolver(view.values, view.template.get("Conditions") or {}, strict=False)
    properties = lenient.resolve(view.template["Resources"][resource.logical_id].get("Properties") or {})
    physical, logical = resource.physical_id, resource.logical_id
    values: dict[str, Any] = {logical: physical} if physical else {}
    match resource.type:
        case "AWS::Events::EventBus":
            name = properties["Name"]
            arn = view.client("events").describe_event_bus(Name=name)["Arn"]
            values |= {logical: name, f"{logical}.Name": name, f"{logical}.Arn": arn}
        case "AWS::Events::Rule":
            rule = view.client("events").describe_rule(
                Name=physical, EventBusName=properties.get("EventBusName", "default")
            )
            values[f"{logical}.Arn"] = rule["Arn"]
        case "AWS::SQS::Queue":
            attributes = view.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["QueueArn"])
            arn = attributes["Attributes"]["QueueArn"]
            values |= {
                f"{logical}.Arn": arn,
                f"{logical}.QueueName": arn.rsplit(":", 1)[1],
                f"{logical}.QueueUrl": physical,
            }
        case "AWS::IAM::Role":
            values[f"{logical}.Arn"] = view.client("iam").get_role(RoleName=physical)["Role"]["Arn"]
        case "AWS::Lambda::Function":
            values[f"{logical}.Arn"] = view.client("lambda").get_function_configuration(FunctionName=physical)[
                "FunctionArn"
            ]
        case "AWS::KMS::Key":
            values[f"{logical}.Arn"] = view.client("kms").describe_key(KeyId=physical)["KeyMetadata"]["Arn"]
        case "AWS::DynamoDB::Table":
            values[f"{logical}.Arn"] = view.client("dynamodb").describe_table(TableName=physical)["Table"]["TableArn"]
        case "AWS::SNS::Topic":
            values |= {f"{logical}.TopicArn": physical, f"{logical}.TopicName": physical.rsplit(":", 1)[1]}
        case "AWS::Lambda::LayerVersion":  # moto names the layer after the stack and logical id, not LayerName
            layers = view.client("lambda").list_layers()["Layers"]
            named = [layer for layer in layers if f"-{logical}-" in layer["LayerName"]]
            if len(named) == 1:
                values[logical] = named[0]["LatestMatchingVersion"]["LayerVersionArn"]
    return values


# ------------------------------------------------------------------------------------------------
# The central stack
# ------------------------------------------------------------------------------------------------


def check_central(checks: Checks, deployment: Deployment, view: StackView) -> None:
    checks.section(f"central stack {view.name} (account {view.account})")
    declared_outputs = set(view.template.get("Outputs", {}))
    checks.equal("stack outputs: every output of template.yaml", sorted(declared_outputs), sorted(deployment.outputs))
    check_skipped(checks, view)
    check_bus(checks, view)
    check_rules(checks, view)
    check_function_rules(checks, deployment, view)
    check_routing(checks, view)
    check_topics(checks, view)
    check_queues(checks, view)
    check_keys(checks, view)
    check_tables(checks, view)
    check_log_groups(checks, view)
    check_layers(checks, deployment, view)
    check_functions(checks, deployment, view)
    check_event_sources(checks, deployment, view)
    check_sweep_wiring(checks, deployment, view)
    check_permissions(checks, view)
    check_roles(checks, view)


def check_skipped(checks: Checks, view: StackView) -> None:
    """Resources the template declares (condition true) that moto did not create: listed, not asserted."""
    for logical_id, resource in view.template.get("Resources", {}).items():
        condition = resource.get("Condition")
        if condition is not None and not view.resolver.condition(condition):
            continue
        if logical_id not in view.resources:
            checks.skip(f"{view.name}: {logical_id} ({resource['Type']})")
            continue
        dropped = [name for name in MOTO_DROPS.get(resource["Type"], ()) if name in resource.get("Properties", {})]
        if dropped:
            checks.skip(f"{view.name}: {logical_id} {', '.join(dropped)} (moto drops these properties)")


def check_bus(checks: Checks, view: StackView) -> None:
    for logical_id, properties in view.declared("AWS::Events::EventBus").items():
        checks.check(f"{logical_id}: event bus {properties['Name']} exists", f"{logical_id}.Arn" in view.values)


def check_rules(checks: Checks, view: StackView) -> None:
    """Every rule: its bus, state, pattern and targets (retry policy, dead-letter queue, role) as declared."""
    events = view.client("events")
    for logical_id, properties in view.declared("AWS::Events::Rule").items():
        name, bus = view.physical(logical_id), properties.get("EventBusName", "default")
        if not name:
            checks.fail(f"{logical_id}: rule", "not created")
            continue
        rule = events.describe_rule(Name=name, EventBusName=bus)
        targets = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        checks.equal(
            f"{logical_id}: rule on bus {bus}, {properties.get('State', 'ENABLED')}, pattern as declared",
            [bus, properties.get("State", "ENABLED"), properties["EventPattern"]],
            [rule.get("EventBusName", "default"), rule.get("State"), json.loads(rule["EventPattern"])],
        )
        checks.equal(
            f"{logical_id}: targets {', '.join(t['Id'] for t in properties['Targets'])} with retry policy, "
            "dead-letter queue and role as declared",
            _by_id(properties["Targets"]),
            _by_id(targets),
        )


def _by_id(targets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {target["Id"]: dict(target) for target in targets}


def source_functions(deployment: Deployment, view: StackView) -> list[FunctionSpec]:
    """template.yaml's functions as the test harness reads them, with the deployed values."""
    values = {**deployment.parameters, **{k: v for k, v in view.values.items() if not isinstance(v, list)}}
    for name in ("AWS::AccountId", "AWS::Region", "AWS::StackName"):
        values[name] = view.values[name]
    return functions(load_template(TEMPLATE), parameters=values)


def check_function_rules(checks: Checks, deployment: Deployment, view: StackView) -> None:
    """The SAM event rules deployed with the patterns template.yaml declares (the harness's reading)."""
    events = view.client("events")
    for spec in source_functions(deployment, view):
        for rule in spec.rules:
            logical_id = f"{spec.logical_id}{rule.name}"
            name = view.physical(logical_id)
            if not name:
                checks.fail(f"{spec.logical_id}.{rule.name}: rule", f"no {logical_id} in the stack")
                continue
            live = events.describe_rule(Name=name, EventBusName=rule.event_bus)
            targets = events.list_targets_by_rule(Rule=name, EventBusName=rule.event_bus)["Targets"]
            checks.equal(
                f"{spec.logical_id}.{rule.name}: pattern of template.yaml, on bus {rule.event_bus}, "
                f"target {spec.logical_id}",
                [rule.pattern, [view.values[f"{spec.logical_id}.Arn"]]],
                [json.loads(live["EventPattern"]), [target["Arn"] for target in targets]],
            )


def sample_events(key_id: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """events/<folder>/*.json and events/<folder>/unrouted/*.json, the placeholder key id replaced."""
    samples: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for folder in sorted(path for path in EVENTS.iterdir() if path.is_dir()):
        for path in sorted(folder.rglob("*.json")):
            group = f"{folder.name}/unrouted" if path.parent.name == "unrouted" else folder.name
            text = path.read_text().replace(PLACEHOLDER_KEY_ID, key_id)
            samples.setdefault(group, []).append((str(path.relative_to(EVENTS)), json.loads(text)))
    return samples


def check_routing(checks: Checks, view: StackView) -> None:
    """Each sample event of events/ reaches, through the deployed patterns, exactly its folder's function."""
    events = view.client("events")
    function_of_arn = {view.values.get(f"{spec}.Arn"): spec for spec in ROUTES.values()}
    central_rules: list[tuple[dict[str, Any], set[str]]] = []
    forwarders: list[dict[str, Any]] = []
    for logical_id, properties in view.declared("AWS::Events::Rule").items():
        bus = properties.get("EventBusName", "default")
        live = events.describe_rule(Name=view.physical(logical_id), EventBusName=bus)
        pattern = json.loads(live["EventPattern"])
        if bus == "default":
            forwarders.append(pattern)
            continue
        targets = events.list_targets_by_rule(Rule=view.physical(logical_id), EventBusName=bus)["Targets"]
        central_rules.append((pattern, {function_of_arn.get(t["Arn"], t["Arn"]) for t in targets}))
    key_id = view.values["CentralKeyArn"].rsplit("/", 1)[1]
    for group, samples in sample_events(key_id).items():
        if group.split("/")[0] not in ROUTES:
            continue
        expected = set() if group.endswith("unrouted") else {ROUTES[group]}
        wrong = [
            f"{name} -> {sorted(reached) or 'nothing'}"
            for name, event in samples
            if (reached := set().union(*(fns for pattern, fns in central_rules if matches(pattern, event)))) != expected
        ]
        checks.check(
            f"deployed patterns route events/{group}/*.json ({len(samples)}) to {', '.join(expected) or 'nothing'}",
            not wrong,
            "; ".join(wrong),
        )
        if not group.endswith("unrouted"):
            unforwarded = [name for name, event in samples if not any(matches(p, event) for p in forwarders)]
            checks.check(
                f"default-bus forward rule forwards events/{group}/*.json", not unforwarded, ", ".join(unforwarded)
            )


def check_topics(checks: Checks, view: StackView) -> None:
    sns = view.client("sns")
    for logical_id, properties in view.declared("AWS::SNS::Topic").items():
        attributes = sns.get_topic_attributes(TopicArn=view.physical(logical_id))["Attributes"]
        checks.equal(
            f"{logical_id}: encrypted with its key ({properties['KmsMasterKeyId']}), display name",
            [properties["KmsMasterKeyId"], properties.get("DisplayName")],
            [attributes.get("KmsMasterKeyId"), attributes.get("DisplayName")],
        )
    for logical_id, properties in view.declared("AWS::SNS::Subscription").items():
        live = sns.list_subscriptions_by_topic(TopicArn=properties["TopicArn"])["Subscriptions"]
        checks.check(
            f"{logical_id}: {properties['Protocol']} subscription of {properties['Endpoint']}",
            any(s["Protocol"] == properties["Protocol"] and s["Endpoint"] == properties["Endpoint"] for s in live),
            json.dumps(live, default=str),
        )


def redrive_policy(value: Any) -> dict[str, Any] | None:
    """A queue's redrive policy (an object in the template, JSON from SQS) in one comparable form."""
    if not value:
        return None
    policy = json.loads(value) if isinstance(value, str) else value
    return {"deadLetterTargetArn": policy.get("deadLetterTargetArn"), "maxReceiveCount": int(policy["maxReceiveCount"])}


def queue_attributes(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes SQS reports for a queue declared with `properties` (SQS's defaults where not declared)."""
    expected: dict[str, Any] = {
        "SqsManagedSseEnabled": str(properties.get("SqsManagedSseEnabled", False)).lower(),
        "MessageRetentionPeriod": str(properties.get("MessageRetentionPeriod", 345600)),
        "VisibilityTimeout": str(properties.get("VisibilityTimeout", 30)),
    }
    if properties.get("RedrivePolicy"):
        expected["RedrivePolicy"] = redrive_policy(properties["RedrivePolicy"])
    return expected


def logical_id_of(view: StackView, arn: Any) -> str:
    """The logical id of the created resource whose `Arn` attribute is `arn` (the ARN itself if none)."""
    found = [name[: -len(".Arn")] for name, value in view.values.items() if name.endswith(".Arn") and value == arn]
    return found[0] if len(found) == 1 else str(arn)


def check_queues(checks: Checks, view: StackView) -> None:
    sqs = view.client("sqs")
    for logical_id, properties in view.declared("AWS::SQS::Queue").items():
        attributes = sqs.get_queue_attributes(QueueUrl=view.physical(logical_id), AttributeNames=["All"])["Attributes"]
        attributes = {**attributes, "RedrivePolicy": redrive_policy(attributes.get("RedrivePolicy"))}
        expected = queue_attributes(properties)
        label = (
            f"{logical_id}: SSE-SQS, retention {expected['MessageRetentionPeriod']} s, "
            f"visibility timeout {expected['VisibilityTimeout']} s"
        )
        if "RedrivePolicy" in expected:
            redrive = expected["RedrivePolicy"]
            label += (
                f", dead-letter queue {logical_id_of(view, redrive['deadLetterTargetArn'])} "
                f"after {redrive['maxReceiveCount']} receives"
            )
        checks.contains(label, expected, attributes)


def check_keys(checks: Checks, view: StackView) -> None:
    kms = view.client("kms")
    for logical_id, properties in view.declared("AWS::KMS::Key").items():
        key_id = view.physical(logical_id)
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        rotation = kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
        policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
        checks.equal(
            f"{logical_id}: enabled, rotation {properties.get('EnableKeyRotation', False)}, key policy as declared",
            [True, bool(properties.get("EnableKeyRotation", False)), _json(properties["KeyPolicy"])],
            [metadata["Enabled"], rotation, policy],
        )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check_tables(checks: Checks, view: StackView) -> None:
    dynamodb = view.client("dynamodb")
    for logical_id, properties in view.declared("AWS::DynamoDB::Table").items():
        table = dynamodb.describe_table(TableName=view.physical(logical_id))["Table"]
        checks.equal(
            f"{logical_id}: {properties.get('BillingMode')}, key schema and attributes as declared",
            [properties.get("BillingMode"), properties["KeySchema"], properties["AttributeDefinitions"]],
            [table.get("BillingModeSummary", {}).get("BillingMode"), table["KeySchema"], table["AttributeDefinitions"]],
        )


def check_log_groups(checks: Checks, view: StackView) -> None:
    logs = view.client("logs")
    for logical_id, properties in view.declared("AWS::Logs::LogGroup").items():
        name = properties["LogGroupName"]
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        retention = [group.get("retentionInDays") for group in groups if group["logGroupName"] == name]
        checks.equal(
            f"{logical_id}: {name}, retention {properties.get('RetentionInDays')} days",
            [int(properties["RetentionInDays"])],
            retention,
        )


def artifact_digest(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def download_artifacts(deployment: Deployment, view: StackView) -> dict[str, bytes]:
    s3 = view.client("s3")
    artifacts = {}
    for logical_id, (bucket, key) in artifact_locations(deployment.translated).items():
        artifacts[logical_id] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return artifacts


def check_layers(checks: Checks, deployment: Deployment, view: StackView) -> None:
    awslambda = view.client("lambda")
    artifacts = download_artifacts(deployment, view)
    for logical_id, properties in view.declared("AWS::Lambda::LayerVersion").items():
        arn = view.values.get(logical_id)
        if not checks.check(f"{logical_id}: layer version published", isinstance(arn, str), "no layer named after it"):
            continue
        name, number = str(arn).split(":")[-2:]
        version = awslambda.get_layer_version(LayerName=name, VersionNumber=int(number))
        checks.equal(
            f"{logical_id}: runtimes {properties.get('CompatibleRuntimes')}, code = the packaged zip (CodeSha256)",
            [properties.get("CompatibleRuntimes"), artifact_digest(artifacts[logical_id])],
            [version.get("CompatibleRuntimes"), version["Content"]["CodeSha256"]],
        )


def check_functions(checks: Checks, deployment: Deployment, view: StackView) -> None:
    """Each function: name, handler, runtime, sizes, role, environment (template.yaml's, resolved), code."""
    awslambda = view.client("lambda")
    artifacts = download_artifacts(deployment, view)
    declared = view.declared("AWS::Lambda::Function")
    for spec in source_functions(deployment, view):
        properties = declared[spec.logical_id]
        name = view.physical(spec.logical_id)
        live = awslambda.get_function_configuration(FunctionName=name)
        role = view.values[f"{spec.logical_id}Role.Arn"]
        checks.contains(
            f"{spec.logical_id}: {properties['FunctionName']}, {spec.handler}, {properties['Runtime']}, "
            f"{properties['Timeout']} s, {properties['MemorySize']} MB, its role",
            {
                "FunctionName": properties["FunctionName"],
                "Handler": spec.handler,
                "Runtime": properties["Runtime"],
                "Timeout": properties["Timeout"],
                "MemorySize": properties["MemorySize"],
                "Role": role,
            },
            live,
        )
        checks.equal(
            f"{spec.logical_id}: environment variables of template.yaml, resolved, as strings",
            lambda_environment(spec.environment),
            lambda_environment(live.get("Environment", {}).get("Variables", {})),
        )
        if "ReservedConcurrentExecutions" in properties:
            reserved = awslambda.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
            checks.equal(
                f"{spec.logical_id}: reserved concurrency {properties['ReservedConcurrentExecutions']}",
                int(properties["ReservedConcurrentExecutions"]),
                reserved,
            )
        checks.equal(
            f"{spec.logical_id}: code = the packaged zip (CodeSha256)",
            artifact_digest(artifacts[spec.logical_id]),
            live.get("CodeSha256"),
        )
        expected_received = {
            "Layers": [_layer_arn(view, layer) for layer in spec.properties["Layers"]],
            "Architectures": spec.properties.get("Architectures"),
            "TracingConfig": {"Mode": spec.properties.get("Tracing")},
            "DeadLetterConfig": {"TargetArn": view.values["EventDeadLetterQueue.Arn"]},
            "LoggingConfig": {"LogGroup": view.values[spec.properties["LoggingConfig"]["LogGroup"]["Ref"]]},
        }
        checks.equal(
            f"{spec.logical_id}: layers, architecture, tracing, dead-letter queue, log group "
            "in the template CloudFormation received",
            expected_received,
            {name: properties.get(name) for name in MOTO_DROPS["AWS::Lambda::Function"]},
        )


def cloudformation_string(value: Any) -> Any:
    """A Lambda environment value as CloudFormation passes it: a string. A number or a boolean (a literal of the
    template, or the `Ref` of a Number parameter, which moto keeps as a number) becomes its text; an intrinsic
    left unresolved stays as it is, to show in a failed check."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def lambda_environment(variables: Mapping[str, Any]) -> dict[str, Any]:
    """A function's environment variables as Lambda holds them once CloudFormation created the function."""
    return {name: cloudformation_string(value) for name, value in variables.items()}


def live_environment(view: StackView, logical_id: str) -> dict[str, Any]:
    configuration = view.client("lambda").get_function_configuration(FunctionName=view.physical(logical_id))
    return lambda_environment(configuration.get("Environment", {}).get("Variables", {}))


def event_source_mapping(view: StackView, function: str, source_arn: str) -> dict[str, Any] | None:
    """The live event source mapping of a function (logical id) that reads `source_arn`."""
    pages = view.client("lambda").get_paginator("list_event_source_mappings")
    for page in pages.paginate(FunctionName=view.physical(function)):
        for mapping in page["EventSourceMappings"]:
            if mapping.get("EventSourceArn") == source_arn:
                return dict(mapping)
    return None


def check_event_sources(checks: Checks, deployment: Deployment, view: StackView) -> None:
    """Each SQS event source of template.yaml (the harness's reading): its queue, batch size, partial batch
    responses and maximum concurrency, on the mapping CloudFormation created, enabled."""
    for spec in source_functions(deployment, view):
        for source in spec.queues:
            logical_id = f"{spec.logical_id}{source.name}"
            if logical_id not in view.resources:
                continue  # listed as not created by check_skipped
            queue_arn = view.values.get(f"{source.queue}.Arn", source.queue)
            mapping = event_source_mapping(view, spec.logical_id, queue_arn) or {}
            concurrency = source.maximum_concurrency
            checks.equal(
                f"{spec.logical_id}.{source.name}: reads {source.queue}, batches of {source.batch_size}, "
                f"{'partial batch responses' if source.partial_failures else 'whole batches'}, "
                f"at most {concurrency} at once, enabled",
                [
                    queue_arn,
                    view.values[f"{spec.logical_id}.Arn"],
                    source.batch_size,
                    ["ReportBatchItemFailures"] if source.partial_failures else None,
                    None if concurrency is None else {"MaximumConcurrency": int(concurrency)},
                    "Enabled",
                ],
                [
                    mapping.get("EventSourceArn"),
                    mapping.get("FunctionArn"),
                    mapping.get("BatchSize"),
                    mapping.get("FunctionResponseTypes") or None,
                    _integers(mapping.get("ScalingConfig")),
                    mapping.get("State"),
                ],
            )


def _integers(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if not value else {key: int(number) for key, number in value.items()}


def schedule_target(template: Mapping[str, Any]) -> str | None:
    """The function (logical id) the template's one Scheduler schedule invokes, if there is exactly one."""
    targets = [
        arn["Fn::GetAtt"][0]
        for resource in (template.get("Resources") or {}).values()
        if resource.get("Type") == "AWS::Scheduler::Schedule"
        for arn in [(resource.get("Properties") or {}).get("Target", {}).get("Arn")]
        if isinstance(arn, dict) and "Fn::GetAtt" in arn
    ]
    return targets[0] if len(targets) == 1 else None


def sweep_functions(deployment: Deployment, view: StackView) -> tuple[str, str] | None:
    """(planner, worker): the schedule's target, and the function whose event source reads the sweep queue."""
    specs = source_functions(deployment, view)
    workers = [spec.logical_id for spec in specs for source in spec.queues if source.queue == SWEEP_QUEUE]
    planner = schedule_target(view.template)
    return (planner, workers[0]) if planner and len(workers) == 1 else None


def check_sweep_wiring(checks: Checks, deployment: Deployment, view: StackView) -> None:
    """The planner sends where the workers read; a message is retried as often as the workers expect."""
    functions = sweep_functions(deployment, view)
    if functions is None:
        checks.fail("the sweep", f"no single schedule target and single reader of {SWEEP_QUEUE} in the stack")
        return
    planner, worker = functions
    queue_url = view.physical(SWEEP_QUEUE)
    attributes = view.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    redrive = redrive_policy(attributes.get("RedrivePolicy")) or {}
    environments = {name: live_environment(view, name) for name in (planner, worker)}
    checks.equal(
        f"{planner} (the schedule's target) sends to {SWEEP_QUEUE}, the queue {worker} reads: "
        "TRAILGUARD_SWEEP_QUEUE_URL of both",
        [queue_url, queue_url],
        [environments[name].get("TRAILGUARD_SWEEP_QUEUE_URL") for name in (planner, worker)],
    )
    dead_letters = logical_id_of(view, redrive.get("deadLetterTargetArn"))
    checks.equal(
        f"{worker}: TRAILGUARD_SWEEP_ATTEMPTS = {SWEEP_QUEUE}'s maxReceiveCount ({redrive.get('maxReceiveCount')}): "
        f"the last attempt reports its account before the message goes to {dead_letters}",
        str(redrive.get("maxReceiveCount")),
        environments[worker].get("TRAILGUARD_SWEEP_ATTEMPTS"),
    )
    timeout = int(view.client("lambda").get_function_configuration(FunctionName=view.physical(worker))["Timeout"])
    visibility = int(attributes.get("VisibilityTimeout", 30))
    checks.check(
        f"{SWEEP_QUEUE}: visibility timeout {visibility} s is at least 6 x {worker}'s timeout ({timeout} s)",
        visibility >= 6 * timeout,
        f"{visibility} < {6 * timeout}",
    )
    checks.equal(
        f"{worker}: TRAILGUARD_TRAIL_LISTING = TrailListing ({view.values.get('TrailListing')}), "
        f"TRAILGUARD_INVENTORY_MAX_AGE_HOURS = SweepHeartbeatHours ({view.values.get('SweepHeartbeatHours')})",
        [view.values.get("TrailListing"), view.values.get("SweepHeartbeatHours")],
        [environments[worker].get(name) for name in ("TRAILGUARD_TRAIL_LISTING", "TRAILGUARD_INVENTORY_MAX_AGE_HOURS")],
    )


def check_permissions(checks: Checks, view: StackView) -> None:
    """Each function's resource policy lets its rule (and only that source) invoke it."""
    awslambda = view.client("lambda")
    for logical_id, properties in view.declared("AWS::Lambda::Permission").items():
        try:
            policy = json.loads(awslambda.get_policy(FunctionName=properties["FunctionName"])["Policy"])
        except awslambda.exceptions.ResourceNotFoundException:
            policy = {"Statement": []}
        granted = [
            [s.get("Action"), s.get("Principal"), s.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")]
            for s in policy["Statement"]
        ]
        expected = [properties["Action"], {"Service": properties["Principal"]}, properties.get("SourceArn")]
        checks.check(
            f"{logical_id}: {properties['Principal']} may invoke {properties['FunctionName']} from its rule only",
            granted == [expected],
            f"expected [{expected}], got {granted}",
        )


def _layer_arn(view: StackView, layer: Any) -> Any:
    """The ARN a source-template layer reference became: SAM renames a layer's logical id with a hash suffix."""
    if not (isinstance(layer, dict) and set(layer) == {"Ref"}):
        return layer
    name = layer["Ref"]
    if name in view.values:
        return view.values[name]
    renamed = [
        logical_id
        for logical_id, resource in view.template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Lambda::LayerVersion" and logical_id.startswith(name)
    ]
    return view.values.get(renamed[0]) if len(renamed) == 1 else layer


def policy_document(value: Any) -> Any:
    """A policy document as moto returns it: a dict, JSON, or (inline policies of CloudFormation roles) the
    Python literal of the dict it was given."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return ast.literal_eval(value)


def check_roles(checks: Checks, view: StackView) -> None:
    """Each role: trust policy, description, session duration and inline policies, as declared."""
    iam = view.client("iam")
    for logical_id, properties in view.declared("AWS::IAM::Role").items():
        name = view.physical(logical_id)
        role = iam.get_role(RoleName=name)["Role"]
        inline = {
            policy: policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
        declared_inline = {policy["PolicyName"]: policy["PolicyDocument"] for policy in properties.get("Policies", [])}
        label = f"{logical_id}: role {properties.get('RoleName', name)}"
        checks.equal(
            f"{label}: trust policy, description, session duration as declared",
            [
                properties["AssumeRolePolicyDocument"],
                properties.get("Description", ""),
                properties.get("MaxSessionDuration", 3600),
            ],
            [
                policy_document(role["AssumeRolePolicyDocument"]),
                role.get("Description", ""),
                role.get("MaxSessionDuration"),
            ],
        )
        checks.equal(f"{label}: inline policies {', '.join(declared_inline)} as declared", declared_inline, inline)


# ------------------------------------------------------------------------------------------------
# The member stack
# ------------------------------------------------------------------------------------------------


def check_member(checks: Checks, deployment: Deployment, view: StackView, central: StackView) -> None:
    checks.section(f"member stack {view.name} (account {view.account}, from the StackSet's TemplateURL)")
    bucket, key = s3_location(deployment.member_template_url)
    packaged = central.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    checks.check(
        f"StackSet TemplateURL s3://{bucket}/{key} holds templates/member.yaml as is",
        packaged == Path(MEMBER_TEMPLATE).read_bytes(),
        "the packaged member template differs from templates/member.yaml",
    )
    outputs = deployment.member_outputs
    checks.equal(
        f"member stack outputs: every output of templates/member.yaml ({', '.join(sorted(outputs))}), "
        "resolved from the created resources",
        expected_outputs(view),
        outputs,
    )
    check_member_output_names(checks, deployment, view)
    check_skipped(checks, view)
    check_rules(checks, view)
    forward = view.declared("AWS::Events::Rule").get("ForwardRule", {})
    central_forward = central.declared("AWS::Events::Rule").get("CentralForwardRule", {})
    checks.equal(
        "member ForwardRule and central CentralForwardRule forward the same events",
        central_forward.get("EventPattern"),
        forward.get("EventPattern"),
    )
    check_roles(checks, view)


def expected_outputs(view: StackView) -> dict[str, Any]:
    """Each output of the stack's template whose condition holds, with its value resolved from the created
    resources (CloudFormation gives every output value as a string)."""
    outputs = {}
    for name, output in (view.template.get("Outputs") or {}).items():
        condition = output.get("Condition")
        if condition is None or view.resolver.condition(condition):
            outputs[name] = cloudformation_string(view.resolve(output["Value"]))
    return outputs


def check_member_output_names(checks: Checks, deployment: Deployment, view: StackView) -> None:
    """The member outputs name what the central stack and the StackSet's users rely on: the role the functions
    assume, the forward rule, the role the central bus admits by its name, and the rule's dead-letter queue."""
    outputs = deployment.member_outputs
    account, region = view.account, view.cloud.region
    role = deployment.member_parameters["RemediationRoleName"]
    forwarder = str(view.values.get("ForwarderRoleName"))
    targets = view.client("events").list_targets_by_rule(Rule=forwarder, EventBusName="default")["Targets"]
    dead_letters = [target.get("DeadLetterConfig", {}).get("Arn") for target in targets]
    checks.equal(
        f"member outputs: role {role}, rule {forwarder}, role {forwarder}-{region}, the rule's dead-letter queue",
        {
            "RemediationRoleArn": f"arn:aws:iam::{account}:role/{role}",
            "ForwardRuleArn": f"arn:aws:events:{region}:{account}:rule/{forwarder}",
            "ForwarderRoleArn": f"arn:aws:iam::{account}:role/{forwarder}-{region}",
            "ForwardDeadLetterQueueUrl": dead_letters,
        },
        {
            "RemediationRoleArn": outputs.get("RemediationRoleArn"),
            "ForwardRuleArn": outputs.get("ForwardRuleArn"),
            "ForwarderRoleArn": outputs.get("ForwarderRoleArn"),
            "ForwardDeadLetterQueueUrl": [_queue_arn(view, outputs.get("ForwardDeadLetterQueueUrl"))],
        },
    )


def _queue_arn(view: StackView, url: str | None) -> str | None:
    """The ARN of the queue at `url`, None when there is none."""
    if not url:
        return None
    sqs = view.client("sqs")
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    except sqs.exceptions.QueueDoesNotExist:
        return None
    return str(attributes["QueueArn"])


def views(cloud: LocalCloud, deployment: Deployment) -> tuple[StackView, StackView]:
    powertools = next(iter(deployment.seeded.values()), "")
    central = stack_view(
        cloud,
        CENTRAL,
        deployment.config.stack_name,
        deployment.translated,
        deployment.parameters,
        {"PowertoolsLayerArn": powertools},
    )
    member = stack_view(
        cloud, MEMBER_A, deployment.member_stack_name, load_template(MEMBER_TEMPLATE), deployment.member_parameters
    )
    return central, member
