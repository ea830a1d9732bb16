"""Every artifact kind against eager, through ``modelport bench``: Offline throughput and SingleStream p90.

For each model (default resnet50 and bert): one ``modelport convert`` to frozen TorchScript, ``.pt2``,
AOTInductor and ONNX opset 17 with ``--optimize O1 --optimize O3`` (every artifact gated against eager), then
one ``modelport bench`` of all of them and eager in Offline and SingleStream, and a table of each artifact's
figures as a ratio to eager (Offline: higher is better; SingleStream p90: lower is better, so the ratio
printed is eager p90 / artifact p90, where above 1 means faster too). Not part of CI; run on a quiet machine:

    python bench/artifacts.py [--model resnet50 --model bert] [--device cpu|cuda] [--profile quick]
                              [--threads N] [--work DIR] [--with-compiled-eager] [--repeat N]
                              [--duration-ms MS] [--json]

``--direct B,B,...`` adds a plain loop over each runner at those batch sizes (samples/s, same threads, the
order of backends rotated each round), which separates an artifact's own speed from the harness's choices.

The bench runs in a second process, so it passes --trust-pickle for the AOTInductor package (docs/decisions.md,
"AOTInductor packages: native code, loaded only when we built it"): this script built that run directory.
``--work DIR`` keeps the run directories and reuses a finished conversion (the AOTInductor compile is minutes).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGETS = ("torchscript", "pt2", "aoti", "onnx")
LEVELS = ("O1", "O3")
#: the reason printed beside an artifact below 0.9x eager (docs/decisions.md, "Fast artifacts: measured")
KNOWN_SLOW = {"pt2": "the .pt2 runs as ExportedProgram.module() in Python: a portable program, not a compiled one"}


def modelport(*args: str) -> str:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args[:3])} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return res.stdout


def convert(model: str, out: Path) -> dict[str, Any]:
    if not (out / "manifest.json").is_file():
        modelport("convert", f"zoo:{model}", *[a for t in TARGETS for a in ("--to", t)],
                  *[a for lv in LEVELS for a in ("--optimize", lv)], "--out", str(out), "--quiet")
    return json.loads((out / "manifest.json").read_text())


def bench(run_dir: Path, device: str, profile: str, threads: int | None, compiled: bool,
          repeat: int = 1, duration_ms: int | None = None) -> dict[str, Any]:
    # --repeat: each cell's headline is the median of that many LoadGen runs (modelport bench --repeat);
    # --duration-ms: longer runs than the profile's (quick: 3 s, where BERT's Offline cell moves 15-20%)
    args = ["bench", str(run_dir), "--scenario", "Offline,SingleStream", "--profile", profile, "--device", device,
            "--repeat", str(repeat), "--trust-pickle", "--quiet",
            *(["--duration-ms", str(duration_ms)] if duration_ms else [])]
    modelport(*args, *(["--threads", str(threads)] if threads else []),
              *(["--with-compiled-eager"] if compiled else []))
    return json.loads((run_dir / "results.json").read_text())


def rows(results: dict[str, Any], manifest: dict[str, Any]) -> list[dict[str, Any]]:
    cells = results["cells"]
    base_qps = cells["eager"]["Offline"]["metrics"]["samples_per_second"]
    base_p90 = cells["eager"]["SingleStream"]["metrics"]["latency_p90_ms"]
    compile_s = {a["id"]: a["extra"].get("compile_time_s") for a in manifest["artifacts"]}
    compile_s.update({b: r["compile_time_s"] for b, r in results["backends"].items() if "compile_time_s" in r})
    out = []
    for backend, by_scenario in cells.items():
        qps = by_scenario["Offline"]["metrics"]["samples_per_second"]
        p90 = by_scenario["SingleStream"]["metrics"]["latency_p90_ms"]
        runner = results["backends"].get(backend, {}).get("runner", {})
        ratio = qps / base_qps
        out.append({"backend": backend, "offline_sps": qps, "offline_ratio": ratio, "ss_p90_ms": p90,
                    "ss_speedup": base_p90 / p90, "ort_level": runner.get("graph_optimization_level"),
                    "compile_s": compile_s.get(backend),
                    "note": KNOWN_SLOW.get(backend, "below 0.9x eager, not explained yet: docs/decisions.md, "
                                                         "\"Fast artifacts: measured\"") if ratio < 0.9 else ""})
    return out


def direct(run_dir: Path, batches: list[int], threads: int, seconds: float = 1.5) -> dict[int, dict[str, float]]:
    """samples/s of ``runner.infer`` in a loop at each batch size, per backend (eager through its runner too)."""
    import time

    from modelport.manifest import load_manifest
    from modelport.runners import RunnerOptions, load_runner
    from modelport.runners.torch_runners import TorchModuleRunner
    from modelport.sources import reload_source
    from modelport.spec import make_inputs

    m = load_manifest(run_dir)
    names = [s.name for s in m.inputs]
    opts = RunnerOptions(threads=threads, trust_pickle=True)  # this script built the run directory
    runners = {"eager": TorchModuleRunner(reload_source(m.source, seed=m.seed), names, m.output_names, opts)}
    for a in m.artifacts:
        runners[a.id] = load_runner(a.target, run_dir / a.path, names, m.output_names, opts)
    out: dict[int, dict[str, float]] = {}
    for b in batches:
        feed = make_inputs(m.inputs, m.seed, batch=b)
        out[b] = {}
        for i in range(len(runners)):  # rotated so that drifting load does not always hit the same backend
            key = list(runners)[(i + b) % len(runners)]
            for _ in range(3):
                runners[key].infer(feed)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                runners[key].infer(feed)
                n += 1
            out[b][key] = n * b / (time.perf_counter() - t0)
    return out


def print_direct(model: str, table: dict[int, dict[str, float]]) -> None:
    print(f"\n{model}: runner.infer loop, samples/s (x eager)")
    for b, by_backend in table.items():
        base = by_backend["eager"]
        print(f"  batch {b:<3} " + "  ".join(f"{k} {v:.1f} ({v / base:.2f})" for k, v in by_backend.items()))


def print_table(model: str, device: str, table: list[dict[str, Any]]) -> None:
    print(f"\n{model} ({device}): ratios to eager, Offline samples/s and SingleStream p90 (eager p90 / artifact p90)")
    print(f"{'backend':<18} {'Offline/s':>10} {'x eager':>8} {'SS p90 ms':>10} {'x eager':>8}  note")
    for r in table:
        extra = f"ORT {r['ort_level']}" if r["ort_level"] else (f"compiled in {r['compile_s']:.0f} s"
                                                                 if r["compile_s"] else "")
        note = "; ".join(x for x in (extra, r["note"]) if x)
        print(f"{r['backend']:<18} {r['offline_sps']:>10.1f} {r['offline_ratio']:>8.2f} {r['ss_p90_ms']:>10.3f} "
              f"{r['ss_speedup']:>8.2f}  {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="zoo model (repeatable) [resnet50, bert]")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--work", type=Path, help="keep run directories here (and reuse finished conversions)")
    ap.add_argument("--direct", help="also a plain runner loop at these batch sizes, e.g. 1,8,32")
    ap.add_argument("--with-compiled-eager", action="store_true", help="also bench torch.compile'd eager")
    ap.add_argument("--repeat", type=int, default=1, help="LoadGen runs per cell, median taken (a busy machine)")
    ap.add_argument("--duration-ms", type=int, help="minimum duration of each LoadGen run [the profile's]")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="modelport-artifacts-"))
    report: dict[str, Any] = {}
    for model in a.model or ["resnet50", "bert"]:
        run_dir = work / f"{model}-{a.device}"
        manifest = convert(model, run_dir)
        table = rows(bench(run_dir, a.device, a.profile, a.threads, a.with_compiled_eager, a.repeat,
                                a.duration_ms), manifest)
        report[model] = {"bench": table}
        if not a.json:
            print_table(model, a.device, table)
        if a.direct:
            loops = direct(run_dir, [int(b) for b in a.direct.split(",")], a.threads or 2)
            report[model]["direct"] = loops
            if not a.json:
                print_direct(model, loops)
    if a.json:
        print(json.dumps(report, indent=1))
    elif not a.work:
        print(f"\nrun directories: {work}")


if __name__ == "__main__":
    main()
