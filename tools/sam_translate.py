"""Translate a SAM template into the plain CloudFormation that the transform would deploy, offline.

Security scanners read `AWS::Serverless::Function` only partly: the roles, permissions, rules and schedules
that the transform generates exist only after translation. This writes that translation (JSON) so that they
can be checked too. Local code folders are replaced by placeholder S3 locations, as `sam validate` does, and
the managed policies SAM attaches are given their well-known ARNs (no AWS call is made).

Usage: python tools/sam_translate.py template.yaml out.json   (runs in the template tooling environment)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from boto3 import Session
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

# The AWS managed policies SAM attaches to function roles (tracing, logs, dead-letter queues, schedules).
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}{name}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/",
        "AWSXrayWriteOnlyAccess": "",
        "AWSXRayDaemonWriteAccess": "",
        "AWSLambdaRole": "service-role/",
    }.items()
}
CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}
PLACEHOLDER_CODE = "s3://trailguard-translation/code.zip"


def with_placeholder_code(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every local code folder pointing at a placeholder S3 object."""
    for resource in template.get("Resources", {}).values():
        key = CODE_PROPERTIES.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if key and isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = PLACEHOLDER_CODE
    return template


def translate(text: str, region: str = "eu-west-1") -> dict[str, Any]:
    template = with_placeholder_code(yaml_parse(text))
    translator = Translator(managed_policy_map=None, sam_parser=Parser(), boto_session=Session(region_name=region))
    translated: dict[str, Any] = translator.translate(
        sam_template=template,
        parameter_values={},
        passthrough_metadata=True,
        get_managed_policy_map=lambda: MANAGED_POLICIES,
    )
    return translated


def main(argv: list[str]) -> int:
    source, target = Path(argv[1]), Path(argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(translate(source.read_text()), indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
