"""``modelport run``: convert, validate, benchmark and report in one command (the README's main job)."""

from __future__ import annotations

from typing import Any

import click

from modelport.commands.bench import (
    DATASET_OPTION,
    baseline_inputs,
    baseline_options,
    bench_generative,
    bench_options,
    make_options,
    outcome_json,
    render_summary,
)
from modelport.commands.common import emit_json, json_option, quiet_option
from modelport.commands.convert import EXPORT_PARAMS, TARGET_CHOICES, export_options, make_convert_options
from modelport.commands.run_matrix import fanout_options, pop_fanout, run_fanout

#: what ``modelport run`` converts and benchmarks when no SOURCE is given: BERT QA (an MLPerf model, small
#: config). Its quick run (3 artifacts + eager x 4 scenarios, Server search, accuracy mode) takes about 1.5 min
#: on 2 cores and stays under 2 min on a busy machine; ResNet-50 takes 2.3 min on 2 quiet cores but 7-10 min
#: when other jobs load them (2 intra-op threads spin against them), too close to the 5-minute promise.
DEFAULT_SOURCE = "zoo:bert"


@click.command("run")
@click.argument("source", required=False)
@click.option("--to", "targets", multiple=True, default=("all",), show_default=True,
              type=click.Choice(TARGET_CHOICES), help="Target formats (repeatable); 'all' leaves out aoti, whose "
              "compile takes minutes.")
@export_options
@bench_options
@baseline_options
@fanout_options
@DATASET_OPTION
@json_option
@quiet_option
def run(source: str | None, targets: tuple[str, ...], baseline: str | None, tolerance: str,
        save_baseline: str | None, as_json: bool, quiet: bool, dataset: str | None, **kw: Any) -> None:
    """Convert SOURCE (default: zoo:bert), validate every artifact, benchmark them all, write the report.

    SOURCE is what convert takes (zoo:NAME, a model file or directory). Prints the run directory; its
    report.md has a table per scenario with every artifact next to the eager model.
    """
    from modelport.benchmarks import dataset_accuracy
    from modelport.benchmarks.workflow import bench_and_report, raise_for_outcome
    from modelport.converters.pipeline import convert
    from modelport.npzfile import read_npz
    from modelport.progress import Progress, warn

    given_source = source is not None
    if source is None and kw["state_dict"] is None:
        source = DEFAULT_SOURCE
    fan = pop_fanout(kw)
    if fan is not None and fan.get("matrix_file"):
        _refuse_overlap(fan["matrix_file"], given_source)
    export_kw = {k: kw.pop(k) for k in list(kw) if k in EXPORT_PARAMS}
    # every input is checked before minutes of converting: options, the baseline, the samples file (that it
    # is a readable .npz; its arrays are checked against the model's inputs once there is a model)
    bench_opts = make_options((), source_spec=source, trust_remote_code=export_kw["trust_remote_code"], **kw)
    if dataset:  # NAME=PATH, --samples, --no-accuracy and a matrix checked before converting (read after it)
        dataset_accuracy.check_request(dataset, bench_opts, one_run=fan is None)
    if fan is not None:  # --matrix/--executor/--jobs/--ray-address: cells in parallel (run_matrix.py)
        if baseline or save_baseline:
            raise click.UsageError("--baseline/--save-baseline check one run directory, not a matrix; use "
                                   "modelport bench RUN_DIR/cells/CELL --baseline ...")
        if bench_opts.samples_file:
            read_npz(bench_opts.samples_file, "--samples")
        return run_fanout(source, targets, export_kw, bench_opts, fan, kw["trust_pickle"], as_json, quiet)
    old, tol = baseline_inputs(baseline, tolerance, save_baseline)
    if bench_opts.samples_file:
        read_npz(bench_opts.samples_file, "--samples")
        _check_samples_early(bench_opts.samples_file, source, export_kw)
    progress = Progress.for_cli(quiet, as_json)
    convert_opts = make_convert_options(targets, True, kw["trust_pickle"], **export_kw)
    converted = convert(source, convert_opts, progress)
    for w in converted.manifest.warnings:
        warn(w, quiet or as_json)
    if bench_generative(converted.run_dir, bench_opts, baseline or save_baseline, as_json, quiet,
                        other_flags=(("--dataset", dataset),)):
        return  # a generative task: tokens per sample with LoadGen's token latencies (commands/bench.py)
    data = None
    if dataset:  # read for the converted model; its samples replace the generated ones, as in bench
        bench_opts, data = dataset_accuracy.prepare(converted.run_dir, dataset, bench_opts, kw["total_samples"],
                                                    progress)
    progress.step(f"benchmarking {len(converted.manifest.artifacts)} artifact(s) and the eager model "
                  f"({', '.join(bench_opts.scenarios)}; profile {bench_opts.profile.name})")
    outcome = bench_and_report(converted.run_dir, bench_opts, old, tol, save_baseline, progress)
    scores = dataset_accuracy.score_results(converted.run_dir, outcome.results, data) if data else {}
    if as_json:
        extra = {"dataset": dataset_accuracy.scores_json(data, scores)} if data else {}
        emit_json({"run_dir": str(converted.run_dir), "validation": converted.validation is not None,
                   **outcome_json(outcome), **extra})
    elif not quiet:
        click.echo(f"run directory: {converted.run_dir}")
        click.echo("validation: passed (validation.json)" if converted.validation is not None else
                   "validation: export checks passed")
        render_summary(outcome)
        for line in dataset_accuracy.score_lines(data, scores) if data else []:
            click.echo(line)
    raise_for_outcome(outcome)


#: command-line parameters that set a matrix axis: (their option, the matrix file key of that axis); --suite
#: resolves per model, and a matrix file names its own models, so it clashes with any file
_AXES = {"targets": ("--to", "targets"), "opsets": ("--opset", "opsets"), "precision": ("--precision", "precisions"),
         "scenarios": ("--scenario", "scenarios"), "suite": ("--suite", "")}


def _check_samples_early(path: str, source: str | None, export_kw: dict[str, Any]) -> None:
    """A zoo model's inputs are known without loading it: its samples file gets the bench's own checks (an array
    per input, shapes, dtypes) before converting. Other sources, or a zoo model given --input, are checked by the
    bench once the converted model is there."""
    from modelport import zoo
    from modelport.benchmarks.qsl import SampleLibrary
    from modelport.sources import parse_model_args

    entry = zoo.entry_for_source(source) if source and source.startswith("zoo:") else None
    if entry is None or export_kw.get("inputs"):
        return
    SampleLibrary(entry.input_specs(parse_model_args(export_kw.get("model_args"))), 1, 1, npz_path=path)


def _refuse_overlap(matrix_file: str, given_source: bool) -> None:
    """An axis given both on the command line and in the matrix file is refused: silently preferring one
    would run a matrix the user did not ask for."""
    from modelport.benchmarks.matrix import file_keys

    ctx = click.get_current_context()
    keys = file_keys(matrix_file)
    explicit = [name for name in _AXES if ctx.get_parameter_source(name) in (
        click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)]
    clashes = [_AXES[name][0] for name in explicit if _AXES[name][1] in keys | {""}]
    clashes += ["SOURCE"] if given_source and "models" in keys else []
    if clashes:
        raise click.UsageError(f"{', '.join(clashes)} and the matrix file {matrix_file} both set the same axis; "
                               "give each axis in one place")
