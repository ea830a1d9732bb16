"""``modelport bench RUN_DIR --sut-url URL --model NAME``: the Server and Offline scenarios against a served
model, through the network SUT (``network_sut``).

The eager model is rebuilt from the run as usual: its outputs are the accuracy reference and its warm-up
derives the Server latency bound when neither MLPerf nor the user gives one. No local artifact is loaded.
The served model gets one backend, ``network-<model>``, whose cells are made exactly as the local ones
(``suite``), with the network SUT in place of the batching SUT; failed requests are recorded per cell
(``sut.failed_samples``) and in the report's "Network SUT" section. Only Server and Offline run over the network,
as in MLPerf's Network division (docs/decisions.md, "Network SUT: tritonclient as the client").
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelport.benchmarks.backends import EAGER_ID, Backend, eager_backend
from modelport.benchmarks.cells import CellContext, held_cells, place_cells, staged_cell
from modelport.benchmarks.network_sut import NetworkOptions, NetworkRunner, NetworkSUT, OipClient
from modelport.benchmarks.noise import between, busy_warning, pinned, snapshot
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.plots import write_plots
from modelport.benchmarks.preflight import plan_bench
from modelport.benchmarks.regression import compare, save_baseline
from modelport.benchmarks.repeats import combine
from modelport.benchmarks.report import REPORT_NAME, render
from modelport.benchmarks.results import BenchResults, Cell
from modelport.benchmarks.scenarios import get_scenario
from modelport.benchmarks.settings import MLPERF_SEEDS
from modelport.benchmarks.store import NETWORK_KEY, RESULTS_NAME, carry_earlier_cells, read_previous, write_results

# the suite's own steps, so a network cell is made exactly like a local one
from modelport.benchmarks.suite import bench_results, derive_bound, one_run, prepare_backend, reference_outputs
from modelport.benchmarks.sut import QSLHandle
from modelport.benchmarks.workflow import Baseline, BenchOutcome, accuracy_failures
from modelport.errors import InputError
from modelport.fsutil import atomic_path
from modelport.manifest import RunManifest
from modelport.progress import Progress, warn

#: what MLPerf runs over the network (its Network division)
NETWORK_SCENARIOS = ("Offline", "Server")


def check_scenarios(scenarios: list[str]) -> None:
    bad = [s for s in scenarios if s not in NETWORK_SCENARIOS]
    if bad:
        raise InputError(f"--sut-url: the {bad[0]} scenario does not run over the network",
                         "MLPerf's Network division has Server and Offline only: --scenario Server,Offline")


def served_outputs(net: NetworkOptions, manifest: RunManifest) -> list[str]:
    """Ask every endpoint for the model's metadata: the model must be there with the run's inputs; returns
    the served output names (matched to the run's outputs by position, as a Triton TorchScript model renames
    them ``<name>__<i>``)."""
    outputs: list[str] = []
    for endpoint in net.endpoints:
        client = OipClient(endpoint, net, [])
        try:
            md = client.metadata()
        except Exception as e:  # noqa: BLE001 - unreachable, or no such model: one line naming the endpoint
            raise InputError(f"--sut-url {endpoint.url}: cannot get model {net.model!r}: "
                             f"{type(e).__name__}: {' '.join(str(e).split())[:200]}",
                             "is the server up, and is --model the served name? (modelport serve prints both)"
                             ) from None
        finally:
            client.close()
        inputs = sorted(t.get("name", "") for t in md.get("inputs", []))
        wanted = sorted(s.name for s in manifest.inputs)
        if inputs and inputs != wanted:
            raise InputError(f"--sut-url {endpoint.url}: model {net.model!r} takes {', '.join(inputs)}, "
                             f"the run's model takes {', '.join(wanted)}", "serve an artifact of this run")
        outputs = [t["name"] for t in md.get("outputs", [])] or outputs
    if not outputs:
        return list(manifest.output_names)  # a server that publishes no metadata: the run's own names
    if len(outputs) != len(manifest.output_names):
        raise InputError(f"model {net.model!r} has {len(outputs)} outputs, the run's model "
                         f"{len(manifest.output_names)}", "serve an artifact of this run")
    return outputs


def network_backend(net: NetworkOptions, manifest: RunManifest, outputs: list[str]) -> Backend:
    t0 = time.perf_counter()
    runner = NetworkRunner(net, [s.name for s in manifest.inputs], list(manifest.output_names), outputs)
    notes = [f"network SUT: {net.model} at {', '.join(e.url for e in net.endpoints)}; one request per sample, "
             f"at most {net.max_in_flight} in flight"]
    return Backend(f"network-{net.model}", "network", runner, manifest.inputs, False, None, notes,
                   time.perf_counter() - t0, list(manifest.output_names))


def run_network_bench(run_dir: str | Path, options: BenchOptions, net: NetworkOptions,
                      progress: Progress | None = None) -> BenchResults:
    """Bench the served model; write ``results.json`` and return it (report and plots are separate)."""
    t_start = time.perf_counter()
    progress = progress or Progress(enabled=False)
    net = net.checked()
    check_scenarios(options.scenarios)
    plan = plan_bench(Path(run_dir), replace(options, artifact_ids=[EAGER_ID], eager_cells=False))
    outputs = served_outputs(net, plan.manifest)
    opts = plan.options
    ctx = CellContext(plan.run_dir, opts, plan.qsl, QSLHandle(plan.qsl), plan.reference(), progress,
                      dict(MLPERF_SEEDS) if opts.profile.mlperf_seeds else {},
                      plan.server_latency_ms, plan.bound_source)
    backends: dict[str, dict[str, Any]] = {}
    cells: dict[str, dict[str, Cell]] = {}
    with held_cells(ctx.staged), pinned(opts.cpus):
        try:
            _eager_reference(ctx, plan.manifest)
            backend = network_backend(net, plan.manifest, outputs)
            _bench_network(ctx, backend, net, outputs, backends, cells)
        finally:
            progress.done()
            ctx.qsl_handle.close()
        results = bench_results(plan, ctx, backends, cells, round(time.perf_counter() - t_start, 2))
        carry_earlier_cells(read_previous(plan.run_dir), results)
        place_cells(ctx.staged)
        write_results(plan.run_dir / RESULTS_NAME, results)
    return results


def _eager_reference(ctx: CellContext, manifest: RunManifest) -> None:
    """The eager outputs accuracy mode compares with, and (Server, no bound given) the derived bound."""
    opts = ctx.options
    ctx.progress.step(f"eager reference ({manifest.source.spec})")
    eager = eager_backend(manifest, opts.runner_options(), trust_pickle=opts.trust_pickle,
                          trust_remote_code=opts.trust_remote_code)
    try:
        reference_outputs(ctx, eager)
        if ctx.server_latency_ms is None and "Server" in opts.scenarios:
            eager.warm_up([1])
            derive_bound(ctx, eager)
    finally:
        eager.close()


def _bench_network(ctx: CellContext, backend: Backend, net: NetworkOptions, outputs: list[str],
                   backends: dict[str, dict[str, Any]], cells: dict[str, dict[str, Cell]]) -> None:
    try:
        scenarios = [get_scenario(name) for name in ctx.options.scenarios]
        prep = prepare_backend(ctx, backend, scenarios)
        prep.record[NETWORK_KEY] = {**net.to_json(), "served_outputs": outputs, "failed_samples": {}}
        backends[backend.id] = prep.record
        mine: dict[str, Cell] = cells.setdefault(backend.id, {})
        hint: float | None = None
        for sc in scenarios:
            t0 = time.perf_counter()
            with staged_cell(ctx.run_dir, backend.id, sc.name, ctx.staged) as cdir:
                sut = NetworkSUT(backend, ctx.qsl, prep.layout, net, outputs)
                try:
                    start = snapshot()
                    runs = [one_run(ctx, backend, prep, sc, hint, sut, cdir, "" if k == 0 else f"repeat_{k + 1}",
                                     ctx.options.accuracy and k == 0) for k in range(ctx.options.repeat)]
                finally:
                    sut.close()
            hint = runs[0][1] if runs[0][1] is not None else hint
            cell = combine([c for c, _ in runs], sc.headline.key, ctx.options.noise_threshold,
                           none_is_zero=sc.searches_qps)
            cell.noise = between(start, snapshot())
            _note_failures(cell, sut, sc.name, prep.record[NETWORK_KEY])
            cell.wall_s = round(time.perf_counter() - t0, 2)
            mine[sc.name] = cell
            ctx.progress.step(f"{backend.id} {sc.name}: {sc.one_line(cell)}")
    finally:
        backend.close()


def _note_failures(cell: Cell, sut: NetworkSUT, scenario: str, record: dict[str, Any]) -> None:
    cell.sut["failed_samples"] = sut.failed
    cell.sut["failures"] = list(sut.failures)
    record["failed_samples"][scenario] = sut.failed
    busy = busy_warning(cell.noise)
    if busy:
        cell.warnings.append(busy)
    if sut.failed:
        cell.warnings.append(f"{sut.failed} request(s) failed and were completed empty (e.g. {sut.failures[0]})")
        warn(f"{scenario}: {sut.failed} request(s) to the server failed; see results.json", False)


def network_section(results: BenchResults) -> list[str]:
    """report.md's "Network SUT" section: where the requests went and how many failed."""
    lines: list[str] = []
    for backend, record in results.backends.items():
        net = record.get(NETWORK_KEY)
        if not net:
            continue
        lines += ["## Network SUT", "",
                  f"`{backend}`: model `{net['model']}` at {', '.join(net['endpoints'])} ({net['wire']}); one "
                  f"request per sample, round-robin over the endpoints, at most {net['max_in_flight']} in flight, "
                  f"request timeout {net['request_timeout_s']:g} s. Failed requests complete their sample empty "
                  "(counted as disagreement in accuracy mode).", "",
                  "| scenario | failed samples (all runs of the cell) | first errors |", "|---|---|---|"]
        for scenario, cell in results.cells.get(backend, {}).items():
            errors = "; ".join(cell.sut.get("failures", [])[:2]).replace("|", "/") or "–"
            lines.append(f"| {scenario} | {cell.sut.get('failed_samples', 0)} | {errors} |")
        lines.append("")
    return lines


def write_network_report(run_dir: str | Path, results: BenchResults) -> Path:
    path = Path(run_dir) / REPORT_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(render(results) + "\n" + "\n".join(network_section(results)))
    return path


def network_bench_and_report(run_dir: str | Path, options: BenchOptions, net: NetworkOptions,
                             baseline: Baseline | None = None, tolerance: float = 0.05,
                             save_baseline_to: str | None = None, progress: Progress | None = None) -> BenchOutcome:
    """``workflow.bench_and_report`` for a served model: results, plots, the report with its network section."""
    results = run_network_bench(run_dir, options, net, progress)
    if baseline is not None:
        results.baseline_comparison = compare(baseline.results, results, tolerance)
        results.baseline_comparison.baseline = baseline.path
        write_results(Path(run_dir) / RESULTS_NAME, results)
    outcome = BenchOutcome(results, write_network_report(run_dir, results), write_plots(Path(run_dir), results))
    outcome.failures = accuracy_failures(results, Path(run_dir))
    if save_baseline_to and not outcome.failures:
        outcome.baseline_saved = save_baseline(results, save_baseline_to)
    return outcome
