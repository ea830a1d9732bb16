"""How often TEST04 passes on a correct SUT, by run length: the ratio of the TEST04 run's throughput to the
performance run's (MLPerf's result fields; latencies as 1e9 / ns) and the pass rate at the margin the official
script applies (docs/decisions.md, "Compliance: TEST04's margin on a noisy machine").

    .venv/bin/python bench/compliance_margin.py [--model resnet50-small] [--durations 600,5000] [--repeats 5]
        [--scenarios SingleStream,Offline] [--loadgen official|modelport]

The model is converted to ONNX once and benched with the official LoadGen (when installed), its artifact only
(as a submission does), one intra-op thread, 64 samples, each repeat a fresh performance run followed by its
TEST04 run. The machine's load average is printed with each row.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from modelport.benchmarks import BenchOptions, get_profile
from modelport.benchmarks.compliance import threshold
from modelport.benchmarks.scenarios import get_scenario
from modelport.benchmarks.workflow import bench_and_report
from modelport.converters.options import ConvertOptions
from modelport.converters.pipeline import convert


def _ratio(cell: dict, scenario: str) -> float:
    """TEST04 throughput / performance-run throughput, from the cell's recorded verdict."""
    details = cell["compliance"]["TEST04"]["details"]["performance"]
    scores = {line.split(" = ")[0].strip(): float(line.split(" = ")[1]) for line in details
              if line.split(" = ")[0].strip() in ("reference score", "test score")}
    ref, got = scores["reference score"], scores["test score"]
    return ref / got if get_scenario(scenario).mlperf_field[1] == "ns" else got / ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50-small")
    ap.add_argument("--durations", default="600,5000", help="Run lengths in ms, comma-separated.")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scenarios", default="SingleStream,Offline")
    ap.add_argument("--loadgen", choices=["official", "modelport"], default=None,
                    help="[default: official when installed]")
    args = ap.parse_args()
    scenarios = args.scenarios.split(",")
    loadgen = args.loadgen
    if loadgen is None:
        try:
            import mlperf_loadgen  # noqa: F401

            loadgen = "official"
        except ImportError:
            loadgen = "modelport"
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = convert(f"zoo:{args.model}", ConvertOptions(targets=("onnx",), out=Path(tmp) / "run",
                                                             validate=False)).run_dir
        print(f"{args.model}, ONNX, {loadgen} LoadGen, 1 thread; ratio = TEST04 / performance throughput")
        for duration in (int(d) for d in args.durations.split(",")):
            ratios: dict[str, list[float]] = {s: [] for s in scenarios}
            passed: dict[str, int] = dict.fromkeys(scenarios, 0)
            margins: dict[str, float] = {}
            for _ in range(args.repeats):
                options = BenchOptions(scenarios, get_profile("tiny", duration, 64, None, 64, 1, None), threads=1,
                                       accuracy=False, loadgen=loadgen, compliance=["TEST04"], eager_cells=False)
                results = bench_and_report(run_dir, options).results.to_json()
                for scenario in scenarios:
                    cell = results["cells"]["onnx-opset17"][scenario]
                    ratios[scenario].append(_ratio(cell, scenario))
                    passed[scenario] += bool(cell["compliance"]["TEST04"]["passed"])
                    margins[scenario] = threshold(scenario, 1.0 if scenario == "SingleStream" else 1e9)
            load = os.getloadavg()[0]
            for scenario in scenarios:
                r = ratios[scenario]
                print(f"{duration:>6} ms {scenario:<12} passed {passed[scenario]}/{args.repeats} (margin "
                      f"{margins[scenario]:.0%}); ratio median {statistics.median(r):.3f}, min {min(r):.3f}, "
                      f"max {max(r):.3f}; load average {load:.1f}")


if __name__ == "__main__":
    main()
