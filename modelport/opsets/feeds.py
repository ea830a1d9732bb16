"""Seeded inputs derived from an ONNX graph, and an element-wise comparison of two sessions' outputs.

Used by ``opsets convert`` to check that a converted model computes what the original did. Without a
model spec we know only the declared types and shapes: symbolic dimensions get a small size, floats are
standard normal, integers are drawn from [0, int_high) because integer inputs are usually indices or
token ids, and 0 and 1 are in range for any axis of size >= 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper

from modelport.errors import InputError
from modelport.spec import check_generated_size


@dataclass(frozen=True)
class OutputDiff:
    name: str
    shape: tuple[int, ...]
    dtype: str
    max_abs: float
    max_rel: float
    mismatched: int
    total: int
    ok: bool
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "max_abs": self.max_abs,
                "max_rel": self.max_rel, "mismatched": self.mismatched, "total": self.total, "ok": self.ok,
                "problem": self.problem}


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Inputs a caller must feed: old IR versions also list initializers as graph inputs."""
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def make_feeds(model: onnx.ModelProto, seed: int, dim_size: int = 2, int_high: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes: dict[str, int] = {}
    feeds: dict[str, np.ndarray] = {}
    for vi in graph_inputs(model):
        tt = vi.type.tensor_type
        if vi.type.WhichOneof("value") != "tensor_type" or tt.elem_type == onnx.TensorProto.UNDEFINED:
            raise InputError(f"input {vi.name!r} is not a plain tensor; cannot generate values for it",
                             "pass --no-compare to skip the numeric comparison")
        shape = []
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(int(d.dim_value))
            else:
                # one size per symbol, so inputs that share a symbolic dim stay consistent
                shape.append(sizes.setdefault(d.dim_param or f"?{len(sizes)}", dim_size))
        dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        check_generated_size(vi.name, shape, dtype)
        if dtype == np.bool_:
            feeds[vi.name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif np.issubdtype(dtype, np.integer):
            feeds[vi.name] = rng.integers(0, int_high, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.floating):
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        else:
            raise InputError(f"input {vi.name!r} has type {dtype}; cannot generate values for it",
                             "pass --no-compare to skip the numeric comparison")
    return feeds


def compare(names: list[str], ref: list[np.ndarray], got: list[np.ndarray], atol: float,
            rtol: float) -> list[OutputDiff]:
    """Element-wise: an element mismatches when abs error > atol AND relative error > rtol."""
    out = []
    for name, a, b in zip(names, ref, got, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            out.append(OutputDiff(name, tuple(a.shape), str(a.dtype), float("inf"), float("inf"), a.size, a.size,
                                  False, f"shape/dtype {b.shape}/{b.dtype}, expected {a.shape}/{a.dtype}"))
            continue
        if a.dtype.kind in "fc":
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            same_nan = np.isnan(a64) & np.isnan(b64)
            absd = np.where(same_nan, 0.0, np.abs(a64 - b64))
            absd = np.where(np.isnan(absd), np.inf, absd)
            rel = absd / np.maximum(np.abs(a64), np.finfo(np.float64).tiny)
            bad = (absd > atol) & (rel > rtol)
        else:
            absd = (a != b).astype(np.float64)
            rel = absd
            bad = a != b
        n_bad = int(bad.sum())
        out.append(OutputDiff(name, tuple(a.shape), str(a.dtype), float(absd.max(initial=0.0)),
                              float(rel.max(initial=0.0)), n_bad, int(a.size), n_bad == 0))
    return out
