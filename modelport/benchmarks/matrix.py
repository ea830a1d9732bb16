"""A conversion-regression matrix: models x targets x opsets x precisions x scenarios, and its cells.

A matrix comes from ``modelport run``'s repeated ``--to/--opset/--precision/--scenario`` options (one model) or
from ``--matrix FILE``, a JSON object (YAML too where PyYAML is installed; Ray depends on it)::

    {"models": ["zoo:tiny-cnn", "zoo:bert"], "targets": ["onnx", "torchscript"], "opsets": [13, 17],
     "precisions": ["fp32", "fp16"], "scenarios": ["SingleStream", "Offline"]}

Keys the file leaves out come from the command line. A cell is one model exported to one target (ONNX: at
one opset), validated, then benchmarked: precisions and scenarios run inside every cell, because a
reduced-precision artifact is made from its cell's checked fp32 export and Server's QPS search starts from
Offline's throughput (docs/decisions.md, "Fan-out: what a matrix cell is").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.benchmarks.scenarios import parse_scenarios
from modelport.converters.options import parse_opsets, parse_targets
from modelport.converters.precision import BUILT, makers_of, parse_precisions, refuse_unbuildable, spoken
from modelport.errors import InputError, ModelportError
from modelport.zoo import ZOO

KEYS = ("models", "targets", "opsets", "precisions", "scenarios")


@dataclass(frozen=True)
class MatrixCell:
    """One model exported to one target (ONNX: one opset), with the precisions that target builds."""

    id: str
    model: str
    target: str
    opset: int | str | None
    precisions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "model": self.model, "target": self.target, "opset": self.opset,
                "precisions": list(self.precisions)}


@dataclass
class Matrix:
    models: list[str]
    targets: tuple[str, ...]
    opsets: tuple[int | str, ...]
    precisions: tuple[str, ...]
    scenarios: list[str]
    source_file: str | None = None
    cells: list[MatrixCell] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cells = _cells(self)

    def to_json(self) -> dict[str, Any]:
        return {"models": self.models, "targets": list(self.targets), "opsets": list(self.opsets),
                "precisions": list(self.precisions), "scenarios": self.scenarios, "file": self.source_file}


def model_name(source: str) -> str:
    """A file-name-safe name for a model source: zoo:tiny-cnn -> tiny-cnn, path/to/net.onnx -> net."""
    base = source[4:] if source.startswith("zoo:") else Path(source.rstrip("/")).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base) or "model"


def _check_source(model: str) -> None:
    """A zoo name that does not exist, or a path that is not there, is refused before any cell runs: a typo in
    a matrix must not cost the other cells' conversions first (a file that exists but fails to load still fails
    only its own cells)."""
    if model.startswith("zoo:"):
        name = model.removeprefix("zoo:")
        if name not in ZOO:
            raise InputError(f"matrix model {model!r}: unknown zoo model {name!r}", f"known: {', '.join(ZOO)}")
    elif not Path(model).exists():
        raise InputError(f"matrix model {model!r}: no such file or directory")


def _check_precisions(m: Matrix) -> None:
    """A precision none of the matrix's targets builds would be dropped from every cell without a word: refused,
    naming the targets that build it (the list ``convert --precision`` builds, converters.precision.BUILT)."""
    for p in m.precisions:
        makers = makers_of(p)
        if p != "fp32" and not any(t in m.targets for t in makers):
            raise InputError(f"matrix precision {p!r} is built for {spoken(makers)} only, and the matrix's "
                             f"targets are {', '.join(m.targets)}", f"add {spoken(makers, 'or')} to the targets")
    refuse_unbuildable(m.targets, m.precisions)


def _cells(m: Matrix) -> list[MatrixCell]:
    names: dict[str, str] = {}
    for model in m.models:
        other = names.setdefault(model_name(model), model)
        if other != model:
            raise InputError(f"matrix models {other!r} and {model!r} share the name {model_name(model)!r}, so "
                             "their cells would share folders", "give each model a distinct file or zoo name")
        _check_source(model)
    _check_precisions(m)
    out: list[MatrixCell] = []
    for model in dict.fromkeys(m.models):
        name = model_name(model)
        for target in m.targets:
            reduced = tuple(p for p in m.precisions if p in BUILT.get(target, ()))
            precisions = ("fp32", *reduced)
            for opset in (m.opsets if target == "onnx" else (None,)):
                cid = f"{name}-{target}" + (f"-opset{opset}" if opset is not None else "")
                out.append(MatrixCell(cid, model, target, opset, precisions))
    return out


def from_options(source: str, targets: tuple[str, ...], opsets: tuple[str, ...], precisions: tuple[str, ...],
                 scenarios: list[str]) -> Matrix:
    """The matrix of one model given by ``run``'s repeated options."""
    return Matrix([source], parse_targets(targets), parse_opsets(opsets), parse_precisions(precisions),
                  list(scenarios))


def load_matrix_file(path: str | Path, defaults: Matrix) -> Matrix:
    """``--matrix FILE``: every key checked, one line naming the key on a bad one; left-out keys from
    ``defaults`` (the command line)."""
    path = Path(path)
    data = _read(path)
    if not isinstance(data, dict):
        raise InputError(f"matrix file {path} must hold an object with keys {', '.join(KEYS)}")
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise InputError(f"matrix file {path}: unknown key {unknown[0]!r}", f"known keys: {', '.join(KEYS)}")
    values = {k: _list(path, k, data[k]) for k in KEYS if k in data}
    models = values.get("models", defaults.models)
    bad = next((m for m in models if not isinstance(m, str) or not m.strip()), None)
    if bad is not None or not models:
        raise InputError(f"matrix file {path}: 'models' must list model sources (zoo:NAME or a path), got {bad!r}")
    parsers = {"targets": parse_targets, "opsets": parse_opsets, "precisions": parse_precisions,
               "scenarios": parse_scenarios}
    parsed: dict[str, Any] = {}
    for key, parse in parsers.items():
        try:
            parsed[key] = parse([str(v) for v in values[key]]) if key in values else getattr(defaults, key)
        except ModelportError as e:
            raise InputError(f"matrix file {path}: {key!r}: {e.message}") from None
    return Matrix([m.strip() for m in models], parsed["targets"], parsed["opsets"], parsed["precisions"],
                  list(parsed["scenarios"]), str(path))


def file_keys(path: str | Path) -> set[str]:
    """The axes a matrix file sets (what the command line must then leave alone)."""
    data = _read(Path(path))
    return {k for k in data if k in KEYS} if isinstance(data, dict) else set()


def _list(path: Path, key: str, value: Any) -> list[Any]:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, list) or not value:
        raise InputError(f"matrix file {path}: {key!r} must be a non-empty list, got {json.dumps(value)}")
    bad = next((v for v in value if not isinstance(v, (str, int)) or isinstance(v, bool)), None)
    if bad is not None:
        raise InputError(f"matrix file {path}: {key!r} holds {json.dumps(bad)}, not a name or number")
    return value


def _read(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(f"cannot read matrix file {path}: {e.strerror or e}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError(f"matrix file {path} is YAML and PyYAML is not installed",
                             "pip install pyyaml, or write the matrix as JSON") from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"matrix file {path} is not valid YAML: {' '.join(str(e).split())}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"matrix file {path} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                         "YAML files need a .yaml or .yml name") from None
