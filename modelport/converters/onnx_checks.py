"""The checks every ONNX export must pass before it is shipped (docs/decisions.md: "ONNX: the opset in the file
is the opset asked for", "ONNX: checker and onnxruntime on every export", "Dynamic axes: proven, not declared").

1. the opset in the file is the one requested (dynamo silently writes 18 when it cannot do less);
2. ``onnx.checker`` full check passes (given the path, so external data over 2 GB works);
3. an onnxruntime session opens (the checker accepts files ORT cannot run);
4. every axis requested dynamic is symbolic in the file's inputs;
5. ORT runs at shapes other than the example's on every dynamic axis (catches ``view(2, -1)``-style lies):
   the input sets of ``validators.inputs`` that change a dynamic axis, run through the convert run's session
   so that the gate and the full validation reuse these runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelport.converters.capture import capture, first_line
from modelport.converters.pt2 import STATIC_AXIS_HINT
from modelport.errors import ExportError
from modelport.opsets.check import model_opsets
from modelport.opsets.exporters import DYNAMO_NATIVE_MIN, TORCHSCRIPT_RANGE
from modelport.runners import Runner, load_runner
from modelport.spec import InputSpec
from modelport.validators.inputs import InputSet
from modelport.validators.options import CHECKING
from modelport.validators.session import ValidationSession

_HINT_INVALID = (f"use --exporter torchscript (opsets {TORCHSCRIPT_RANGE[0]}-{TORCHSCRIPT_RANGE[1]}) or an opset >= "
                 f"{DYNAMO_NATIVE_MIN} with the dynamo exporter")


@dataclass
class OnnxFacts:
    opset: int
    ir_version: int
    dynamic_axes: dict[str, dict[str, str]] = field(default_factory=dict)  # input/output -> {axis: dim_param}
    shapes_run: list[str] = field(default_factory=list)
    #: spec inputs the graph does not take (unused by the model, so the exporter dropped them); never fed
    dropped_inputs: list[str] = field(default_factory=list)


def _dims(value_info) -> list[tuple[str | None, int | None]]:
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        out.append((d.dim_param or None, d.dim_value if d.HasField("dim_value") else None))
    return out


def check_structure(path: Path, opset: int, exporter: str, specs: list[InputSpec]) -> OnnxFacts:
    """Checks 1-4; raises ``ExportError`` naming the first failure."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    got = model_opsets(model).get("")
    if got != opset:
        raise ExportError(f"the {exporter} exporter wrote opset {got}, not the requested {opset}",
                          f"use --exporter torchscript for opsets below {DYNAMO_NATIVE_MIN}" if exporter == "dynamo"
                          else None)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - ValidationError, InferenceError, ...
        raise ExportError(f"onnx.checker rejects the {exporter} exporter's opset-{opset} output: {first_line(str(e))}",
                          _HINT_INVALID) from None
    facts = OnnxFacts(opset=got, ir_version=int(model.ir_version))
    by_name = {vi.name: vi for vi in model.graph.input}
    unknown = sorted(set(by_name) - {s.name for s in specs} - {t.name for t in model.graph.initializer})
    if unknown:  # an exporter may drop an input the graph does not use, never rename or add one
        raise ExportError(f"the exported file takes inputs the model does not: {unknown} (the model's: "
                          f"{[s.name for s in specs]})")
    for s in specs:
        vi = by_name.get(s.name)
        if vi is None:
            facts.dropped_inputs.append(s.name)
            continue
        dims = _dims(vi)
        for axis in sorted(s.dynamic_axes):
            param, value = dims[axis] if axis < len(dims) else (None, None)
            if not param:
                shown = value if value is not None else "unknown"
                raise ExportError(f"input '{s.name}' axis {axis} was requested dynamic but exported static ({shown})",
                                  STATIC_AXIS_HINT)
    for vi in [*model.graph.input, *model.graph.output]:
        syms = {str(i): p for i, (p, _) in enumerate(_dims(vi)) if p}
        if syms:
            facts.dynamic_axes[vi.name] = syms
    return facts


def open_session(path: Path, exporter: str, opset: int) -> Runner:
    try:
        with capture():
            return load_runner("onnx", path, [], [], CHECKING)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"onnxruntime cannot load the {exporter} exporter's opset-{opset} output: "
                          f"{first_line(str(e))}", _HINT_INVALID) from None


def shapes_label(s: InputSet, specs: list[InputSpec]) -> str:
    """``batch 5``, or the resized dynamic axes (``input_ids[1]=16, attention_mask[1]=16``)."""
    if s.kind == "batch":
        return f"batch {s.batch}"
    return ", ".join(f"{spec.name}[{a}]={s.feed[spec.name].shape[a]}" for spec in specs
                     for a in sorted(spec.dynamic_axes) if a != 0)


def run_other_shapes(runner: Runner, session: ValidationSession, key: str) -> list[str]:
    """Check 5: run ORT on every set at other shapes of the dynamic axes; a failure means one is not dynamic."""
    done = []
    for s in session.sets:
        if not s.other_shapes:
            continue
        label = shapes_label(s, session.specs)
        _, error = session.run(key, runner, s)
        if error is not None:
            raise ExportError(f"onnxruntime failed at {label} although the axis was exported dynamic: {error}",
                              "the model fixes this size (e.g. view(2, -1)); drop the dynamic request or make the "
                              "model shape-generic")
        done.append(label)
    return done


def check_onnx(path: Path, opset: int, exporter: str, session: ValidationSession,
               key: str) -> tuple[OnnxFacts, Runner]:
    """All five checks; returns the facts and the open ORT runner (the gate reuses it and its runs)."""
    facts = check_structure(path, opset, exporter, session.specs)
    runner = open_session(path, exporter, opset)
    facts.shapes_run = run_other_shapes(runner, session, key)
    return facts, runner
