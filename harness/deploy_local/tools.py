"""Clients of the local endpoint, and the external tools (sam, the translator, the handler) run with a deadline.

Two Python environments take part. The SAM CLI and aws-sam-translator live in .venv-tools, because the
SAM CLI pins its own boto3. Everything else runs in .venv, the runtime environment: the boto3 the
functions get from the Lambda runtime, moto and its server, the harness that reads template.yaml, and
aws-lambda-powertools standing in for the public Powertools layer. So the rehearsal runs in .venv and
calls the tools of .venv-tools as programs, each with its own environment and a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from harness.deploy_local.server import PREEXEC

CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 3})
ADMIN_ROLE = "OrganizationAccountAccessRole"
_DROPPED_VARIABLES = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"})


class StepError(RuntimeError):
    """A step of the rehearsal could not complete; the message says which and why."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.token,
        }


def tool_environment(
    base: Mapping[str, str], *, endpoint: str, region: str, credentials: Credentials | None = None
) -> dict[str, str]:
    """`base` without any AWS, moto or Python path setting, pointed at the local endpoint.

    No profile, config file or instance metadata can leak a real account into the rehearsal.
    """
    environment = {
        name: value
        for name, value in base.items()
        if not name.startswith(("AWS_", "MOTO_")) and name not in _DROPPED_VARIABLES
    }
    environment.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    if credentials is not None:
        environment.update(credentials.environment())
    return environment


class LocalCloud:
    """boto3 clients on the local endpoint, per simulated account (moto keeps each account's state apart)."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        # Any key will do for moto: the first call assumes a role in the account it needs.
        self._base = boto3.Session(
            aws_access_key_id="deploy-local",
            aws_secret_access_key="deploy-local",  # noqa: S106 - not a secret: the simulator's placeholder
            region_name=region,
        )
        self._credentials: dict[str, Credentials] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}

    def assume(self, role_arn: str, session_name: str = "deploy-local") -> Credentials:
        sts = self._base.client("sts", endpoint_url=self.endpoint, config=CLIENT_CONFIG)
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return Credentials(answer["AccessKeyId"], answer["SecretAccessKey"], answer["SessionToken"])

    def credentials(self, account: str) -> Credentials:
        """An administrator's credentials in `account`."""
        if account not in self._credentials:
            self._credentials[account] = self.assume(f"arn:aws:iam::{account}:role/{ADMIN_ROLE}")
        return self._credentials[account]

    def client(self, service: str, account: str, region: str | None = None) -> Any:
        """A client in `account`, in `region` (the rehearsal's region unless given)."""
        key = (service, account, region or self.region)
        if key not in self._clients:
            credentials = self.credentials(account)
            session = boto3.Session(
                aws_access_key_id=credentials.access_key,
                aws_secret_access_key=credentials.secret_key,
                aws_session_token=credentials.token,
                region_name=region or self.region,
            )
            self._clients[key] = session.client(service, endpoint_url=self.endpoint, config=CLIENT_CONFIG)
        return self._clients[key]


@dataclass(frozen=True)
class ToolRun:
    seconds: float
    output: str


def run_tool(
    step: str,
    argv: Sequence[str | Path],
    *,
    environment: Mapping[str, str],
    timeout: float,
    cwd: Path,
    log_file: Path,
) -> ToolRun:
    """Run a program to completion within `timeout` seconds, its output in `log_file`.

    The program gets a process group of its own: on a timeout, an error or Ctrl-C, the whole group
    (e.g. the pip processes of `sam build`) is stopped, never left behind.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_file.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - the rehearsal's own fixed tools
            [str(arg) for arg in argv],
            cwd=cwd,
            env=dict(environment),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=PREEXEC,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(process)
            raise StepError(f"{step}: no answer after {timeout:.0f} s (stopped); output in {log_file}") from None
        except BaseException:
            _stop_group(process)
            raise
    output = log_file.read_text(errors="replace")
    if code != 0:
        tail = "\n".join(output.splitlines()[-25:])
        raise StepError(f"{step}: exit code {code}; output in {log_file}; last lines:\n{tail}")
    return ToolRun(time.monotonic() - started, output)


def _stop_group(process: subprocess.Popen[Any]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
