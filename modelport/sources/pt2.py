"""A ``torch.export`` program saved as .pt2; input specs are derived from the program's own signature."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelport.errors import InputError, ModelportError
from modelport.manifest import SourceRecord
from modelport.runners.pt2_archive import load_program
from modelport.sources import metadata
from modelport.sources.base import LoadedModel, finish, sha256_path, torch_dtype_name
from modelport.sources.detect import first_line
from modelport.spec import InputSpec, is_float

# The example size of a dynamic axis: never 1, which exporters specialise on
# (docs/decisions.md, "Dynamic axes: example size 2").
DYNAMIC_EXAMPLE = 2

_aten = torch.ops.aten
# op -> index of its `train`/`training` argument. An exported program bakes the module's mode into these.
_MODE_ARGS = {_aten.dropout.default: 2, _aten.native_dropout.default: 2, _aten.batch_norm.default: 5,
              _aten.feature_dropout.default: 2, _aten.alpha_dropout.default: 2}
_TRAINING_ONLY = {_aten._native_batch_norm_legit_functional.default, _aten._native_batch_norm_legit.default}


def read(path: Path, trust_pickle: bool = False) -> tuple[torch.export.ExportedProgram, str]:
    extra = {metadata.EXTRA_FILE: ""}
    try:
        program = load_program(path, trust_pickle=trust_pickle, extra_files=extra)
    except ModelportError:
        raise
    except Exception as e:
        raise InputError(f"cannot load .pt2 program {str(path)!r}: {first_line(e)}",
                         "re-save it with torch.export.save") from None
    return program, extra[metadata.EXTRA_FILE]


def to_eval(gm: torch.fx.GraphModule) -> bool:
    """Rewrite a program exported in training mode to inference; return whether it was in training mode.

    ``.eval()`` is refused on exported modules, and would not help: the mode lives in the ops' arguments.
    """
    was_training = False
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target in _TRAINING_ONLY:
            raise InputError("the .pt2 program was exported in training mode with batch-norm ops that cannot be "
                             "switched to inference", "call model.eval() before torch.export.export and re-save")
        index = _MODE_ARGS.get(node.target)
        if index is not None and len(node.args) > index and node.args[index] is True:
            node.update_arg(index, False)
            was_training = True
    if was_training:
        gm.recompile()
    for m in gm.modules():  # plain attribute writes: Module.eval() raises on exported modules
        m.training = False
    return was_training


def _example_shapes(program: torch.export.ExportedProgram) -> list[tuple[int, ...] | None]:
    examples = getattr(program, "example_inputs", None)
    if not examples:
        return []
    args, _ = examples
    return [tuple(a.shape) if isinstance(a, torch.Tensor) else None for a in args]


def _dim_size(dim: Any, example: int | None, program: torch.export.ExportedProgram) -> int:
    if example is not None and example >= DYNAMIC_EXAMPLE:
        return int(example)
    size = DYNAMIC_EXAMPLE
    vr = program.range_constraints.get(dim.node.expr) if hasattr(dim, "node") else None
    if vr is not None:
        size = max(size, _as_int(vr.lower) or 0)
        upper = _as_int(vr.upper)
        if upper is not None and size > upper:
            size = upper
    return size


def _as_int(bound: Any) -> int | None:
    """A range bound as an int; None for torch's symbolic infinity (which claims to be finite)."""
    try:
        return int(bound)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return None


def input_specs(program: torch.export.ExportedProgram) -> tuple[list[InputSpec], list[str]]:
    """Names from the graph signature, shapes and dtypes from the placeholders, dynamic axes from SymInts."""
    names = list(program.graph_signature.user_inputs)
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    examples = _example_shapes(program)
    symbols: dict[str, str] = {}
    specs: list[InputSpec] = []
    for i, name in enumerate(names):
        val = placeholders[name].meta.get("val") if name in placeholders else None
        if not isinstance(val, torch.Tensor):
            return [], [f"input {name!r} of the .pt2 program is not a tensor; give the inputs with --input"]
        example = examples[i] if i < len(examples) else None
        shape: list[int] = []
        axes: dict[int, str] = {}
        for axis, dim in enumerate(val.shape):
            if isinstance(dim, int):
                shape.append(dim)
                continue
            key = str(dim)
            symbols.setdefault(key, "batch" if axis == 0 and "batch" not in symbols.values() else f"{name}_dim{axis}")
            axes[axis] = symbols[key]
            shape.append(_dim_size(dim, example[axis] if example else None, program))
        dtype = torch_dtype_name(val.dtype)
        try:
            low, high = (0.0, 1.0) if is_float(dtype) else (0.0, 2.0)
        except KeyError:
            return [], [f"input {name!r} has dtype {dtype}, which modelport cannot generate; give --input"]
        try:
            specs.append(InputSpec(name, tuple(shape), dtype, low, high, axes))
        except ModelportError as e:
            return [], [f"cannot describe input {name!r} of the .pt2 program ({e}); give the inputs with --input"]
    return specs, []


def _set_mode_flags(self: nn.Module, mode: bool = True) -> nn.Module:
    # The graph stays in its inference form; only the flags move, so callers that eval() (exporters) work.
    for m in self.modules():
        m.training = mode
    return self


def _module(program: torch.export.ExportedProgram) -> tuple[nn.Module, bool]:
    gm = program.module()
    was_training = to_eval(gm)
    # The exported module's own train()/eval() raise NotImplementedError.
    gm.train = types.MethodType(_set_mode_flags, gm)
    gm.eval = types.MethodType(lambda self: _set_mode_flags(self, False), gm)
    return gm, was_training


def load(spec: str, path: Path, trust_pickle: bool = False) -> LoadedModel:
    program, meta = read(path, trust_pickle)
    module, was_training = _module(program)
    inputs, outputs, warns = metadata.loads(meta)
    if not inputs:
        inputs, more = input_specs(program)
        warns += more
    record = SourceRecord(kind="pt2", spec=spec, path=str(path), sha256=sha256_path(path), trusted_pickle=trust_pickle)
    return finish(module, inputs, outputs, record, warns, was_training=was_training)


def rebuild(path: Path, trust_pickle: bool = False) -> nn.Module:
    program, _ = read(path, trust_pickle)
    return _module(program)[0]
