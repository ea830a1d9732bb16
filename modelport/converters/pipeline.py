"""``convert``: load a source, export every requested target, check each export, write the run directory.

The run directory is built in a temporary directory beside ``--out`` and renamed into place only when every
export has passed its checks: a failed or interrupted run leaves nothing new behind, and a run directory
that exists is complete. Validation by ``modelport.validators`` (the full report) runs on the finished
directory; if it fails, the artifacts stay (they exported fine) and ``validation.json`` records why.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.converters.capture import first_line
from modelport.converters.equivalence import Equivalence, check_equivalence, describe_failure
from modelport.converters.example import example_args, export_specs, feed_for
from modelport.converters.exported import Exported
from modelport.converters.options import OPSET_MIN, ConvertOptions, resolve_exporter
from modelport.errors import ExportError, InputError, ValidationFailed
from modelport.fsutil import atomic_dir, check_new_dir, ensure_writable_dir
from modelport.manifest import Artifact, ArtifactFile, RunManifest
from modelport.progress import Progress
from modelport.runners import Runner, load_runner
from modelport.spec import InputSpec, apply_dynamic

DEFAULT_TOLERANCE = 1e-5
FILE_NAMES = {"torchscript": "model.ts", "pt2": "model.pt2"}


def onnx_file_name(opset: int) -> str:
    return f"model.opset{opset}.onnx"


@dataclass
class ConvertResult:
    run_dir: Path
    manifest: RunManifest
    validation: dict[str, Any] | None = None  # the validators' report, when they ran

    def to_json(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), **self.manifest.to_json(), "validation": self.validation}


@dataclass
class Prepared:
    """The eager model and everything derived from it that every export shares."""

    module: Any
    specs: list[InputSpec]
    output_names: list[str]
    output_shapes: list[tuple[int, ...]]
    args: tuple
    reference: Runner
    source_kind: str = ""
    atol: float = DEFAULT_TOLERANCE
    rtol: float = DEFAULT_TOLERANCE
    reference_outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


# -- run directory -----------------------------------------------------------------------------------------

def run_name(source: str | None, source_options: dict[str, Any]) -> str:
    if source and source.startswith("zoo:"):
        base = source[4:]
    elif source:
        base = Path(source.rstrip("/")).name.split(".")[0]
    elif source_options.get("model_class"):
        base = re.split(r"[:.]", source_options["model_class"])[-1]
    else:
        base = Path(source_options.get("state_dict") or "model").name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base) or "model"


def default_run_dir(name: str) -> Path:
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, n = base, 1
    while candidate.exists():  # two runs in the same second get their own directories
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def prepare_out(out: Path) -> bool:
    """Refuse a non-empty or symlinked ``out``; check it can be written. Returns whether we created it."""
    check_new_dir(out)
    created = not out.exists()
    ensure_writable_dir(out)
    try:
        ensure_writable_dir(out.resolve().parent)
    except InputError:
        if created:
            out.rmdir()
        raise
    return created


# -- loading -----------------------------------------------------------------------------------------------

def load_model(source: str | None, options: ConvertOptions):
    from modelport.sources import load_source

    so = options.source_options
    return load_source(source, state_dict=so.get("state_dict"), model_class=so.get("model_class"),
                       model_args=so.get("model_args"), trust_pickle=bool(so.get("trust_pickle")),
                       seed=options.seed)


def resolve_specs(loaded, options: ConvertOptions) -> list[InputSpec]:
    so = options.source_options
    specs = list(so.get("inputs") or loaded.inputs)
    if not specs:
        raise InputError("the source does not say what inputs the model takes",
                         "pass --input NAME:SHAPE[:DTYPE], e.g. --input x:2x3x32x32:float32")
    specs = apply_dynamic(specs, list(so.get("dynamic") or []), bool(so.get("dynamic_batch")))
    return export_specs(specs)


def prepare(loaded, options: ConvertOptions) -> Prepared:
    from modelport.runners.torch_runners import TorchModuleRunner

    specs = resolve_specs(loaded, options)
    names = [s.name for s in specs]
    reference = TorchModuleRunner(loaded.module, names, list(loaded.output_names))
    try:
        outs = reference.infer(feed_for(specs, options.seed))
    except Exception as e:  # noqa: BLE001 - the user's model or input spec is wrong; say which
        shapes = ", ".join(f"{s.name}: {s.dtype}{list(s.shape)}" for s in specs)
        raise InputError(f"the model fails on its example inputs ({shapes}): {type(e).__name__}: "
                         f"{first_line(str(e))}", "check --input") from None
    reference.output_names = list(outs)
    atol, rtol = gate_tolerances(options, loaded.record)
    return Prepared(loaded.module, specs, list(outs), [tuple(v.shape) for v in outs.values()],
                    example_args(specs, options.seed), reference, loaded.record.kind, atol, rtol)


def gate_tolerances(options: ConvertOptions, record) -> tuple[float, float]:
    """The user's --atol/--rtol, else the zoo model's default from the validators' table, else 1e-5.

    Deep fp32 models (ResNet-50) differ from eager by ~1e-4 in onnxruntime from accumulation order alone; the
    gate uses the same per-model allowance as the full validation so the two never disagree on defaults.
    """
    atol = options.atol
    if atol is None:
        atol = DEFAULT_TOLERANCE
        if record.kind == "zoo":
            from modelport.validators.tolerances import MODEL_ATOL

            atol = MODEL_ATOL.get(record.spec.removeprefix("zoo:"), atol)
    return atol, options.rtol if options.rtol is not None else DEFAULT_TOLERANCE


# -- one export ----------------------------------------------------------------------------------------------

@dataclass
class Staged:
    """A checked export sitting in its scratch directory until it is committed into the run directory."""

    exported: Exported
    scratch: Path
    equivalence: Equivalence | None = None

    def discard(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def commit(self, stage: Path, artifact_id: str) -> Artifact:
        files = []
        for f in self.exported.files:
            (stage / f.name).parent.mkdir(parents=True, exist_ok=True)
            f.replace(stage / f.name)
            files.append(ArtifactFile.of(stage, f.name))
        self.discard()
        e = self.exported
        extra = dict(e.extra)
        if self.equivalence is not None:
            extra["equivalence"] = self.equivalence.to_json()
        return Artifact(id=artifact_id, target=e.target, path=files[0].path, files=files,
                        export_time_s=round(e.export_time_s, 4), opset=e.opset, exporter=e.exporter,
                        ir_version=e.ir_version, method=e.method, simplified=e.simplified,
                        dynamic_axes=e.dynamic_axes, warnings=e.warnings, extra=extra)


def _scratch(stage: Path, label: str) -> Path:
    d = stage / f".scratch-{label}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def _gate(prep: Prepared, runner: Runner, options: ConvertOptions, what: str, warnings: list[str],
          hint: str | None = None) -> Equivalence:
    eq = check_equivalence(prep.reference, runner, prep.specs, options.seed, prep.atol, prep.rtol,
                           prep.reference_outputs)
    if not eq.passed:
        tracer = [w for w in warnings if w.startswith("TracerWarning")]
        extra = f" (captured: {tracer[0]})" if tracer else ""
        if tracer and hint is None:
            hint = ("the exporter traced one path through a data-dependent branch; keep the model in PyTorch "
                    "(--to torchscript --method script) or rewrite the branch with torch.where / torch.cond")
        raise ValidationFailed(f"{what} does not match the eager model "
                               f"{describe_failure(eq.first_failure(), prep.atol, prep.rtol)}{extra}", hint)
    return eq


def stage_torchscript(prep: Prepared, options: ConvertOptions, stage: Path) -> Staged:
    from modelport.converters.torchscript import export_torchscript

    scratch = _scratch(stage, "torchscript")
    try:
        e = export_torchscript(prep.module, prep.args, prep.specs, prep.output_names, options.method,
                               scratch / FILE_NAMES["torchscript"])
        staged = Staged(e, scratch)
        runner = load_runner("torchscript", e.path, [s.name for s in prep.specs], prep.output_names)
        try:
            if options.validate:
                hint = "use --method script (traced models record one path through data-dependent branches)" \
                    if e.method == "trace" else None
                staged.equivalence = _gate(prep, runner, options, f"the TorchScript ({e.method}) export",
                                           e.warnings, hint)
        finally:
            runner.close()
        return staged
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def stage_pt2(prep: Prepared, options: ConvertOptions, stage: Path) -> Staged:
    from modelport.converters.pt2 import export_pt2

    scratch = _scratch(stage, "pt2")
    try:
        e = export_pt2(prep.module, prep.args, prep.specs, scratch / FILE_NAMES["pt2"], prep.output_names)
        staged = Staged(e, scratch)
        try:
            runner = load_runner("pt2", e.path, [s.name for s in prep.specs], prep.output_names)
        except Exception as err:  # noqa: BLE001
            raise ExportError(f"the saved .pt2 program does not load back: {first_line(str(err))}") from None
        try:
            if options.validate:
                staged.equivalence = _gate(prep, runner, options, "the .pt2 export", e.warnings)
        finally:
            runner.close()
        return staged
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def stage_onnx(prep: Prepared, options: ConvertOptions, stage: Path, opset: int, exporter: str,
               progress: Progress, gate: bool | None = None, simplify: bool | None = None) -> Staged:
    from modelport.converters.onnx_checks import check_onnx
    from modelport.converters.onnx_export import export_onnx

    gate = options.validate if gate is None else gate
    simplify = options.simplify if simplify is None else simplify
    scratch = _scratch(stage, f"onnx{opset}")
    try:
        e = export_onnx(prep.module, prep.args, prep.specs, prep.output_names, prep.output_shapes, opset, exporter,
                        scratch, onnx_file_name(opset), prep.source_kind)
        staged = Staged(e, scratch)
        progress.status(f"checking the opset-{opset} file (checker, onnxruntime, dynamic axes)")
        facts, runner = check_onnx(e.path, opset, exporter, prep.specs, options.seed)
        try:
            e.ir_version = facts.ir_version
            e.dynamic_axes = facts.dynamic_axes
            e.extra["shapes_checked"] = facts.shapes_run
            if gate:
                staged.equivalence = _gate(prep, runner, options, f"the opset-{opset} ONNX export ({exporter})",
                                           e.warnings)
        finally:
            runner.close()
        if simplify:
            _simplify(prep, options, staged, progress)
        return staged
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _simplify(prep: Prepared, options: ConvertOptions, staged: Staged, progress: Progress) -> None:
    from modelport.converters.simplify import simplify_onnx

    e = staged.exported
    if len(e.files) > 1:
        e.warnings.append("onnxsim skipped: the model has external data (over 2 GB)")
        return
    progress.status(f"simplifying the opset-{e.opset} file with onnxsim")
    outcome = simplify_onnx(e.path, e.opset, e.exporter, prep.specs, options.seed, prep.reference,
                            prep.reference_outputs, prep.atol, prep.rtol, options.simplify_timeout_s)
    if outcome.kept:
        e.simplified = True
        e.extra["simplify"] = outcome.info
        return
    if options.strict:
        raise ExportError(outcome.warning or "onnxsim failed", "drop --strict to keep the unsimplified model")
    e.warnings.append(outcome.warning or "onnxsim failed")


def stage_onnx_min(prep: Prepared, options: ConvertOptions, stage: Path, progress: Progress) -> tuple[int, Staged]:
    from modelport.converters.opset_search import attempts_json, find_min_opset, lower_bound

    def try_export(op: int) -> Staged:
        exp = resolve_exporter(op, options.exporter)
        progress.step(f"--opset min: trying opset {op} ({exp} exporter)")
        # every try must match eager, even with --no-validate: "lowest opset that matches" is the question
        return stage_onnx(prep, options, stage, op, exp, progress, gate=True, simplify=False)

    (op, staged), attempts = find_min_opset(try_export, lambda op: resolve_exporter(op, options.exporter),
                                            options.exporter, lambda s: lower_bound(s.exported.path))
    staged.exported.extra["opset_search"] = attempts_json(attempts)
    if options.simplify:
        _simplify(prep, options, staged, progress)
    return op, staged


# -- the command -----------------------------------------------------------------------------------------------

def convert(source: str | None, options: ConvertOptions, progress: Progress | None = None) -> ConvertResult:
    """Export ``source`` to every requested target into a new run directory; see the module docstring."""
    progress = progress or Progress(enabled=False)
    t_start = time.perf_counter()
    options.check()
    out = Path(options.out) if options.out else default_run_dir(run_name(source, options.source_options))
    created = prepare_out(out)
    try:
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
    prep = prepare(loaded, options)
    timings["load_s"] = round(time.perf_counter() - t0, 4)
    manifest = RunManifest(source=loaded.record, inputs=prep.specs, output_names=prep.output_names, seed=options.seed,
                           settings=options.settings(), warnings=list(loaded.warnings))
    with atomic_dir(out) as stage:
        for target in options.targets:
            if target == "onnx":
                done: set[int] = set()
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
                    manifest.artifacts.append(staged.commit(stage, f"onnx-opset{op}"))
                    timings[f"onnx-opset{op}_s"] = round(time.perf_counter() - t0, 4)
                    done.add(op)
            else:
                t0 = time.perf_counter()
                progress.step(f"exporting {'TorchScript' if target == 'torchscript' else '.pt2 (torch.export)'}")
                staged = (stage_torchscript if target == "torchscript" else stage_pt2)(prep, options, stage)
                manifest.artifacts.append(staged.commit(stage, target))
                timings[f"{target}_s"] = round(time.perf_counter() - t0, 4)
            progress.done()
        timings["convert_s"] = round(time.perf_counter() - t_start, 4)
        manifest.timings = timings
        manifest.save(stage)
    progress.step(f"wrote {out}")
    result = ConvertResult(out, manifest)
    if options.validate:
        result.validation = run_validators(out, manifest, prep, options, progress)
    return result


def run_validators(out: Path, manifest: RunManifest, prep: Prepared, options: ConvertOptions,
                   progress: Progress) -> dict[str, Any] | None:
    """The full report from ``modelport.validators``; a failure keeps the artifacts."""
    from modelport.validators import ValidationOptions, validate_run

    progress.step("validating every artifact against the eager model")
    vopts = ValidationOptions(atol={"": options.atol} if options.atol is not None else {},
                              rtol={"": options.rtol} if options.rtol is not None else {},
                              trust_pickle=bool(options.source_options.get("trust_pickle")))
    report = validate_run(out, manifest=manifest, reference=prep.module, options=vopts, progress=progress)
    if not report.passed:
        raise ValidationFailed(report.failure_message(), f"the artifacts and validation.json are in {out}")
    return report.to_json()
