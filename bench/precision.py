"""fp32 vs fp16 vs int8 ONNX artifacts in one run: Offline throughput ratios and task-metric agreement.

For each model (default resnet50 and bert): one ``modelport convert --precision fp32 --precision fp16
--precision int8`` (ResNet-50: static QDQ int8, per-channel weights; BERT: dynamic MatMul int8; the convert
gate at ``--quality`` is set low here so every artifact is built and its measured agreement is printed), then
one ``modelport bench --scenario Offline`` of every artifact and eager with the same ``--threads`` and
``--max-batch``, and a table: Offline samples/s, ratio to the fp32 ONNX artifact, ratio to eager, and each
artifact's agreement with the fp32 eager model (the zoo task metric on seeded samples). Not part of CI; run on
a quiet machine:

    python bench/precision.py [--model resnet50 --model bert] [--threads N] [--max-batch B] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PRECISIONS = ("fp32", "fp16", "int8")


def modelport(*args: str) -> None:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args[:3])} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")


def convert(model: str, out: Path) -> dict[str, Any]:
    if not (out / "manifest.json").is_file():
        modelport("convert", f"zoo:{model}", *[a for p in PRECISIONS for a in ("--precision", p)],
                  "--quality", "0.01", "--out", str(out), "--quiet")
    return json.loads((out / "manifest.json").read_text())


def agreements(manifest: dict[str, Any]) -> dict[str, str]:
    out = {}
    for a in manifest["artifacts"]:
        gate = a["extra"].get("quality_gate", {}).get("results", [])
        out[a["id"]] = f"{gate[0]['output']} {gate[0]['agreement']:.4f}" if gate else "elementwise (fp32 gate)"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="zoo model (repeatable) [resnet50, bert]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--work", type=Path, help="keep run directories here (and reuse finished conversions)")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="modelport-precision-"))
    for model in a.model or ["resnet50", "bert"]:
        run_dir = work / model
        manifest = convert(model, run_dir)
        modelport("bench", str(run_dir), "--scenario", "Offline", "--profile", a.profile, "--threads",
                  str(a.threads), "--max-batch", str(a.max_batch), "--quiet")
        cells = json.loads((run_dir / "results.json").read_text())["cells"]
        qps = {b: c["Offline"]["metrics"]["samples_per_second"] for b, c in cells.items()}
        fp32 = next(k for k in qps if k.startswith("onnx") and k.count("-") == 1)
        agree = agreements(manifest)
        print(f"\n{model}: Offline samples/s, {a.threads} threads, max batch {a.max_batch} ({run_dir})")
        print(f"{'backend':<20} {'Offline/s':>10} {'x fp32':>7} {'x eager':>8}  agreement with fp32 eager")
        for b, v in qps.items():
            print(f"{b:<20} {v:>10.1f} {v / qps[fp32]:>7.2f} {v / qps['eager']:>8.2f}  {agree.get(b, 'reference')}")


if __name__ == "__main__":
    main()
