"""Running a validation: the eager reference and every candidate artifact on the same input sets.

``validate_run`` validates a run directory (the reference rebuilt from its manifest); ``validate_artifacts``
validates artifact files against a module the caller already has. Both return a ``ValidationReport``;
neither raises on a mismatch (``report.raise_for_failure()`` does), only on unusable input (``InputError``).

The parts: ``reference`` (the session and the checks on the reference), ``candidate`` (one artifact),
``agreement`` (the top-k gate); this module puts them together and writes the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch import nn

from modelport import zoo
from modelport.environment import package_versions
from modelport.errors import InputError
from modelport.fsutil import ensure_writable_dir, sha256_file, write_json_atomic
from modelport.manifest import RunManifest, load_manifest, verify_artifact_files
from modelport.progress import Progress
from modelport.sources import reload_source
from modelport.spec import InputSpec
from modelport.validators.agreement import gate_reference, gate_samples, too_few_rows
from modelport.validators.candidate import validate_candidate
from modelport.validators.inputs import InputSet
from modelport.validators.options import ARTIFACT_KINDS, DEFAULT_QUALITY, Candidate, ValidationOptions
from modelport.validators.reference import check_options, check_reference, open_session
from modelport.validators.results import ValidationReport
from modelport.validators.session import ValidationSession

REPORT_NAME = "validation.json"


def resolve_zoo_defaults(options: ValidationOptions, source_spec: str | None) -> ValidationOptions:
    """The options with the task and zoo name of a ``zoo:NAME`` source filled in where the user gave none."""
    entry = zoo.entry_for_source(source_spec)
    if entry is None:
        return options
    return replace(options, task=options.task or entry.task, model_name=options.model_name or entry.name)


def validate_run(run_dir: str | Path, manifest: RunManifest | None = None, reference: nn.Module | None = None,
                 options: ValidationOptions | None = None, progress: Progress | None = None,
                 session: ValidationSession | None = None, final_dir: str | Path | None = None) -> ValidationReport:
    """Validate every artifact of a run directory against the eager model; write ``RUN_DIR/validation.json``.

    ``final_dir`` is where ``run_dir`` will live once complete (convert validates its staged directory
    before renaming it into place): the report names paths there.

    ``reference`` is the already-loaded eager module (the convert command passes it); ``None`` rebuilds it
    from the manifest's source. ``session`` is convert's: the results its checks and gate computed are
    reused, and only the remaining input sets run. Missing or modified artifact files are an ``InputError``.
    """
    run_dir = Path(run_dir)
    manifest = manifest or load_manifest(run_dir)
    # validation.json is written at the end: a read-only run directory fails now, before minutes of work
    ensure_writable_dir(run_dir, "run directory", "validate writes validation.json there; copy the run "
                        "directory somewhere writable")
    options = options or ValidationOptions()
    if not manifest.artifacts:
        raise InputError(f"run directory {str(run_dir)!r} has no artifacts", "run modelport convert first")
    selected = ([manifest.artifact(i) for i in options.artifact_ids] if options.artifact_ids
                else list(manifest.artifacts))
    for art in selected:
        verify_artifact_files(run_dir, art)
    options = resolve_zoo_defaults(options, manifest.source.spec if manifest.source.kind == "zoo" else None)
    options = replace(options, seed=manifest.seed if options.seed is None else options.seed)
    options, notes = run_gate_defaults(options, manifest)
    if reference is None and session is None:
        if progress:
            progress.step(f"rebuilding the reference from {manifest.source.spec}")
        reference = reload_source(manifest.source, trust_pickle=options.trust_pickle,
                                  trust_remote_code=options.trust_remote_code, seed=manifest.seed)
    candidates = [Candidate(a.id, a.target, run_dir / a.path, a.method, a.exporter, list(a.warnings),
                            a.extra.get("precision", {}).get("precision", "fp32")) for a in selected]
    report = _validate(reference, manifest.inputs, manifest.output_names, candidates, options, progress, session)
    report.warnings.extend(notes)
    shown = Path(final_dir) if final_dir is not None else run_dir
    for result in report.artifacts:
        result.path = str(shown / Path(result.path).relative_to(run_dir))
    report.run_dir = str(shown)
    report.reference["source"] = manifest.source.spec
    report.settings["model_seed"] = manifest.seed
    data = report.to_json()
    if options.artifact_ids:
        data = carry_earlier(run_dir / REPORT_NAME, data, [a.id for a in manifest.artifacts])
        if any(w.startswith("validation.json keeps the earlier failing record") for w in data["warnings"]):
            report.warnings.append(data["warnings"][-1])  # said on the terminal and in --json too
    write_json_atomic(run_dir / REPORT_NAME, data)
    return report


def carry_earlier(path: Path, data: dict[str, Any], order: list[str]) -> dict[str, Any]:
    """``validate RUN_DIR --artifact ID`` rewrites only ID's record: the other artifacts' records (and their
    failures) are carried from the earlier ``validation.json``, named under ``carried``, so the file still
    describes the whole run."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return data
    done = {a["id"] for a in data["artifacts"]}
    kept = [a for a in earlier.get("artifacts", []) if a.get("id") not in done and a.get("id") in order]
    if not kept:
        return data
    ids = {a["id"] for a in kept}
    data["artifacts"] = sorted(data["artifacts"] + kept, key=lambda a: order.index(a["id"]))
    data["failures"] = data["failures"] + [f for f in earlier.get("failures", []) if f.get("artifact") in ids]
    # when each kept record was made: a record carried before keeps its own date
    before = (earlier.get("carried") or {}).get("artifacts")
    made = {i: before[i] if isinstance(before, dict) and i in before else earlier.get("created") for i in ids}
    data["carried"] = {"artifacts": {i: made[i] for i in sorted(ids, key=order.index)}}
    failing = [i for i in data["carried"]["artifacts"] if any(f.get("artifact") == i for f in data["failures"])]
    if failing:
        data["warnings"] = [*data.get("warnings", []), carried_failure_note(failing)]
    if data["failures"] and data["passed"]:
        data["passed"], data["failure"] = False, data["failures"][0]["message"]
    return data


def carried_failure_note(failing: list[str]) -> str:
    return (f"validation.json keeps the earlier failing record of {', '.join(failing)} (not validated now): "
            "the file as a whole says failed; validate them again")


def run_gate_defaults(options: ValidationOptions, manifest: RunManifest) -> tuple[ValidationOptions, list[str]]:
    """The run's own ``--atol``/``--rtol``, ``--quality`` and ``--class-output`` where this validation names
    none, so that ``validate RUN_DIR`` judges the run as convert did. The run's ``--inputs`` file is named, never
    read by itself: it lies outside the run directory, and a manifest's path is not one the user gave (pass it
    again); given again, a file whose sha256 changed since convert is said."""
    recorded, notes = manifest.settings, []
    # convert's --atol/--rtol are for every float output; a validation naming any tolerance uses its own
    if not options.atol and recorded.get("atol") is not None:
        options = replace(options, atol={"": _recorded_number(recorded, "atol")})
    if not options.rtol and recorded.get("rtol") is not None:
        options = replace(options, rtol={"": _recorded_number(recorded, "rtol")})
    if options.quality is None and recorded.get("quality") is not None:
        options = replace(options, quality=_recorded_number(recorded, "quality"))
    outputs = recorded.get("class_outputs")
    if options.class_outputs is None and outputs:
        if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
            raise InputError("manifest.json is corrupt: settings.class_outputs is not a list of output names",
                             "convert the model again")
        options = replace(options, class_outputs=list(outputs))
    path = recorded.get("inputs_file")
    if path and options.inputs_file is None:
        notes.append(f"the run's quality gate judged the rows of --inputs {path}; this one judged seeded samples "
                     "(pass --inputs FILE.npz to judge the same rows)")
    elif path and options.inputs_file and Path(options.inputs_file).resolve() == Path(str(path)).resolve() and \
            recorded.get("inputs_sha256") not in (None, sha256_file(options.inputs_file)):
        notes.append(f"--inputs {options.inputs_file} changed since the run was converted (sha256 differs): the "
                     "gates judged its rows as they are now, not the rows convert judged")
    return options, notes


def _recorded_number(recorded: dict[str, Any], key: str) -> float:
    value = recorded[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"manifest.json is corrupt: settings.{key} is {value!r}, not a number",
                         "convert the model again, or give --" + key)
    return float(value)


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


def _validate(module: nn.Module | None, specs: list[InputSpec], output_names: list[str], candidates: list[Candidate],
              options: ValidationOptions, progress: Progress | None,
              session: ValidationSession | None = None) -> ValidationReport:
    t0 = time.perf_counter()
    step: Callable[[str], None] = progress.step if progress else (lambda _msg: None)
    report = ValidationReport(versions=package_versions(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    own_session = session is None
    if session is None:
        assert module is not None
        if module.training:
            module.eval()
            report.warnings.append("the reference was in training mode; switched to eval()")
        session = open_session(module, specs, output_names, options)
    report.input_sets = [s.describe() for s in session.sets]

    step(f"running the eager reference on {len(session.sets)} input sets")
    check_reference(session, report)
    class_outs = check_options(session, options)
    user_set = next((s for s in session.sets if s.source == "npz"), None)
    gate_ref = {}
    if options.min_agreement is not None or any(c.precision != "fp32" for c in candidates):
        step(f"running the eager reference on the agreement samples ({gate_samples(options, user_set)})")
        gate_ref = gate_reference(session.reference, session.specs, options, class_outs, user_set, report)
    if own_session:
        session.close()  # every reference output the candidates need is computed: free the module
    report.settings = _settings(options, session, class_outs, user_set)

    for cand in candidates:
        step(f"validating {cand.id} ({cand.kind})")
        result = validate_candidate(cand, session, options, gate_ref, user_set, report.failures)
        report.artifacts.append(result)
        threshold = (options.quality or DEFAULT_QUALITY) if cand.precision != "fp32" else options.min_agreement
        rows = min((a.samples for a in result.agreement), default=0)
        note = too_few_rows(rows, threshold) if user_set is not None and threshold else None
        if note and note not in report.warnings:
            report.warnings.append(note)
    report.wall_time_s = time.perf_counter() - t0
    return report


def _settings(options: ValidationOptions, session: ValidationSession, class_outs: list[str],
              user_set: InputSet | None) -> dict[str, Any]:
    per_output = {}
    for name, arr in session.reference_outputs(session.example).items():
        atol, rtol, source = session.tolerances.for_output(name, arr.dtype)
        per_output[name] = {"atol": atol, "rtol": rtol, "source": source, "dtype": arr.dtype.name}
    return {
        "seed": int(options.seed or 0),
        "tolerances": per_output,
        "tolerance_rule": "an element mismatches when abs > atol and abs/|ref| > rtol",
        "tolerance_inputs": session.tolerances.to_json(),
        "task": options.task,
        "classification_outputs": class_outs,
        "topk": options.topk,
        "min_agreement": options.min_agreement,
        "quality": options.quality or DEFAULT_QUALITY,
        "samples": options.samples if options.min_agreement is not None else None,
        "inputs_file": options.inputs_file,
        # what the agreement and quality gates judged on: the user's rows when given, else seeded samples
        "gate_samples": gate_samples(options, user_set),
        "input_spec": [s.to_json() for s in session.specs],
        "runner": {"device": options.runner.device, "threads": options.runner.threads,
                   "inter_op_threads": options.runner.inter_op_threads},
    }
