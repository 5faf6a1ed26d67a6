"""Tracing: X-Ray in Lambda (handler and AWS calls traced, from the first invocation on), and not even imported
anywhere else, nor by the import of a handler in Lambda (the init phase).

Each case imports the package in a fresh interpreter, as Lambda's init phase does, with the environment given.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from trailguard.observability import tracing_enabled

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "trailguard"
FUNCTIONS = sorted(path.parent for path in (ROOT / "functions").glob("*/app.py"))
IN_LAMBDA = {"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "TrailGuardFunction"}
TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        (IN_LAMBDA, True),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "0"}, True),
        ({**IN_LAMBDA, "AWS_SAM_LOCAL": "true"}, False),
        ({**IN_LAMBDA, "AWS_CHALICE_CLI_MODE": "true"}, False),
        ({}, False),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, False),
    ],
)
def test_tracing_is_on_in_lambda_only(environ: dict[str, str], enabled: bool) -> None:
    assert tracing_enabled(environ) is enabled


def run_python(source: str, environ: dict[str, str]) -> dict[str, Any]:
    """Run `source` in a fresh interpreter with the layer importable; it prints one JSON line."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(LAYER),
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **environ,
    }
    output = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", source], capture_output=True, text=True, env=environment, check=True, cwd=ROOT
    )
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


IMPORT_HANDLERS = f"""
import importlib.util, json, sys
for folder in {[str(folder) for folder in FUNCTIONS]!r}:
    spec = importlib.util.spec_from_file_location("app_" + folder.rsplit("/", 1)[1], folder + "/app.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps({{"xray": sorted(name for name in sys.modules if name.startswith("aws_xray_sdk"))}}))
"""


@pytest.mark.parametrize(
    "environ",
    [{}, {**IN_LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"}, IN_LAMBDA],
    ids=["outside-lambda", "tracing-disabled", "in-lambda-before-the-first-invocation"],
)
def test_handlers_do_not_import_xray_where_nothing_is_traced_yet(environ: dict[str, str]) -> None:
    assert run_python(IMPORT_HANDLERS, environ) == {"xray": []}


TRACED_HANDLER = """
import json
import botocore.client, botocore.session
from moto import mock_aws
from trailguard.observability import tracer

def patched():  # X-Ray wraps the client class's call with wrapt (botocore's own decorator is not a patch)
    return type(botocore.client.BaseClient.__dict__["_make_api_call"]).__name__ == "FunctionWrapper"

@tracer.capture_lambda_handler
def lambda_handler(event, context):
    with mock_aws():
        botocore.session.get_session().create_client("sts", region_name="eu-west-1").get_caller_identity()
    return {"result": "compliant"}

print(json.dumps({
    "patched_at_import": patched(),
    "response": lambda_handler({}, None),
    "patched_by_the_first_call": patched(),
}))
"""


def test_in_lambda_the_handler_and_its_aws_calls_are_traced() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:  # stands in for the X-Ray daemon
        daemon.bind(("127.0.0.1", 0))
        daemon.settimeout(10)
        environ = {
            **IN_LAMBDA,
            "_X_AMZN_TRACE_ID": TRACE_ID,
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        }
        result = run_python(TRACED_HANDLER, environ)
        segments = [json.loads(daemon.recv(65536).decode().split("\n", 1)[1]) for _ in range(2)]

    assert result == {
        "patched_at_import": False,
        "response": {"result": "compliant"},
        "patched_by_the_first_call": True,
    }
    by_name = {segment["name"]: segment for segment in segments}
    assert by_name["sts"]["aws"]["operation"] == "GetCallerIdentity"
    assert by_name["sts"]["parent_id"] == by_name["## lambda_handler"]["id"]
    assert by_name["## lambda_handler"]["annotations"] == {"ColdStart": True, "Service": "trailguard"}
