"""``modelport bench``: every artifact of a run directory, and the eager model, in the MLPerf scenarios."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from modelport.commands.common import emit_json, json_option, quiet_option

if TYPE_CHECKING:  # the benchmarks import torch; --help must not
    from modelport.benchmarks import BenchOptions
    from modelport.benchmarks.workflow import Baseline, BenchOutcome

_BENCH_OPTIONS: list[Callable[[Any], Any]] = [
    click.option("--scenario", "scenarios", multiple=True, metavar="all|SingleStream|MultiStream|Offline|Server",
                 help="Scenarios (repeatable or comma-separated) [default: all]."),
    click.option("--suite", type=click.Choice(["datacenter", "edge"]), default=None,
                 help="Run the scenarios this MLPerf suite requires of the model (its MLPerf benchmark's list for "
                 "zoo models; else datacenter: Server, Offline; edge: SingleStream, MultiStream, Offline). "
                 "Not with --scenario."),
    click.option("--profile", "profile_name", type=click.Choice(["tiny", "quick", "submission"]), default="quick",
                 show_default=True, help="quick: seconds per cell; submission: MLPerf durations (600 s per run); "
                 "tiny: for tests."),
    click.option("--threads", type=click.IntRange(min=1), default=None,
                 help="Intra-op threads for every backend [default: usable cores]."),
    click.option("--inter-op-threads", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Inter-op threads."),
    click.option("--device", default="cpu", show_default=True, help="cpu or cuda (onnxruntime CUDA EP, torch CUDA)."),
    click.option("--max-batch", type=click.IntRange(min=1), default=32, show_default=True,
                 help="Largest batch in Offline and Server (backends without a dynamic batch axis run batch 1)."),
    click.option("--batch-timeout-ms", type=click.FloatRange(min=0), default=2.0, show_default=True,
                 help="Server dynamic batching: how long a batch waits to fill after its first sample."),
    click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Offline/Server worker threads sharing a backend."),
    click.option("--server-latency-ms", type=float, default=None,
                 help="Server latency bound [default: the MLPerf constraint for MLPerf models, else 10x the median "
                 "of 15 eager batch-1 latencies, at least 10 ms]."),
    click.option("--duration-ms", type=int, default=None, help="Override the profile's min duration (every scenario)."),
    click.option("--min-query-count", type=int, default=None, help="Override the profile's min query count."),
    click.option("--samples-per-query", type=int, default=None, help="MultiStream samples per query [default: 8]."),
    click.option("--total-samples", type=int, default=None, help="Samples in the query sample library."),
    click.option("--accuracy-samples", type=int, default=None, help="Samples checked in accuracy mode."),
    click.option("--server-trials", type=int, default=None, help="Most Server runs in the QPS search."),
    click.option("--samples", "samples_file", type=click.Path(), default=None, metavar="FILE.npz",
                 help="Samples to use instead of generated ones (arrays keyed by input name, stacked on axis 0)."),
    click.option("--sample-seed", type=int, default=None, help="Seed of generated samples [default: the run's]."),
    click.option("--user-conf", type=click.Path(), default=None,
                 help="LoadGen user.conf applied last ('model.Scenario.key = value' lines)."),
    click.option("--accuracy/--no-accuracy", default=True, show_default=True,
                 help="Run LoadGen's accuracy mode and check responses against the eager model."),
    click.option("--trust-pickle", is_flag=True, help="Allow rebuilding a pickled-model reference (runs its code)."),
    click.option("--repeat", type=click.IntRange(min=1), default=None,
                 help="Fresh LoadGen runs per cell; the report gives the median, min-max and spread "
                 "[default: 1; submission: 3]."),
    click.option("--noise-threshold", default="10%", show_default=True,
                 help="Flag a cell noisy when its headline's (max - min) / median across repeats exceeds this."),
    click.option("--loadgen", "loadgen", type=click.Choice(["modelport", "official"]), default="modelport",
                 show_default=True, help="modelport: our LoadGen (fast, for development); official: the "
                 "mlcommons-loadgen wheel, the only one whose logs MLPerf accepts."),
    click.option("--compliance", default=None, metavar="TEST01,TEST04",
                 help="Also run these MLPerf compliance tests per cell (Server: at its chosen QPS), each with its "
                 "audit.config in its own folder, verified by the published rules."),
    click.option("--mlperf-repo", default=None, metavar="PATH",
                 help="With --compliance: verify the tests with MLPerf's own scripts (compliance/TEST0x/"
                 "run_verification.py) from this checkout of mlcommons/inference; their verify_*.txt decide."),
    click.option("--cpus", default=None, metavar="LIST",
                 help="Pin the bench to these cores (e.g. 0,1 or 0-3); intra-op threads default to their count."),
    click.option("--ort-graph-opt-level", type=click.Choice(["disable", "basic", "extended", "all"]), default=None,
                 help="onnxruntime's graph optimisation level for ONNX artifacts that store none (--optimize "
                 "artifacts keep theirs) [default: all]; recorded per cell."),
    click.option("--with-compiled-eager", is_flag=True,
                 help="Also bench the eager model compiled with torch.compile ('eager-compiled'), next to eager."),
    click.option("--ort-spinning/--no-ort-spinning", default=True, show_default=True,
                 help="onnxruntime's intra-op threads spin while waiting; --no-ort-spinning on a busy machine, "
                 "where spinning slows everything else (recorded per cell)."),
]
#: --repeat when not given: one run for the short profiles, three for submission (a median needs three)
_DEFAULT_REPEAT = {"submission": 3}
#: bench and submission only (docs/decisions.md, "Data sets: the reference layouts on disk")
DATASET_OPTION = click.option(
    "--dataset", "dataset", default=None, metavar="NAME=PATH",
    help="Score accuracy on an MLPerf data set on disk (imagenet, squad, kits19, librispeech, criteo; the "
    "reference layout, see the README): its samples are benched, every one in accuracy mode, and each cell's "
    "accuracy/accuracy.txt holds the reference accuracy script's line. --total-samples N keeps its first N items.")
# Not in _BENCH_OPTIONS: `run` gets --trust-remote-code from convert's export options and passes it on.
_TRUST_REMOTE_CODE = click.option("--trust-remote-code", is_flag=True,
                                  help="Allow rebuilding a Hugging Face reference that runs its own code.")


def bench_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_BENCH_OPTIONS):
        f = opt(f)
    return f


def baseline_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--baseline, --tolerance and --save-baseline, shared by ``bench`` and ``run``."""
    f = click.option("--save-baseline", type=click.Path(), default=None, metavar="PATH",
                     help="Write these results as a baseline for later --baseline checks.")(f)
    f = click.option("--tolerance", default="5%", show_default=True, help="Allowed regression, e.g. 5% or 0.05.")(f)
    return click.option("--baseline", type=click.Path(), default=None, metavar="RESULTS.json",
                        help="Compare with an earlier results.json; exit 5 naming each metric that regressed.")(f)


def _scenarios(kw: dict[str, Any], source_spec: str | None) -> list[str]:
    from modelport.benchmarks.scenarios import parse_scenarios
    from modelport.benchmarks.suites import suite_scenarios
    from modelport.errors import InputError

    if kw.get("suite") is None:
        return parse_scenarios(kw["scenarios"])
    if kw["scenarios"]:
        raise InputError("give --suite or --scenario, not both", "--suite picks the scenarios the suite requires")
    return suite_scenarios(kw["suite"], source_spec)


def make_options(artifact_ids: tuple[str, ...] | list[str] = (), source_spec: str | None = None,
                 **kw: Any) -> BenchOptions:
    """``BenchOptions`` from the parsed ``bench_options``, every value checked (one line on a bad one);
    ``source_spec`` (the model's source, e.g. zoo:resnet50) decides what ``--suite`` runs."""
    from modelport.benchmarks import BenchOptions, get_profile
    from modelport.benchmarks.backends import check_device
    from modelport.benchmarks.compliance import check_official, parse_tests
    from modelport.benchmarks.noise import parse_cpus
    from modelport.benchmarks.regression import parse_tolerance
    from modelport.benchmarks.settings import check_user_conf

    profile = get_profile(kw["profile_name"], kw["duration_ms"], kw["min_query_count"], kw["samples_per_query"],
                          kw["total_samples"], kw["accuracy_samples"], kw["server_trials"])
    options = BenchOptions(
        scenarios=_scenarios(kw, source_spec), profile=profile, artifact_ids=list(artifact_ids) or None,
        device=kw["device"], threads=kw["threads"], inter_op_threads=kw["inter_op_threads"],
        max_batch=kw["max_batch"], batch_timeout_ms=kw["batch_timeout_ms"], workers=kw["workers"],
        server_latency_ms=kw["server_latency_ms"], user_conf=check_user_conf(kw["user_conf"]),
        samples_file=kw["samples_file"], seed=kw["sample_seed"], accuracy=kw["accuracy"],
        trust_pickle=kw["trust_pickle"], trust_remote_code=kw.get("trust_remote_code", False),
        repeat=kw["repeat"] or _DEFAULT_REPEAT.get(kw["profile_name"], 1),
        noise_threshold=parse_tolerance(kw["noise_threshold"], "--noise-threshold"), cpus=parse_cpus(kw["cpus"]),
        loadgen=kw["loadgen"], compliance=parse_tests(kw["compliance"]),
        ort_graph_opt_level={"disable": "disabled"}.get(kw["ort_graph_opt_level"], kw["ort_graph_opt_level"]),
        with_compiled_eager=kw["with_compiled_eager"], ort_spinning=kw["ort_spinning"])
    options.mlperf_repo = check_official(kw.get("mlperf_repo"), options.compliance)  # found before any work
    options.check()
    check_device(options.device)
    return options


def baseline_inputs(baseline: str | None, tolerance: str, save_baseline: str | None) -> tuple[Baseline | None, float]:
    """The baseline read and checked, the tolerance parsed and the --save-baseline target checked, all before
    any work (a corrupt baseline must not fail after minutes of converting and benchmarking)."""
    from modelport.benchmarks.regression import check_save_target, load_baseline, parse_tolerance
    from modelport.benchmarks.workflow import Baseline

    tol = parse_tolerance(tolerance)
    loaded = Baseline(str(baseline), load_baseline(baseline)) if baseline else None
    if save_baseline:
        check_save_target(save_baseline)
    return loaded, tol


def render_summary(outcome: BenchOutcome) -> None:
    """A few lines per backend on stdout; the full tables are in report.md."""
    from modelport.benchmarks.scenarios import get_scenario

    results = outcome.results
    click.echo(f"LoadGen: {results.loadgen.get('choice')} ({results.loadgen.get('module')})")
    for backend, cells in results.cells.items():
        parts = []
        for scenario, cell in cells.items():
            key, unit, _ = get_scenario(scenario).headline
            v = cell.metric(key)
            acc = cell.accuracy.agreement if cell.accuracy is not None else None
            val = f"{v:.4g} {unit}" if v is not None else "none"
            parts.append(f"{scenario} {val}" + (f" (acc {acc:.3f})" if acc is not None else "")
                         + f" [{get_scenario(scenario).mlperf_result(cell)}]")
        click.echo(f"  {backend:<16} " + "; ".join(parts))
    noisy = [f"{b}/{s}" for b, s, c in results.cell_items() if c.noisy]
    if noisy:
        click.echo(f"noisy (spread above the threshold across repeats): {', '.join(noisy)}")
    comparison = results.baseline_comparison
    if comparison is not None:
        click.echo(f"baseline: {len(comparison.changes)} metrics compared, {len(comparison.regressions)} regressed "
                   f"(tolerance {comparison.tolerance:.1%}, rank test p <= {comparison.alpha:g})")
        for c in comparison.changes:
            click.echo(f"  {c.key}: {c.verdict}")
    click.echo(f"report: {outcome.report}")
    if outcome.baseline_saved:
        click.echo(f"baseline saved: {outcome.baseline_saved}")
    verdicts = [f"{b}/{s} {t} {'passed' if v.get('passed') else 'FAILED'}"
                for b, s, c in results.cell_items() for t, v in c.compliance.items()]
    if verdicts:
        click.echo("compliance: " + "; ".join(verdicts))


def outcome_json(outcome: BenchOutcome) -> dict[str, Any]:
    return {"results": outcome.results.to_json(), "report": str(outcome.report),
            "plots": [str(p) for p in outcome.plots],
            "baseline_saved": str(outcome.baseline_saved) if outcome.baseline_saved else None,
            "accuracy_failures": outcome.failures, "compliance_failures": outcome.compliance_failures}


def bench_generative(run_dir: Path, options: BenchOptions, baseline: str | None, as_json: bool, quiet: bool,
                     new_tokens: int = 8, other_flags: tuple[tuple[str, object], ...] = ()) -> bool:
    """A run whose artifacts hold components (a generative task): tokens per sample, with LoadGen's token
    latencies (benchmarks.generative_bench); False for any other run."""
    from modelport.errors import InputError
    from modelport.manifest import load_manifest
    from modelport.progress import Progress

    manifest = load_manifest(run_dir)
    if not any(a.components for a in manifest.artifacts):
        return False
    from modelport.benchmarks.generative_bench import run_generative_bench, unsupported_flags

    unsupported = [flag for flag, used in (("--baseline/--save-baseline", baseline), *other_flags) if used]
    unsupported += unsupported_flags(options)
    if unsupported:
        raise InputError(f"{', '.join(unsupported)} not supported for generative runs yet", "drop them")

    results = run_generative_bench(run_dir, manifest, options, Progress.for_cli(quiet, as_json), new_tokens)
    if as_json:
        emit_json({"results": results, "report": str(run_dir / "report.md")})
    elif not quiet:
        for backend, cells in results["cells"].items():
            click.echo(f"  {backend:<16} " + "; ".join(
                f"{s} {c['tokens_per_s']} tokens/s, TTFT {c['ttft_ms']['mean']} ms, TPOT "
                f"{(c['tpot_ms'] or {}).get('mean')} ms, tokens equal to eager {c['token_agreement']:.0%}"
                for s, c in cells.items()))
        click.echo(f"report: {run_dir / 'report.md'}")
    return True


def _source_spec(run_dir: Path) -> str:
    """The model source a run directory was converted from (what --suite looks up)."""
    from modelport.manifest import load_manifest

    return load_manifest(run_dir).source.spec


@click.command("bench")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--artifact", "artifact_ids", multiple=True, metavar="ID",
              help="Benchmark only this artifact (repeatable); the eager reference always runs.")
@click.option("--sut-url", "sut_urls", multiple=True, metavar="grpc://HOST:PORT",
              help="Bench a served model over the network instead (repeatable: round-robin); http:// for OIP REST.")
@click.option("--model", "served_model", default=None, metavar="NAME", help="The served model's name (--sut-url).")
@click.option("--max-in-flight", type=click.IntRange(min=1), default=16, show_default=True,
              help="--sut-url: most requests outstanding at once.")
@click.option("--server-profile", type=click.Choice(["oip", "triton"]), default="oip", show_default=True,
              help="--sut-url http://: oip sends REST JSON; triton uses Triton's binary extension.")
@bench_options
@_TRUST_REMOTE_CODE
@click.option("--new-tokens", type=click.IntRange(min=1), default=8, show_default=True,
              help="Generative runs: greedy tokens generated per sample.")
@DATASET_OPTION
@baseline_options
@json_option
@quiet_option
def bench(run_dir: Path, artifact_ids: tuple[str, ...], baseline: str | None, tolerance: str,
          save_baseline: str | None, as_json: bool, quiet: bool, dataset: str | None, **kw: Any) -> None:
    """Benchmark every artifact in RUN_DIR (and the eager model) with the LoadGen.

    Writes RUN_DIR/bench/<backend>/<Scenario>/ (MLPerf logs), results.json, report.md and plots/.
    """
    from modelport.benchmarks import dataset_accuracy
    from modelport.benchmarks.workflow import bench_and_report, raise_for_outcome
    from modelport.progress import Progress

    net = _network_options(artifact_ids, kw)
    new_tokens = kw.pop("new_tokens")
    options = make_options(artifact_ids, source_spec=_source_spec(run_dir) if kw.get("suite") else None, **kw)
    # a served generative model, a data set or a suite are not built for generative runs: refused, not ignored
    unsupported = (("--sut-url", net is not None), ("--dataset", dataset), ("--suite", kw.get("suite")))
    if bench_generative(run_dir, options, baseline or save_baseline, as_json, quiet, new_tokens, unsupported):
        return
    old, tol = baseline_inputs(baseline, tolerance, save_baseline)
    progress = Progress.for_cli(quiet, as_json)
    data = None
    if dataset:  # read and preprocessed before any cell; its samples replace the generated ones
        options, data = dataset_accuracy.prepare(run_dir, dataset, options, kw["total_samples"], progress)
    # the artifacts, samples file and run directory are checked next, before the first cell (preflight)
    if net is not None:  # a served model (docs/decisions.md, "Network SUT: tritonclient as the client")
        from modelport.benchmarks.network_bench import network_bench_and_report
        from modelport.errors import InputError

        if options.local_only_flags():  # the server chose its own session; nothing compiles eager here
            raise InputError(f"{', '.join(options.local_only_flags())} not supported with --sut-url", "drop them")

        outcome = network_bench_and_report(run_dir, options, net, old, tol, save_baseline, progress)
    else:
        outcome = bench_and_report(run_dir, options, old, tol, save_baseline, progress)
    scores = dataset_accuracy.score_results(run_dir, outcome.results, data) if data else {}
    if as_json:
        extra = {"dataset": dataset_accuracy.scores_json(data, scores)} if data else {}
        emit_json({**outcome_json(outcome), **extra})
    elif not quiet:
        render_summary(outcome)
        for backend, per in scores.items():
            for scenario, scored in per.items():
                click.echo(f"{data.name if data else ''} {backend} {scenario}: {scored.line}")
    raise_for_outcome(outcome)


def _network_options(artifact_ids: tuple[str, ...], kw: dict[str, Any]) -> Any:
    """The network SUT's options when --sut-url is given (Server and Offline by default), else None."""
    urls, model = kw.pop("sut_urls"), kw.pop("served_model")
    in_flight, profile = kw.pop("max_in_flight"), kw.pop("server_profile")
    if not urls and not model:
        return None
    if not urls or not model:
        raise click.UsageError("--sut-url and --model go together")
    if artifact_ids:
        raise click.UsageError("--artifact benches a local artifact; --sut-url a served one: give one of them")
    from modelport.benchmarks.network_sut import NetworkOptions

    if not kw.get("suite"):
        kw["scenarios"] = kw["scenarios"] or ("Offline,Server",)
    return NetworkOptions(list(urls), model, in_flight, profile).checked()
