"""The same ONNX artifact in-process and through MLServer on loopback (gRPC and REST JSON), side by side.

One ``modelport convert --to onnx`` of a zoo model, then, with the same intra-op threads and the same Server
latency bound everywhere:

1. sequential batch-1 latency: the artifact's onnxruntime runner in this process vs one OIP request at a time
   to MLServer (``modelport serve``'s runtime), median of ``--requests`` calls: the overhead per sample;
2. ``modelport bench --artifact onnx-opset17 --max-batch 1`` (in-process, one sample per inference, as the
   QDL sends one request per sample) vs ``modelport bench --sut-url grpc://...`` and ``--sut-url http://...``:
   Offline samples/s and the highest passing Server QPS, their ratios to in-process, and the Offline overhead
   per sample (1/throughput difference).

Not part of CI; run it on a quiet machine (client, server and LoadGen share its cores):

    python bench/network.py [--model tiny-cnn] [--threads 1] [--profile quick] [--max-in-flight 8]
                            [--server-latency-ms 50] [--requests 300] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from modelport.benchmarks.network_sut import NetworkOptions, NetworkRunner
from modelport.benchmarks.qsl import SampleLibrary
from modelport.manifest import load_manifest
from modelport.runners import RunnerOptions, load_runner
from modelport.serving.model_info import describe_artifact
from modelport.serving.server_process import MLServerProcess

ARTIFACT = "onnx-opset17"


def modelport(*args: str) -> None:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args[:3])} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")


def median_ms(infer: Any, feeds: list[dict[str, Any]]) -> float:
    for feed in feeds[:10]:  # warm-up
        infer(feed)
    times = []
    for feed in feeds:
        t = time.perf_counter()
        infer(feed)
        times.append(time.perf_counter() - t)
    return median(times) * 1e3


def bench_cells(run_dir: Path, backend: str, *args: str) -> dict[str, float]:
    modelport("bench", str(run_dir), "--scenario", "Offline,Server", "--quiet", *args)
    cells = json.loads((run_dir / "results.json").read_text())["cells"][backend]
    return {"offline": cells["Offline"]["metrics"]["samples_per_second"],
            "server": cells["Server"]["metrics"].get("max_valid_qps") or 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-cnn", help="zoo model [tiny-cnn]")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads, in-process and in the server")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--max-in-flight", type=int, default=8)
    ap.add_argument("--server-latency-ms", type=float, default=50.0)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--work", type=Path, help="keep the run directory here (and reuse a finished conversion)")
    a = ap.parse_args()
    run_dir = (a.work or Path(tempfile.mkdtemp(prefix="modelport-network-"))) / a.model
    if not (run_dir / "manifest.json").is_file():
        modelport("convert", f"zoo:{a.model}", "--to", "onnx", "--out", str(run_dir), "--quiet")
    manifest = load_manifest(run_dir)
    qsl = SampleLibrary(manifest.inputs, a.requests, a.requests, seed=manifest.seed)
    qsl.load(list(range(a.requests)))
    feeds = [qsl.sample(i) for i in range(a.requests)]
    names = [s.name for s in manifest.inputs]
    runner = load_runner("onnx", run_dir / "model.opset17.onnx", names, manifest.output_names,
                         RunnerOptions(threads=a.threads))
    latency = {"in-process": median_ms(runner.infer, feeds)}
    runner.close()
    common = ["--threads", str(a.threads), "--profile", a.profile, "--server-latency-ms", str(a.server_latency_ms)]
    rows = {"in-process": bench_cells(run_dir, ARTIFACT, "--artifact", ARTIFACT, "--max-batch", "1", *common)}
    model = describe_artifact(run_dir, ARTIFACT)
    with MLServerProcess(model, threads=a.threads) as server:
        for proto, label in (("grpc", "MLServer gRPC"), ("http", "MLServer REST JSON")):
            url = server.urls[proto]
            net = NetworkOptions([url], model.name, a.max_in_flight).checked()
            client = NetworkRunner(net, names, list(manifest.output_names), [t.name for t in model.outputs])
            latency[label] = median_ms(client.infer, feeds)
            client.close()
            rows[label] = bench_cells(run_dir, f"network-{model.name}", "--sut-url", url, "--model", model.name,
                                      "--max-in-flight", str(a.max_in_flight), *common)
    report(a, run_dir, latency, rows)


def report(a: argparse.Namespace, run_dir: Path, latency: dict[str, float], rows: dict[str, dict[str, float]]) -> None:
    base, base_lat = rows["in-process"], latency["in-process"]
    print(f"\n{a.model} ONNX, {a.threads} intra-op thread(s), profile {a.profile}, Server bound "
          f"{a.server_latency_ms:g} ms, in-flight cap {a.max_in_flight} ({run_dir})")
    print(f"{'path':<20} {'batch-1 ms':>10} {'+ms/sample':>10} {'Offline/s':>10} {'x':>6} {'+ms/sample':>10} "
          f"{'Server QPS':>10} {'x':>6}")
    for label, r in rows.items():
        lat = latency[label]
        off_over = 1e3 / r["offline"] - 1e3 / base["offline"] if r["offline"] else float("nan")
        server_x = r["server"] / base["server"] if base["server"] else float("nan")
        print(f"{label:<20} {lat:>10.3f} {lat - base_lat:>10.3f} {r['offline']:>10.1f} "
              f"{r['offline'] / base['offline']:>6.2f} {off_over:>10.3f} {r['server']:>10.1f} {server_x:>6.2f}")


if __name__ == "__main__":
    main()
