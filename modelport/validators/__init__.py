"""Validators: prove every exported artifact is numerically the same model as the eager reference.

Split like Polygraphy's comparator: ``compare`` (the one equivalence rule), ``tolerances``, ``inputs`` (the one
input-set builder and its profiles, the user's .npz, gate samples), ``session`` (a reference, its input sets
and every result computed so far, shared by convert's gate and the full validation), ``reference``,
``candidate`` and ``agreement`` (the parts of a validation), ``comparator`` (``validate_run``,
``validate_artifacts``), ``checks`` (checker, dynamic axes, names, determinism), ``results`` (report types)
and ``render`` (the terminal table). ``localize`` (first ONNX node and torch module that leave the eager model),
``layerwise`` (ONNX against ONNX, tensor by tensor) and ``localize_run`` (which artifacts get which) diagnose.

The names below load on first use: ``compare``, ``inputs``, ``tolerances`` and ``session`` import neither
torch nor the zoo, and ``opsets convert`` uses them without paying for either.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "REPORT_NAME": "comparator",
    "validate_artifacts": "comparator",
    "validate_run": "comparator",
    "ValidationOptions": "options",
    "kind_from_path": "options",
    "compare_arrays": "compare",
    "topk_agreement": "compare",
    "OutputComparison": "results",
    "ValidationReport": "results",
    "parse_tolerances": "tolerances",
    "localize_onnx": "localize",
    "compare_layers": "layerwise",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later lookups (and monkeypatching in tests) see a plain attribute
    return value
