"""What ``modelport bench`` (and ``run``) do after parsing: benchmark, compare, write, then fail if needed.

Inputs the commands can check before any work (the baseline, the --save-baseline target) are checked by
them and handed over ready (``Baseline``). Everything is written (results.json, report.md, plots, the
baseline) before any failure is raised, so a regression or an accuracy failure can be inspected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelport.benchmarks.accuracy import precision_failure
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.plots import write_plots
from modelport.benchmarks.regression import compare, save_baseline
from modelport.benchmarks.report import write_report
from modelport.benchmarks.results import BenchResults
from modelport.benchmarks.store import RESULTS_NAME, write_results
from modelport.benchmarks.suite import run_bench
from modelport.errors import InputError, ValidationFailed
from modelport.manifest import load_manifest
from modelport.progress import Progress

#: precisions whose accuracy-mode agreement must be exactly 1.0
FULL_PRECISION = ("float32", "fp32", None)


@dataclass
class Baseline:
    """A baseline already read and checked (``regression.load_baseline``), and where it came from."""

    path: str
    results: BenchResults


@dataclass
class BenchOutcome:
    results: BenchResults
    report: Path
    plots: list[Path]
    baseline_saved: Path | None = None
    failures: list[str] = field(default_factory=list)
    compliance_failures: list[str] = field(default_factory=list)  # "backend scenario TEST0x" that failed


def accuracy_failures(results: BenchResults, run_dir: Path) -> list[str]:
    """Cells of full-precision backends whose accuracy-mode agreement is below 1.0, and of reduced-precision
    ones below the quality gate their manifest records (``accuracy.precision_failure``)."""
    try:
        extras = {a.id: a.extra for a in load_manifest(run_dir).artifacts}
    except Exception:  # noqa: BLE001 - the manifest was readable a moment ago; precision is then unknown
        extras = {}
    # a reduced-precision artifact records {"precision": "int8", ...} (converters/precision.py); fp32 nothing
    precision = {k: p.get("precision") if isinstance(p := e.get("precision"), dict) else p for k, e in extras.items()}
    out = []
    for backend, scenario, cell in results.cell_items():
        acc = cell.accuracy
        if precision.get(backend) in FULL_PRECISION and acc is not None and acc.agreement < 1.0:
            out.append(f"{backend} {scenario}: agreement {acc.agreement:.4f} on {acc.samples} samples")
        elif precision.get(backend) not in FULL_PRECISION and acc is not None:
            why = precision_failure(acc, extras[backend])
            if why:
                out.append(f"{backend} {scenario}: {why}")
    return out


def check_same_model(baseline: Baseline, model: str) -> None:
    """A baseline of another model would judge every cell "slower" or "faster" for no reason: refused."""
    theirs = baseline.results.model
    if theirs and theirs != model:
        raise InputError(f"--baseline {baseline.path} is a bench of {theirs}, and this run is of {model}",
                         "compare benches of the same model")


def bench_and_report(run_dir: str | Path, options: BenchOptions, baseline: Baseline | None = None,
                     tolerance: float = 0.05, save_baseline_to: str | None = None,
                     progress: Progress | None = None) -> BenchOutcome:
    run_dir = Path(run_dir)
    progress = progress or Progress(enabled=False)
    if baseline is not None:
        check_same_model(baseline, load_manifest(run_dir).source.spec)
    results = run_bench(run_dir, options, progress)
    if baseline is not None:
        results.baseline_comparison = compare(baseline.results, results, tolerance)
        results.baseline_comparison.baseline = baseline.path
        write_results(run_dir / RESULTS_NAME, results)
    plots = write_plots(run_dir, results)
    report = write_report(run_dir, results)
    outcome = BenchOutcome(results, report, plots)
    outcome.failures = accuracy_failures(results, run_dir)
    outcome.compliance_failures = [f"{b} {s} {test}" for b, s, cell in results.cell_items()
                                   for test, v in cell.compliance.items() if not v.get("passed")]
    if save_baseline_to and not outcome.failures:
        outcome.baseline_saved = save_baseline(results, save_baseline_to)
    return outcome


def raise_for_outcome(outcome: BenchOutcome) -> None:
    if outcome.failures:
        raise ValidationFailed("accuracy mode disagrees with the eager model: " + "; ".join(outcome.failures),
                               "the artifact computes something else; see results.json and the accuracy logs")
    if outcome.compliance_failures:
        raise ValidationFailed("compliance test failed: " + "; ".join(outcome.compliance_failures),
                               "see verify_*.txt in each cell's TEST0x folder")
    comparison = outcome.results.baseline_comparison
    if comparison is None:
        return
    if not comparison.changes:
        # Comparing nothing would pass silently; the baseline is for other backends or scenarios.
        theirs = sorted({"/".join(m.split("/")[:2]) for m in comparison.only_in_baseline})
        raise InputError(f"--baseline {comparison.baseline} shares no metric with this run "
                         f"(it covers {', '.join(theirs) or 'nothing'})",
                         "bench the same artifacts and scenarios as the baseline")
    comparison.raise_for_regressions()
