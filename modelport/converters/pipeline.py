"""``convert``: load a source, export every requested target, check each export, write the run directory.

The run directory is built in a temporary directory beside ``--out`` and renamed into place only when every
export has passed its checks: a failed or interrupted run leaves nothing new behind, and a run directory
that exists is complete. Validation by ``modelport.validators`` (the full report) runs on the finished
directory with the session the checks and gates filled, so it runs only the input sets they did not; if it
fails, the artifacts stay (they exported fine) and ``validation.json`` records why.

The parts: ``rundir`` (names and ``--out``), ``prepare`` (model, specs, session), ``stage`` (one export and its
checks), ``gate`` (the equivalence gate); this module sequences them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelport import validators
from modelport.converters.options import OPSET_MIN, ConvertOptions, resolve_exporter
from modelport.converters.precision import BUILT
from modelport.converters.prepare import Prepared, load_model, prepare
from modelport.converters.rundir import default_run_dir, prepare_out, run_name
from modelport.converters.stage import Staged, stage_onnx, stage_onnx_min, stage_pt2, stage_torchscript
from modelport.converters.stage_fast import stage_aoti, stage_onnx_level
from modelport.converters.stage_precision import PrecisionContext, stage_onnx_precision
from modelport.converters.torch_precision import stage_torch_precision
from modelport.errors import ValidationFailed
from modelport.fsutil import atomic_dir, claim
from modelport.manifest import RunManifest
from modelport.progress import Progress
from modelport.sources import LoadedModel, copy_source_files


@dataclass
class ConvertResult:
    run_dir: Path
    manifest: RunManifest
    validation: dict[str, Any] | None = None  # the validators' report, when they ran

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), **self.manifest.to_json(), "validation": self.validation}


def convert(source: str | None, options: ConvertOptions, progress: Progress | None = None) -> ConvertResult:
    """Export ``source`` to every requested target into a new run directory; see the module docstring."""
    progress = progress or Progress(enabled=False)
    t_start = time.perf_counter()
    options.check()
    out = Path(options.out) if options.out else default_run_dir(run_name(source, options.source_options))
    created = prepare_out(out)
    try:
        with claim(out):  # held from before loading to after the rename: a second run to `out` fails at once
            return _convert(source, options, progress, out, t_start)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _convert(source: str | None, options: ConvertOptions, progress: Progress, out: Path,
             t_start: float) -> ConvertResult:
    timings: dict[str, float] = {}
    progress.step(f"loading {source or options.source_options.get('state_dict')}")
    t0 = time.perf_counter()
    loaded = load_model(source, options)
    if loaded.components:  # a generative task: its graphs under one artifact per target (converters.components)
        return _convert_components(loaded, options, progress, out, t_start, timings)
    prep = prepare(loaded, options)
    timings["load_s"] = round(time.perf_counter() - t0, 4)
    manifest = RunManifest(source=loaded.record, inputs=prep.specs, output_names=prep.output_names, seed=options.seed,
                           settings=options.settings(), warnings=list(loaded.warnings))
    report = None
    try:
        with atomic_dir(out, claimed=True) as stage:
            copy_source_files(loaded.record, stage)  # a HF tokenizer/processor travels with its artifacts
            for target in options.targets:
                if target == "onnx":
                    _export_onnx_targets(prep, options, stage, progress, manifest, timings)
                else:
                    t0 = time.perf_counter()
                    progress.step(f"exporting {_STEPS[target]}")
                    staged = _stage_for(target)(prep, options, stage)
                    manifest.artifacts.append(staged.commit(stage, target))
                    timings[f"{target}_s"] = round(time.perf_counter() - t0, 4)
                    if target in BUILT:
                        _torch_precisions(PrecisionContext(prep, options), target, stage, progress, manifest,
                                          timings)
                progress.done()
            timings["convert_s"] = round(time.perf_counter() - t_start, 4)
            manifest.timings = timings
            manifest.save(stage)
            if options.validate:
                # Inside the staged directory: an interrupted validation leaves no run directory, and a
                # finished one (passed or failed) appears with its validation.json, as one unit.
                report = run_validators(stage, out, manifest, prep, progress)
        return _finished(out, manifest, report, progress)
    finally:
        prep.session.close()


def _convert_components(loaded: LoadedModel, options: ConvertOptions, progress: Progress, out: Path, t_start: float,
                        timings: dict[str, float]) -> ConvertResult:
    from modelport.converters.components import convert_components

    manifest = RunManifest(source=loaded.record, inputs=list(loaded.inputs), output_names=list(loaded.output_names),
                           seed=options.seed, settings=options.settings(), warnings=list(loaded.warnings))
    with atomic_dir(out, claimed=True) as stage:
        copy_source_files(loaded.record, stage)  # a HF tokenizer/processor travels with its artifacts
        report = convert_components(loaded, options, stage, manifest, progress, timings)
        timings["convert_s"] = round(time.perf_counter() - t_start, 4)
        manifest.timings = timings
        manifest.save(stage)
    return _finished(out, manifest, report, progress)


def _finished(out: Path, manifest: RunManifest, report: Any, progress: Progress) -> ConvertResult:
    """The run directory is in place: its result, or the validation failure (exit 4) with the files kept."""
    progress.step(f"wrote {out}")
    result = ConvertResult(out, manifest)
    if report is not None:
        if not report.passed:
            raise ValidationFailed(report.failure_message(), f"the artifacts and validation.json are in {out}")
        result.validation = report.to_json()
    return result


def _stage_for(target: str) -> Callable[[Prepared, ConvertOptions, Path], Staged]:
    # looked up at call time, so that a test can replace one stage in this module
    return {"torchscript": stage_torchscript, "pt2": stage_pt2, "aoti": stage_aoti}[target]


_STEPS = {"torchscript": "TorchScript", "pt2": ".pt2 (torch.export)",
          "aoti": "an AOTInductor package (torch.export + a C++ compile)"}


def _export_onnx_targets(prep: Prepared, options: ConvertOptions, stage: Path, progress: Progress,
                         manifest: RunManifest, timings: dict[str, float]) -> None:
    """Every requested opset, explicit ones first; ``min`` last, so that it can say it found one of them."""
    done: set[int] = set()
    ctx = PrecisionContext(prep, options)
    for requested in sorted(options.opsets, key=lambda o: (o == OPSET_MIN, str(o))):
        t0 = time.perf_counter()
        if requested == OPSET_MIN:
            progress.step("searching the lowest opset that exports and matches eager")
            op, staged = stage_onnx_min(prep, options, stage, progress)
            if op in done:
                staged.discard()
                manifest.warnings.append(f"--opset min found opset {op}, which was also requested")
                continue
        else:
            op = int(requested)
            exporter = resolve_exporter(op, options.exporter)
            progress.step(f"exporting ONNX opset {op} ({exporter} exporter)")
            staged = stage_onnx(prep, options, stage, op, exporter, progress)
        levels = _optimize_levels(prep, options, stage, progress, staged)  # from the base file, before its commit
        try:
            levels.update(_precisions(ctx, stage, progress, staged))
        except BaseException:
            for lstaged, _ in levels.values():
                lstaged.discard()
            raise
        manifest.artifacts.append(staged.commit(stage, f"onnx-opset{op}"))
        timings[f"onnx-opset{op}_s"] = round(time.perf_counter() - t0, 4)
        for level, (lstaged, seconds) in levels.items():
            manifest.artifacts.append(lstaged.commit(stage, f"onnx-opset{op}-{level}"))
            timings[f"onnx-opset{op}-{level}_s"] = seconds
        done.add(op)


def _optimize_levels(prep: Prepared, options: ConvertOptions, stage: Path, progress: Progress,
                     base: Staged) -> dict[str, tuple[Staged, float]]:
    """One staged artifact per ``--optimize`` level, made from the checked base export; a failure discards all."""
    return _stage_each(options.optimize, lambda level: stage_onnx_level(prep, options, stage, base, level),
                       lambda level: f"optimising opset {base.exported.opset} for onnxruntime at {level}", progress)


def _precisions(ctx: PrecisionContext, stage: Path, progress: Progress,
                base: Staged) -> dict[str, tuple[Staged, float]]:
    """One staged artifact per reduced ``--precision``, made from the checked fp32 export."""
    return _stage_each([p for p in ctx.options.precision if p in BUILT["onnx"]],
                       lambda precision: stage_onnx_precision(ctx, stage, base, precision),
                       lambda precision: f"making the {precision} artifact of opset {base.exported.opset}", progress)


def _stage_each(keys: Iterable[str], make: Callable[[str], Staged | None], says: Callable[[str], str],
                progress: Progress) -> dict[str, tuple[Staged, float]]:
    """``make(key)`` for each key, timed: {key: (staged, seconds)}; one failure discards every one made."""
    made: dict[str, tuple[Staged, float]] = {}
    try:
        for key in keys:
            t0 = time.perf_counter()
            progress.step(says(key))
            staged = make(key)
            if staged is not None:
                made[key] = (staged, round(time.perf_counter() - t0, 4))
    except BaseException:
        for staged, _ in made.values():
            staged.discard()
        raise
    return made


def _torch_precisions(ctx: PrecisionContext, target: str, stage: Path, progress: Progress, manifest: RunManifest,
                      timings: dict[str, float]) -> None:
    for precision in (p for p in ctx.options.precision if p in BUILT[target]):
        t0 = time.perf_counter()
        progress.step(f"exporting {_STEPS[target]} in {precision}")
        staged = stage_torch_precision(ctx, stage, target, precision)
        manifest.artifacts.append(staged.commit(stage, f"{target}-{precision}"))
        timings[f"{target}-{precision}_s"] = round(time.perf_counter() - t0, 4)


def run_validators(stage: Path, out: Path, manifest: RunManifest, prep: Prepared,
                   progress: Progress) -> validators.ValidationReport:
    """The full report from ``modelport.validators`` on the staged run, reusing the session's results."""
    progress.step("validating every artifact against the eager model")
    return validators.validate_run(stage, manifest=manifest, reference=prep.module, options=prep.validation,
                                   progress=progress, session=prep.session, final_dir=out)
