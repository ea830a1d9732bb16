"""Validators: prove every exported artifact is numerically the same model as the eager reference.

Split like Polygraphy's comparator: ``inputs`` (seeded input sets, the user's .npz, gate samples),
``comparator`` (running the reference and each candidate), ``compare`` (one function per kind of
comparison), ``checks`` (checker, dynamic axes, names, determinism), ``results`` (report types) and
``render`` (the terminal table).
"""

from modelport.validators.comparator import (
    REPORT_NAME,
    ValidationOptions,
    kind_from_path,
    validate_artifacts,
    validate_run,
)
from modelport.validators.compare import compare_arrays, topk_agreement
from modelport.validators.results import OutputComparison, ValidationReport
from modelport.validators.tolerances import parse_tolerances

__all__ = [
    "REPORT_NAME",
    "OutputComparison",
    "ValidationOptions",
    "ValidationReport",
    "compare_arrays",
    "kind_from_path",
    "parse_tolerances",
    "topk_agreement",
    "validate_artifacts",
    "validate_run",
]
