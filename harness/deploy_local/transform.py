"""Pure transformations between what `sam package` and the SAM transform produce and what moto server deploys.

Each one keeps the template's meaning on AWS; it only steps around a simulator gap:

- `rewrite_event_bus_refs`: `Ref` of an `AWS::Events::EventBus` is the bus name on AWS. Moto's
  CloudFormation returns its internal bus object for that `Ref`, so a rule or policy given the object
  fails. `Fn::GetAtt [Bus, Name]` is the same value on AWS and works in moto.
- `serialize_key_policies`: a key policy given as an object is stored as is by moto, whose KMS then
  fails on every call to that key; `Fn::ToJsonString` of the object gives it the string it expects.
- `relocate_public_ssm_defaults`: a parameter of type `AWS::SSM::Parameter::Value<...>` whose default
  is a public parameter AWS publishes (`/aws/service/...`). Moto resolves that default even when a value
  is given, and its SSM refuses to store any name under `/aws/` (reserved). The default moves under a
  local prefix, where the rehearsal seeds a stand-in value.
- `s3_location` / `local_template_url`: `sam package` writes the URL of each uploaded template with the
  S3 endpoint it used. Moto reads a `TemplateURL` from its own S3 only when the URL's host contains
  `localhost` (path style), so the endpoint must be `http://localhost:<port>` and URLs are rebuilt on it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

EVENT_BUS = "AWS::Events::EventBus"
KMS_KEY = "AWS::KMS::Key"
SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<"
PUBLIC_SSM_PREFIX = "/aws/"

# ------------------------------------------------------------------------------------------------
# Event bus references
# ------------------------------------------------------------------------------------------------


def event_buses(template: Mapping[str, Any]) -> set[str]:
    """Logical ids of the template's `AWS::Events::EventBus` resources."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    return {logical_id for logical_id, resource in resources.items() if resource.get("Type") == EVENT_BUS}


def rewrite_event_bus_refs(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `template` where `{"Ref": Bus}` and `${Bus}` in `Fn::Sub` read the bus's `Name` attribute."""
    buses = event_buses(template)
    rewritten: dict[str, Any] = _rewrite(copy.deepcopy(dict(template)), buses)
    return rewritten


def _rewrite(node: Any, buses: set[str]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, buses) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in buses:
        return {"Fn::GetAtt": [node["Ref"], "Name"]}
    if set(node) == {"Fn::Sub"}:
        return {"Fn::Sub": _rewrite_sub(node["Fn::Sub"], buses)}
    return {key: _rewrite(value, buses) for key, value in node.items()}


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def _rewrite_sub(argument: Any, buses: set[str]) -> Any:
    def name_of(match: re.Match[str]) -> str:
        variable = match.group(1).strip()
        return f"${{{variable}.Name}}" if variable in buses else match.group(0)

    if isinstance(argument, str):
        return _SUB_VARIABLE.sub(name_of, argument)
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        variables = argument[1] if isinstance(argument[1], dict) else {}
        text = _SUB_VARIABLE.sub(lambda m: m.group(0) if m.group(1).strip() in variables else name_of(m), argument[0])
        return [text, _rewrite(argument[1], buses)]
    return _rewrite(argument, buses)


# ------------------------------------------------------------------------------------------------
# Key policies
# ------------------------------------------------------------------------------------------------


def serialize_key_policies(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `template` where each `AWS::KMS::Key` policy given as an object is `Fn::ToJsonString` of it.

    CloudFormation takes a key policy as a JSON object or string. Moto keeps an object as is, and every
    later KMS call on the key fails on it; the string it gets from `Fn::ToJsonString` is what it expects.
    """
    result = copy.deepcopy(dict(template))
    for resource in (result.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        policy = properties.get("KeyPolicy")
        if resource.get("Type") == KMS_KEY and isinstance(policy, dict) and "Fn::ToJsonString" not in policy:
            properties["KeyPolicy"] = {"Fn::ToJsonString": policy}
    return result


# ------------------------------------------------------------------------------------------------
# Public SSM parameters used as defaults
# ------------------------------------------------------------------------------------------------


def relocate_public_ssm_defaults(template: Mapping[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Move `/aws/...` defaults of SSM-typed parameters under `prefix`.

    Returns the new template and `{local name: public name}` for every default moved: seed each local
    name with a stand-in for the public value before deploying.
    """
    if not prefix.startswith("/") or prefix.lower().startswith(PUBLIC_SSM_PREFIX) or prefix.endswith("/"):
        raise ValueError(f"prefix {prefix!r} must start with '/', not end with '/', and not be under /aws/")
    result = copy.deepcopy(dict(template))
    moved: dict[str, str] = {}
    for declaration in (result.get("Parameters") or {}).values():
        default = declaration.get("Default")
        if (
            str(declaration.get("Type", "")).startswith(SSM_PARAMETER_TYPE)
            and isinstance(default, str)
            and default.lower().startswith(PUBLIC_SSM_PREFIX)
        ):
            local = prefix + default[len(PUBLIC_SSM_PREFIX) - 1 :]
            declaration["Default"] = local
            moved[local] = default
    return result, moved


# ------------------------------------------------------------------------------------------------
# S3 locations of packaged artifacts and templates
# ------------------------------------------------------------------------------------------------


def for_moto(template: Mapping[str, Any]) -> dict[str, Any]:
    """The event bus and key policy rewrites together (the SSM defaults move separately: they need seeding)."""
    return serialize_key_policies(rewrite_event_bus_refs(template))


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 object URL as `sam package` writes them.

    `s3://bucket/key`; path style `http(s)://host[:port]/bucket/key` (a local endpoint, `s3.amazonaws.com`,
    `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`); virtual-hosted style
    `https://bucket.s3[.<region>].amazonaws.com/key`.
    """
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = unquote(parsed.path).lstrip("/")
    if parsed.scheme == "s3":
        bucket, key = parsed.netloc, path
    elif parsed.scheme in {"http", "https"} and (_is_path_style_s3_host(host) or not host.endswith(".amazonaws.com")):
        bucket, _, key = path.partition("/")
    elif parsed.scheme in {"http", "https"}:
        bucket, key = _virtual_hosted_bucket(host), path
    else:
        raise ValueError(f"not an S3 object URL: {url!r}")
    if not bucket or not key:
        raise ValueError(f"S3 URL without a bucket and a key: {url!r}")
    return bucket, key


def _is_path_style_s3_host(host: str) -> bool:
    return bool(re.fullmatch(r"s3([.-][a-z0-9-]+)?\.amazonaws\.com", host))


def _virtual_hosted_bucket(host: str) -> str:
    match = re.fullmatch(r"(.+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com", host)
    if match is None:
        raise ValueError(f"not an S3 host: {host!r}")
    return match.group(1)


def local_template_url(endpoint: str, bucket: str, key: str) -> str:
    """The path-style URL of an object on a local S3 endpoint, in the form moto's CloudFormation reads.

    The endpoint's host must contain `localhost` (not 127.0.0.1): otherwise moto takes the URL's first
    host label for the bucket name.
    """
    parsed = urlparse(endpoint)
    if parsed.scheme not in {"http", "https"} or "localhost" not in (parsed.hostname or ""):
        raise ValueError(f"endpoint {endpoint!r} must be http(s)://localhost[:port] for moto to read a TemplateURL")
    return f"{parsed.scheme}://{parsed.netloc}/{bucket}/{key}"


def artifact_locations(template: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """(bucket, key) of the packaged code of each Lambda function and layer version of a translated template."""
    locations: dict[str, tuple[str, str]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        code = {
            "AWS::Lambda::Function": properties.get("Code"),
            "AWS::Lambda::LayerVersion": properties.get("Content"),
        }.get(resource.get("Type"))
        if isinstance(code, dict) and isinstance(code.get("S3Bucket"), str) and isinstance(code.get("S3Key"), str):
            locations[logical_id] = (code["S3Bucket"], code["S3Key"])
    return locations


def stack_parameters(values: Mapping[str, str]) -> list[dict[str, str]]:
    """CloudFormation's `Parameters` list for `values`."""
    return [{"ParameterKey": name, "ParameterValue": value} for name, value in values.items()]
