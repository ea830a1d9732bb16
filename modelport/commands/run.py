"""``modelport run``: convert, validate, benchmark and report in one command (the README's main job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modelport.commands.bench import bench_options, make_options, outcome_json, render_summary
from modelport.commands.common import emit_json, json_option, quiet_option

#: what ``modelport run`` converts and benchmarks when no SOURCE is given. The whole quick run of ResNet-50
#: (3 artifacts + eager x 4 scenarios, Server search, accuracy mode) took 2 min 16 s on 2 quiet cores, but
#: 7-10 min while other jobs kept those cores busy; ``modelport run zoo:bert`` takes about 1 min.
DEFAULT_SOURCE = "zoo:resnet50"


@click.command("run")
@click.argument("source", required=False)
@click.option("--to", "targets", multiple=True, default=("all",), show_default=True,
              type=click.Choice(["torchscript", "onnx", "pt2", "all"]), help="Target formats (repeatable).")
@click.option("--opset", "opsets", multiple=True, default=("17",), show_default=True,
              help="ONNX opset (repeatable), or 'min'.")
@click.option("--out", type=click.Path(path_type=Path), help="Run directory [default: runs/<model>-<timestamp>].")
@click.option("--state-dict", type=click.Path(path_type=str), help="A state_dict file (loaded with weights_only).")
@click.option("--model-class", help="MODULE:CLASS or path/to/file.py:CLASS to build before loading --state-dict.")
@click.option("--model-args", help="JSON object of constructor keyword arguments.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for zoo weights and inputs.")
@bench_options
@click.option("--baseline", type=click.Path(), default=None, metavar="RESULTS.json",
              help="Compare with an earlier results.json; exit 5 naming each metric that regressed.")
@click.option("--tolerance", default="5%", show_default=True, help="Allowed regression, e.g. 5% or 0.05.")
@click.option("--save-baseline", type=click.Path(), default=None, metavar="PATH",
              help="Write these results as a baseline for later --baseline checks.")
@json_option
@quiet_option
def run(source: str | None, targets: tuple[str, ...], opsets: tuple[str, ...], out: Path | None,
        state_dict: str | None, model_class: str | None, model_args: str | None, seed: int,
        baseline: str | None, tolerance: str, save_baseline: str | None, as_json: bool, quiet: bool,
        **kw: Any) -> None:
    """Convert SOURCE (default: zoo:resnet50), validate every artifact, benchmark them all, write the report.

    SOURCE is what convert takes (zoo:NAME, a model file or directory). Prints the run directory; its
    report.md has a table per scenario with every artifact next to the eager model.
    """
    from modelport.benchmarks.regression import parse_tolerance
    from modelport.benchmarks.workflow import bench_and_report, raise_for_outcome
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert
    from modelport.converters.sources import parse_model_args
    from modelport.progress import Progress, warn

    if source is None and state_dict is None:
        source = DEFAULT_SOURCE
    bench_opts = make_options((), **kw)  # every option is checked before minutes of converting
    tol = parse_tolerance(tolerance)
    trust_pickle = kw["trust_pickle"]
    progress = Progress.for_cli(quiet, as_json)
    convert_opts = ConvertOptions(targets=targets, opsets=opsets, seed=seed, validate=True, out=out,
                                  source_options={"state_dict": state_dict, "model_class": model_class,
                                                  "model_args": parse_model_args(model_args),
                                                  "trust_pickle": trust_pickle})
    converted = convert(source, convert_opts, progress)
    for w in converted.manifest.warnings:
        warn(w, quiet or as_json)
    progress.step(f"benchmarking {len(converted.manifest.artifacts)} artifact(s) and the eager model "
                  f"({', '.join(bench_opts.scenarios)}; profile {bench_opts.profile.name})")
    outcome = bench_and_report(converted.run_dir, bench_opts, baseline, tol, save_baseline, progress)
    if as_json:
        emit_json({"run_dir": str(converted.run_dir), "validation": converted.validation is not None,
                   **outcome_json(outcome)})
    elif not quiet:
        click.echo(f"run directory: {converted.run_dir}")
        click.echo("validation: passed (validation.json)" if converted.validation is not None else
                   "validation: export checks passed")
        render_summary(outcome)
    raise_for_outcome(outcome)
