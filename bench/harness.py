"""Benchmark-harness overhead and backend speed, measured (not a test; run it on a quiet machine).

1. Offline throughput of one backend (``--backend onnx``: the ONNX artifact; ``eager``: the eager model) of
   ResNet-50 (``--model``) through ``modelport bench`` against a bare loop over the same runner, the same
   samples, batch and threads, in one run: bare, bench, bare, bench, bare (medians compared, so drifting
   machine load hits both alike). Target ratio >= 0.97 (onnx), >= 0.95 (eager).
2. onnxruntime vs eager PyTorch for every zoo model at batch 1 (median latency, same threads).

    python bench/harness.py [--backend onnx|eager] [--model resnet50] [--threads N] [--duration-s S] [--batch B]
                            [--skip-offline] [--skip-zoo] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from modelport import zoo
from modelport.benchmarks.qsl import SampleLibrary
from modelport.manifest import load_manifest
from modelport.runners import RunnerOptions, load_runner
from modelport.runners.torch_runners import TorchModuleRunner
from modelport.spec import make_inputs


def modelport(*args: str) -> str:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return res.stdout


def convert(source: str, out: Path, targets: tuple[str, ...] = ("onnx",)) -> Path:
    if not (out / "manifest.json").is_file():
        modelport("convert", source, *[a for t in targets for a in ("--to", t)], "--out", str(out),
                  "--no-validate", "--quiet")
    return out


def _runner(run_dir: Path, backend: str, threads: int) -> Any:
    m = load_manifest(run_dir)
    names, opts = [s.name for s in m.inputs], RunnerOptions("cpu", threads, 1)
    if backend == "eager":
        return TorchModuleRunner(zoo.entry_for_source(m.source.spec).build(seed=m.seed), names, m.output_names,
                                 opts)
    art = next(a for a in m.artifacts if a.target == "onnx")
    return load_runner("onnx", run_dir / art.path, names, m.output_names, opts)


def bare_offline(run_dir: Path, backend: str, batch: int, threads: int, total: int, seconds: float) -> float:
    """samples/s of a plain loop: the same samples (from the QSL), stacked into full batches, one call each."""
    m = load_manifest(run_dir)
    runner = _runner(run_dir, backend, threads)
    qsl = SampleLibrary(m.inputs, total, total, m.seed)
    qsl.load(range(total))
    batches = [qsl.batch([(i + j) % total for j in range(batch)]) for i in range(0, total, batch)]
    for _ in range(2):
        runner.infer(batches[0])
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        runner.infer(batches[(n // batch) % len(batches)])
        n += batch
    return n / (time.perf_counter() - t0)


def bench_offline(run_dir: Path, backend: str, batch: int, threads: int, total: int,
                  seconds: float) -> dict[str, Any]:
    out = json.loads(modelport("bench", str(run_dir), "--scenario", "Offline", "--artifact", "onnx-opset17",
                               "--no-accuracy", "--max-batch", str(batch), "--threads", str(threads),
                               "--total-samples", str(total), "--duration-ms", str(int(seconds * 1000)),
                               "--json", "--quiet"))
    cell = out["results"]["cells"]["eager" if backend == "eager" else "onnx-opset17"]["Offline"]
    return {"samples_per_second": cell["metrics"]["samples_per_second"], "validity": cell["validity"],
            "batch_sizes": cell.get("batch_sizes"), "query_samples": cell["effective_settings"].get(
                "samples_per_query")}


def offline_ratio(work: Path, model: str, backend: str, batch: int, threads: int, seconds: float,
                  repeat: int) -> dict[str, Any]:
    run_dir = convert(f"zoo:{model}", work / model)
    total = 64
    bare = [bare_offline(run_dir, backend, batch, threads, total, seconds)]
    benches = []
    for _ in range(repeat):  # bare, bench, bare, bench, ..., bare: drifting load hits both alike
        benches.append(bench_offline(run_dir, backend, batch, threads, total, seconds))
        bare.append(bare_offline(run_dir, backend, batch, threads, total, seconds))
    bench_median = statistics.median(b["samples_per_second"] for b in benches)
    return {"model": model, "backend": backend, "batch": batch, "threads": threads,
            "bare_samples_per_second": bare, "bench": benches, "ratio": bench_median / statistics.median(bare),
            "target": 0.95 if backend == "eager" else 0.97}


def median_latency(fn: Any, feed: dict[str, np.ndarray], seconds: float) -> float:
    for _ in range(3):
        fn(feed)
    times: list[float] = []
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        t = time.perf_counter()
        fn(feed)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def zoo_table(work: Path, threads: int, seconds: float) -> list[dict[str, Any]]:
    rows = []
    for name in zoo.names():
        entry = zoo.get(name)
        run_dir = convert(f"zoo:{name}", work / name)
        m = load_manifest(run_dir)
        art = next(a for a in m.artifacts if a.target == "onnx")
        opts = RunnerOptions("cpu", threads, 1)
        names = [s.name for s in m.inputs]
        eager = TorchModuleRunner(entry.build(seed=m.seed), names, m.output_names, opts)
        ort = load_runner("onnx", run_dir / art.path, names, m.output_names, opts)
        feed = make_inputs(m.inputs, 0, batch=1)
        e = median_latency(eager.infer, feed, seconds)
        o = median_latency(ort.infer, feed, seconds)
        rows.append({"model": name, "eager_ms": e * 1e3, "onnxruntime_ms": o * 1e3, "speedup": e / o})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["onnx", "eager"], default="onnx", help="Offline: the backend measured")
    ap.add_argument("--model", default="resnet50", help="Offline: the zoo model")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--duration-s", type=float, default=20.0, help="Offline: seconds per measurement")
    ap.add_argument("--zoo-seconds", type=float, default=3.0, help="batch-1 latency: seconds per backend")
    ap.add_argument("--work", type=Path, default=None, help="keep converted models here (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=2, help="Offline: bench runs (each between two bare runs)")
    ap.add_argument("--skip-offline", action="store_true")
    ap.add_argument("--skip-zoo", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work_ctx = tempfile.TemporaryDirectory() if args.work is None else None
    work = Path(work_ctx.name) if work_ctx else args.work
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"threads": args.threads}
    if not args.skip_offline:
        out["offline"] = offline_ratio(work, args.model, args.backend, args.batch, args.threads, args.duration_s,
                                       args.repeat)
    if not args.skip_zoo:
        out["zoo_batch1"] = zoo_table(work, args.threads, args.zoo_seconds)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    if "offline" in out:
        o = out["offline"]
        print(f"{o['model']} {o['backend']} Offline, batch {o['batch']}, {o['threads']} threads:")
        print(f"  bare {o['backend']} loop : {', '.join(f'{v:.2f}' for v in o['bare_samples_per_second'])} samples/s")
        for b in o["bench"]:
            print(f"  modelport bench       : {b['samples_per_second']:.2f} samples/s ({b['validity']}, "
                  f"batches {b['batch_sizes']})")
        print(f"  ratio of medians bench / bare : {o['ratio']:.3f} (target >= {o['target']})")
    if "zoo_batch1" in out:
        print(f"batch 1, {args.threads} threads, median latency:")
        print(f"  {'model':<18}{'eager ms':>10}{'ORT ms':>10}{'ORT speed-up':>14}")
        for r in out["zoo_batch1"]:
            print(f"  {r['model']:<18}{r['eager_ms']:>10.3f}{r['onnxruntime_ms']:>10.3f}{r['speedup']:>13.2f}x")
    if work_ctx:
        work_ctx.cleanup()


if __name__ == "__main__":
    main()
