"""The MLPerf zoo family, model by model: convert time, validation verdict, and ONNX Runtime against eager.

For each model (default: every small configuration; ``--full`` adds the full-size entries, minutes each on
2 cores): one ``modelport convert zoo:NAME --to onnx --to torchscript`` (timed, wall clock, every artifact
gated against eager), then one ``modelport bench`` of every artifact and eager in SingleStream (batch 1) and
Offline, and a row per model with each artifact's ratio to eager measured in that same bench run:
SingleStream p90 as eager p90 / artifact p90 (above 1: faster) and Offline samples/s as artifact / eager.
Not part of CI; absolute figures move with the machine's load, the ratios are what to read:

    python bench/zoo.py [--model rnnt-small ...] [--full] [--profile quick] [--work DIR] [--json]

``bert-large`` is the ``bert`` entry with ``--model-args '{"config": "large"}'`` (BERT-Large, 384 tokens);
the entry's default configuration (4 layers of 256, 128 tokens) is the ``bert`` row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SMALL = ("resnet50-small", "bert-small", "ssd-mobilenet-small", "ssd-resnet34-small", "3d-unet-small", "dlrm-small",
         "rnnt-small", "gnmt-small")
FULL = ("resnet50", "bert", "bert-large", "ssd-mobilenet", "ssd-resnet34", "3d-unet", "dlrm", "rnnt", "gnmt")
#: rows that are a zoo entry under model arguments: BERT-Large at MLPerf's size is the bert entry's large config
VARIANTS = {"bert-large": ("bert", '{"config": "large"}')}


def modelport(*args: str) -> tuple[int, str, str]:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    said = res.stderr.strip().splitlines()
    return res.returncode, res.stdout, said[-1] if said else ""


def measure(model: str, work: Path, profile: str) -> dict[str, Any]:
    out = work / model
    entry, model_args = VARIANTS.get(model, (model, None))
    start = time.perf_counter()
    code, _, err = modelport("convert", f"zoo:{entry}", *(["--model-args", model_args] if model_args else []),
                             "--to", "onnx", "--to", "torchscript", "--out", str(out), "--quiet")
    row: dict[str, Any] = {"model": model, "convert_s": round(time.perf_counter() - start, 1),
                           "convert_exit": code, "error": err if code else ""}
    if not (out / "manifest.json").is_file():
        return row
    validation = out / "validation.json"
    row["validation"] = ("passed" if json.loads(validation.read_text())["passed"] else "FAILED") \
        if validation.is_file() else "not run"
    code, _, err = modelport("bench", str(out), "--scenario", "SingleStream,Offline", "--profile", profile,
                             "--no-accuracy", "--quiet")
    if code != 0 or not (out / "results.json").is_file():
        return {**row, "error": f"bench exit {code}: {err}"}
    cells = json.loads((out / "results.json").read_text())["cells"]
    eager_p90 = cells["eager"]["SingleStream"]["metrics"]["latency_p90_ms"]
    eager_sps = cells["eager"]["Offline"]["metrics"]["samples_per_second"]
    row["eager_p90_ms"], row["eager_offline_sps"] = eager_p90, eager_sps
    for backend, by in cells.items():
        if backend != "eager":
            row[f"{backend} p90 x"] = eager_p90 / by["SingleStream"]["metrics"]["latency_p90_ms"]
            row[f"{backend} offline x"] = by["Offline"]["metrics"]["samples_per_second"] / eager_sps
    return row


def table(rows: list[dict[str, Any]]) -> str:
    ratio_cols = sorted({k for r in rows for k in r if k.endswith(" x")})
    head = ["model", "convert s", "validation", "eager p90 ms", "eager Offline/s", *ratio_cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        said = "; ".join(x for x in (r.get("validation"), r["error"]) if x)  # a failed bench keeps its verdict
        cells = [r["model"], f"{r['convert_s']:.1f}", said or "-",
                 f"{r['eager_p90_ms']:.2f}" if "eager_p90_ms" in r else "-",
                 f"{r['eager_offline_sps']:.1f}" if "eager_offline_sps" in r else "-",
                 *[f"{r[c]:.2f}x" if c in r else "-" for c in ratio_cols]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="zoo model (repeatable) [default: every small config]")
    ap.add_argument("--full", action="store_true", help="also the full-size entries (minutes each)")
    ap.add_argument("--profile", default="quick", choices=("tiny", "quick"))
    ap.add_argument("--work", type=Path, help="keep run directories here [default: a temporary folder]")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    models = args.model or [*SMALL, *(FULL if args.full else ())]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for model in models:
            rows.append(measure(model, work, args.profile))
            # each row as soon as it is measured: a long --full run that is stopped still leaves its figures
            print(f"{model}: done {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else table(rows))


if __name__ == "__main__":
    main()
