"""A served model for tests: ``modelport serve`` in a process group of its own on free loopback ports, polled
until the model is ready, stopped with SIGTERM then SIGKILL. With CI=true a missing MLServer fails the test
instead of skipping it (the test extra installs it)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelport.serving.server_process import pick_ports

READY_S = 90.0


def require_mlserver() -> None:
    if importlib.util.find_spec("mlserver") and importlib.util.find_spec("tritonclient"):
        return
    message = "mlserver / tritonclient are not installed (pip install -e '.[test]')"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    model: str
    grpc: str
    http: str
    log: Path

    def printed(self, timeout_s: float = 20.0) -> dict:
        """What ``serve --json`` printed (it prints once it has seen the model ready itself)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return json.loads(self.log.read_text())
            except ValueError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> int:
        """SIGTERM to ``modelport serve`` alone (it must stop its server), then SIGKILL to whatever is left in
        the group; returns serve's exit code."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            code = self.proc.wait(5)
        deadline = time.monotonic() + 5
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.kill(signal.SIGKILL)
        return code


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as r:  # noqa: S310 - loopback
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def serve(run_dir: Path, model: str, log: Path, *extra: str) -> Iterator[Served]:
    require_mlserver()
    ports = pick_ports()
    cmd = [sys.executable, "-m", "modelport.cli", "serve", str(run_dir), "--port", str(ports.http), "--grpc-port",
           str(ports.grpc), "--quiet", *extra]
    with log.open("wb") as out:
        # TMPDIR: the server's generated repository stays under the test's folder even when it is SIGKILLed
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "TMPDIR": str(log.parent)})
    served = Served(proc, model, f"grpc://127.0.0.1:{ports.grpc}", f"http://127.0.0.1:{ports.http}", log)
    try:
        deadline = time.monotonic() + READY_S
        while not _ready(f"{served.http}/v2/models/{model}/ready"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"modelport serve did not become ready (exit {proc.poll()}): {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield served
    finally:
        served.stop()
