"""Start, poll and stop MLServer serving one artifact on loopback, as a process group.

``write_repository`` writes an MLServer model repository (``settings.json`` with the addresses, and
``<name>/model-settings.json`` naming ``ArtifactRuntime`` with the tensors' metadata, the artifact linked
beside it). ``MLServerProcess`` runs ``mlserver start`` on it, waits until the model is ready (a one-line
error with the log's tail otherwise) and stops it: SIGTERM to its process group, then SIGKILL
(docs/decisions.md, "Serving: MLServer as the server").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from modelport.errors import InputError, ModelportError
from modelport.serving.model_info import ServedModel

RUNTIME = "modelport.serving.mlserver_runtime.ArtifactRuntime"
HOST = "127.0.0.1"
#: how long start-up may take (MLServer is ready in 3-7 s on 2 busy cores)
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int

    @property
    def urls(self) -> dict[str, str]:
        return {"grpc": f"grpc://{HOST}:{self.grpc}", "http": f"http://{HOST}:{self.http}"}


def free_port() -> int:
    """A port nobody listens on now (the OS picks it; another process could still take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def pick_ports(http: int | None = None, grpc: int | None = None) -> Ports:
    http = http or free_port()
    grpc = grpc or free_port()
    while grpc == http:
        grpc = free_port()
    return Ports(http, grpc)


def mlserver_executable() -> str:
    """The ``mlserver`` script of this Python's environment; a one-line error naming the extra when absent."""
    found = Path(sys.executable).with_name("mlserver")
    if found.is_file():
        return str(found)
    which = shutil.which("mlserver")
    if which:
        return which
    raise InputError("MLServer is not installed in this environment", "pip install 'modelport[serve]'")


def write_repository(root: Path, model: ServedModel, ports: Ports, threads: int | None = None) -> Path:
    """An MLServer model repository for ``model`` under ``root`` (which must exist); returns ``root``."""
    settings = {"host": HOST, "http_port": ports.http, "grpc_port": ports.grpc, "metrics_endpoint": None,
                "parallel_workers": 0, "debug": False, "load_models_at_startup": True}
    (root / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    folder = root / model.name
    folder.mkdir()
    for f in model.files:  # symlinks: external data must stay beside the .onnx file
        (folder / f.name).symlink_to(f)
    model_settings = {
        "name": model.name, "implementation": RUNTIME,
        "inputs": [t.to_json() for t in model.inputs], "outputs": [t.to_json() for t in model.outputs],
        "parameters": {"uri": f"./{model.path.name}", "version": "1", "extra": {
            "kind": model.kind, "input_names": [t.name for t in model.inputs],
            "output_names": [t.name for t in model.outputs], "threads": threads}},
    }
    (folder / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n")
    return root


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback URLs we built
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (urllib.error.URLError, OSError):
        return 0


class MLServerProcess:
    """``mlserver start`` on a repository written for ``model``, in a process group of its own
    (``own_group``) or in the caller's (``modelport serve``: a Ctrl-C on the terminal reaches both)."""

    def __init__(self, model: ServedModel, ports: Ports | None = None, threads: int | None = None,
                 log: IO[str] | None = None, own_group: bool = True) -> None:
        self.model = model
        self.ports = ports or pick_ports()
        self.threads = threads
        self.own_group = own_group
        self._log = log
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def urls(self) -> dict[str, str]:
        return self.ports.urls

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> MLServerProcess:
        exe = mlserver_executable()
        self._tmp = tempfile.TemporaryDirectory(prefix="modelport-serve-")
        repo = write_repository(Path(self._tmp.name), self.model, self.ports, self.threads)
        self._logfile = repo / "mlserver.log"
        out = self._log or self._logfile.open("w")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([exe, "start", str(repo)], cwd=repo, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=self.own_group)
        try:
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout_s: float) -> None:
        url = f"http://{HOST}:{self.ports.http}/v2/models/{self.model.name}/ready"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise ModelportError(f"MLServer exited with code {self.proc.returncode} while starting: "
                                     f"{self.log_tail()}")
            if _get(url) == 200:
                return
            time.sleep(0.2)
        raise ModelportError(f"MLServer was not ready within {timeout_s:g} s: {self.log_tail()}")

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self._logfile.read_text(errors="replace").strip().splitlines()
        except (OSError, AttributeError):
            return "(no log)"
        return " | ".join(line.strip() for line in text[-lines:])[:600] or "(empty log)"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM (to the group when it has its own), wait, then SIGKILL; returns the exit code."""
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            code = terminate(proc, self.own_group, timeout_s)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def __enter__(self) -> MLServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def terminate(proc: subprocess.Popen[Any], group: bool, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """Stop ``proc`` (its whole process group when ``group``): SIGTERM, wait up to ``timeout_s``, SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout_s)
    if group:  # whatever the leader left behind in its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return int(proc.wait())
