"""PNG plots of a results.json: latency CDFs (SingleStream, MultiStream) and throughput bars (Offline, Server).

Latencies come from the SUT's own issue-to-completion record saved next to each performance log.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from modelport.fsutil import atomic_path

PLOTS_DIR = "plots"


def _label_2_and_5(value: float, _pos: int) -> str:
    """Minor log ticks labelled only at 2x and 5x a decade, so neighbouring labels never overlap."""
    if value <= 0:
        return ""
    lead = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if any(abs(lead - k) < 1e-6 for k in (2, 5)) else ""


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def _latencies(run_dir: Path, cell: dict[str, Any]) -> np.ndarray | None:
    path = run_dir / cell.get("log_dir", "") / "sut_latencies_ns.npy"
    if not path.is_file():
        return None
    lat = np.load(path)
    return lat if lat.size else None


def latency_cdf(run_dir: Path, results: dict[str, Any], scenario: str, out: Path) -> Path | None:
    series = []
    for backend, cells in results.get("cells", {}).items():
        cell = cells.get(scenario)
        if cell is None:
            continue
        lat = _latencies(run_dir, cell)
        if lat is not None:
            series.append((backend, np.sort(lat) / 1e6))
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for backend, lat in series:
        ax.step(lat, np.arange(1, len(lat) + 1) / len(lat), where="post", label=f"{backend} (n={len(lat)})")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")  # "30", not "3x10^1"
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(_label_2_and_5))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("latency (ms, log scale)" + (", per query" if scenario == "MultiStream" else ""))
    ax.set_ylabel("fraction of " + ("queries" if scenario == "MultiStream" else "samples"))
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"{scenario}: latency CDF ({results.get('model', '')})")
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, out)
    plt.close(fig)
    return out


def throughput_bars(results: dict[str, Any], scenario: str, out: Path) -> Path | None:
    key = "samples_per_second" if scenario == "Offline" else "max_valid_qps"
    names, values = [], []
    for backend, cells in results.get("cells", {}).items():
        cell = cells.get(scenario)
        if cell is None:
            continue
        names.append(backend)
        values.append(float(cell.get("metrics", {}).get(key) or 0.0))
    if not names:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(names) + 2), 4))
    bars = ax.bar(names, values, color="#4C72B0")
    for bar, v in zip(bars, values, strict=True):
        ax.annotate(f"{v:.4g}" if v else "none valid", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    if scenario == "Offline":
        ax.set_ylabel("samples / s")
        ax.set_title(f"Offline throughput ({results.get('model', '')})")
    else:
        bound = results.get("options", {}).get("server_latency_ms")
        ax.set_ylabel("highest passing target QPS")
        ax.set_title(f"Server: max QPS with p99 <= {bound:g} ms ({results.get('model', '')})" if bound else "Server")
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(True, axis="y", alpha=0.3)
    _save(fig, out)
    plt.close(fig)
    return out


def write_plots(run_dir: str | Path, results: dict[str, Any]) -> list[Path]:
    run_dir = Path(run_dir)
    out_dir = run_dir / PLOTS_DIR
    out_dir.mkdir(exist_ok=True)
    made: list[Path] = []
    for scenario in results.get("scenarios", []):
        if scenario in ("SingleStream", "MultiStream"):
            p = latency_cdf(run_dir, results, scenario, out_dir / f"latency_cdf_{scenario}.png")
        else:
            p = throughput_bars(results, scenario, out_dir / f"throughput_{scenario}.png")
        if p is not None:
            made.append(p)
    return made
