"""The rehearsal from start to end: server up, deploy, checks, server down (also on errors and Ctrl-C)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time
from pathlib import Path
from types import FrameType

from botocore.exceptions import BotoCoreError, ClientError

from harness.deploy_local.checks import Checks
from harness.deploy_local.deploy import (
    ROOT,
    Deployment,
    LocalConfig,
    Timeouts,
    build,
    deploy_central,
    deploy_member,
    package,
    preflight,
    prepare_central_account,
    translate,
)
from harness.deploy_local.handler import check_handler, subscribe_queue
from harness.deploy_local.server import MotoServer, ServerError
from harness.deploy_local.sweep_run import check_sweep
from harness.deploy_local.tools import LocalCloud, StepError, tool_environment
from harness.deploy_local.verify import check_central, check_member, views
from harness.org import CENTRAL, HOME, MEMBER_A

WORK = ROOT / ".aws-sam" / "deploy-local"
SERVER_LOG = WORK / "logs" / "moto-server.log"


def say(text: str) -> None:
    print(f"  {text}", flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def rehearse(timeouts: Timeouts) -> int:
    preflight()
    config = LocalConfig.read()
    run_dir = WORK / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    deployment = Deployment(config=config, work=WORK)
    WORK.mkdir(parents=True, exist_ok=True)
    SERVER_LOG.unlink(missing_ok=True)
    checks = Checks()
    started = time.monotonic()
    with MotoServer(SERVER_LOG) as server:
        print(f"deploy-local: moto server {server.endpoint} (pid {server.pid}), region {HOME}")
        print(f"  central account {CENTRAL}, member account {MEMBER_A}; work files in {WORK.relative_to(ROOT)}/")
        cloud = LocalCloud(server.endpoint, HOME)
        prepare_central_account(cloud, deployment)
        offline = tool_environment(os.environ, endpoint=server.endpoint, region=HOME)
        build(deployment, offline, timeouts, say)
        packaged = package(cloud, deployment, timeouts, say)
        translate(packaged, deployment, offline, timeouts, say)
        deploy_central(cloud, deployment, timeouts, say)
        deploy_member(cloud, deployment, timeouts, say)
        central, member = views(cloud, deployment)
        check_central(checks, deployment, central)
        check_member(checks, deployment, member, central)
        findings = subscribe_queue(central, central.values["FindingsTopic"])
        check_handler(checks, deployment, central, timeouts, findings)
        check_sweep(checks, deployment, central, timeouts, findings)
    code = checks.summary()
    verdict = "passed" if code == 0 else "FAILED"
    print(f"deploy-local: {verdict} in {time.monotonic() - started:.0f} s; moto server stopped")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(prog="make deploy-local", description=__doc__)
    parser.add_argument("--stack-timeout", type=float, default=Timeouts.stack, help="seconds to wait for each stack")
    arguments = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops the run even if started ignoring it
    try:
        return rehearse(Timeouts(stack=arguments.stack_timeout))
    except KeyboardInterrupt:
        print("\ndeploy-local: interrupted; moto server stopped")
        return 130
    except (StepError, ServerError) as error:
        print(f"\nFAIL  {error}")
        return 1
    except (ClientError, BotoCoreError) as error:
        print(f"\nFAIL  unexpected answer from the local endpoint: {str(error).splitlines()[0]}")
        print(f"      moto server's reason: {_last_error(SERVER_LOG)} (log: {SERVER_LOG.relative_to(ROOT)})")
        return 1


def _last_error(log: Path) -> str:
    """The last exception line of the server log (moto answers 500 with an HTML page and no reason)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "unknown"
    reasons = [line for line in lines if line and not line.startswith((" ", "127.0.0.1", "Traceback"))]
    return reasons[-1] if reasons else "unknown"
