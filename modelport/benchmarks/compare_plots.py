"""Plots of ``modelport compare``: per scenario, latency CDFs of every run overlaid (SingleStream,
MultiStream: every repeat's latencies pooled) or throughput bars grouped by backend with min–max error bars
over the repeats (Offline, Server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.benchmarks.charts import latency_cdf, load_latencies, pyplot, save_figure
from modelport.benchmarks.metrics import cell_metrics
from modelport.benchmarks.results import BenchResults, Cell
from modelport.benchmarks.scenarios import SCENARIOS, get_scenario
from modelport.benchmarks.stats import spread

Labelled = tuple[str, Path, BenchResults]


def _latencies(run_dir: Path, cell: Cell) -> np.ndarray | None:
    dirs = [r.log_dir for r in cell.runs] or [cell.log_dir]
    parts = [lat for d in dirs if (lat := load_latencies(run_dir, d)) is not None]
    return np.concatenate(parts) if parts else None


def _bars(runs: list[Labelled], scenario: str, out: Path) -> Path | None:
    backends = list(dict.fromkeys(b for _, _, res in runs for b in res.cells_of(scenario)))
    if not backends:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(backends) + 2), 4.2))
    width = 0.8 / len(runs)
    for i, (label, _, res) in enumerate(runs):
        cells = res.cells_of(scenario)
        med, lo, hi = [], [], []
        for b in backends:
            s = spread(list(cell_metrics(b, scenario, cells[b])[0].runs)) if b in cells else None
            med.append(s.median if s else 0.0)
            lo.append(s.median - s.low if s else 0.0)
            hi.append(s.high - s.median if s else 0.0)
        x = np.arange(len(backends)) + (i - (len(runs) - 1) / 2) * width
        ax.bar(x, med, width, yerr=[lo, hi], capsize=3, label=label)
    ax.set_xticks(np.arange(len(backends)), backends, rotation=20)
    sc = get_scenario(scenario)
    ax.set_ylabel(f"{sc.headline.key} ({sc.headline.unit}), median, min–max")
    ax.set_title(f"{scenario}: {sc.headline.key} per run")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, out)
    plt.close(fig)
    return out


def write_compare_plots(runs: list[Labelled], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    for name in SCENARIOS:
        sc = get_scenario(name)
        if sc.batching:
            p = _bars(runs, name, out_dir / f"throughput_{name}.png")
        else:
            series = {f"{label}/{b}": lat for label, run_dir, res in runs
                      for b, cell in res.cells_of(name).items() if (lat := _latencies(run_dir, cell)) is not None}
            p = latency_cdf(series, f"{name}: latency CDFs overlaid", "latency (ms, log scale)", "fraction",
                            out_dir / f"latency_cdf_{name}.png")
        if p is not None:
            made.append(p)
    return made
