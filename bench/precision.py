"""Reduced precision in one run: Offline throughput ratios and task-metric agreement, per target.

For each model (default resnet50 and bert): one ``modelport convert --to onnx --to pt2 --to torchscript
--precision fp32 --precision fp16 --precision bf16 --precision int8`` (ONNX int8: static QDQ with per-channel
weights for ResNet-50, dynamic MatMul for BERT; ``.pt2`` int8: PT2E with torchao's X86InductorQuantizer, run as
the plain ``ExportedProgram.module()``, not compiled; ``aoti`` int8: the same PT2E program compiled by
AOTInductor with freezing, oneDNN's int8 kernels; bf16 is built for TorchScript, ``.pt2`` and ``aoti``; the
convert gate at ``--quality`` is set low here so every artifact is built and its measured agreement is
printed), then one ``modelport bench --scenario Offline`` of every artifact and eager with the same
``--threads`` and ``--max-batch``, and a table: Offline samples/s, ratio to the fp32 artifact of the same target,
ratio to eager, and each artifact's agreement with the fp32 eager model (the zoo task metric on the gate's
seeded samples). For classifiers it also prints how many distinct classes the fp32 reference predicts on those
samples: a seeded (untrained) network may predict one class for every random input, and then any agreement is
1.0 and says nothing. Not part of CI; run on a quiet machine:

    python bench/precision.py [--model resnet50 --model bert] [--target onnx --target pt2 ...]
        [--precision fp32 --precision int8 ...] [--threads N] [--max-batch B] [--work DIR] [--compiled]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from os import getloadavg
from pathlib import Path
from typing import Any

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
TARGETS = ("onnx", "pt2", "torchscript", "aoti")


def modelport(*args: str) -> None:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args[:3])} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")


def convert(model: str, out: Path, targets: list[str], precisions: list[str]) -> dict[str, Any]:
    if not (out / "manifest.json").is_file():
        modelport("convert", f"zoo:{model}", *[a for t in targets for a in ("--to", t)],
                  *[a for p in precisions for a in ("--precision", p)],
                  "--quality", "0.01", "--out", str(out), "--quiet")
    return json.loads((out / "manifest.json").read_text())


def agreements(manifest: dict[str, Any]) -> dict[str, str]:
    out = {}
    for a in manifest["artifacts"]:
        gate = a["extra"].get("quality_gate", {}).get("results", [])
        out[a["id"]] = f"{gate[0]['output']} {gate[0]['agreement']:.4f}" if gate else "elementwise (fp32 gate)"
    return out


def distinct_predictions(model: str) -> str:
    """How many classes the fp32 eager model predicts on the gate's seeded samples (classifiers only)."""
    import numpy as np
    import torch

    from modelport import zoo
    from modelport.validators.agreement import gate_feeds

    entry = zoo.get(model)
    if entry.metric != "classification":
        return ""
    module, specs, preds = entry.build(0).eval(), entry.input_specs(), []
    with torch.no_grad():
        for feed in gate_feeds(entry, specs, 0, 100):  # the gate's own samples (the entry's generator)
            out = module(*[torch.from_numpy(feed[s.name]) for s in specs])
            preds += (out[0] if isinstance(out, tuple) else out).argmax(-1).tolist()
    return f"; the fp32 reference predicts {len(set(preds))} distinct classes (largest {np.bincount(preds).max()})"


def compiled_rates(run_dir: Path, model: str, threads: int) -> str:
    """``torch.compile`` (Inductor, ``freezing`` on: what matches PT2E's quantize/dequantize nodes into int8
    kernels) of the run's fp32 and int8 ``.pt2`` programs, 20 timed batches of 8, against the plain programs."""
    import time

    import torch
    import torch._inductor.config as inductor

    from modelport import zoo
    from modelport.runners.pt2_archive import load_program

    torch.set_num_threads(threads)
    inductor.freezing = True
    entry = zoo.get(model)
    feed = entry.samples(8, 7)
    args = tuple(torch.from_numpy(feed[s.name]) for s in entry.input_specs())

    def rate(fn: Any) -> float:
        with torch.no_grad():
            for _ in range(2):
                fn(*args)
            t0 = time.perf_counter()
            for _ in range(20):
                fn(*args)
        return 8 * 20 / (time.perf_counter() - t0)

    out = []
    for name in ("model.pt2", "model.int8.pt2"):
        program = load_program(run_dir / name).module()
        t0 = time.perf_counter()
        compiled = torch.compile(program)
        with torch.no_grad():
            compiled(*args)
        out.append(f"{name}: plain {rate(program):.1f}, compiled {rate(compiled):.1f} samples/s "
                   f"(compile {time.perf_counter() - t0:.0f} s)")
    return "; ".join(out)


def base_of(backend: str) -> str:
    """The fp32 artifact a reduced-precision one was made beside: onnx-opset17-int8 -> onnx-opset17."""
    for p in PRECISIONS[1:]:
        if backend.endswith(f"-{p}"):
            return backend.removesuffix(f"-{p}")
    return backend


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="zoo model (repeatable) [resnet50, bert]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--work", type=Path, help="keep run directories here (and reuse finished conversions)")
    ap.add_argument("--target", action="append", choices=TARGETS, help=f"(repeatable) [{', '.join(TARGETS)}]")
    ap.add_argument("--precision", action="append", choices=PRECISIONS,
                    help=f"(repeatable) [{', '.join(PRECISIONS)}]; torch fp16 runs through slow CPU kernels")
    ap.add_argument("--compiled", action="store_true", help="also time the fp32 and int8 .pt2 programs under "
                    "torch.compile (Inductor, freezing), batch 8")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="modelport-precision-"))
    for model in a.model or ["resnet50", "bert"]:
        run_dir = work / model
        manifest = convert(model, run_dir, a.target or list(TARGETS), a.precision or list(PRECISIONS))
        # --trust-pickle: this script built the AOTInductor packages ("AOTInductor packages: native code, loaded
        # only when we built it"), and the bench runs in a second process
        trust = ["--trust-pickle"] if "aoti" in (a.target or TARGETS) else []
        modelport("bench", str(run_dir), "--scenario", "Offline", "--profile", a.profile, "--threads",
                  str(a.threads), "--max-batch", str(a.max_batch), "--quiet", *trust)
        cells = json.loads((run_dir / "results.json").read_text())["cells"]
        qps = {b: c["Offline"]["metrics"]["samples_per_second"] for b, c in cells.items()}
        agree = agreements(manifest)
        print(f"\n{model}: Offline samples/s, {a.threads} threads, max batch {a.max_batch}, load average "
              f"{getloadavg()[0]:.1f} ({run_dir}){distinct_predictions(model)}")
        print(f"{'backend':<20} {'Offline/s':>10} {'x fp32':>7} {'x eager':>8}  agreement with fp32 eager")
        for b, v in qps.items():
            fp32 = qps.get(base_of(b), v)
            print(f"{b:<20} {v:>10.1f} {v / fp32:>7.2f} {v / qps['eager']:>8.2f}  {agree.get(b, 'reference')}")
        if a.compiled and (run_dir / "model.int8.pt2").is_file():
            print(f"compiled, batch 8: {compiled_rates(run_dir, model, a.threads)} (load {getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
