"""What ``modelport convert`` costs over the bare exports, on ResNet-50 (TorchScript + ONNX opset 17).

Bare: ``torch.jit.script`` + ``.save`` and ``torch.onnx.export(dynamo=False, opset_version=17)`` with a dynamic
batch axis, on the same module; nothing checked. modelport: ``convert`` as a library call (with and without
``--validate``, the full validators report) and the ``modelport convert`` CLI in a subprocess (which also pays
for starting Python and importing torch). Each is repeated; the median and the ratio to bare are printed.
Not part of CI; run on a quiet machine:

    python bench/convert.py [--model resnet50] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch


def bare(model: str, work: Path) -> float:
    from modelport import zoo

    entry = zoo.get(model)
    module = entry.build(seed=0)
    specs = entry.input_specs()
    args = tuple(torch.zeros(s.shape, dtype=getattr(torch, s.dtype)) for s in specs)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module).save(str(work / "bare.ts"))
        torch.onnx.export(module, args, str(work / "bare.onnx"), dynamo=False, opset_version=17,
                          input_names=[s.name for s in specs], output_names=list(entry.output_names),
                          dynamic_axes={s.name: dict(s.dynamic_axes) for s in specs})
    return time.perf_counter() - t0


def library(model: str, work: Path, validate: bool) -> float:
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert

    out = work / f"lib-{validate}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    convert(f"zoo:{model}", ConvertOptions(targets=("torchscript", "onnx"), opsets=(17,), validate=validate, out=out))
    return time.perf_counter() - t0


def cli(model: str, work: Path) -> float:
    out = work / f"cli-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "modelport.cli", "convert", f"zoo:{model}", "--to", "torchscript",
                    "--to", "onnx", "--opset", "17", "--out", str(out), "--quiet"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelport-bench-convert-"))
    try:
        bare(a.model, work)  # warm-up: imports, first-call costs
        library(a.model, work, validate=False)
        runs: dict[str, list[float]] = {"bare": [], "library --no-validate": [], "library": [], "cli": []}
        for _ in range(a.repeat):
            runs["bare"].append(bare(a.model, work))
            runs["library --no-validate"].append(library(a.model, work, validate=False))
            runs["library"].append(library(a.model, work, validate=True))
            runs["cli"].append(cli(a.model, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    result: dict[str, Any] = {
        "model": a.model, "repeat": a.repeat, "torch": torch.__version__,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "ratio_to_bare": {k: round(v / med["bare"], 2) for k, v in med.items() if k != "bare"},
        "all_s": {k: [round(x, 3) for x in v] for k, v in runs.items()},
    }
    if a.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{a.model}: TorchScript + ONNX opset 17, median of {a.repeat} (torch {torch.__version__})")
    for k, v in med.items():
        ratio = "" if k == "bare" else f"  x{v / med['bare']:.2f} of bare"
        print(f"  {k:<24} {v:7.2f} s{ratio}")


if __name__ == "__main__":
    main()
