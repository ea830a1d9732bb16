"""onnxruntime session settings side by side: intra-op spinning on/off and the CPU memory arena on/off.

One ONNX model (default: ``modelport convert zoo:bert --to onnx`` into ``--work``), one session per setting,
each run in short blocks rotated over five rounds so that other jobs' load falls on every setting alike; prints
batch-1 latency p50/p90 (SingleStream's case) and batch-N samples/s (Offline's case) per setting. The question
it answers (docs/decisions.md, "Benchmarks: session settings per cell"): does turning intra-op spinning off help
latency-bound scenarios when the machine is busy? Not part of CI:

    python bench/ort_session.py [--model bert] [--threads 2] [--batch 32] [--seconds 20] [--work DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SETTINGS = {  # name: (allow_spinning, cpu memory arena)
    "default (spin, arena)": (True, True),
    "no spin": (False, True),
    "no arena": (True, False),
}


def session(path: Path, threads: int, spinning: bool, arena: bool):  # -> ort.InferenceSession
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_cpu_mem_arena = arena
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def blocks(sessions: dict, feed: dict[str, np.ndarray], seconds: float, rounds: int = 5) -> dict[str, list[float]]:
    """Each setting in blocks of ``seconds / rounds``, the settings rotated over ``rounds`` rounds. Not call by
    call: a spinning session's threads keep spinning after its call returns and slow whichever call comes next
    (interleaving one call each measured that, not the setting)."""
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for s in sessions.values():
        s.run(None, feed)
    keys = list(sessions)
    for r in range(rounds):
        for i in range(len(keys)):
            k = keys[(i + r) % len(keys)]
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / rounds or not times[k]:
                t = time.perf_counter()
                sessions[k].run(None, feed)
                times[k].append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--work", type=Path)
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="modelport-ort-session-"))
    run = work / a.model
    if not (run / "manifest.json").is_file():
        exe = Path(sys.executable).with_name("modelport")
        subprocess.run([str(exe), "convert", f"zoo:{a.model}", "--to", "onnx", "--no-validate", "--out", str(run),
                        "--quiet"], check=True)
    from modelport.manifest import load_manifest
    from modelport.spec import make_inputs

    m = load_manifest(run)
    path = run / next(x.path for x in m.artifacts if x.target == "onnx")
    sessions = {k: session(path, a.threads, *v) for k, v in SETTINGS.items()}
    names = [i.name for i in next(iter(sessions.values())).get_inputs()]
    print(f"{a.model}, {a.threads} intra-op threads, blocks rotated; load average before: "
          f"{open('/proc/loadavg').read().split()[:3]}")
    for batch in (1, a.batch):
        feed = {k: v for k, v in make_inputs(m.inputs, 0, batch=batch).items() if k in names}
        times = blocks(sessions, feed, a.seconds)
        for k, t in times.items():
            ms = np.array(t) * 1e3
            print(f"  batch {batch:<3} {k:<22} calls {len(t):>5}  p50 {np.percentile(ms, 50):8.2f} ms  "
                  f"p90 {np.percentile(ms, 90):8.2f} ms  samples/s {batch * len(t) / (sum(t)):8.1f}")
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
