"""One export, staged: exported into a scratch directory, checked, gated, and only then committed.

Each ``stage_*`` function exports one target, runs that target's checks and (when validating) the gate, and
returns a ``Staged`` export; any failure removes its scratch directory. ``Staged.commit`` moves the files
into the run directory and renames the export's results in the validation session to the artifact id.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.converters.capture import first_line
from modelport.converters.exported import Exported
from modelport.converters.gate import check_gate
from modelport.converters.onnx_checks import check_onnx
from modelport.converters.onnx_export import export_onnx
from modelport.converters.opset_search import attempts_json, find_min_opset, lower_bound
from modelport.converters.options import ConvertOptions, resolve_exporter
from modelport.converters.prepare import Prepared
from modelport.converters.pt2 import export_pt2
from modelport.converters.rundir import FILE_NAMES, onnx_file_name
from modelport.converters.simplify import simplify_onnx
from modelport.converters.torchscript import export_torchscript
from modelport.errors import ExportError
from modelport.manifest import Artifact, ArtifactFile
from modelport.progress import Progress
from modelport.runners import Runner, load_runner
from modelport.validators.options import CHECKING
from modelport.validators.session import ValidationSession

TRACE_METHOD_HINT = "use --method script (traced models record one path through data-dependent branches)"


@dataclass
class Staged:
    """A checked export sitting in its scratch directory until it is committed into the run directory."""

    exported: Exported
    scratch: Path
    session: ValidationSession
    equivalence: dict[str, Any] | None = None  # the gate's summary, when it ran
    key: str = field(init=False)  # names the export's results in the session until it is committed

    def __post_init__(self) -> None:
        self.key = str(self.exported.path)

    def discard(self) -> None:
        self.session.forget(self.key)
        shutil.rmtree(self.scratch, ignore_errors=True)

    def commit(self, stage: Path, artifact_id: str) -> Artifact:
        files = []
        for f in self.exported.files:
            (stage / f.name).parent.mkdir(parents=True, exist_ok=True)
            f.replace(stage / f.name)
            files.append(ArtifactFile.of(stage, f.name))
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.session.rename(self.key, artifact_id)
        e = self.exported
        extra = dict(e.extra)
        if self.equivalence is not None:
            extra["equivalence"] = self.equivalence
        return Artifact(id=artifact_id, target=e.target, path=files[0].path, files=files,
                        export_time_s=round(e.export_time_s, 4), opset=e.opset, exporter=e.exporter,
                        ir_version=e.ir_version, method=e.method, simplified=e.simplified,
                        dynamic_axes=e.dynamic_axes, warnings=e.warnings, extra=extra)


def scratch_dir(stage: Path, label: str) -> Path:
    d = stage / f".scratch-{label}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


@contextlib.contextmanager
def staging(stage: Path, label: str) -> Iterator[Path]:
    """A scratch folder for one artifact; removed if anything in the block fails (commit moves it otherwise)."""
    scratch = scratch_dir(stage, label)
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def load_back(prep: Prepared, kind: str, path: Path, check: Callable[[Runner], object] | None,
              refusal: tuple[str, str | None] | None = None) -> None:
    """Open the written file through its runner (what validate and bench will do) and run ``check`` on it
    (the gate; None when validation is off: the file must still open).

    ``refusal`` (message, hint) words a file that does not open as an ``ExportError``; None lets the error out.
    """
    try:
        runner = load_runner(kind, path, [s.name for s in prep.specs], prep.output_names, CHECKING)
    except Exception as err:  # noqa: BLE001 - any loader failure means the artifact cannot ship
        if refusal is None:
            raise
        raise ExportError(f"{refusal[0]}: {first_line(str(err))}", refusal[1]) from None
    try:
        if check is not None:
            check(runner)
    finally:
        runner.close()


def gate_staged(prep: Prepared, staged: Staged, runner: Runner, what: str, hint: str | None = None) -> None:
    staged.equivalence = check_gate(prep.session, staged.key, runner, what, staged.exported.warnings, hint)


def stage_torchscript(prep: Prepared, options: ConvertOptions, stage: Path) -> Staged:
    with staging(stage, "torchscript") as scratch:
        e = export_torchscript(prep.module, prep.args, prep.specs, prep.output_names, options.method,
                               scratch / FILE_NAMES["torchscript"], options.freeze_torchscript)
        staged = Staged(e, scratch, prep.session)
        hint = TRACE_METHOD_HINT if e.method == "trace" else None
        gate = lambda runner: gate_staged(prep, staged, runner, f"the TorchScript ({e.method}) export", hint)  # noqa: E731
        load_back(prep, "torchscript", e.path, gate if options.validate else None)
        return staged


def stage_program(prep: Prepared, options: ConvertOptions, stage: Path, kind: str,
                  export: Callable[[Path], Exported], what: str) -> Staged:
    """Export a single-file artifact of ``kind`` into a scratch folder, load it back through its runner and
    gate it against eager; the scratch folder goes on any failure."""
    with staging(stage, kind) as scratch:
        e = export(scratch / FILE_NAMES[kind])
        staged = Staged(e, scratch, prep.session)
        gate = lambda runner: gate_staged(prep, staged, runner, what)  # noqa: E731
        load_back(prep, kind, e.path, gate if options.validate else None, (f"{what} does not load back", None))
        return staged


def stage_pt2(prep: Prepared, options: ConvertOptions, stage: Path) -> Staged:
    return stage_program(prep, options, stage, "pt2",
                         lambda path: export_pt2(prep.module, prep.args, prep.specs, path, prep.output_names),
                         "the saved .pt2 program")


def stage_onnx(prep: Prepared, options: ConvertOptions, stage: Path, opset: int, exporter: str,
               progress: Progress, gate: bool | None = None, simplify: bool | None = None) -> Staged:
    gate = options.validate if gate is None else gate
    simplify = options.simplify if simplify is None else simplify
    scratch = scratch_dir(stage, f"onnx{opset}")
    try:
        e = export_onnx(prep.module, prep.args, prep.specs, prep.output_names, prep.output_shapes, opset, exporter,
                        scratch, onnx_file_name(opset), prep.source_kind, prep.output_axes)
        staged = Staged(e, scratch, prep.session)
        progress.status(f"checking the opset-{opset} file (checker, onnxruntime, dynamic axes)")
        facts, runner = check_onnx(e.path, opset, exporter, prep.session, staged.key)
        try:
            e.ir_version = facts.ir_version
            e.dynamic_axes = facts.dynamic_axes
            e.extra["shapes_checked"] = facts.shapes_run
            if facts.dropped_inputs:
                e.extra["dropped_inputs"] = facts.dropped_inputs  # unused by the graph; runners do not feed them
            if gate:
                gate_staged(prep, staged, runner, f"the opset-{opset} ONNX export ({exporter})")
        finally:
            runner.close()
        if simplify:
            simplify_staged(staged, options, progress)
        return staged
    except BaseException:
        prep.session.forget(str(scratch / onnx_file_name(opset)))
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def simplify_staged(staged: Staged, options: ConvertOptions, progress: Progress) -> None:
    e = staged.exported
    if len(e.files) > 1:
        e.warnings.append("onnxsim skipped: the model has external data (over 2 GB)")
        return
    assert e.opset is not None and e.exporter is not None
    progress.status(f"simplifying the opset-{e.opset} file with onnxsim")
    outcome = simplify_onnx(e.path, e.opset, e.exporter, staged.session, staged.key, options.simplify_timeout_s)
    if outcome.kept:
        e.simplified = True
        e.extra["simplify"] = outcome.info
        return
    if options.strict:
        raise ExportError(outcome.warning or "onnxsim failed", "drop --strict to keep the unsimplified model")
    e.warnings.append(outcome.warning or "onnxsim failed")


def stage_onnx_min(prep: Prepared, options: ConvertOptions, stage: Path, progress: Progress) -> tuple[int, Staged]:
    def try_export(op: int) -> Staged:
        exp = resolve_exporter(op, options.exporter)
        progress.step(f"--opset min: trying opset {op} ({exp} exporter)")
        # every try must match eager, even with --no-validate: "lowest opset that matches" is the question
        return stage_onnx(prep, options, stage, op, exp, progress, gate=True, simplify=False)

    (op, staged), attempts = find_min_opset(try_export, lambda op: resolve_exporter(op, options.exporter),
                                            options.exporter, lambda s: lower_bound(s.exported.path))
    staged.exported.extra["opset_search"] = attempts_json(attempts)
    if options.simplify:
        simplify_staged(staged, options, progress)
    return op, staged
