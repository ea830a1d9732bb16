"""What a validation is asked to do (``ValidationOptions``) and what it judges (``Candidate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelport.errors import InputError
from modelport.runners import RunnerOptions

#: how a run that only checks outputs opens its runners: onnxruntime without its memory arena, which would keep
#: the blocks of every call until the session closes (docs/decisions.md, "Zoo: 3D-UNet memory")
CHECKING = RunnerOptions(ort_mem_arena=False)

ARTIFACT_KINDS = ("torchscript", "onnx", "pt2")


@dataclass
class ValidationOptions:
    #: ``{"": every float output, NAME: one output}``; see ``tolerances.parse_tolerances``
    atol: dict[str, float] = field(default_factory=dict)
    rtol: dict[str, float] = field(default_factory=dict)
    seed: int | None = None  # input seed; None = the run's seed (0 without a run)
    batch_sizes: list[int] | None = None  # other batch sizes for a dynamic batch; None = 1 and 2 x example + 1
    inputs_file: str | None = None  # the user's .npz, validated against the spec and added as a set
    topk: int | None = None  # report top-k agreement of classification-like outputs
    min_agreement: float | None = None  # the quality gate's threshold on top-k agreement
    samples: int = 100  # seeded samples the gate runs
    class_outputs: list[str] | None = None  # classification-like outputs; None = from the task
    task: str | None = None  # classification | question-answering | features; None = from the zoo entry
    model_name: str | None = None  # zoo name, for its default tolerance; None = from the source
    trust_pickle: bool = False  # passed to the source loader when the reference is rebuilt
    trust_remote_code: bool = False  # likewise, for a Hugging Face directory's own code
    artifact_ids: list[str] | None = None  # validate only these artifacts of a run
    runner: RunnerOptions = field(default_factory=lambda: CHECKING)
    #: the quality gate of reduced-precision artifacts (fp16, int8): task-metric agreement with the fp32
    #: reference at least this; None = mlperf-99 (docs/decisions.md, "Precision: the gate is the task metric")
    quality: float | None = None


@dataclass
class Candidate:
    """One artifact file to judge; ``id`` names it in the report and keys its results in the session."""

    id: str
    kind: str
    path: Path
    method: str | None = None
    exporter: str | None = None  # onnx: torchscript | dynamo
    export_warnings: list[str] = field(default_factory=list)
    precision: str = "fp32"  # fp16 | int8: judged by the quality gate, element tolerances only reported


def kind_from_path(path: str | Path) -> str:
    """The artifact kind from the file extension: .onnx, .pt/.ts/.torchscript (TorchScript), .pt2."""
    suffix = Path(path).suffix.lower()
    kinds = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".torchscript": "torchscript",
             ".jit": "torchscript", ".pt2": "pt2"}
    if suffix not in kinds:
        raise InputError(f"cannot tell the artifact kind of {str(path)!r} from its extension",
                         "use .onnx, .pt/.ts (TorchScript) or .pt2")
    return kinds[suffix]


#: MLPerf's quality targets: 99% and 99.9% of the FP32 reference
QUALITY_PRESETS = {"mlperf-99": 0.99, "mlperf-99.9": 0.999}
DEFAULT_QUALITY = QUALITY_PRESETS["mlperf-99"]


def parse_quality(text: str | float | None) -> float | None:
    """``--quality``: a fraction in (0, 1] or a preset name (``mlperf-99``, ``mlperf-99.9``)."""
    if text is None:
        return None
    key = str(text).strip().lower()
    if key in QUALITY_PRESETS:
        return QUALITY_PRESETS[key]
    try:
        value = float(key)
    except ValueError:
        raise InputError(f"--quality {text!r} is not a fraction or a preset",
                         f"e.g. 0.99, or one of {', '.join(QUALITY_PRESETS)}") from None
    if not 0.0 < value <= 1.0:
        raise InputError(f"--quality {value:g} must be a fraction in (0, 1]", "e.g. 0.99 or mlperf-99")
    return value
