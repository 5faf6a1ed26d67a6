"""The deploy path, step by step: sam build -> sam package -> SAM transform -> CloudFormation, on moto server.

The central stack goes to the central account; templates/member.yaml, taken from the URL `sam package`
wrote into the StackSet, goes to a member account as the StackSet would deploy it there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.deploy_local.tools import LocalCloud, StepError, run_tool, tool_environment
from harness.deploy_local.transform import (
    for_moto,
    local_template_url,
    relocate_public_ssm_defaults,
    s3_location,
    stack_parameters,
)
from harness.org import (
    BUCKET,
    CENTRAL,
    HOME,
    MANAGEMENT,
    MEMBER_A,
    MEMBER_B,
    ORG_ID,
    OTHER,
    central_bucket_policy,
    central_key_policy,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MEMBER_TEMPLATE = ROOT / "templates" / "member.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
CONFIG_ENV = "local"
TOOLS_BIN = ROOT / ".venv-tools" / "bin"
TRANSLATE = Path(__file__).with_name("translate.py")

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
SSM_PREFIX = "/trailguard-local"
SECURITY_EMAIL = "security@example.com"
ORGANIZATION_UNIT = "ou-a1b2-c3d4e5f6"
# Public SSM parameters the template reads, and the stand-in value the rehearsal seeds for each.
# Moto never attaches layers to a function, so the Powertools layer ARN is only carried, never used:
# the runtime environment's aws-lambda-powertools stands in for the layer when a handler runs.
PUBLIC_PARAMETER_STAND_INS = {
    "/aws/service/powertools/python/arm64/python3.13/latest": (
        "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:1"
    ),
}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Timeouts:
    build: float = 600
    package: float = 300
    translate: float = 120
    stack: float = 180
    handler_margin: float = 60
    finding: float = 15


@dataclass(frozen=True)
class LocalConfig:
    """The `local` environment of samconfig.toml: stack name, artifacts bucket and prefix."""

    stack_name: str
    bucket: str
    prefix: str

    @classmethod
    def read(cls, path: Path = SAMCONFIG, environment: str = CONFIG_ENV) -> LocalConfig:
        config = tomllib.loads(path.read_text()).get(environment)
        if not config:
            raise StepError(f"{path.name} has no [{environment}.*] sections: `make deploy-local` needs them")
        package = config.get("package", {}).get("parameters", {})
        if package.get("resolve_s3"):
            raise StepError(
                f"{path.name} [{environment}.package.parameters]: resolve_s3 and s3_bucket exclude each other"
            )
        try:
            return cls(config["global"]["parameters"]["stack_name"], package["s3_bucket"], package["s3_prefix"])
        except KeyError as missing:
            raise StepError(f"{path.name} [{environment}]: {missing} is not set") from None


@dataclass
class Deployment:
    """What the steps produced, for the checks."""

    config: LocalConfig
    work: Path
    parameters: dict[str, str] = field(default_factory=dict)
    translated: dict[str, Any] = field(default_factory=dict)
    deployed: dict[str, Any] = field(default_factory=dict)
    seeded: dict[str, str] = field(default_factory=dict)
    member_template_url: str = ""
    member_parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    member_outputs: dict[str, str] = field(default_factory=dict)

    @property
    def member_stack_name(self) -> str:
        return f"{self.config.stack_name}-member"


def preflight() -> None:
    """Fail early, with the fix, when a tool is missing."""
    missing = [path for path in (TOOLS_BIN / "sam", TOOLS_BIN / "python") if not path.exists()]
    if missing:
        raise StepError(f"missing {', '.join(map(str, missing))}: run `make install`")
    if importlib.util.find_spec("trailguard") is None:
        raise StepError("trailguard is not importable: run `make deploy-local` (PYTHONPATH=layers/trailguard:.)")
    if shutil.which("python3.13") is None:
        raise StepError(
            "sam build needs python3.13 on PATH (the Lambda runtime); with pyenv, .python-version selects it"
        )


def central_parameters(key_arn: str) -> dict[str, str]:
    """The central stack's parameters: a production-like organization (remediate, StackSet, e-mail)."""
    return {
        "CentralKeyArn": key_arn,
        "LogBucketName": BUCKET,
        "Mode": "remediate",
        "OrgId": ORG_ID,
        "ManagementAccountId": MANAGEMENT,
        "SecurityEmail": SECURITY_EMAIL,
        "Accounts": ",".join([MANAGEMENT, CENTRAL, MEMBER_A, MEMBER_B]),
        "Regions": f"{HOME},{OTHER}",
        "LogRetentionDays": "14",
        "OrganizationUnitIds": ORGANIZATION_UNIT,
        "MemberRegions": HOME,
    }


def prepare_central_account(cloud: LocalCloud, deployment: Deployment) -> None:
    """What exists before TrailGuard: the artifacts bucket, the central key and log bucket (their policies
    as `trailguard policy` prints them)."""
    s3 = cloud.client("s3", CENTRAL)
    location = {"LocationConstraint": cloud.region}
    s3.create_bucket(Bucket=deployment.config.bucket, CreateBucketConfiguration=location)
    accounts = [MANAGEMENT, CENTRAL, MEMBER_A, MEMBER_B]
    kms = cloud.client("kms", CENTRAL)
    key = kms.create_key(Description="TrailGuard central CloudTrail key")["KeyMetadata"]
    kms.put_key_policy(
        KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(central_key_policy(CENTRAL, accounts))
    )
    kms.enable_key_rotation(KeyId=key["KeyId"])
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=location)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(central_bucket_policy(accounts)))
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["Arn"]}}]
        },
    )
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    block = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=block)
    deployment.parameters = central_parameters(key["Arn"])


def build(deployment: Deployment, environment: Mapping[str, str], timeouts: Timeouts, say: Say) -> None:
    run = run_tool(
        "sam build",
        [TOOLS_BIN / "sam", "build", "--config-file", SAMCONFIG, "--config-env", CONFIG_ENV, "--template", TEMPLATE],
        environment=environment,
        timeout=timeouts.build,
        cwd=ROOT,
        log_file=deployment.work / "logs" / "sam-build.log",
    )
    say(f"sam build        {run.seconds:5.1f} s  -> {_relative(build_dir(deployment))}")


def build_dir(deployment: Deployment) -> Path:
    config = tomllib.loads(SAMCONFIG.read_text())[CONFIG_ENV].get("build", {}).get("parameters", {})
    return ROOT / str(config.get("build_dir", ".aws-sam/build"))


def package(cloud: LocalCloud, deployment: Deployment, timeouts: Timeouts, say: Say) -> Path:
    packaged = deployment.work / "packaged.yaml"
    environment = tool_environment(
        os.environ, endpoint=cloud.endpoint, region=cloud.region, credentials=cloud.credentials(CENTRAL)
    )
    run = run_tool(
        "sam package",
        [
            TOOLS_BIN / "sam",
            "package",
            "--config-file",
            SAMCONFIG,
            "--config-env",
            CONFIG_ENV,
            "--template-file",
            build_dir(deployment) / "template.yaml",
            "--output-template-file",
            packaged,
            "--region",
            cloud.region,
        ],
        environment=environment,
        timeout=timeouts.package,
        cwd=ROOT,
        log_file=deployment.work / "logs" / "sam-package.log",
    )
    uploads = run.output.count("Uploading to")
    target = f"s3://{deployment.config.bucket}/{deployment.config.prefix}/"
    say(f"sam package      {run.seconds:5.1f} s  -> {target} ({uploads} uploads)")
    return packaged


def translate(
    packaged: Path, deployment: Deployment, environment: Mapping[str, str], timeouts: Timeouts, say: Say
) -> None:
    parameters_file = deployment.work / "parameters.json"
    parameters_file.write_text(json.dumps(deployment.parameters, indent=1))
    translated_file = deployment.work / "translated.json"
    run = run_tool(
        "SAM transform",
        [TOOLS_BIN / "python", "-I", TRANSLATE, packaged, parameters_file, translated_file],
        environment=environment,
        timeout=timeouts.translate,
        cwd=ROOT,
        log_file=deployment.work / "logs" / "translate.log",
    )
    deployment.translated = json.loads(translated_file.read_text())
    resources = len(deployment.translated.get("Resources", {}))
    say(
        f"SAM transform    {run.seconds:5.1f} s  -> {resources} CloudFormation resources ({_relative(translated_file)})"
    )


def deploy_central(cloud: LocalCloud, deployment: Deployment, timeouts: Timeouts, say: Say) -> None:
    template, moved = relocate_public_ssm_defaults(for_moto(deployment.translated), SSM_PREFIX)
    ssm = cloud.client("ssm", CENTRAL)
    for local, public in moved.items():
        if public not in PUBLIC_PARAMETER_STAND_INS:
            raise StepError(f"the template reads the public SSM parameter {public}: give it a stand-in value")
        value = PUBLIC_PARAMETER_STAND_INS[public].format(region=cloud.region)
        ssm.put_parameter(Name=local, Value=value, Type="String")
        deployment.seeded[public] = value
    deployment.deployed = template
    say(
        f"moto rewrites             -> event bus Ref -> GetAtt Name, key policy -> Fn::ToJsonString, "
        f"{len(moved)} public SSM default(s) seeded under {SSM_PREFIX}"
    )
    key = f"{deployment.config.prefix}/deploy-local/{deployment.config.stack_name}.json"
    body = json.dumps(template, indent=1)
    (deployment.work / "deployed.json").write_text(body)
    cloud.client("s3", CENTRAL).put_object(Bucket=deployment.config.bucket, Key=key, Body=body.encode())
    url = local_template_url(cloud.endpoint, deployment.config.bucket, key)
    seconds = create_stack(cloud, CENTRAL, deployment.config.stack_name, url, deployment.parameters, timeouts)
    deployment.outputs = stack_outputs(cloud, CENTRAL, deployment.config.stack_name)
    say(f"central stack    {seconds:5.1f} s  -> {deployment.config.stack_name} CREATE_COMPLETE in {CENTRAL}")


def deploy_member(cloud: LocalCloud, deployment: Deployment, timeouts: Timeouts, say: Say) -> None:
    """templates/member.yaml as the StackSet deploys it: from the URL `sam package` wrote, with the
    StackSet's parameters, in a member account's primary region."""
    stack_set = stack_set_resource(deployment.translated)
    packaged_url = stack_set["Properties"]["TemplateURL"]
    bucket, key = s3_location(packaged_url)
    deployment.member_template_url = local_template_url(cloud.endpoint, bucket, key)
    outputs = deployment.outputs
    deployment.member_parameters = {
        "CentralEventBusArn": outputs["CentralEventBusArn"],
        "RemediationRoleName": "TrailGuardRemediation",
        "CentralAccountId": CENTRAL,
        "TrailGuardFunctionRoleArn": outputs["TrailGuardFunctionRoleArn"],
        "KeyGuardFunctionRoleArn": outputs["KeyGuardFunctionRoleArn"],
        "BucketGuardFunctionRoleArn": outputs["BucketGuardFunctionRoleArn"],
        "SweepFunctionRoleArn": outputs["SweepFunctionRoleArn"],
        "SweepWorkerFunctionRoleArn": outputs["SweepWorkerFunctionRoleArn"],
        "PrimaryRegion": HOME,
    }
    seconds = create_stack(
        cloud,
        MEMBER_A,
        deployment.member_stack_name,
        deployment.member_template_url,
        deployment.member_parameters,
        timeouts,
    )
    deployment.member_outputs = stack_outputs(cloud, MEMBER_A, deployment.member_stack_name)
    say(f"member stack     {seconds:5.1f} s  -> {deployment.member_stack_name} CREATE_COMPLETE in {MEMBER_A}")


def stack_set_resource(template: Mapping[str, Any]) -> dict[str, Any]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::CloudFormation::StackSet":
            if not isinstance(resource.get("Properties", {}).get("TemplateURL"), str):
                raise StepError(f"{logical_id}: sam package left no TemplateURL")
            return dict(resource)
    raise StepError("the packaged template has no AWS::CloudFormation::StackSet for templates/member.yaml")


def create_stack(
    cloud: LocalCloud, account: str, name: str, template_url: str, parameters: Mapping[str, str], timeouts: Timeouts
) -> float:
    """CreateStack (not a change set: moto gives stacks made through change sets no outputs) and wait."""
    cloudformation = cloud.client("cloudformation", account)
    started = time.monotonic()
    try:
        cloudformation.create_stack(
            StackName=name, TemplateURL=template_url, Parameters=stack_parameters(parameters), Capabilities=CAPABILITIES
        )
    except (ClientError, BotoCoreError) as error:
        raise StepError(f"CreateStack {name} in {account} refused: {error}") from error
    deadline = started + timeouts.stack
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return time.monotonic() - started
        if not status.endswith("_IN_PROGRESS"):
            raise StepError(f"stack {name} in {account}: {status} {stack.get('StackStatusReason', '')}".rstrip())
        if time.monotonic() > deadline:
            raise StepError(f"stack {name} in {account}: still {status} after {timeouts.stack:.0f} s")
        time.sleep(0.5)


def stack_outputs(cloud: LocalCloud, account: str, name: str) -> dict[str, str]:
    stack = cloud.client("cloudformation", account).describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
