"""Input specifications: what a model takes, and seeded inputs that respect it.

One ``InputSpec`` per model input: its name, an example shape (the batch axis first where there is one),
a dtype, the value range inputs are drawn from, and which axes are dynamic. Converters export with it,
validators and benchmarks generate data from it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from modelport.errors import InputError

_DTYPES = {
    "float32": np.float32, "float16": np.float16, "float64": np.float64,
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8, "bool": np.bool_, "uint8": np.uint8,
    # the other integer types an ONNX graph can take (``opsets convert`` derives specs from graphs)
    "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
}
_DTYPE_ALIASES = {"float": "float32", "fp32": "float32", "f32": "float32", "fp16": "float16", "half": "float16",
                  "double": "float64", "long": "int64", "int": "int64", "i64": "int64", "i32": "int32"}


def normalize_dtype(name: str) -> str:
    key = _DTYPE_ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in _DTYPES:
        raise InputError(f"unknown dtype {name!r}", f"use one of {', '.join(sorted(_DTYPES))}")
    return key


# Generated test inputs larger than this are refused before allocating: a shape of 1e5 x 1e5 x 1e5 is a typo
# or a hostile file, and numpy would otherwise fail with a MemoryError after trying.
MAX_GENERATED_BYTES = 4 << 30


def check_generated_size(name: str, shape: list[int] | tuple[int, ...], dtype: Any) -> None:
    """``InputError`` if seeded values for input ``name`` of ``shape`` would exceed ``MAX_GENERATED_BYTES``."""
    count = 1
    for d in shape:
        count *= int(d)
    size = count * np.dtype(dtype).itemsize
    if size > MAX_GENERATED_BYTES:
        raise InputError(f"input {name!r} of shape {list(shape)} would need {size / 2**30:,.0f} GiB of generated "
                         f"test data (the limit is {MAX_GENERATED_BYTES >> 30} GiB)",
                         "give the model a realistic input shape")


def is_float(dtype: str) -> bool:
    return np.issubdtype(_DTYPES[dtype], np.floating)


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    low: float = 0.0
    high: float = 1.0
    #: axis -> symbolic name, e.g. {0: "batch"}
    dynamic_axes: dict[int, str] = field(default_factory=dict)
    #: how generated values are laid out: "" uniform in [low, high); "padding-mask": along the last axis ones then
    #: zeros, the first row of a batch unpadded and the others padded, as a tokenizer pads (docs/decisions.md
    #: "## Hugging Face inputs: from the forward signature")
    pattern: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", normalize_dtype(self.dtype))
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "dynamic_axes", {int(k): str(v) for k, v in self.dynamic_axes.items()})
        if any(s <= 0 for s in self.shape):
            raise InputError(f"input {self.name!r}: every dimension must be positive, got {list(self.shape)}")
        for axis in self.dynamic_axes:
            if not 0 <= axis < len(self.shape):
                raise InputError(f"input {self.name!r}: dynamic axis {axis} is out of range for shape "
                                 f"{list(self.shape)}")
        if self.high <= self.low:
            raise InputError(f"input {self.name!r}: value range [{self.low}, {self.high}) is empty")

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(_DTYPES[self.dtype])

    @property
    def batch_dynamic(self) -> bool:
        return 0 in self.dynamic_axes

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["dynamic_axes"] = {str(k): v for k, v in self.dynamic_axes.items()}
        if not self.pattern:
            del d["pattern"]  # manifests without patterns stay as they were
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> InputSpec:
        return cls(name=d["name"], shape=tuple(d["shape"]), dtype=d.get("dtype", "float32"),
                   low=d.get("low", 0.0), high=d.get("high", 1.0),
                   dynamic_axes={int(k): v for k, v in d.get("dynamic_axes", {}).items()},
                   pattern=d.get("pattern", ""))


def make_inputs(specs: list[InputSpec], seed: int, batch: int | None = None, sign: int = 1,
                shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """Seeded inputs for ``specs``.

    ``batch`` replaces axis 0 of inputs whose batch axis is dynamic; ``shapes`` overrides whole shapes.
    ``sign=-1`` negates float inputs, so two input sets differ in sign (this is what exposes traced
    data-dependent branches). Integer inputs stay within ``[low, high)`` whatever the sign.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        shape = list(spec.shape)
        if shapes and spec.name in shapes:
            shape = list(shapes[spec.name])
        elif batch is not None and spec.batch_dynamic:
            shape[0] = batch
        check_generated_size(spec.name, shape, spec.np_dtype)
        if is_float(spec.dtype):
            arr = rng.uniform(spec.low, spec.high, size=shape).astype(spec.np_dtype)
            if sign < 0:
                arr = -arr
        elif spec.pattern == "padding-mask":
            arr = padding_mask(rng, shape).astype(spec.np_dtype)
        elif spec.dtype == "bool":
            arr = rng.integers(0, 2, size=shape).astype(np.bool_)
        else:
            arr = rng.integers(int(spec.low), int(spec.high), size=shape).astype(spec.np_dtype)
        out[spec.name] = arr
    return out


def padding_mask(rng: np.random.Generator, shape: list[int]) -> np.ndarray:
    """Ones then zeros along the last axis. In a batch, row 0 is full and every other row is cut to a length in
    [seq/2, seq); a single row (one benchmark sample) has a length in [seq/2, seq], padded or not."""
    seq = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    if rows == 1:
        lengths = rng.integers(max(1, seq // 2), seq + 1, size=1)
    else:
        lengths = rng.integers(max(1, seq // 2), max(2, seq), size=rows)
        lengths[0] = seq
    return (np.arange(seq)[None, :] < lengths[:, None]).reshape(shape)


_INPUT_RE = re.compile(r"^(?P<name>[^:]+):(?P<shape>[^:]+)(?::(?P<dtype>[^:]+))?(?::(?P<range>[^:]+))?$")


def parse_input_option(text: str) -> InputSpec:
    """Parse ``--input NAME:SHAPE[:DTYPE[:LOW,HIGH]]``; SHAPE is ``2x3x32x32`` or ``[2,3,32,32]``."""
    m = _INPUT_RE.match(text.strip())
    if not m:
        raise InputError(f"--input {text!r} is not NAME:SHAPE[:DTYPE[:LOW,HIGH]]", "e.g. --input x:2x3x32x32:float32")
    dims = [d for d in re.split(r"[x,\[\]\s]+", m["shape"]) if d]
    try:
        shape = tuple(int(d) for d in dims)
    except ValueError:
        raise InputError(f"--input {text!r}: shape {m['shape']!r} must be integers like 2x3x32x32") from None
    dtype = normalize_dtype(m["dtype"] or "float32")
    low, high = (0.0, 1.0) if is_float(dtype) else (0.0, 2.0)
    if m["range"]:
        try:
            low, high = (float(v) for v in m["range"].split(","))
        except ValueError:
            raise InputError(f"--input {text!r}: range must be LOW,HIGH") from None
    return InputSpec(m["name"], shape, dtype, low, high)


def parse_dynamic_option(text: str) -> tuple[str, int, str]:
    """Parse ``--dynamic NAME:AXIS[:SYMBOL]``."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].lstrip("-").isdigit():
        raise InputError(f"--dynamic {text!r} is not NAME:AXIS[:SYMBOL]", "e.g. --dynamic input_ids:1:seq")
    axis = int(parts[1])
    return parts[0], axis, parts[2] if len(parts) == 3 else ("batch" if axis == 0 else f"{parts[0]}_dim{axis}")


def apply_dynamic(specs: list[InputSpec], dynamic: list[tuple[str, int, str]], dynamic_batch: bool) -> list[InputSpec]:
    names = {s.name for s in specs}
    for name, _, _ in dynamic:
        if name not in names:
            raise InputError(f"--dynamic names input {name!r}, but the model's inputs are {sorted(names)}")
    out = []
    for s in specs:
        axes = dict(s.dynamic_axes)
        if dynamic_batch:
            axes.setdefault(0, "batch")
        for name, axis, sym in dynamic:
            if name == s.name:
                if axis < 0:
                    axis += len(s.shape)
                axes[axis] = sym
        out.append(replace(s, dynamic_axes=axes))
    return out
