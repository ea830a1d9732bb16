"""False alarms and detections of ``bench --baseline`` on this machine.

Converts tiny-cnn to ONNX once, saves a ``--repeat 3`` Offline baseline of it, then benches the same artifact
``--runs`` times against that baseline (every exit 5 is a false alarm) and ``--runs`` times with a slowdown
injected into the artifact's backend (each batch spins for an extra fraction of its own time, so throughput
drops by ``--slowdown``; every exit 5 is a detection). Prints both counts.

    .venv/bin/python bench/regression_noise.py [--runs 5] [--slowdown 0.2] [--tolerance 10%] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from modelport.benchmarks.backends import Backend
from modelport.cli import main

ONNX = "onnx-opset17"


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def slow_down(fraction: float) -> None:
    """Throughput of the artifact lower by ``fraction``: every batch takes 1 / (1 - fraction) as long."""
    infer = Backend.infer
    extra = 1 / (1 - fraction) - 1

    def slower(self: Backend, feed: dict) -> dict:
        t0 = time.perf_counter()
        out = infer(self, feed)
        if self.id == ONNX:
            until = time.perf_counter() + extra * (time.perf_counter() - t0)
            while time.perf_counter() < until:  # a spin: sleep's granularity is coarser than a batch
                pass
        return out

    Backend.infer = slower  # type: ignore[method-assign]


def verdict(run: Path) -> str:
    comparison = json.loads((run / "results.json").read_text())["baseline_comparison"]
    return "; ".join(c["verdict"] for c in comparison["compared"] if c["metric"].startswith(ONNX))


def main_(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--slowdown", type=float, default=0.2)
    ap.add_argument("--tolerance", default="10%")
    ap.add_argument("--repeat", default="3")
    ap.add_argument("--duration-ms", default="500")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="regression-noise-"))
    run, base = tmp / "run", tmp / "base.json"
    assert cli("convert", "zoo:tiny-cnn", "--to", "onnx", "--out", str(run), "--no-validate", "--quiet") == 0
    bench = ["bench", str(run), "--profile", "tiny", "--duration-ms", a.duration_ms, "--scenario", "Offline",
             "--total-samples", "64", "--max-batch", "8", "--threads", "1", "--no-accuracy", "--artifact", ONNX,
             "--repeat", a.repeat, "--quiet"]
    assert cli(*bench, "--save-baseline", str(base)) == 0
    against = [*bench, "--baseline", str(base), "--tolerance", a.tolerance]
    alarms = 0
    for i in range(a.runs):
        code = cli(*against)
        alarms += code == 5
        print(f"same artifact   {i + 1}: exit {code}  {verdict(run)}", flush=True)
    slow_down(a.slowdown)
    hits = 0
    for i in range(a.runs):
        code = cli(*against)
        hits += code == 5
        print(f"{a.slowdown:.0%} slower     {i + 1}: exit {code}  {verdict(run)}", flush=True)
    print(f"false alarms: {alarms} of {a.runs}; detections of a {a.slowdown:.0%} slowdown: {hits} of {a.runs} "
          f"(--repeat {a.repeat}, --tolerance {a.tolerance}, Offline, tiny-cnn ONNX)")


if __name__ == "__main__":
    main_(sys.argv[1:])
