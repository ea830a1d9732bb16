"""Result types of a validation: per artifact, per input set, per output; and the failures that decide the exit.

Everything here is plain data with a ``to_json``; computing lives in ``compare``/``comparator``, rendering in
``render``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from modelport.errors import ValidationFailed


@dataclass
class OutputComparison:
    """One output of one candidate against the reference on one input set."""

    name: str
    passed: bool
    atol: float
    rtol: float
    ref_shape: list[int]
    cand_shape: list[int] | None
    ref_dtype: str
    cand_dtype: str | None
    #: what decided a failure: "missing", "shape", "dtype", "nan", "inf", "values"; None when passed
    failed_on: str | None = None
    max_abs: float | None = None
    max_rel: float | None = None
    mean_abs: float | None = None
    p99_abs: float | None = None
    mismatched: int = 0
    total: int = 0
    worst_index: list[int] | None = None  # of the largest absolute error
    worst_ref: float | None = None
    worst_cand: float | None = None
    cosine: float | None = None
    nonfinite_ref: int = 0
    nonfinite_cand: int = 0
    #: the smallest atol (at this rtol) and rtol (at this atol) that would have passed this comparison
    required_atol: float | None = None
    required_rtol: float | None = None
    topk: dict[str, float] = field(default_factory=dict)  # "top1" -> agreement, for classification outputs
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe_failure(self) -> str:
        """The statistic that failed and its tolerance, in words."""
        if self.failed_on == "missing":
            return "is missing from the artifact's outputs"
        if self.failed_on == "shape":
            return f"has shape {self.cand_shape}, expected {self.ref_shape}"
        if self.failed_on == "dtype":
            return f"has dtype {self.cand_dtype}, expected {self.ref_dtype}"
        if self.failed_on in ("nan", "inf"):
            return (f"has {self.nonfinite_cand} non-finite values (NaN/Inf) where the reference has "
                    f"{self.nonfinite_ref}")
        where = ""
        if self.worst_index is not None:
            where = f"; worst at {self.worst_index}: {_g(self.worst_cand)} vs reference {_g(self.worst_ref)}"
        # Offer a tolerance only for numerical noise (same direction); a different model needs a fix, not a knob.
        if self.required_atol and self.cosine is not None and self.cosine >= 0.999:
            need = f"; passes with --atol {self.name}:{_g(_round_up(self.required_atol))}"
        else:
            need = f"; cosine similarity {_g(self.cosine)}"
        return (f"max abs error {_g(self.max_abs)} > atol {_g(self.atol)} with max rel error {_g(self.max_rel)} > "
                f"rtol {_g(self.rtol)} ({self.mismatched}/{self.total} elements exceed both){where}{need}")


@dataclass
class InputSetResult:
    """One candidate on one input set."""

    input_set: str
    batch: int | None
    shapes: dict[str, list[int]]
    passed: bool
    outputs: list[OutputComparison] = field(default_factory=list)
    error: str | None = None  # the candidate failed to run on this input set

    def to_json(self) -> dict[str, Any]:
        return {"input_set": self.input_set, "batch": self.batch, "shapes": self.shapes, "passed": self.passed,
                "error": self.error, "outputs": [o.to_json() for o in self.outputs]}


@dataclass
class CheckResult:
    """A check beyond values: the ONNX checker, symbolic dynamic axes, output names, files."""

    name: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AgreementResult:
    """The quality gate: top-k agreement with the reference over seeded samples."""

    output: str
    k: int
    samples: int  # rows compared (for question answering: sequences)
    agreement: float
    threshold: float
    passed: bool
    #: distinct top-1 predictions of the reference; 1 means random samples all land in one class and the gate
    #: checks little (pass real data with --inputs)
    distinct_predictions: int = 0
    #: the task metric that judged this gate (``task_metrics``), None for top-k agreement; its figures
    metric: str | None = None
    values: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Failure:
    """One reason the validation failed, as a single line that names artifact, output, statistic, tolerance."""

    artifact: str | None
    kind: str  # values | shape | dtype | nan | missing | run | check | agreement | quality | reference
    message: str
    input_set: str | None = None
    output: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ArtifactResult:
    id: str
    kind: str  # torchscript | onnx | pt2
    path: str
    passed: bool = True
    method: str | None = None  # torchscript: script | trace, when known
    export_warnings: list[str] = field(default_factory=list)  # recorded by convert, e.g. TracerWarnings
    load_time_s: float = 0.0
    runner: dict[str, Any] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    input_sets: list[InputSetResult] = field(default_factory=list)
    agreement: list[AgreementResult] = field(default_factory=list)
    precision: str = "fp32"  # fp16 | bf16 | int8: judged by the quality gate, element differences only reported

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "path": self.path, "passed": self.passed, "method": self.method,
                "precision": self.precision,
                "export_warnings": self.export_warnings,
                "load_time_s": round(self.load_time_s, 4), "runner": self.runner,
                "checks": [c.to_json() for c in self.checks],
                "input_sets": [s.to_json() for s in self.input_sets],
                "agreement": [a.to_json() for a in self.agreement]}


@dataclass
class ValidationReport:
    """Everything a validation found. ``passed`` is false when there is any failure."""

    artifacts: list[ArtifactResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    input_sets: list[dict[str, Any]] = field(default_factory=list)  # name, seed, sign, batch, shapes, source
    reference: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # tolerances, seeds, top-k, gate
    versions: dict[str, str | None] = field(default_factory=dict)
    run_dir: str | None = None
    created: str = ""
    wall_time_s: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def batch_sizes(self) -> list[int]:
        """Distinct batch sizes the candidates ran at, in order of first use."""
        seen: list[int] = []
        for s in self.input_sets:
            if s.get("batch") is not None and s["batch"] not in seen:
                seen.append(s["batch"])
        return seen

    def failure_message(self) -> str:
        """One line: the first failure (artifact, output, statistic, tolerance), and how many more there are."""
        if not self.failures:
            return "all artifacts match the reference"
        first = self.failures[0].message
        more = len(self.failures) - 1
        return first + (f" (and {more} more failure{'s' if more > 1 else ''}; see the report)" if more else "")

    def raise_for_failure(self) -> None:
        if self.failures:
            raise ValidationFailed(self.failure_message())

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failure": None if self.passed else self.failure_message(),
            "created": self.created,
            "run_dir": self.run_dir,
            "wall_time_s": round(self.wall_time_s, 3),
            "reference": self.reference,
            "settings": self.settings,
            "batch_sizes": self.batch_sizes,
            "input_sets": self.input_sets,
            "artifacts": [a.to_json() for a in self.artifacts],
            "failures": [f.to_json() for f in self.failures],
            "warnings": self.warnings,
            "versions": self.versions,
        }


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _round_up(x: float | None) -> float | None:
    """A tolerance a little above ``x`` with two significant digits, for the 'passes with' hint."""
    if x is None:
        return None
    if x <= 0:
        return 0.0
    exp = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10**exp * 1.0000001) * 10**exp
