"""Open an ONNX file without trusting it: never read external data that is missing or outside its folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from modelport.errors import InputError


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and every subgraph nested in its nodes' attributes (If/Loop/Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from iter_graphs(g)


def _node_tensors(nodes: Iterator[onnx.NodeProto] | list[onnx.NodeProto]) -> Iterator[onnx.TensorProto]:
    for node in nodes:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
            elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                yield attr.sparse_tensor.values
                yield attr.sparse_tensor.indices


def iter_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in the model: initializers, sparse initializers, tensor attributes, functions."""
    for g in iter_graphs(model.graph):
        yield from g.initializer
        for sp in g.sparse_initializer:
            yield sp.values
            yield sp.indices
        yield from _node_tensors(g.node)
    for fn in model.functions:
        yield from _node_tensors(fn.node)


def _byte_count(tensor: str, key: str, value: str | None) -> int | None:
    """An external-data ``offset``/``length`` field: absent, or a non-negative decimal integer."""
    if not value:
        return None
    if not value.isdigit():  # also refuses "-1", "1e3", " 7"
        raise InputError(f"tensor {tensor!r} declares external data {key} {value!r}, which is not a non-negative "
                         "integer", "re-save the model with onnx.save(..., save_as_external_data=True)")
    return int(value)


def external_locations(model: onnx.ModelProto) -> list[tuple[str, str, int, int | None]]:
    """(tensor name, location, offset, length) for each tensor whose data lives in another file."""
    out = []
    for t in iter_tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        out.append((t.name, info.get("location", ""), _byte_count(t.name, "offset", info.get("offset")) or 0,
                    _byte_count(t.name, "length", info.get("length"))))
    return out


def check_external_data(model: onnx.ModelProto, base_dir: Path, source: str) -> list[Path]:
    """Refuse external data that is missing, escapes ``base_dir`` or is shorter than declared."""
    base = base_dir.resolve()
    files: set[Path] = set()
    for name, loc, offset, length in external_locations(model):
        if not loc:
            raise InputError(f"{source}: tensor {name!r} declares external data without a location",
                             "re-save the model with onnx.save(..., save_as_external_data=True)")
        if "\x00" in loc:
            raise InputError(f"{source}: tensor {name!r} names external data {loc!r} with a NUL character",
                             "re-save the model with onnx.save(..., save_as_external_data=True)")
        p = Path(loc)
        target = (base / p).resolve()
        if p.is_absolute() or (target != base and base not in target.parents):
            raise InputError(f"{source}: tensor {name!r} points to external data {loc!r} outside the model's "
                             "folder; refusing to read it", "keep external data files beside the .onnx file")
        if not target.is_file():
            raise InputError(f"{source}: external data file {loc!r} for tensor {name!r} is missing",
                             f"copy it next to the model (expected {target})")
        size = target.stat().st_size
        if length is not None and offset + length > size:
            raise InputError(f"{source}: external data {loc!r} is {size} bytes but tensor {name!r} needs "
                             f"bytes {offset}..{offset + length}", "the data file is truncated or mismatched")
        files.add(target)
    return sorted(files)


def load_model(path: str | os.PathLike[str], load_external_data: bool = False) -> onnx.ModelProto:
    """Parse ``path`` as an ONNX model; InputError for anything that is not a usable ONNX file.

    External data is validated first (existence, inside the model's folder, size) and only then read,
    and only when ``load_external_data`` is true.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{str(p)!r} does not exist", "give the path of an .onnx file")
    if not p.is_file():
        raise InputError(f"{str(p)!r} is not a file", "give the path of an .onnx file")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as e:
        raise InputError(f"{str(p)!r} is not an ONNX model ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:120]})", "give a file written by onnx.save") from None
    except OSError as e:
        raise InputError(f"cannot read {str(p)!r}: {e.strerror or e}") from None
    return validate_loaded(model, p, load_external_data)


def validate_loaded(model: onnx.ModelProto, p: Path, load_external_data: bool) -> onnx.ModelProto:
    # Protobuf happily parses many non-ONNX byte strings (an empty file is a valid empty message), so a
    # model must at least carry an IR version and a graph or an opset import.
    if model.ir_version <= 0 or (not model.graph.node and not model.graph.output and not model.opset_import):
        raise InputError(f"{str(p)!r} is not an ONNX model (no IR version or graph found)",
                         "give a file written by onnx.save")
    check_external_data(model, p.parent, str(p))
    if load_external_data and external_locations(model):
        onnx.load_external_data_for_model(model, str(p.parent))
    return model


def coerce_model(model_or_path: onnx.ModelProto | str | os.PathLike[str]) -> tuple[onnx.ModelProto, str]:
    """A ModelProto and a name for messages, from either a proto or a path (external data not loaded)."""
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path, model_or_path.graph.name or "<model>"
    return load_model(model_or_path), str(model_or_path)
