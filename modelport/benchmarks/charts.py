"""The two kinds of PNG chart a bench draws: latency CDFs and throughput bars (which scenario draws which is
the scenario object's business, see ``scenarios``).

Latencies come from the SUT's own issue-to-completion record saved next to each performance log.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from modelport.benchmarks.mlperf_logs import SUT_LATENCIES
from modelport.fsutil import atomic_path
from modelport.manifest import inside


def _label_2_and_5(value: float, _pos: int) -> str:
    """Minor log ticks labelled only at 2x and 5x a decade, so neighbouring labels never overlap."""
    if value <= 0:
        return ""
    lead = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if any(abs(lead - k) < 1e-6 for k in (2, 5)) else ""


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def load_latencies(run_dir: Path, log_dir: str) -> np.ndarray | None:
    """The SUT latencies (ns) recorded next to a performance log, None when there are none (or when
    results.json, which anyone can edit, names a log folder outside the run directory: never read there)."""
    try:
        path = inside(run_dir, f"{log_dir}/{SUT_LATENCIES}")
    except ValueError:
        return None
    if not path.is_file():
        return None
    try:
        lat = np.load(path, allow_pickle=False)
    except ValueError:  # not a plain array file
        return None
    return lat if lat.size else None


def latency_cdf(series: dict[str, np.ndarray], title: str, xlabel: str, ylabel: str, out: Path) -> Path | None:
    """One step line per backend (latencies in ns), on a log x axis in ms."""
    if not series:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for backend, lat_ns in series.items():
        lat = np.sort(lat_ns) / 1e6
        ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", label=f"{backend} (n={len(lat)})")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")  # "30", not "3x10^1"
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(_label_2_and_5))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    save_figure(fig, out)
    plt.close(fig)
    return out


def throughput_bars(values: dict[str, float], title: str, ylabel: str, out: Path) -> Path | None:
    """One bar per backend; a zero bar is labelled "none valid"."""
    if not values:
        return None
    plt = pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(names) + 2), 4))
    bars = ax.bar(names, list(values.values()), color="#4C72B0")
    for bar, v in zip(bars, values.values(), strict=True):
        ax.annotate(f"{v:.4g}" if v else "none valid", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(True, axis="y", alpha=0.3)
    save_figure(fig, out)
    plt.close(fig)
    return out
