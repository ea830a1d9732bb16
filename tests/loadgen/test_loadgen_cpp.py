"""The LoadGen core without Python, under AddressSanitizer and UBSan: tests/cpp/core_stress.cc drives every
scenario with a multi-threaded C++ SUT that completes out of order, twice, with forged ids and with late
answers to the previous (aborted) test.

It is built and run the way a C++ CI job would: configure the top-level CMakeLists.txt with
MODELPORT_SANITIZE=address,undefined (no Python module) and run `ctest`, whose fixture builds the core
library and the test first. About 20 s on two cores, in a fresh build folder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("ctest") is None, reason="needs cmake and ctest")
@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "c++")) is None, reason="needs a C++ compiler")
def test_core_stress_under_sanitizers(tmp_path):
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(
        [
            "cmake", "-S", str(ROOT), "-B", str(build), *generator,
            "-DCMAKE_CXX_FLAGS=-O1 -g",
            "-DMODELPORT_BUILD_PYTHON=OFF",
            "-DMODELPORT_BUILD_TESTS=ON",
            "-DMODELPORT_SANITIZE=address,undefined",
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    r = subprocess.run(
        ["ctest", "--test-dir", str(build), "--output-on-failure", "-V"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "ERROR: AddressSanitizer" not in out and "runtime error" not in out
    runs = [line for line in out.splitlines() if re.match(r"(\d+: )?ok ", line)]  # ctest -V prefixes "N: "
    assert len(runs) == 9, out[-4000:]  # an aborted run, then four scenarios x (PerformanceOnly, SubmissionRun)
    assert "FAIL" not in out
    assert all("late answers dropped" in line for line in runs[1:])
