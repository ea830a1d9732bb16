"""ONNX export with either of torch 2.13's exporters, into a scratch directory the caller owns.

- ``torchscript``: ``torch.onnx.export(dynamo=False)`` with ``dynamic_axes``; native opsets 7-20.
- ``dynamo``: ``torch.onnx.export(dynamo=True)`` with ``dynamic_shapes``; native opsets 18-25. Below 18 we
  export at 18 and run ``onnx.version_converter`` on the finished (optimised) model ourselves, because torch's
  own down-conversion silently keeps opset 18 when it fails (docs/decisions.md: "ONNX: the opset in the file is
  the opset asked for", "Dynamo below opset 18: convert the finished model").

One self-contained file below 2 GB (dynamo defaults to external data however small the model; docs/decisions.md,
"ONNX: one file below 2 GB"); above
it the exporter's external data files sit beside the .onnx and belong to the artifact.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.adapt import for_torchscript_onnx
from modelport.converters.capture import capture, first_line
from modelport.converters.exported import Exported
from modelport.converters.onnx_errors import conversion_failed, export_failed
from modelport.converters.pt2 import capture_program
from modelport.errors import ExportError
from modelport.opsets.exporters import DYNAMO_NATIVE_MIN
from modelport.spec import InputSpec

#: above this many bytes of weights the protobuf limit (2 GiB) is near: write external data
EXTERNAL_DATA_THRESHOLD = int(1.8 * 2**30)


def weight_bytes(module: nn.Module) -> int:
    tensors = {id(t): t for t in list(module.parameters()) + list(module.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _batch_symbol(specs: list[InputSpec]) -> tuple[str, int] | None:
    for s in specs:
        if s.batch_dynamic:
            return s.dynamic_axes[0], s.shape[0]
    return None


def output_dynamic_axes(specs: list[InputSpec], output_names: list[str],
                        output_shapes: list[tuple[int, ...]]) -> dict[str, dict[int, str]]:
    """Outputs whose leading axis is the example batch get the batch symbol too (so the file says so)."""
    batch = _batch_symbol(specs)
    if batch is None:
        return {}
    sym, size = batch
    return {n: {0: sym} for n, shape in zip(output_names, output_shapes, strict=False) if shape and shape[0] == size}


def _export_torchscript_based(module, args, specs, output_names, output_shapes, opset, path,
                              output_axes: dict[str, dict[int, str]]) -> None:
    dynamic_axes = {s.name: dict(s.dynamic_axes) for s in specs if s.dynamic_axes}
    dynamic_axes.update(output_dynamic_axes(specs, output_names, output_shapes))
    for name, axes in output_axes.items():
        if name in output_names:
            dynamic_axes[name] = {**dynamic_axes.get(name, {}), **axes}
    torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset,
                      input_names=[s.name for s in specs], output_names=list(output_names),
                      dynamic_axes=dynamic_axes or None)


def _export_dynamo(module, args, specs, output_names, opset, path, external: bool, notes: list[str]) -> None:
    # torch.export first, by us: the same capture as the .pt2 target, including the retry with the model's own
    # bounds on dynamic axes; the ONNX exporter then translates the program
    program = capture_program(module, args, specs, notes, "the dynamo ONNX exporter",
                              "the dynamo exporter (torch.export)")
    torch.onnx.export(program, args, str(path), dynamo=True, opset_version=opset,
                      input_names=[s.name for s in specs], output_names=list(output_names),
                      external_data=external, verbose=False)
    name_dynamic_dims(path, specs)


def name_dynamic_dims(path: Path, specs: list[InputSpec]) -> None:
    """Give the dynamo exporter's generated dim names (``s77``) the spec's symbols (``batch``), file-wide."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inputs = {vi.name: vi for vi in model.graph.input}
    rename: dict[str, str] = {}
    for s in specs:
        vi = inputs.get(s.name)
        if vi is None:
            continue
        dims = vi.type.tensor_type.shape.dim
        for axis, sym in s.dynamic_axes.items():
            if axis < len(dims) and dims[axis].dim_param and dims[axis].dim_param != sym:
                rename.setdefault(dims[axis].dim_param, sym)
    if not rename:
        return
    for vi in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
    onnx.save(model, str(path))  # external data references are kept as they are


def name_output_dims(path: Path, output_axes: dict[str, dict[int, str]]) -> None:
    """Output axes that follow an input's dynamic axis get its symbol where the exporter left a name of its own
    (``Squeezestart_logits_dim_1``, ``s15``); an axis the file holds static is left as it is."""
    import onnx

    if not output_axes:
        return
    model = onnx.load(str(path), load_external_data=False)
    changed = False
    for vi in model.graph.output:
        dims = vi.type.tensor_type.shape.dim
        for axis, sym in output_axes.get(vi.name, {}).items():
            if axis < len(dims) and dims[axis].dim_param and dims[axis].dim_param != sym:
                dims[axis].dim_param = sym
                changed = True
    if changed:
        onnx.save(model, str(path))  # external data references are kept as they are


def _down_convert(src: Path, dest: Path, target: int) -> None:
    import onnx
    from onnx import version_converter

    model = onnx.load(str(src))
    try:
        converted = version_converter.convert_version(model, target)
    except Exception as e:  # noqa: BLE001 - the converter raises RuntimeError/IndexError with C++ text
        raise conversion_failed(e, DYNAMO_NATIVE_MIN, target) from None
    onnx.save(converted, str(dest))


def export_onnx(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], output_names: list[str],
                output_shapes: list[tuple[int, ...]], opset: int, exporter: str, scratch: Path, name: str,
                source_kind: str = "", output_axes: dict[str, dict[int, str]] | None = None) -> Exported:
    """Export into ``scratch`` (an empty directory); every file left there belongs to the artifact.
    ``output_axes``: output axes that follow an input's dynamic axis, named with its symbol (``prepare``)."""
    path = scratch / name
    external = weight_bytes(module) > EXTERNAL_DATA_THRESHOLD
    notes: list[str] = []
    t0 = time.perf_counter()
    with capture() as cap:
        try:
            if exporter == "torchscript":
                _export_torchscript_based(for_torchscript_onnx(module, source_kind), args, specs, output_names,
                                          output_shapes, opset, path, output_axes or {})
            elif opset >= DYNAMO_NATIVE_MIN:
                _export_dynamo(module, args, specs, output_names, opset, path, external, notes)
                name_output_dims(path, output_axes or {})
            else:
                if external:
                    raise ExportError(f"down-converting a model over 2 GB to opset {opset} is not supported",
                                      f"use --exporter torchscript or --opset >= {DYNAMO_NATIVE_MIN}")
                native = scratch.parent / f".{name}.opset{DYNAMO_NATIVE_MIN}.tmp"
                try:
                    _export_dynamo(module, args, specs, output_names, DYNAMO_NATIVE_MIN, native, False, notes)
                    _down_convert(native, path, opset)
                    name_output_dims(path, output_axes or {})
                finally:
                    native.unlink(missing_ok=True)
                notes.append(f"exported at opset {DYNAMO_NATIVE_MIN} by the dynamo exporter, converted to {opset} "
                             "with onnx.version_converter")
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001 - exporters raise anything from RuntimeError to their own types
            raise export_failed(e, exporter, opset) from None
    elapsed = time.perf_counter() - t0
    if not path.is_file():
        raise ExportError(f"the {exporter} exporter wrote no file at opset {opset}: {first_line(cap.text)}")
    others = sorted(p for p in scratch.iterdir() if p != path)
    return Exported("onnx", path, [path, *others], elapsed, opset=opset, exporter=exporter,
                    warnings=notes + cap.warnings)
