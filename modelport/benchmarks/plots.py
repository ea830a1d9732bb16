"""PNG plots of a bench: one per scenario, drawn by the scenario object (latency CDFs for SingleStream and
MultiStream, throughput bars for Offline and Server; see ``charts``)."""

from __future__ import annotations

from pathlib import Path

from modelport.benchmarks.results import BenchResults
from modelport.benchmarks.scenarios import get_scenario

PLOTS_DIR = "plots"


def write_plots(run_dir: str | Path, results: BenchResults) -> list[Path]:
    run_dir = Path(run_dir)
    out_dir = run_dir / PLOTS_DIR
    out_dir.mkdir(exist_ok=True)
    made: list[Path] = []
    for name in results.scenarios:
        sc = get_scenario(name)
        p = sc.plot(run_dir, results, out_dir / sc.plot_file)
        if p is not None:
            made.append(p)
    return made
