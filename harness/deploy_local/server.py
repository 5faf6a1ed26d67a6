"""A moto server of our own: started on a free port of 127.0.0.1, always stopped, never left behind.

The server runs in its own process group (Ctrl-C in the terminal does not reach it: `stop()` does) and,
on Linux, dies with the process that started it even if that one is killed without warning. It is moto's
own server, started through `moto_main.py`, which first brings moto in line with AWS where TrailGuard relies
on it (harness/moto_fixes.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
# moto server with harness/moto_fixes.py applied (ListTrails per account, as AWS answers it).
LAUNCHER = "harness.deploy_local.moto_main"
BIND_HOST = "127.0.0.1"
# Moto reads a CloudFormation TemplateURL from its own S3 only when the URL's host contains "localhost".
ENDPOINT_HOST = "localhost"
_PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """The server did not start, or stopped on its own."""


def free_port(host: str = BIND_HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM when the process that started it ends, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


PREEXEC = die_with_parent if sys.platform == "linux" else None


def server_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: the repository root on the Python path (for the launcher and the fixes), and
    no MOTO_ACCOUNT_ID, which would put every caller in one account (the member account must be its own)."""
    environment = {name: value for name, value in base.items() if name != "MOTO_ACCOUNT_ID"}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [base.get("PYTHONPATH", "")])])
    return environment


class MotoServer:
    """`with MotoServer(log_file) as server: server.endpoint` -> http://localhost:<port>."""

    def __init__(self, log_file: Path, *, start_timeout: float = 30.0, stop_timeout: float = 10.0) -> None:
        self.log_file = log_file
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{ENDPOINT_HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> MotoServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> None:
        if importlib.util.find_spec("moto.server") is None or importlib.util.find_spec("flask") is None:
            raise ServerError("moto's server is not installed in this environment: run `make install` (moto[server])")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):  # another process may take the free port before the server binds it
            self.port = free_port()
            with self.log_file.open("ab") as log:
                self._process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed module and arguments
                    [sys.executable, "-m", LAUNCHER, "-H", BIND_HOST, "-p", str(self.port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=PREEXEC,
                    cwd=ROOT,
                    env=server_environment(os.environ),
                )
            if self._wait_ready():
                return
            self.stop()
        raise ServerError(f"moto server did not start in {self.start_timeout:.0f} s; its log: {self.log_file}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{BIND_HOST}:{self.port}/moto-api/", timeout=2) as reply:
                    if reply.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after `stop_timeout`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue
        raise ServerError(f"moto server (pid {process.pid}) did not stop")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
