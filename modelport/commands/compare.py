"""``modelport compare``: two or more benched run directories side by side (report, JSON, plots)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from modelport.commands.common import emit_json, json_option, quiet_option


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where to write compare.md, compare.json and plots/ [default: runs/compare-<time>].")
@click.option("--tolerance", default="5%", show_default=True,
              help="A change counts only beyond this AND when significant across the repeats.")
@json_option
@quiet_option
def compare(run_dirs: tuple[Path, ...], out: Path | None, tolerance: str, as_json: bool, quiet: bool) -> None:
    """Compare benched RUN_DIRS (the first is the reference): every headline metric as median [min-max] of
    the repeats, a verdict per later run (slower / within noise / faster, with the test's p), the validation
    results side by side, latency CDFs overlaid and throughput bars with error bars."""
    from modelport.benchmarks.compare_runs import REPORT, compare_runs
    from modelport.benchmarks.regression import parse_tolerance

    tol = parse_tolerance(tolerance)
    target = out or Path("runs") / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    doc, where = compare_runs(list(run_dirs), target, tol)
    if as_json:
        emit_json({"out": str(where), "report": str(where / REPORT), **doc})
    elif not quiet:
        labels = [r["label"] for r in doc["runs"]]
        for row in doc["metrics"]:
            verdicts = "; ".join(f"{lab}: {v['verdict']}" for lab, v in zip(labels[1:], row["verdicts"][1:],
                                                                              strict=True) if v)
            click.echo(f"  {row['metric']}: {verdicts or 'not in the other runs'}")
        click.echo(f"report: {where / REPORT}")
