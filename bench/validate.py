"""What the full validation costs over the least anyone would do by hand, on ResNet-50 (ONNX + TorchScript).

"Bare loop": open an onnxruntime session and torch.jit.load the TorchScript file, then run eager, onnxruntime
and TorchScript on the very same input sets the validator uses and take the max abs difference per output.
"Validation": ``validate_run`` on the same run directory, (a) with the eager module passed in (what
``convert`` does) and (b) rebuilding it from the manifest (what ``modelport validate RUN_DIR`` does).
Each is repeated; the median is reported with the ratio validation / bare loop. Run on a quiet machine:

    python bench/validate.py [--model resnet50] [--repeat 3] [--run-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch


def make_run(model: str, out: Path) -> Path:
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert

    convert(f"zoo:{model}", ConvertOptions(targets=("onnx", "torchscript"), validate=False, out=out))
    return out


def timed(fn, *args, **kwargs) -> tuple[float, float]:
    """(wall seconds, process CPU seconds over all threads): CPU time is less disturbed by other load."""
    w, c = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - w, time.process_time() - c


def bare_loop(run_dir: Path, module: torch.nn.Module) -> float:
    """Load both artifacts, run eager + both on the validator's input sets, compute max abs diffs."""
    import onnxruntime as ort

    from modelport.manifest import load_manifest
    from modelport.validators.inputs import generated_sets

    t0 = time.perf_counter()
    manifest = load_manifest(run_dir)
    names = [s.name for s in manifest.inputs]
    onnx_art = next(a for a in manifest.artifacts if a.target == "onnx")
    ts_art = next(a for a in manifest.artifacts if a.target == "torchscript")
    session = ort.InferenceSession(str(run_dir / onnx_art.path), providers=["CPUExecutionProvider"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(run_dir / ts_art.path))
    worst = 0.0
    for s in generated_sets(manifest.inputs, manifest.seed):
        args = [torch.from_numpy(s.feed[n]) for n in names]
        with torch.inference_mode():
            ref = module(*args)
            ts = scripted(*args)
        ref_t = [ref] if isinstance(ref, torch.Tensor) else list(ref)
        ts_t = [ts] if isinstance(ts, torch.Tensor) else list(ts)
        ort_out = session.run(None, s.feed)
        for r, a, b in zip(ref_t, ts_t, ort_out, strict=True):
            r = r.numpy()
            worst = max(worst, float(np.abs(r - a.numpy()).max()), float(np.abs(r - b).max()))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--run-dir", type=Path, help="an existing run directory with onnx + torchscript artifacts")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from modelport import zoo
    from modelport.validators import validate_run

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or make_run(args.model, Path(tmp) / args.model)
        t = time.perf_counter()
        module = zoo.get(args.model).build(seed=0)
        build_s = time.perf_counter() - t
        bare_loop(run_dir, module)  # warm-up: first-call costs (thread pools, allocator) out of the medians
        bare, given, rebuilt = [], [], []
        for _ in range(args.repeat):
            bare.append(timed(bare_loop, run_dir, module))
            given.append(timed(validate_run, run_dir, reference=module))
            rebuilt.append(timed(validate_run, run_dir))
        report = validate_run(run_dir, reference=module)

        def med(xs: list[tuple[float, float]], i: int) -> float:
            return statistics.median(x[i] for x in xs)

        result: dict[str, Any] = {
            "model": args.model,
            "repeat": args.repeat,
            "input_sets": [s["name"] for s in report.input_sets],
            "artifacts": [a.id for a in report.artifacts],
            "passed": report.passed,
            "bare_loop_s": med(bare, 0),
            "validate_with_reference_s": med(given, 0),
            "validate_rebuilding_reference_s": med(rebuilt, 0),
            "bare_loop_cpu_s": med(bare, 1),
            "validate_with_reference_cpu_s": med(given, 1),
            "validate_rebuilding_reference_cpu_s": med(rebuilt, 1),
            "zoo_build_s": build_s,
            "load_time_s": {a.id: round(a.load_time_s, 3) for a in report.artifacts},
        }
        result["ratio_with_reference"] = result["validate_with_reference_s"] / result["bare_loop_s"]
        result["ratio_rebuilding_reference"] = result["validate_rebuilding_reference_s"] / result["bare_loop_s"]
        result["cpu_ratio_with_reference"] = result["validate_with_reference_cpu_s"] / result["bare_loop_cpu_s"]
        result["cpu_ratio_rebuilding_reference"] = (result["validate_rebuilding_reference_cpu_s"]
                                                    / result["bare_loop_cpu_s"])
        result["load_average_1min"] = os.getloadavg()[0]
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(f"{args.model}: {', '.join(result['artifacts'])} on {len(result['input_sets'])} input sets "
          f"({', '.join(result['input_sets'])}); median of {args.repeat}")
    print(f"  {'':52s} {'wall':>8s} {'ratio':>6s} {'CPU':>8s} {'ratio':>6s}")
    for label, key, ratio in (("bare loop (load + eager/ORT/TorchScript + max abs)", "bare_loop", None),
                              ("validate_run, reference passed in", "validate_with_reference", "with_reference"),
                              ("validate_run, reference rebuilt from manifest", "validate_rebuilding_reference",
                               "rebuilding_reference")):
        r = f"{result['ratio_' + ratio]:5.2f}x" if ratio else ""
        c = f"{result['cpu_ratio_' + ratio]:5.2f}x" if ratio else ""
        print(f"  {label:52s} {result[key + '_s']:7.2f}s {r:>6s} {result[key + '_cpu_s']:7.2f}s {c:>6s}")
    print(f"  (1-minute load average at the end: {result['load_average_1min']:.1f})")


if __name__ == "__main__":
    main()
