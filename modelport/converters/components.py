"""Multi-component artifacts: a generative model's graphs exported together, checked together, shipped together.

One artifact per target (``onnx-opsetN``, ``torchscript``, ``pt2``), a folder named by its id holding one file
per component (``onnx-opset17/decoder_model.onnx``, ``onnx-opset17/decoder_with_past_model.onnx``). The
manifest lists the components (file, inputs, outputs, dynamic axes) under the artifact, and every file in the
artifact's ``files`` so the hash checks cover them. Each ONNX file passes the checker, carries the opset asked
for and keeps every axis asked dynamic symbolic. Then ``validators.generation`` checks each component against
its eager wrapper and greedy generation against eager ``generate``. An ONNX failure ends the convert; a
TorchScript or .pt2 export that fails or does not generate the same tokens is not shipped, and the manifest
says why in one line (docs/decisions.md, "Generative models: components and a flat past").
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelport.converters.capture import capture, first_line
from modelport.converters.exported import Exported
from modelport.converters.onnx_errors import export_failed
from modelport.converters.onnx_export import EXTERNAL_DATA_THRESHOLD, export_onnx, name_dynamic_dims, weight_bytes
from modelport.converters.options import OPSET_MIN, ConvertOptions, resolve_exporter
from modelport.converters.pt2 import export_failure
from modelport.converters.torchscript import export_torchscript
from modelport.errors import ExportError, InputError, ModelportError
from modelport.manifest import Artifact, ArtifactFile, Component, RunManifest
from modelport.opsets.exporters import DYNAMO_NATIVE_MIN
from modelport.progress import Progress
from modelport.sources import LoadedModel, metadata
from modelport.sources.hf_generative import ComponentSource
from modelport.sources.metadata import EXTRA_FILE
from modelport.spec import InputSpec
from modelport.validators.generation import REPORT_NAME as GENERATION_REPORT
from modelport.validators.generation import GenerationCheck, GenerationReport, failure_line, validate_artifact

EXTENSIONS = {"onnx": "onnx", "torchscript": "ts", "pt2": "pt2"}
_UNSUPPORTED = (("optimize", "--optimize"), ("precision", "--precision"), ("simplify", "--simplify"))


def check_options(options: ConvertOptions) -> None:
    """What the component path does not do yet is refused up front, in one line."""
    unset = (None, False, (), [], ("fp32",), ["fp32"])
    used = [flag for attr, flag in _UNSUPPORTED if getattr(options, attr, None) not in unset]
    if OPSET_MIN in options.opsets:
        used.append("--opset min")
    if "aoti" in options.targets:
        used.append("--to aoti")
    so = options.source_options
    # the components' inputs (past, masks, positions) come from the model; a user's spec describes one graph
    given = (("inputs", "--input"), ("dynamic", "--dynamic"), ("dynamic_batch", "--dynamic-batch"))
    used += [flag for key, flag in given if so.get(key)]
    if options.method not in ("auto", "trace") and "torchscript" in options.targets:
        used.append(f"--method {options.method}")
    if used:
        raise InputError(f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} not supported for generative tasks "
                         "(multi-component artifacts) yet", "convert without them")


def _targets(options: ConvertOptions) -> list[tuple[str, str, int | None]]:
    """(artifact id, target, opset) in the order of --to."""
    out: list[tuple[str, str, int | None]] = []
    for t in options.targets:
        if t == "onnx":
            out += [(f"onnx-opset{int(op)}", "onnx", int(op)) for op in options.opsets]
        else:
            out.append((t, t, None))
    return out


class _Positional(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner


def fixed_arity(module: nn.Module, arity: int) -> nn.Module:
    """``module`` behind a ``forward`` of ``arity`` named tensor parameters.

    torch.export matches dynamic shapes to named positional parameters, which the wrappers' ``*past`` is not
    (as in ``torch_precision``); a component has as many inputs as its layers need, so the signature is made
    for it: the text below is ours, only parameter names x0..xN."""
    params = ", ".join(f"x{i}" for i in range(arity))
    scope: dict[str, Any] = {}
    exec(f"def forward(self, {params}):\n    return self.inner({params})\n", scope)  # noqa: S102
    cls = type(f"Positional{arity}", (_Positional,), {"forward": scope["forward"]})
    return cls(module).eval()


def _export_pt2(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], dest: Path,
                output_names: list[str]) -> Exported:
    """``torch.export`` with ``Dim.DYNAMIC`` on every dynamic axis: a decoder's mask is one longer than its past
    (``total_sequence = past_sequence + 1``), a relation named ``Dim``s cannot state and torch.export derives;
    an axis it would have to fix still fails the export."""
    t0 = time.perf_counter()
    with capture() as cap:
        program = _capture(module, args, specs)
        try:
            torch.export.save(program, str(dest), extra_files={EXTRA_FILE: metadata.dumps(specs, output_names)})
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"cannot save the .pt2 program: {first_line(str(e))}") from None
    return Exported("pt2", dest, [dest], time.perf_counter() - t0, warnings=cap.warnings)


def _capture(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec]) -> Any:
    dynamic = tuple({a: torch.export.Dim.DYNAMIC for a in s.dynamic_axes} or None for s in specs)
    try:
        return torch.export.export(module, args, dynamic_shapes=dynamic)
    except Exception as e:  # noqa: BLE001
        raise export_failure(e, "torch.export cannot capture the component") from None


def _export_onnx_dynamo(c: ComponentSource, opset: int, scratch: Path, name: str) -> Exported:
    """The dynamo exporter translating the same capture as the .pt2 target (opsets 18 and above: the
    single-graph path's down-conversion below 18 is not offered for components)."""
    if opset < DYNAMO_NATIVE_MIN:
        raise ExportError(f"the dynamo exporter writes opset {DYNAMO_NATIVE_MIN} and above for generative "
                          f"components, not {opset}", f"use --exporter torchscript, or --opset {DYNAMO_NATIVE_MIN}")
    path, args = scratch / name, _args(c)
    t0 = time.perf_counter()
    with capture() as cap:
        program = _capture(fixed_arity(c.module, len(c.inputs)), args, c.inputs)
        try:
            torch.onnx.export(program, args, str(path), dynamo=True, opset_version=opset,
                              input_names=[s.name for s in c.inputs], output_names=list(c.output_names),
                              external_data=weight_bytes(c.module) > EXTERNAL_DATA_THRESHOLD, verbose=False)
        except Exception as e:  # noqa: BLE001 - the exporter raises many types
            raise export_failed(e, "dynamo", opset) from None
    name_dynamic_dims(path, c.inputs)
    others = sorted(p for p in scratch.iterdir() if p != path)
    return Exported("onnx", path, [path, *others], time.perf_counter() - t0, opset=opset, exporter="dynamo",
                    warnings=cap.warnings)


def _args(c: ComponentSource) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(c.example[s.name]) for s in c.inputs)


def _onnx_facts(path: Path, opset: int, c: ComponentSource) -> tuple[list[str], list[str], dict[str, dict[str, str]]]:
    """Checker, opset and dynamic axes of one component file; its real input and output names (an input the
    exporter dropped because the graph does not use it is not listed, and the generation loop does not feed it)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - the checker raises several types
        raise ExportError(f"component {c.name}: the ONNX checker rejects the file: {first_line(str(e))}") from None
    got = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != opset:
        raise ExportError(f"component {c.name}: the file has opset {got}, {opset} was asked for")
    axes: dict[str, dict[str, str]] = {}
    for vi in [*model.graph.input, *model.graph.output]:
        dims = {str(i): d.dim_param for i, d in enumerate(vi.type.tensor_type.shape.dim) if d.dim_param}
        if dims:
            axes[vi.name] = dims
    inputs = [i.name for i in model.graph.input]
    for s in c.inputs:
        for axis in s.dynamic_axes:
            if s.name in inputs and str(axis) not in axes.get(s.name, {}):
                raise ExportError(f"component {c.name}: input {s.name!r} axis {axis} was asked dynamic but exported "
                                  "static")
    return inputs, [o.name for o in model.graph.output], axes


def _ir_version(path: Path) -> int:
    import onnx

    return int(onnx.load(str(path), load_external_data=False).ir_version)


def _export_one(c: ComponentSource, target: str, opset: int | None, options: ConvertOptions,
                scratch: Path) -> tuple[Exported, Component]:
    name = f"{c.name}.{EXTENSIONS[target]}"
    names = [s.name for s in c.inputs]
    axes = {s.name: {str(a): sym for a, sym in s.dynamic_axes.items()} for s in c.inputs if s.dynamic_axes}
    if target == "onnx":
        assert opset is not None
        exporter = resolve_exporter(opset, options.exporter)
        if exporter == "dynamo":
            e = _export_onnx_dynamo(c, opset, scratch, name)
        else:
            shapes = [tuple(v.shape) for v in c.module(*_args(c))]  # outputs with the example batch get its symbol
            e = export_onnx(c.module, _args(c), c.inputs, c.output_names, shapes, opset, exporter, scratch, name, "hf")
        names, outputs, axes = _onnx_facts(e.path, opset, c)
        return e, Component(c.name, name, names, outputs, axes)
    if target == "torchscript":
        # the wrappers take the flat past as *args, which torch.jit.script cannot compile: traced, and the trace
        # is held to the generation check below (docs/decisions.md, "TorchScript: script first, check traces")
        e = export_torchscript(c.module, _args(c), c.inputs, c.output_names, "trace", scratch / name,
                               options.freeze_torchscript)
    else:
        e = _export_pt2(fixed_arity(c.module, len(c.inputs)), _args(c), c.inputs, scratch / name, c.output_names)
    return e, Component(c.name, name, names, list(c.output_names), axes)


def export_artifact(loaded: LoadedModel, art_id: str, target: str, opset: int | None, options: ConvertOptions,
                    stage: Path, progress: Progress) -> Artifact:
    """Every component of ``loaded`` for one target into ``stage/art_id/``; the folder goes on any failure."""
    folder = stage / art_id
    folder.mkdir()
    t0 = time.perf_counter()
    components, files, warnings, extra = [], [], [], {}
    try:
        for c in loaded.components:
            progress.status(f"{art_id}: exporting {c.name}")
            scratch = stage / f".scratch-{art_id}-{c.name}"
            scratch.mkdir()
            try:
                with torch.no_grad():
                    e, comp = _export_one(c, target, opset, options, scratch)
                for f in e.files:
                    f.replace(folder / f.name)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            comp.path = f"{art_id}/{comp.path}"
            components.append(comp)
            files += [ArtifactFile.of(stage, f"{art_id}/{f.name}") for f in e.files]
            warnings += [f"{c.name}: {w}" for w in e.warnings]
            extra[c.name] = {k: v for k, v in {"method": e.method, **e.extra}.items() if v is not None}
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Artifact(id=art_id, target=target, path=components[0].path, files=files,
                    export_time_s=round(time.perf_counter() - t0, 4), opset=opset,
                    exporter=resolve_exporter(opset, options.exporter) if opset else None,
                    ir_version=_ir_version(stage / components[0].path) if target == "onnx" else None,
                    method="trace" if target == "torchscript" else None, warnings=warnings,
                    extra={"components": extra, "generation": loaded.generation}, components=components)


def convert_components(loaded: LoadedModel, options: ConvertOptions, stage: Path, manifest: RunManifest,
                       progress: Progress, timings: dict[str, float]) -> GenerationReport | None:
    """Export, check and (when validating) validate every target; returns the report written to the stage."""
    check_options(options)
    gen = loaded.generation or {}
    check = GenerationCheck(seed=options.seed, atol=options.atol, rtol=options.rtol)
    results: list[dict[str, Any]] = []
    not_shipped: dict[str, str] = {}
    for art_id, target, opset in _targets(options):
        t0 = time.perf_counter()
        progress.step(f"exporting {len(loaded.components)} components to {art_id}")
        try:
            art = export_artifact(loaded, art_id, target, opset, options, stage, progress)
            result = None
            if options.validate:
                progress.status(f"{art_id}: checking components and greedy generation against eager")
                result = validate_artifact(stage, art, loaded.module, gen, check)
                if not result["passed"] and target != "onnx":
                    shutil.rmtree(stage / art_id, ignore_errors=True)
                    raise ExportError(failure_line(result).split(": ", 1)[1])
        except ModelportError as e:
            if target == "onnx":
                raise
            not_shipped[art_id] = e.message if hasattr(e, "message") else str(e)
            manifest.warnings.append(f"{art_id} not shipped: {not_shipped[art_id]}")
            continue
        manifest.artifacts.append(art)
        if result is not None:
            results.append(result)
        timings[f"{art_id}_s"] = round(time.perf_counter() - t0, 4)
    if not manifest.artifacts:
        raise ExportError(f"no target could carry the model: {'; '.join(f'{k}: {v}' for k, v in not_shipped.items())}",
                          "try --to onnx")
    manifest.settings["generation"] = gen
    if not_shipped:
        manifest.settings["not_shipped"] = not_shipped
    if not options.validate:
        return None
    report = GenerationReport(results, {"source": manifest.source.spec, "task": gen.get("task"),
                                        "new_tokens": check.new_tokens, "seed": check.seed})
    from modelport.fsutil import write_json_atomic  # noqa: PLC0415 - only when validating

    write_json_atomic(stage / GENERATION_REPORT, report.to_json())
    return report
