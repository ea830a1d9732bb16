"""What the user asked ``convert`` to do, checked before any model is loaded.

Each ONNX exporter has its own valid opset range (``modelport.opsets.exporters``; docs/decisions.md, "ONNX
exporter per opset"): the TorchScript-based exporter writes opsets 7-20 natively, the dynamo exporter 18-25,
and reaches 7-17 only through ``onnx.version_converter``, whose result is verified like any export. ``auto``
picks TorchScript for opsets up to 17 and dynamo above.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from modelport.errors import InputError
from modelport.fsutil import sha256_file
from modelport.opsets.exporters import (
    AUTO_DYNAMO_FROM,
    DEFAULT_OPSET,
    DYNAMO_RANGE,
    TORCHSCRIPT_RANGE,
    ranges_text,
)
from modelport.opsets.schemas import max_known_opset

#: what ``--to all`` means; ``aoti`` is asked for by name (a C++ compile of a minute or more per model, which
#: ``modelport run``'s default cannot afford: docs/decisions.md, "AOTInductor: --to aoti")
ALL_TARGETS = ("torchscript", "onnx", "pt2")
TARGETS = (*ALL_TARGETS, "aoti")
#: ``--optimize`` levels (docs/decisions.md, "ONNX Runtime levels: one artifact per level")
OPT_LEVELS = ("O0", "O1", "O2", "O3")
EXPORTERS = ("auto", "torchscript", "dynamo")
METHODS = ("auto", "script", "trace")
OPSET_MIN = "min"


def _ranges_text() -> str:
    return ranges_text(max_known_opset(), onnx.__version__)


def resolve_exporter(opset: int, requested: str) -> str:
    """The exporter for ``opset``; raises ``InputError`` (before any export) when the opset is out of its range."""
    known = max_known_opset()
    if opset > known:
        raise InputError(f"opset {opset} is beyond what the installed onnx {onnx.__version__} knows (<= {known})",
                         f"valid ranges: {_ranges_text()}")
    if requested == "auto":
        if opset < TORCHSCRIPT_RANGE[0]:
            raise InputError(f"opset {opset} is below every exporter's range", f"valid ranges: {_ranges_text()}")
        if opset > DYNAMO_RANGE[1]:
            raise InputError(f"opset {opset} is outside the dynamo exporter's range "
                             f"{DYNAMO_RANGE[0]}-{DYNAMO_RANGE[1]}", f"valid ranges: {_ranges_text()}")
        return "torchscript" if opset < AUTO_DYNAMO_FROM else "dynamo"
    if requested == "torchscript":
        lo, hi = TORCHSCRIPT_RANGE
        if not lo <= opset <= hi:
            other = (f"; use --exporter dynamo ({DYNAMO_RANGE[0]}-{DYNAMO_RANGE[1]})"
                     if hi < opset <= DYNAMO_RANGE[1] else "")
            raise InputError(f"opset {opset} is outside the torchscript exporter's range {lo}-{hi}{other}",
                             f"valid ranges: {_ranges_text()}")
        return "torchscript"
    if requested == "dynamo":
        if not TORCHSCRIPT_RANGE[0] <= opset <= DYNAMO_RANGE[1]:
            raise InputError(f"opset {opset} is outside the dynamo exporter's range {DYNAMO_RANGE[0]}-"
                             f"{DYNAMO_RANGE[1]} ({TORCHSCRIPT_RANGE[0]}-{DYNAMO_RANGE[0] - 1} by down-conversion)",
                             f"valid ranges: {_ranges_text()}")
        return "dynamo"
    raise InputError(f"unknown exporter {requested!r}", f"use one of {', '.join(EXPORTERS)}")


def parse_targets(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ("onnx",):
        for t in (ALL_TARGETS if v == "all" else (v,)):
            if t not in TARGETS:
                raise InputError(f"unknown target {v!r}", f"use one of {', '.join((*TARGETS, 'all'))}")
            if t not in out:
                out.append(t)
    return tuple(out)


def parse_levels(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``--optimize`` values, upper-cased and de-duplicated; O4 (fp16) is refused with its reason."""
    out: list[str] = []
    for v in values:
        level = str(v).strip().upper()
        if level == "O4":
            # docs/decisions.md, "ONNX Runtime O4: refused on CPU": fp16 is slower there than fp32
            raise InputError("--optimize O4 (fp16) is not offered: onnxruntime's CPU provider runs fp16 through "
                             "casts (BERT fp16 0.92x fp32), and it needs a CUDA GPU to pay off",
                             f"use one of {', '.join(OPT_LEVELS)}, or --precision fp16 for a gated fp16 artifact")
        if level not in OPT_LEVELS:
            raise InputError(f"unknown --optimize level {v!r}", f"use one of {', '.join(OPT_LEVELS)}")
        if level not in out:
            out.append(level)
    return tuple(out)


def parse_opsets(values: tuple[str, ...] | list[str]) -> tuple[int | str, ...]:
    out: list[int | str] = []
    for v in values or (str(DEFAULT_OPSET),):
        v = str(v).strip().lower()
        if v == OPSET_MIN:
            item: int | str = OPSET_MIN
        else:
            try:
                item = int(v)
            except ValueError:
                raise InputError(f"--opset {v!r} is not a number or 'min'", "e.g. --opset 17 or --opset min") from None
        if item not in out:
            out.append(item)
    return tuple(out)


@dataclass
class ConvertOptions:
    """Everything ``convert`` needs besides the source. ``settings()`` is what the manifest records."""

    targets: tuple[str, ...] = ("onnx",)
    opsets: tuple[int | str, ...] = (DEFAULT_OPSET,)
    exporter: str = "auto"
    method: str = "auto"
    simplify: bool = False
    strict: bool = False
    seed: int = 0
    validate: bool = True
    out: Path | None = None
    #: tolerances of the gate and the full validation, for every float output (validators.compare's rule);
    #: None = the dtype's default (fp32 1e-5), or the zoo model's own (ZooEntry.atol; ResNet-50: atol 1e-3)
    atol: float | None = None
    rtol: float | None = None
    simplify_timeout_s: float = 300.0
    #: ONNX Runtime levels, each a separate artifact ``onnx-opsetN-O2`` beside the plain ``onnx-opsetN``
    optimize: tuple[str, ...] = ()
    #: ship TorchScript frozen + optimize_for_inference (docs/decisions.md, "TorchScript: frozen for inference")
    freeze_torchscript: bool = True
    #: compile AOTInductor packages with inductor's freezing (docs/decisions.md, "AOTInductor: freezing, under no_grad")
    freeze_aoti: bool = True
    #: ``--precision``: fp32 plus reduced-precision ONNX artifacts ``onnx-opsetN-fp16``/``-int8``
    #: (docs/decisions.md, "Precision: reduced-precision artifacts")
    precision: tuple[str, ...] = ("fp32",)
    calibration: str | None = None  # a .npz keyed by input name; None = zoo samples at the calibration seed
    calibration_method: str = "minmax"
    calibration_samples: int = 64
    quantize: str = "auto"  # int8: static (QDQ) | dynamic (MatMul weights) | auto: static when there are Convs
    int8_keep_fp32: tuple[str, ...] = ()  # ONNX int8: operator types or node names left unquantized
    quality: float | None = None  # the reduced-precision gate; None = mlperf-99
    #: ``--inputs``: the user's arrays, validated like the seeded sets and, when given, the quality gate's samples
    inputs_file: str | None = None
    class_outputs: tuple[str, ...] = ()  # ``--class-output``: outputs holding logits; () = from the zoo task
    #: source options, passed to ``modelport.sources.load_source``
    source_options: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Reject impossible requests before anything is loaded or exported."""
        self.targets = parse_targets(self.targets)
        self.opsets = parse_opsets(tuple(str(o) for o in self.opsets))
        self.optimize = parse_levels(self.optimize)
        if self.optimize and "onnx" not in self.targets:
            raise InputError("--optimize applies to ONNX artifacts, and no ONNX target was asked for",
                             "add --to onnx")
        self._check_precision()
        if self.method not in METHODS:
            raise InputError(f"unknown --method {self.method!r}", f"use one of {', '.join(METHODS)}")
        if self.exporter not in EXPORTERS:
            raise InputError(f"unknown --exporter {self.exporter!r}", f"use one of {', '.join(EXPORTERS)}")
        if "onnx" in self.targets:
            for op in self.opsets:
                if op != OPSET_MIN:
                    resolve_exporter(int(op), self.exporter)
        if self.simplify_timeout_s <= 0:
            raise InputError("the simplification timeout must be positive")
        for flag, value in (("--atol", self.atol), ("--rtol", self.rtol)):
            if value is not None and not value >= 0:
                raise InputError(f"{flag} must be a number >= 0, got {value}")

    def _check_precision(self) -> None:
        from modelport.converters.precision import (
            CALIBRATION_METHODS,
            QUANTIZE_MODES,
            makers_of,
            parse_precisions,
            spoken,
        )

        self.precision = parse_precisions(self.precision)
        for p in self.precision[1:]:
            makers = makers_of(p)
            if p != "fp32" and not any(t in self.targets for t in makers):
                raise InputError(f"--precision {p} is built for {spoken(makers)} only", f"add --to {makers[0]}")
        if self.calibration_method not in CALIBRATION_METHODS:
            raise InputError(f"unknown --calibration-method {self.calibration_method!r}",
                             f"use one of {', '.join(CALIBRATION_METHODS)}")
        if self.quantize not in QUANTIZE_MODES:
            raise InputError(f"unknown --quantize {self.quantize!r}", f"use one of {', '.join(QUANTIZE_MODES)}")
        if self.inputs_file is not None and not Path(self.inputs_file).is_file():
            raise InputError(f"--inputs {self.inputs_file!r} does not exist", "pass a .npz keyed by input name")
        if self.calibration is not None and "int8" not in self.precision:
            raise InputError("--calibration applies to int8 artifacts, and no --precision int8 was asked for",
                             "add --precision int8, or drop --calibration")
        if self.calibration is not None and not Path(self.calibration).is_file():
            raise InputError(f"--calibration {self.calibration!r} does not exist", "pass a .npz keyed by input name")
        if self.int8_keep_fp32 and not ("int8" in self.precision and "onnx" in self.targets):
            raise InputError("--int8-keep-fp32 applies to ONNX int8 artifacts (onnxruntime quantization)",
                             "add --to onnx --precision int8")
        if self.calibration_samples < 1:
            raise InputError("--calibration-samples must be at least 1")

    def settings(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets), "opsets": list(self.opsets), "exporter": self.exporter,
            "method": self.method, "simplify": self.simplify, "strict": self.strict, "seed": self.seed,
            "validate": self.validate, "atol": self.atol, "rtol": self.rtol,
            "simplify_timeout_s": self.simplify_timeout_s, "optimize": list(self.optimize),
            "freeze_torchscript": self.freeze_torchscript, "freeze_aoti": self.freeze_aoti,
            "out": str(self.out) if self.out else None,
            "precision": list(self.precision), "calibration": self.calibration,
            "calibration_method": self.calibration_method, "calibration_samples": self.calibration_samples,
            "quantize": self.quantize, "int8_keep_fp32": list(self.int8_keep_fp32), "quality": self.quality,
            # absolute, so that a later `validate RUN_DIR` finds the file from any directory
            "inputs_file": str(Path(self.inputs_file).resolve()) if self.inputs_file else None,
            "inputs_sha256": sha256_file(self.inputs_file) if self.inputs_file else None,
            "class_outputs": list(self.class_outputs),
            **{k: _jsonable(v) for k, v in self.source_options.items() if v not in (None, (), [], {}, False)},
        }


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
