"""Runner for AOTInductor packages (``--to aoti``): a ``.pt2`` holding a compiled shared object.

Loading a package ``dlopen``s native code, so it is worse than a pickle: nothing can be scanned first. The
rule (docs/decisions.md, "AOTInductor packages: native code, loaded only when we built it"): a package is
loaded without consent only when its sha256 is one this process compiled (``register_produced``, called by the
converter right after compiling), so ``convert``/``run`` validate and bench what they built; any other
package (a later ``modelport bench RUN_DIR``, a user's file) needs ``--trust-pickle``.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

from modelport.errors import UnsafePickleError
from modelport.runners.base import Runner, RunnerOptions
from modelport.runners.torch_runners import flatten_outputs, torch_session

_PRODUCED: set[str] = set()
_LOCK = threading.Lock()
WAYS_FORWARD = ("pass --trust-pickle if you built this run directory yourself (it runs the package's compiled "
                "code), or re-run modelport convert --to aoti")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def register_produced(path: str | Path) -> str:
    """Record that this process compiled the package at ``path`` (by content); returns its sha256."""
    digest = _sha256(Path(path))
    with _LOCK:
        _PRODUCED.add(digest)
    return digest


def check_consent(path: Path, trust: bool) -> None:
    """``UnsafePickleError`` (exit 2) for a package this process did not compile, unless the user trusts it."""
    if trust:
        return
    with _LOCK:
        known = _sha256(path) in _PRODUCED
    if not known:
        raise UnsafePickleError(f"the AOTInductor package {str(path)!r} holds compiled native code that this "
                                "modelport process did not build; loading it would run that code", WAYS_FORWARD)


class AotiRunner(Runner):
    """Calls the package's compiled model positionally, inputs in ``input_names`` order."""

    kind = "aoti"

    def __init__(self, path: str | Path, input_names: list[str], output_names: list[str],
                 options: RunnerOptions = RunnerOptions()) -> None:
        path = Path(path)
        check_consent(path, options.trust_pickle)
        self.options = options
        self.device = torch.device(options.device)
        if options.threads:
            torch.set_num_threads(options.threads)  # the package's OpenMP kernels use torch's thread pool size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self.model = torch._inductor.aoti_load_package(str(path))
        built_for = self.model.get_metadata().get("AOTI_DEVICE_KEY", "cpu")
        if built_for != self.device.type:
            # RuntimeError: the benchmarks word it as "cannot run on <device>" (backends.artifact_backend)
            raise RuntimeError(f"the package was compiled for {built_for}; re-run convert --to aoti on a "
                               f"{self.device.type} machine")
        self.input_names = list(input_names)
        self.output_names = list(output_names)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.input_names]
        with torch.inference_mode():
            outs = flatten_outputs(self.model(*args))
        names = self.output_names + [f"output_{i}" for i in range(len(self.output_names), len(outs))]
        return {n: t.detach().cpu().numpy() for n, t in zip(names, outs, strict=False)}

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "device": str(self.device), "threads": torch.get_num_threads(), **torch_session()}

    def close(self) -> None:
        self.model = None
