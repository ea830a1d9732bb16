"""Judging one candidate artifact: load it, run the checks beyond values, judge every input set through the
session (results the session already holds are reused), run the agreement gate, and record each failure."""

from __future__ import annotations

import time

import numpy as np

from modelport.errors import InputError
from modelport.runners import load_runner
from modelport.validators import checks
from modelport.validators.agreement import judge_agreement
from modelport.validators.hints import batch_text, failure_hint
from modelport.validators.inputs import InputSet, example_batch
from modelport.validators.options import DEFAULT_QUALITY, Candidate, ValidationOptions
from modelport.validators.results import ArtifactResult, Failure, InputSetResult
from modelport.validators.session import ValidationSession, error_line


def validate_candidate(cand: Candidate, session: ValidationSession, options: ValidationOptions,
                       gate_ref: dict[str, np.ndarray], user_set: InputSet | None,
                       failures: list[Failure]) -> ArtifactResult:
    result = ArtifactResult(cand.id, cand.kind, str(cand.path), method=cand.method, precision=cand.precision,
                            export_warnings=list(cand.export_warnings))
    specs, output_names = session.specs, session.output_names
    t = time.perf_counter()
    try:
        runner = load_runner(cand.kind, cand.path, [s.name for s in specs], output_names, options.runner)
    except Exception as e:  # noqa: BLE001 - a file that does not load is unusable input, whatever the reason
        raise InputError(f"artifact {cand.id!r}: cannot load {str(cand.path)!r} as {cand.kind}: {error_line(e)}",
                         "re-run modelport convert") from None
    result.load_time_s = time.perf_counter() - t
    result.runner = runner.describe()

    if cand.kind == "onnx":
        result.checks.append(checks.onnx_checker(cand.path))
        result.checks.append(checks.onnx_dynamic_axes(cand.path, specs))
    inputs_check = checks.input_names([s.name for s in specs], runner.input_names)
    result.checks.append(inputs_check)
    result.checks.append(checks.output_names(output_names, runner.output_names))
    for c in result.checks:
        if not c.passed:
            failures.append(Failure(cand.id, "check", f"artifact {cand.id!r}: {c.detail}"))

    if not inputs_check.passed:  # inputs it cannot be fed: running it would only repeat that
        runner.close()
        result.passed = False
        return result
    reduced = cand.precision != "fp32"
    for s in session.sets:
        res = session.judge(cand.id, runner, s)
        result.input_sets.append(res)
        if not res.passed:
            # reduced precision: element differences are reported, the task metric is the gate
            # (docs/decisions.md, "Precision: the gate is the task metric"); shapes, NaN, failures to run still fail
            sink: list[Failure] = [] if reduced else failures
            record_set_failures(cand, s, res, result.input_sets[0].passed, example_batch(specs), sink)
            failures.extend(f for f in sink if reduced and f.kind != "values")

    if options.min_agreement is not None or reduced:
        quality = (options.quality or DEFAULT_QUALITY) if reduced else None
        result.agreement = judge_agreement(cand, runner, specs, options, session.class_outputs, gate_ref,
                                           user_set, failures, quality)
    runner.close()
    result.passed = not any(f.artifact == cand.id for f in failures)
    return result


def record_set_failures(cand: Candidate, s: InputSet, res: InputSetResult, example_passed: bool,
                        example_b: int | None, failures: list[Failure]) -> None:
    """One failure line per failing output (or for a set the candidate could not run), with a hint when the
    way it fails points at how it was exported."""
    if res.error is not None:
        hint = failure_hint(cand, s, example_passed, example_b, "run")
        failures.append(Failure(cand.id, "run", f"artifact {cand.id!r} fails on input set {s.name!r} (shapes "
                                f"{s.shapes}): {res.error}{hint}", s.name))
    for o in res.outputs:
        if o.passed:
            continue
        # a frozen branch gives a different function, not rounding noise: only then blame tracing
        gross = o.failed_on != "values" or o.cosine is None or o.cosine < 0.999
        hint = failure_hint(cand, s, example_passed, example_b, o.failed_on or "values") if gross else ""
        failures.append(Failure(cand.id, o.failed_on or "values", f"artifact {cand.id!r} output {o.name!r} on input "
                                f"set {s.name!r}{batch_text(s)}: {o.describe_failure()}{hint}", s.name, o.name))
