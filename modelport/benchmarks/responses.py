"""What a response carries: each sample's real output bytes, so accuracy mode can check them.

A sample's response is its outputs in output order, each as C-contiguous bytes of its per-sample shape.
``encode`` packs a batch into one uint8 block (one row per sample) whose row addresses go to LoadGen;
``decode`` turns the bytes of the accuracy log back into arrays using the recorded layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class OutputField:
    name: str
    dtype: str
    shape: tuple[int, ...]  # per sample

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OutputField:
        return cls(d["name"], d["dtype"], tuple(d["shape"]))


class ResponseLayout:
    def __init__(self, fields: list[OutputField]) -> None:
        self.fields = list(fields)
        self.sample_bytes = sum(f.nbytes for f in self.fields)

    @classmethod
    def from_sample_outputs(cls, outputs: dict[str, np.ndarray]) -> ResponseLayout:
        """The layout of one sample, from the outputs of running one sample (leading axis 1 is dropped)."""
        fields = []
        for name, arr in outputs.items():
            shape = arr.shape[1:] if arr.ndim and arr.shape[0] == 1 else arr.shape
            fields.append(OutputField(name, np.dtype(arr.dtype).name, tuple(shape)))
        return cls(fields)

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.fields]

    @classmethod
    def from_json(cls, items: list[dict[str, Any]]) -> ResponseLayout:
        return cls([OutputField.from_json(d) for d in items])

    def encode(self, outputs: dict[str, np.ndarray], count: int) -> np.ndarray:
        """A (count, sample_bytes) uint8 block; rows beyond ``count`` (batch padding) are dropped."""
        parts = []
        for f in self.fields:
            arr = outputs[f.name]
            per = arr.size // max(1, arr.shape[0]) if arr.ndim else arr.size
            rows = arr.reshape(count, -1) if arr.nbytes == count * f.nbytes else arr.reshape(-1, per)[:count]
            parts.append(np.ascontiguousarray(rows).view(np.uint8))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def decode(self, data: bytes) -> dict[str, np.ndarray]:
        if len(data) != self.sample_bytes:
            raise ValueError(f"response has {len(data)} bytes, the layout expects {self.sample_bytes}")
        out: dict[str, np.ndarray] = {}
        offset = 0
        for f in self.fields:
            out[f.name] = np.frombuffer(data, dtype=f.dtype, count=int(np.prod(f.shape, dtype=np.int64)),
                                        offset=offset).reshape(f.shape)
            offset += f.nbytes
        return out


def addresses(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row addresses and sizes of an encoded block, as LoadGen wants them."""
    rows, width = block.shape
    base = block.__array_interface__["data"][0]
    ptrs = base + np.arange(rows, dtype=np.uint64) * np.uint64(block.strides[0])
    return ptrs.astype(np.uint64), np.full(rows, width, dtype=np.uint64)
