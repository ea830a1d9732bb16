"""Fan-out: the wall-clock of one conversion + validation matrix on the serial, process and Ray executors.

The matrix is 2 models x 2 ONNX opsets (four cells of similar work; default resnet50-small and bert-small at
opsets 13 and 17). Each executor gets a fresh run directory; its start-up (a local Ray: seconds) is timed
apart from the matrix, and the table gives both, with each executor's ratio to serial. Benchmark cells are
left out on purpose: they run one per machine on every executor, so on one machine they take the same time
on all three. Not part of CI; run on a quiet machine:

    python bench/fanout.py [--model resnet50-small --model bert-small] [--opset 13 --opset 17] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from modelport.benchmarks import BenchOptions, get_profile
from modelport.benchmarks.executors import make_executor
from modelport.benchmarks.matrix import Matrix
from modelport.benchmarks.matrix_run import convert_cells, plan_matrix
from modelport.benchmarks.options import usable_cores
from modelport.converters.options import ConvertOptions
from modelport.progress import Progress


def measure(name: str, matrix: Matrix, jobs: int, work: Path) -> dict[str, Any]:
    plan = plan_matrix(matrix, ConvertOptions(), BenchOptions(["Offline"], get_profile("tiny")), work / name)
    (plan.run_dir / "cells").mkdir(parents=True)
    t0 = time.perf_counter()
    with make_executor(name, jobs, None) as executor:
        t1 = time.perf_counter()
        done = convert_cells(plan.jobs, executor, Progress(enabled=False))
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    failed = [f"{cid}: {rec['error']}" for cid, rec in done.items() if not rec["ok"]]
    if failed:
        raise SystemExit(f"{name}: {failed[0]}")
    return {"start": t1 - t0, "matrix": t2 - t1, "stop": t3 - t2, "total": t3 - t0,
            "cells": sum(rec["wall_s"] for rec in done.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="zoo model (repeatable) [resnet50-small, bert-small]")
    ap.add_argument("--opset", action="append", help="ONNX opset (repeatable) [13, 17]")
    ap.add_argument("--jobs", type=int, default=usable_cores(), help="workers of process and ray [usable cores]")
    ap.add_argument("--work", type=Path, help="where the run directories go [a temporary directory]")
    args = ap.parse_args()
    models = [f"zoo:{m}" for m in (args.model or ["resnet50-small", "bert-small"])]
    matrix = Matrix(models, ("onnx",), tuple(int(o) for o in (args.opset or ["13", "17"])), ("fp32",), ["Offline"])
    work = args.work or Path(tempfile.mkdtemp(prefix="modelport-fanout-"))
    print(f"{len(matrix.cells)} cells ({', '.join(c.id for c in matrix.cells)}), jobs {args.jobs}, "
          f"{usable_cores()} usable cores, load average {os.getloadavg()[0]:.1f}, work {work}")
    rows = {name: measure(name, matrix, args.jobs, work) for name in ("serial", "process", "ray")}
    base = rows["serial"]
    print(f"{'executor':<9} {'start s':>8} {'matrix s':>9} {'stop s':>7} {'total s':>8} {'sum of cells s':>15} "
          f"{'matrix vs serial':>17} {'total vs serial':>16}")
    for name, r in rows.items():
        print(f"{name:<9} {r['start']:8.2f} {r['matrix']:9.2f} {r['stop']:7.2f} {r['total']:8.2f} {r['cells']:15.2f} "
              f"{base['matrix'] / r['matrix']:16.2f}x {base['total'] / r['total']:15.2f}x")


if __name__ == "__main__":
    main()
