"""``bench`` of a generative run: every component artifact and the eager model, generating tokens per sample.

MLPerf's LLM benchmarks (llama2-70b, gpt-j) measure Offline and Server with token latencies: each sample is a
prompt, the SUT answers with the generated tokens, LoadGen records the time to the first token (reported
through ``FirstTokenComplete``) and the time per output token, and the results are tokens per second, TTFT
and TPOT. This module does that for modelport's generative artifacts (docs/decisions.md, "Generative
models: benchmarked with LoadGen's token latencies"): greedy generation of ``new_tokens`` tokens per prompt
(``sources.hf_greedy``), one prompt per sample, in Offline and Server. Every cell also checks the generated
tokens against the eager model's ``generate`` on the same prompt (``token_agreement``).

The Server target QPS is half the throughput measured in the warm-up (no search: generation is seconds per
sample on a CPU), with TTFT and TPOT bounds of ``BOUND_FACTOR`` times the warm-up's; all are recorded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelport.benchmarks import lg
from modelport.benchmarks.backends import EAGER_ID
from modelport.benchmarks.generative_sut import GenerativeSUT, SampleRecord
from modelport.benchmarks.mlperf_logs import read_summary
from modelport.benchmarks.options import BenchOptions
from modelport.environment import machine_info, package_versions
from modelport.errors import InputError, ModelportError
from modelport.fsutil import atomic_path, write_json_atomic
from modelport.manifest import RunManifest, verify_artifact_files
from modelport.progress import Progress
from modelport.sources import reload_source
from modelport.sources.hf_generative import ComponentSource, describe, plan, prompt_inputs
from modelport.sources.hf_greedy import eager_generate, greedy
from modelport.validators.generation import PROMPT_LENGTH, ComponentRunners

SCENARIOS = ("Offline", "Server")
NEW_TOKENS = 8
BOUND_FACTOR = 10.0
RESULTS_NAME = "results.json"
REPORT_NAME = "report.md"
#: summary lines of a token-latency run, as both LoadGens write them -> results.json field
_SUMMARY = {"Completed tokens per second": "loadgen_tokens_per_s", "Tokens per second": "loadgen_tokens_per_s",
            "Mean First Token latency (ns)": "loadgen_ttft_mean_ns",
            "Mean Time per Output Token (ns)": "loadgen_tpot_mean_ns", "Result is": "loadgen_result"}


def unsupported_flags(options: BenchOptions) -> list[str]:
    """The bench options a generative run does not honour yet: refused by every caller, never ignored."""
    return [flag for flag, used in (("--repeat", options.repeat > 1), ("--compliance", options.compliance),
                                    ("--samples", options.samples_file)) if used] + options.local_only_flags()


def scenarios_for(options: BenchOptions) -> list[str]:
    chosen = [s for s in options.scenarios if s in SCENARIOS]
    if not chosen:
        raise InputError(f"a generative run benchmarks {' and '.join(SCENARIOS)} (token latencies, as MLPerf's LLM "
                         f"benchmarks), not {', '.join(options.scenarios)}", "pass --scenario Offline,Server")
    return chosen


class _Backend:
    """Greedy generation with one backend: the eager component wrappers, or an artifact's component files."""

    def __init__(self, backend_id: str, gen: dict[str, Any], run: Any, outputs: dict[str, list[str]],
                 closer: Any = None) -> None:
        self.id, self.gen, self.run, self.outputs, self._closer = backend_id, gen, run, outputs, closer

    def generate(self, prompts: list[dict[str, np.ndarray]], new_tokens: int, on_first: Any = None) -> list[np.ndarray]:
        """One batch of equal-length prompts; each row cut after its end-of-sequence token (the rest is padding)."""
        batch = {k: np.concatenate([p[k] for p in prompts]) for k in prompts[0]}
        tokens = greedy(self.gen, self.run, self.outputs, batch, new_tokens, on_first).tokens
        return [_until_eos(row, self.gen["eos"]) for row in tokens]

    def close(self) -> None:
        if self._closer is not None:
            self._closer()


def _until_eos(row: np.ndarray, eos: list[int]) -> np.ndarray:
    ends = np.flatnonzero(np.isin(row, eos))
    return row[: ends[0] + 1] if len(ends) else row


def _eager_backend(model: nn.Module, gen: dict[str, Any]) -> _Backend:
    comps: dict[str, ComponentSource] = {c.name: c for c in describe(model, gen["task"])[1]}

    def run(name: str, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        c = comps[name]
        with torch.inference_mode():
            return [t.numpy() for t in c.module(*(torch.from_numpy(feed[s.name]) for s in c.inputs))]

    return _Backend(EAGER_ID, gen, run, {n: c.output_names for n, c in comps.items()})


def _settings(scenario: str, options: BenchOptions, total: int, est: dict[str, float]) -> lg.TestConfig:
    prof = options.profile
    fields: dict[str, int | float] = {
        "use_token_latencies": True, "min_duration_ms": prof.duration_ms[scenario],
        # every prompt at least once: a generation takes long enough that the duration alone may issue very few
        "min_query_count": max(prof.min_query_count[scenario], total), "performance_sample_count_override": total}
    if scenario == "Offline":
        fields["offline_expected_qps"] = est["qps"]
    else:
        fields["server_target_qps"] = est["qps"] / 2
        fields["server_target_latency_ns"] = int(est["latency_s"] * BOUND_FACTOR * 1e9)
        fields["ttft_latency"] = int(est["ttft_s"] * BOUND_FACTOR * 1e9)
        fields["tpot_latency"] = int(max(est["tpot_s"], 1e-6) * BOUND_FACTOR * 1e9)
    return lg.TestConfig(scenario, "PerformanceOnly", fields, options.user_conf)


def _metrics(records: list[SampleRecord], wall_s: float, reference: list[np.ndarray]) -> dict[str, Any]:
    ttft = np.array([r.ttft_s for r in records]) * 1e3
    tokens = np.array([len(r.tokens) for r in records])
    tpot = np.array([(r.latency_s - r.ttft_s) / (n - 1) * 1e3 for r, n in zip(records, tokens, strict=True)
                     if n > 1])
    same = [r.tokens == reference[r.index].tolist() for r in records]
    return {"samples": len(records), "tokens": int(tokens.sum()),
            "tokens_per_s": round(float(tokens.sum()) / wall_s, 3) if wall_s > 0 else None,
            "ttft_ms": {"mean": _r(ttft.mean()), "p50": _r(np.percentile(ttft, 50)), "p90": _r(np.percentile(ttft, 90))}
            if len(ttft) else None,
            "tpot_ms": {"mean": _r(tpot.mean()), "p50": _r(np.percentile(tpot, 50)), "p90": _r(np.percentile(tpot, 90))}
            if len(tpot) else None,
            "token_agreement": round(sum(same) / len(same), 4) if same else None}


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _r(x: float) -> float:
    return round(float(x), 4)


def _cell(backend: _Backend, scenario: str, prompts: list[dict[str, np.ndarray]], reference: list[np.ndarray],
          options: BenchOptions, est: dict[str, float], outdir: Path, new_tokens: int) -> dict[str, Any]:
    sut = GenerativeSUT(lambda idx, first: backend.generate([prompts[i] for i in idx], new_tokens, first),
                        workers=options.workers, max_batch=options.max_batch)
    qsl = lg.construct_qsl(len(prompts), len(prompts), lambda _: None, lambda _: None)
    outdir.mkdir(parents=True, exist_ok=True)
    config = _settings(scenario, options, len(prompts), est)
    try:
        t0 = time.perf_counter()
        lg.run_test(sut.handle, qsl, config, outdir)
        wall = time.perf_counter() - t0
    finally:
        sut.close()
        lg.destroy_qsl(qsl)
    if sut.error is not None:
        raise ModelportError(f"{backend.id} failed while generating in {scenario}: {sut.error}")
    summary = read_summary(outdir)
    cell = _metrics(sut.records, wall, reference)
    cell.update({v: _number(summary[k]) for k, v in _SUMMARY.items() if k in summary})
    cell["settings"] = dict(config.fields)
    return cell


def _estimate(backend: _Backend, prompts: list[dict[str, np.ndarray]], new_tokens: int) -> dict[str, float]:
    """Warm-up on three prompts: per-sample latency, first-token time and time per output token."""
    lat, ttft, tpot = [], [], []
    for p in prompts[:3]:
        t0 = time.perf_counter()
        g = greedy(backend.gen, backend.run, backend.outputs, p, new_tokens)
        lat.append(time.perf_counter() - t0)
        ttft.append(g.first_token_s)
        tpot.append(float(np.mean(g.step_s)) if g.step_s else g.first_token_s)
    latency = float(np.median(lat))
    return {"latency_s": latency, "ttft_s": float(np.median(ttft)), "tpot_s": float(np.median(tpot)),
            "qps": max(1e-3, 1.0 / latency)}


def run_generative_bench(run_dir: Path, manifest: RunManifest, options: BenchOptions, progress: Progress,
                         new_tokens: int = NEW_TOKENS) -> dict[str, Any]:
    """Every chosen scenario for eager and every component artifact; writes results.json and report.md."""
    scenarios = scenarios_for(options)
    wanted = options.artifact_ids
    arts = [a for a in manifest.artifacts if a.components and (not wanted or a.id in wanted)]
    for a in arts:
        verify_artifact_files(run_dir, a)
    torch.set_num_threads(options.runner_options().threads or 1)
    model = reload_source(manifest.source, trust_remote_code=options.trust_remote_code, seed=manifest.seed)
    gen = plan(model, str(manifest.source.task))
    seed = manifest.seed if options.seed is None else options.seed
    prompts = [prompt_inputs(model, 1, PROMPT_LENGTH, seed + i) for i in range(options.profile.total_samples)]
    progress.step(f"eager generate() on {len(prompts)} prompts (the token reference)")
    reference = [eager_generate(model, gen, p, new_tokens)[0] for p in prompts]
    cells: dict[str, dict[str, Any]] = {}
    backends: dict[str, Any] = {}
    for art in [None, *arts]:
        if art is None:
            backend = _eager_backend(model, gen)
        else:
            runners = ComponentRunners(run_dir, art, options.runner_options())
            backend = _Backend(art.id, gen, runners.run, runners.outputs, runners.close)
        try:
            est = _estimate(backend, prompts, new_tokens)
            backends[backend.id] = {"estimate": {k: round(v, 6) for k, v in est.items()},
                                    "components": [c.name for c in art.components] if art else None}
            for scenario in scenarios:
                progress.step(f"{backend.id}: {scenario} (greedy, {new_tokens} new tokens per sample)")
                cells.setdefault(backend.id, {})[scenario] = _cell(
                    backend, scenario, prompts, reference, options, est, run_dir / "bench" / backend.id / scenario,
                    new_tokens)
        finally:
            backend.close()
    results = {"kind": "generation", "task": gen["task"], "new_tokens": new_tokens, "samples": len(prompts),
               "seed": seed, "scenarios": scenarios, "profile": options.profile.to_json(), "loadgen": lg.describe(),
               "threads": options.runner_options().threads, "workers": options.workers, "backends": backends,
               "cells": cells, "versions": package_versions(), "machine": machine_info()}
    write_json_atomic(run_dir / RESULTS_NAME, results)
    with atomic_path(run_dir / REPORT_NAME) as tmp:
        tmp.write_text(render_report(results))
    return results


def render_report(results: dict[str, Any]) -> str:
    lines = [f"# Generative benchmark ({results['task']})", "",
             f"Greedy generation of {results['new_tokens']} new tokens per sample, {results['samples']} prompts, "
             f"LoadGen {results['loadgen'].get('choice')} with token latencies.", ""]
    for scenario in results["scenarios"]:
        lines += [f"## {scenario}", "", "| backend | tokens/s | TTFT mean (ms) | TTFT p90 (ms) | TPOT mean (ms) | "
                  "token agreement | LoadGen result |", "|---|---|---|---|---|---|---|"]
        for backend, cells in results["cells"].items():
            c = cells.get(scenario)
            if c is None:
                continue
            ttft, tpot = c.get("ttft_ms") or {}, c.get("tpot_ms") or {}
            lines.append(f"| {backend} | {c.get('tokens_per_s')} | {ttft.get('mean')} | {ttft.get('p90')} | "
                         f"{tpot.get('mean')} | {c.get('token_agreement')} | {c.get('loadgen_result', '')} |")
        lines.append("")
    return "\n".join(lines)
