"""Run a deployed Lambda handler from its unpacked artifacts, as Lambda would, in a process of its own.

Moto cannot run Lambda functions without Docker, so the rehearsal runs this file with the runtime's
interpreter in isolated mode (`python -I`: no PYTHONPATH, no current directory on sys.path), by path:

    python -I harness/deploy_local/runner.py REQUEST_JSON RESULT_JSON

REQUEST_JSON names the unpacked function folder (Lambda's task root), the unpacked layer folders (their
`python/` subfolder goes on sys.path, as Lambda puts /opt/python there), the handler, the event and the
context values. The environment (the function's variables, its role's credentials, the endpoint) comes
from the caller. RESULT_JSON receives the handler's return value and where each module was imported from.
An exception in the handler propagates: a traceback on stderr and a non-zero exit, as in Lambda.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Context:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return self.deadline_ms


def import_roots(task_root: str, layers: list[str]) -> list[str]:
    """Lambda's import order: the task root first, then each layer's python/ folder (or the layer root)."""
    roots = [task_root]
    for layer in layers:
        python = Path(layer) / "python"
        roots.append(str(python if python.is_dir() else Path(layer)))
    return roots


def run(request: dict[str, Any]) -> dict[str, Any]:
    sys.path[:0] = import_roots(request["task_root"], request["layers"])
    module_name, _, function_name = str(request["handler"]).rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
    context = Context(**request["context"])
    result = handler(request["event"], context)
    origins = {
        name: str(getattr(sys.modules.get(name), "__file__", "") or "")
        for name in (module_name, *request.get("report_modules", []))
    }
    return {"result": result, "modules": origins}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: runner.py REQUEST_JSON RESULT_JSON", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text())
    Path(argv[1]).write_text(json.dumps(run(request), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
