"""Ctrl-C (or SIGTERM) during a fanned-out run (process pool or a local Ray) stops every worker, leaves no
half-written cell folder, and exits 130 (143)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.fanout import require_ray

MODELPORT = str(Path(sys.executable).with_name("modelport"))


def _group_alive(pgid: int) -> list[str]:
    return subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()


@pytest.mark.slow
@pytest.mark.parametrize(("executor", "sig", "code", "last"), [
    ("process", signal.SIGINT, 130, "modelport: aborted"), ("ray", signal.SIGINT, 130, "modelport: aborted"),
    ("ray", signal.SIGTERM, 143, "modelport: terminated")])  # Ray's own SIGTERM handler must not take over
def test_interrupt_stops_the_workers(tmp_path, executor, sig, code, last):
    if executor == "ray":
        require_ray()
    out = tmp_path / "m"
    proc = subprocess.Popen([MODELPORT, "run", "zoo:bert-small", "--to", "onnx", "--opset", "13", "--opset", "17",
                             "--scenario", "Offline", "--profile", "tiny", "--executor", executor, "--jobs", "2",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "cells").is_dir() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # the workers are importing or converting
        assert proc.poll() is None, proc.communicate()[1]
        # the driver alone (a terminal's Ctrl-C reaches the whole group): the workers are stopped by it
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code and err.strip().splitlines()[-1] == last, err
        deadline = time.monotonic() + 20
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _group_alive(proc.pid)
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (out / "results.json").exists()
    # a cell folder that exists is a whole one (convert stages it and renames it)
    for cell in (out / "cells").iterdir():
        assert not cell.name.startswith("."), cell
        assert (cell / "manifest.json").is_file()
