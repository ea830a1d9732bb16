"""Versions and machine facts recorded in every manifest and report."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

_PACKAGES = ("modelport", "torch", "onnx", "onnxruntime", "onnxsim", "onnxscript", "numpy")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: environment variables that change how torch's OpenMP/MKL threads run (and so every torch backend's figures):
#: recorded when set. docs/decisions.md, "Benchmarks: torch's OpenMP threads on a shared machine"
THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "MKL_NUM_THREADS")


def thread_env() -> dict[str, str]:
    return {k: os.environ[k] for k in THREAD_ENV if k in os.environ}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
    }
    if thread_env():  # only when set, so results from before this field stay comparable
        info["thread_env"] = thread_env()
    return info
