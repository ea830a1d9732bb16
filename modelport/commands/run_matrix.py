"""``modelport run`` fanned out: ``--matrix FILE``, ``--executor serial|process|ray``, ``--jobs N``,
``--ray-address ADDR`` (the library is ``modelport.benchmarks.matrix_run``; this is its option parsing and
rendering)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from modelport.commands.common import emit_json

if TYPE_CHECKING:  # the benchmarks import torch; --help must not
    from modelport.benchmarks import BenchOptions
    from modelport.benchmarks.matrix_report import MatrixOutcome

#: modelport.benchmarks.executors.EXECUTORS, spelled here so that --help imports nothing heavy
_EXECUTORS = ["serial", "process", "ray"]
FANOUT_PARAMS = ("matrix_file", "executor", "jobs", "ray_address")


def fanout_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--ray-address", default=None, metavar="ADDR",
                     help="Run the cells on this Ray cluster (ray.init(address=ADDR); implies --executor ray). "
                     "Every node needs the modelport_bench_slot resource and the run directory.")(f)
    f = click.option("--jobs", type=click.IntRange(min=1), default=None,
                     help="Cells converted at once [default: usable cores]; above 1 implies --executor process.")(f)
    f = click.option("--executor", type=click.Choice(_EXECUTORS), default=None,
                     help="Run the matrix cells here one by one (serial), in a process pool, or on Ray core; "
                     "benchmarks run one per machine at a time.")(f)
    return click.option("--matrix", "matrix_file", type=click.Path(), default=None, metavar="FILE.json|FILE.yaml",
                        help="models x targets x opsets x precisions x scenarios, one cell folder each under "
                        "RUN_DIR/cells/; keys the file leaves out come from the options.")(f)


def pop_fanout(kw: dict[str, Any]) -> dict[str, Any] | None:
    """The fan-out options, removed from ``kw``; None when none was given (a plain ``run``)."""
    fan = {k: kw.pop(k) for k in FANOUT_PARAMS}
    return fan if any(v is not None for v in fan.values()) else None


def run_fanout(source: str | None, targets: tuple[str, ...], export_kw: dict[str, Any], bench_opts: BenchOptions,
               fan: dict[str, Any], trust_pickle: bool, as_json: bool, quiet: bool) -> None:
    """Every cell of the matrix on the chosen executor; one line per cell, then the first failure's exit."""
    from modelport.benchmarks.executors import make_executor
    from modelport.benchmarks.matrix import from_options, load_matrix_file
    from modelport.benchmarks.matrix_run import plan_matrix, run_matrix
    from modelport.commands.convert import make_convert_options
    from modelport.progress import Progress

    if source is None:
        raise click.UsageError("the fan-out options need SOURCE (zoo:NAME, a model file or directory); a "
                               "--state-dict model runs without them")
    matrix = from_options(source, targets, export_kw["opsets"], export_kw["precision"], bench_opts.scenarios)
    if fan["matrix_file"]:
        matrix = load_matrix_file(fan["matrix_file"], matrix)
    # the matrix's precisions (a --matrix file may set them), so options that need int8 are judged against them
    convert_opts = make_convert_options(matrix.targets, True, trust_pickle,
                                        **{**export_kw, "precision": tuple(matrix.precisions)})
    plan = plan_matrix(matrix, convert_opts, bench_opts, export_kw["out"])
    progress = Progress.for_cli(quiet, as_json)
    with make_executor(fan["executor"], fan["jobs"], fan["ray_address"]) as executor:
        outcome = run_matrix(plan, executor, progress)
    progress.done()
    if as_json:
        emit_json({"run_dir": str(outcome.run_dir), "report": str(outcome.report), "results": outcome.results})
    elif not quiet:
        render(outcome)
    for cid, code, msg in outcome.failures:
        rec = outcome.results["cells"][cid]
        trace = (rec["bench"] if rec["convert"]["ok"] else rec["convert"]).get("traceback")
        if trace:  # recorded only under --debug / MODELPORT_DEBUG=1: the cell may have run in another process
            click.echo(trace.rstrip(), err=True)
        click.echo(f"modelport: cell {cid} failed (exit {code}): {msg}", err=True)
    err = outcome.error()
    if err is not None:
        raise err


def render(outcome: MatrixOutcome) -> None:
    res = outcome.results
    ex = res["executor"]
    click.echo(f"run directory: {outcome.run_dir}")
    click.echo(f"executor: {ex['name']} ({ex['jobs']} job(s)" + (f", Ray {ex['ray_version']}" if
               ex.get("ray_version") else "") + f"); hosts: {', '.join(res['hosts'])}; wall {res['wall_s']:.1f} s")
    for cid, rec in res["cells"].items():
        bench = rec["bench"] or {}
        if not rec["convert"]["ok"] or not bench.get("ok"):
            continue
        parts = [f"{backend} {sc} {row['value']:.4g} {row['unit']}"
                 for backend, rows in bench.get("backends", {}).items() for sc, row in rows.items()
                 if row["value"] is not None]
        click.echo(f"  {cid:<28} " + "; ".join(parts))
    click.echo(f"report: {outcome.report}")
