"""Running a validation: the eager reference and every candidate artifact on the same input sets.

``validate_run`` validates a run directory (the reference rebuilt from its manifest); ``validate_artifacts``
validates artifact files against a module the caller already has. Both return a ``ValidationReport``;
neither raises on a mismatch (``report.raise_for_failure()`` does), only on unusable input (``InputError``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from modelport.environment import package_versions
from modelport.errors import InputError
from modelport.fsutil import write_json_atomic
from modelport.manifest import RunManifest, load_manifest, verify_artifact_files
from modelport.progress import Progress
from modelport.runners import Runner, RunnerOptions, load_runner
from modelport.runners.torch_runners import TorchModuleRunner
from modelport.spec import InputSpec
from modelport.validators import checks
from modelport.validators.compare import classification_outputs, compare_outputs, topk_agreement
from modelport.validators.inputs import InputSet, example_batch, gate_batches, generated_sets, load_npz
from modelport.validators.results import (
    AgreementResult,
    ArtifactResult,
    Failure,
    InputSetResult,
    ValidationReport,
)
from modelport.validators.tolerances import MODEL_ATOL, Tolerances

REPORT_NAME = "validation.json"
ARTIFACT_KINDS = ("torchscript", "onnx", "pt2")
TRACE_HINT = ("the artifact was traced, and tracing records only the path the example input took through "
              "data-dependent branches: re-export with --method script")
ONNX_TRACE_HINT = ("the TorchScript-based ONNX exporter traces the model, so a data-dependent branch is frozen at "
                   "the example input's path: rewrite it with torch.where, or keep the model as TorchScript "
                   "--method script")
MAYBE_TRACE_HINT = ("if it was made with torch.jit.trace, a data-dependent branch may be frozen: re-export with "
                    "--method script")


@dataclass
class ValidationOptions:
    #: ``{"": every output, NAME: one output}``; see ``tolerances.parse_tolerances``
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
    artifact_ids: list[str] | None = None  # validate only these artifacts of a run
    runner: RunnerOptions = field(default_factory=RunnerOptions)


@dataclass
class Candidate:
    id: str
    kind: str
    path: Path
    method: str | None = None
    exporter: str | None = None  # onnx: torchscript | dynamo
    export_warnings: list[str] = field(default_factory=list)


def zoo_defaults(source_spec: str | None) -> tuple[str | None, str | None]:
    """(task, zoo name) for a ``zoo:NAME`` source, else (None, None)."""
    if not source_spec or not source_spec.startswith("zoo:"):
        return None, None
    from modelport import zoo

    name = source_spec.removeprefix("zoo:")
    return zoo.get(name).task, name


def kind_from_path(path: str | Path) -> str:
    """The artifact kind from the file extension: .onnx, .pt/.ts/.torchscript (TorchScript), .pt2."""
    suffix = Path(path).suffix.lower()
    kinds = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".torchscript": "torchscript",
             ".jit": "torchscript", ".pt2": "pt2"}
    if suffix not in kinds:
        raise InputError(f"cannot tell the artifact kind of {str(path)!r} from its extension",
                         "use .onnx, .pt/.ts (TorchScript) or .pt2")
    return kinds[suffix]


def validate_run(run_dir: str | Path, manifest: RunManifest | None = None, reference: nn.Module | None = None,
                 options: ValidationOptions | None = None, progress: Progress | None = None) -> ValidationReport:
    """Validate every artifact of a run directory against the eager model; write ``RUN_DIR/validation.json``.

    ``reference`` is the already-loaded eager module (the convert command passes it); ``None`` rebuilds it
    from the manifest's source. Missing or modified artifact files are an ``InputError``.
    """
    run_dir = Path(run_dir)
    manifest = manifest or load_manifest(run_dir)
    options = options or ValidationOptions()
    if not manifest.artifacts:
        raise InputError(f"run directory {str(run_dir)!r} has no artifacts", "run modelport convert first")
    selected = ([manifest.artifact(i) for i in options.artifact_ids] if options.artifact_ids
                else list(manifest.artifacts))
    for art in selected:
        verify_artifact_files(run_dir, art)
    task, zoo_name = zoo_defaults(manifest.source.spec if manifest.source.kind == "zoo" else None)
    options = replace(options, task=options.task or task, model_name=options.model_name or zoo_name,
                      seed=manifest.seed if options.seed is None else options.seed)
    if reference is None:
        from modelport.sources import reload_source

        if progress:
            progress.step(f"rebuilding the reference from {manifest.source.spec}")
        reference = reload_source(manifest.source, trust_pickle=options.trust_pickle, seed=manifest.seed)
    candidates = [Candidate(a.id, a.target, run_dir / a.path, a.method, a.exporter, list(a.warnings))
                  for a in selected]
    report = _validate(reference, manifest.inputs, manifest.output_names, candidates, options, progress)
    report.run_dir = str(run_dir)
    report.reference["source"] = manifest.source.spec
    report.settings["model_seed"] = manifest.seed
    write_json_atomic(run_dir / REPORT_NAME, report.to_json())
    return report


def validate_artifacts(reference_module: nn.Module, specs: list[InputSpec], output_names: list[str],
                       artifacts: list[tuple[str, str, str]], options: ValidationOptions | None = None,
                       progress: Progress | None = None) -> ValidationReport:
    """Validate artifact files ``(kind, path, id)`` against ``reference_module``; nothing is written."""
    options = options or ValidationOptions()
    candidates = []
    for kind, path, art_id in artifacts:
        if kind not in ARTIFACT_KINDS:
            raise InputError(f"unknown artifact kind {kind!r}", f"use one of {', '.join(ARTIFACT_KINDS)}")
        if not Path(path).is_file():
            raise InputError(f"artifact {str(path)!r} does not exist")
        candidates.append(Candidate(art_id, kind, Path(path)))
    if not candidates:
        raise InputError("no artifacts to validate", "name at least one .onnx, .pt or .pt2 file")
    options = replace(options, seed=0 if options.seed is None else options.seed)
    return _validate(reference_module, specs, output_names, candidates, options, progress)


def _validate(module: nn.Module, specs: list[InputSpec], output_names: list[str], candidates: list[Candidate],
              options: ValidationOptions, progress: Progress | None) -> ValidationReport:
    t0 = time.perf_counter()
    step: Callable[[str], None] = progress.step if progress else (lambda _msg: None)
    if not specs:
        raise InputError("the model's inputs are unknown", "give them with --input NAME:SHAPE[:DTYPE]")
    seed = int(options.seed or 0)
    report = ValidationReport(versions=package_versions(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if module.training:
        module.eval()
        report.warnings.append("the reference was in training mode; switched to eval()")

    input_names = [s.name for s in specs]
    ref_runner = TorchModuleRunner(module, input_names, list(output_names), options.runner)
    sets = generated_sets(specs, seed, options.batch_sizes)
    if options.inputs_file:
        sets.append(load_npz(options.inputs_file, specs))
    report.input_sets = [s.describe() for s in sets]

    step(f"running the eager reference on {len(sets)} input sets")
    ref_out = _reference_outputs(ref_runner, sets, report)
    output_names = list(ref_runner.output_names)
    tolerances = Tolerances(options.atol, options.rtol, MODEL_ATOL.get(options.model_name or ""), options.model_name)
    tolerances.check_names(output_names)
    class_outs = _class_outputs(options, ref_out[sets[0].name], output_names)
    user_set = next((s for s in sets if s.source == "npz"), None)
    gate_ref: dict[str, np.ndarray] = {}
    if options.min_agreement is not None:
        step(f"running the eager reference on {options.samples} agreement samples")
        gate_ref = _gate_reference(ref_runner, specs, seed, options, class_outs, user_set, report)
    ref_runner.close()
    report.settings = _settings(options, seed, tolerances, ref_out[sets[0].name], class_outs, specs)

    for cand in candidates:
        step(f"validating {cand.id} ({cand.kind})")
        result = _validate_candidate(cand, specs, output_names, sets, ref_out, tolerances, options, class_outs,
                                     gate_ref, user_set, report.failures)
        report.artifacts.append(result)
    report.wall_time_s = time.perf_counter() - t0
    return report


def _reference_outputs(runner: TorchModuleRunner, sets: list[InputSet],
                       report: ValidationReport) -> dict[str, dict[str, np.ndarray]]:
    """The reference's outputs per input set; records whether it is deterministic and any NaN/Inf it makes."""
    ref_out = {s.name: _run_reference(runner, s) for s in sets}
    for s in sets:
        for name, arr in ref_out[s.name].items():
            if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
                report.warnings.append(f"the reference's output {name!r} has {int((~np.isfinite(arr)).sum())} "
                                       f"NaN/Inf values on input set {s.name!r}; they only match the same values")
    same, worst = checks.identical(ref_out[sets[0].name], _run_reference(runner, sets[0]))
    report.reference = {"kind": "eager", "class": type(runner.module).__name__, "deterministic": same,
                        "outputs": list(runner.output_names)}
    if not same:
        report.failures.append(Failure(None, "reference", (
            f"the reference model is not deterministic: two eager runs on input set {sets[0].name!r} differ by up "
            f"to {worst:.3g}; nothing can be validated against it (look for randomness in forward())")))
    return ref_out


def _gate_reference(runner: TorchModuleRunner, specs: list[InputSpec], seed: int, options: ValidationOptions,
                    class_outs: list[str], user_set: InputSet | None,
                    report: ValidationReport) -> dict[str, np.ndarray]:
    try:
        gate_ref = _run_gate(runner, specs, seed, options, class_outs, user_set)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"the reference model fails on the agreement samples: {_first_line(e)}") from None
    for name, logits in gate_ref.items():
        if len(np.unique(logits.reshape(-1, logits.shape[-1]).argmax(axis=1))) == 1:
            report.warnings.append(
                f"the reference predicts the same class of {name!r} for every agreement sample, so the gate "
                "checks only that class; pass real inputs with --inputs FILE.npz")
    return gate_ref


def _run_reference(runner: TorchModuleRunner, s: InputSet) -> dict[str, np.ndarray]:
    try:
        return runner.infer(s.feed)
    except Exception as e:  # noqa: BLE001 - any failure of the user's model on these inputs is theirs to fix
        raise InputError(f"the reference model fails on input set {s.name!r} (shapes {s.shapes}): "
                         f"{_first_line(e)}", "check the input spec (--input) or the --inputs file") from None


def _class_outputs(options: ValidationOptions, ref: dict[str, np.ndarray], output_names: list[str]) -> list[str]:
    for name in options.class_outputs or []:
        if name not in output_names:
            raise InputError(f"--class-output names {name!r}, but the model's outputs are {output_names}")
    outs = classification_outputs(options.task, ref, options.class_outputs)
    if (options.topk or options.min_agreement is not None) and not outs:
        raise InputError(f"--topk/--min-agreement need classification-like outputs, and the model's task is "
                         f"{options.task or 'unknown'}", "name the logits outputs with --class-output NAME")
    return outs


def _run_gate(runner: Runner, specs: list[InputSpec], seed: int, options: ValidationOptions,
              class_outs: list[str], user_set: InputSet | None) -> dict[str, np.ndarray]:
    """Outputs of ``class_outs`` on the gate's seeded samples (trimmed to ``samples`` rows along the batch axis),
    followed by the rows of the user's inputs when there are any."""
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in class_outs}
    for feed in gate_batches(specs, seed, options.samples):
        out = runner.infer(feed)
        for n in class_outs:
            chunks[n].append(out[n])
    gate = {n: np.concatenate(c, axis=0)[: options.samples] for n, c in chunks.items()}
    if user_set is not None:
        out = runner.infer(user_set.feed)
        gate = {n: np.concatenate([g, out[n]], axis=0) for n, g in gate.items()}
    return gate


def _validate_candidate(cand: Candidate, specs: list[InputSpec], output_names: list[str], sets: list[InputSet],
                        ref_out: dict[str, dict[str, np.ndarray]], tolerances: Tolerances,
                        options: ValidationOptions, class_outs: list[str], gate_ref: dict[str, np.ndarray],
                        user_set: InputSet | None, failures: list[Failure]) -> ArtifactResult:
    result = ArtifactResult(cand.id, cand.kind, str(cand.path), method=cand.method,
                            export_warnings=list(cand.export_warnings))
    t = time.perf_counter()
    try:
        runner = load_runner(cand.kind, cand.path, [s.name for s in specs], output_names, options.runner)
    except Exception as e:  # noqa: BLE001 - a file that does not load is unusable input, whatever the reason
        raise InputError(f"artifact {cand.id!r}: cannot load {str(cand.path)!r} as {cand.kind}: {_first_line(e)}",
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
    for s in sets:
        res = _run_set(cand, runner, s, ref_out[s.name], tolerances, options, class_outs)
        result.input_sets.append(res)
        if not res.passed:
            _record_set_failures(cand, s, res, result.input_sets[0].passed, example_batch(specs), failures)

    if options.min_agreement is not None:
        result.agreement = _gate(cand, runner, specs, options, class_outs, gate_ref, user_set, failures)
    runner.close()
    result.passed = not any(f.artifact == cand.id for f in failures)
    return result


def _record_set_failures(cand: Candidate, s: InputSet, res: InputSetResult, example_passed: bool,
                         example_b: int | None, failures: list[Failure]) -> None:
    if res.error is not None:
        failures.append(Failure(cand.id, "run", f"artifact {cand.id!r} fails on input set {s.name!r} (shapes "
                                f"{s.shapes}): {res.error}{_hint(cand, s, example_passed, example_b, 'run')}",
                                s.name))
    for o in res.outputs:
        if o.passed:
            continue
        # a frozen branch gives a different function, not rounding noise: only then blame tracing
        gross = o.failed_on != "values" or o.cosine is None or o.cosine < 0.999
        hint = _hint(cand, s, example_passed, example_b, o.failed_on or "values") if gross else ""
        failures.append(Failure(cand.id, o.failed_on or "values", f"artifact {cand.id!r} output {o.name!r} on input "
                                f"set {s.name!r}{_batch_text(s)}: {o.describe_failure()}{hint}", s.name, o.name))


def _run_set(cand: Candidate, runner: Runner, s: InputSet, ref: dict[str, np.ndarray], tolerances: Tolerances,
             options: ValidationOptions, class_outs: list[str]) -> InputSetResult:
    try:
        out = runner.infer(s.feed)
    except Exception as e:  # noqa: BLE001 - e.g. onnxruntime refusing a batch size: reported, not raised
        return InputSetResult(s.name, s.batch, s.shapes, False, error=_first_line(e))
    comps = compare_outputs(ref, out, tolerances, options.topk, class_outs)
    return InputSetResult(s.name, s.batch, s.shapes, all(c.passed for c in comps), comps)


def _gate(cand: Candidate, runner: Runner, specs: list[InputSpec], options: ValidationOptions,
          class_outs: list[str], gate_ref: dict[str, np.ndarray], user_set: InputSet | None,
          failures: list[Failure]) -> list[AgreementResult]:
    try:
        out = _run_gate(runner, specs, int(options.seed or 0), options, class_outs, user_set)
    except Exception as e:  # noqa: BLE001
        failures.append(Failure(cand.id, "run", f"artifact {cand.id!r} fails on the agreement samples: "
                                f"{_first_line(e)}"))
        return []
    k = options.topk or 1
    threshold = float(options.min_agreement or 0.0)
    results = []
    for name in class_outs:
        ref, got = gate_ref[name], out[name]
        agreement = topk_agreement(ref, got, k) if ref.shape == got.shape else 0.0
        rows = int(np.prod(ref.shape[:-1]))
        ok = agreement >= threshold
        distinct = len(np.unique(ref.reshape(-1, ref.shape[-1]).argmax(axis=1)))
        results.append(AgreementResult(name, k, rows, agreement, threshold, ok, distinct))
        if not ok:
            failures.append(Failure(cand.id, "agreement", (
                f"artifact {cand.id!r} output {name!r}: top-{k} agreement with the reference is {agreement:.4f} over "
                f"{rows} seeded samples, below --min-agreement {threshold:g}"), output=name))
    return results


def _hint(cand: Candidate, s: InputSet, example_passed: bool, example_b: int | None, failed_on: str) -> str:
    """Why an artifact that matches on the example set can fail on another: a frozen branch or a fixed shape."""
    if not example_passed or s.name == "example":
        return ""
    if failed_on in ("run", "shape") and s.batch is not None and example_b is not None and s.batch != example_b:
        return f"; it works at the example batch {example_b}, so its batch axis is not really dynamic"
    if failed_on in ("run", "shape") and s.name == "other-dims":
        return "; it works at the example shapes, so an axis declared dynamic is not really dynamic"
    if failed_on != "values":
        return ""
    if cand.kind == "torchscript" and cand.method == "trace":
        return f"; {TRACE_HINT}"
    if cand.kind == "torchscript" and cand.method is None:
        return f"; {MAYBE_TRACE_HINT}"
    if cand.kind == "onnx" and cand.exporter == "torchscript":
        return f"; {ONNX_TRACE_HINT}"
    return ""


def _batch_text(s: InputSet) -> str:
    return f" (batch {s.batch})" if s.batch is not None else ""


def _first_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:400]}" if text else type(e).__name__


def _settings(options: ValidationOptions, seed: int, tolerances: Tolerances, ref: dict[str, np.ndarray],
              class_outs: list[str], specs: list[InputSpec]) -> dict[str, Any]:
    per_output = {}
    for name, arr in ref.items():
        atol, rtol, source = tolerances.for_output(name, arr.dtype)
        per_output[name] = {"atol": atol, "rtol": rtol, "source": source, "dtype": arr.dtype.name}
    return {
        "seed": seed,
        "tolerances": per_output,
        "tolerance_rule": "an element mismatches when abs > atol and abs/|ref| > rtol",
        "tolerance_inputs": tolerances.to_json(),
        "task": options.task,
        "classification_outputs": class_outs,
        "topk": options.topk,
        "min_agreement": options.min_agreement,
        "samples": options.samples if options.min_agreement is not None else None,
        "inputs_file": options.inputs_file,
        "input_spec": [s.to_json() for s in specs],
        "runner": {"device": options.runner.device, "threads": options.runner.threads,
                   "inter_op_threads": options.runner.inter_op_threads},
    }
