"""Which artifacts of a validation to localize, and how: the glue between ``validate`` and the two diagnoses.

- an fp32 ONNX artifact is localized against the eager model (``localize.localize_onnx``);
- a reduced-precision ONNX artifact (fp16, int8) differs from eager at every layer by design, so it is compared
  layer by layer with an fp32 ONNX artifact of the same run (``layerwise.compare_layers``), or with the
  artifact ``--against`` names;
- on demand (``validate --localize``) every selected ONNX artifact; automatically, only fp32 ONNX artifacts
  that failed on values, on the input set they first failed on.

``validate --reference a.onnx b.onnx`` (two files, no eager model) is ``compare_files``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from modelport.errors import InputError
from modelport.fsutil import write_json_atomic
from modelport.spec import InputSpec
from modelport.validators.inputs import InputSet, generated_sets, load_npz
from modelport.validators.layerwise import LayerwiseReport, compare_layers, specs_from_onnx
from modelport.validators.localize import Localization, localize_onnx
from modelport.validators.localize_graph import load_graph
from modelport.validators.options import ValidationOptions
from modelport.validators.results import ValidationReport
from modelport.validators.tolerances import Tolerances

#: failures that mean "computes something else" (a shape or a missing output is found without localizing)
VALUE_FAILURES = ("values", "nan", "inf")
#: rows of a user's set a localization replays: every intermediate tensor of each row is held at once
LOCALIZE_ROWS = 32


@dataclass
class Target:
    """An artifact that may be localized: its id in the report, its file, its precision."""

    id: str
    path: Path
    kind: str
    precision: str = "fp32"


@dataclass
class Localized:
    """Every diagnosis made for one validation, in artifact order."""

    results: list[Localization | LayerwiseReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"localization": [r.to_json() for r in self.results if isinstance(r, Localization)],
                "layerwise": [r.to_json() for r in self.results if isinstance(r, LayerwiseReport)],
                "localization_notes": self.notes}

    def render(self) -> str:
        return "\n".join([r.render() for r in self.results] + [f"note: {n}" for n in self.notes])

    def summary(self) -> str | None:
        """The first divergence found, as one clause for the failure line; None when there is none."""
        found = next((r for r in self.results if isinstance(r, Localization) and r.first), None)
        return found.summary() if found else None


def input_sets(specs: list[InputSpec], seed: int, options: ValidationOptions) -> list[InputSet]:
    """The validation's own input sets (same seed, batch sizes and .npz), so a failing set can be replayed."""
    sets = generated_sets(specs, seed, options.batch_sizes)
    if options.inputs_file:
        sets.append(load_npz(options.inputs_file, specs))
    return sets


def _tolerance(report: ValidationReport) -> tuple[float, float]:
    """The artifact's tolerance: that of the model's first output, as the validation recorded it."""
    per_output = report.settings.get("tolerances") or {}
    first = next(iter(per_output.values()), {"atol": 1e-5, "rtol": 1e-5})
    return float(first["atol"]), float(first["rtol"])


def replay_set(sets: dict[str, InputSet], failed: str | None, specs: list[InputSpec]) -> tuple[str, dict]:
    """The set to replay, and its feed: the one the artifact failed on, else the user's rows (the data the
    gate judged), else the example; a large set cut to its first ``LOCALIZE_ROWS`` rows when the batch axis
    is dynamic."""
    s = (sets.get(failed) if failed else None) or sets.get("user") or sets["example"]
    feed = {k: np.asarray(v) for k, v in s.feed.items()}
    rows = min((len(v) for v in feed.values() if v.ndim), default=0)
    if rows > LOCALIZE_ROWS and specs and all(sp.batch_dynamic for sp in specs):
        return f"{s.name} (first {LOCALIZE_ROWS} of {rows} rows)", {k: v[:LOCALIZE_ROWS] for k, v in feed.items()}
    return s.name, feed


def _failed_set(report: ValidationReport, artifact: str) -> str | None:
    return next((f.input_set for f in report.failures
                 if f.artifact == artifact and f.kind in VALUE_FAILURES and f.input_set), None)


def localize_report(report: ValidationReport, targets: list[Target], module: Callable[[], nn.Module],
                    specs: list[InputSpec], options: ValidationOptions, explicit: bool,
                    against: str | None = None) -> Localized:
    """Localize the ONNX ``targets`` of ``report`` (see the module docstring); ``module`` builds the eager model.

    ``targets`` are every artifact of the run (a reduced-precision one needs an fp32 one to compare with);
    ``options.artifact_ids`` selects those localized.
    """
    done = Localized()
    onnx_targets = [t for t in targets if t.kind == "onnx"]
    chosen = [t for t in onnx_targets if not options.artifact_ids or t.id in options.artifact_ids]
    by_id = {t.id: t for t in targets}
    if against is not None and against not in by_id:
        raise InputError(f"--against names {against!r}, which is not an ONNX artifact of this validation",
                         f"use one of {', '.join(by_id) or 'none'}")
    sets = {s.name: s for s in input_sets(specs, int(report.settings.get("seed") or 0), options)}
    atol, rtol = _tolerance(report)
    fp32 = next((t for t in onnx_targets if t.precision == "fp32"), None)
    eager: nn.Module | None = None
    if explicit and not chosen:
        done.notes.append("no ONNX artifact selected: localization reads an ONNX graph's intermediate tensors")
    for t in chosen:
        failed = _failed_set(report, t.id)
        if not explicit and (failed is None or t.precision != "fp32"):
            continue
        set_name, feed = replay_set(sets, failed, specs)
        base = by_id.get(against) if against else (fp32 if t.precision != "fp32" else None)
        if base is not None and base.id != t.id:
            done.results.append(compare_layers(str(base.path), str(t.path), feed, set_name,
                                               Tolerances(dict(options.atol), dict(options.rtol)), base.id, t.id,
                                               options.runner.threads))
        elif t.precision != "fp32":
            done.notes.append(f"{t.id} is {t.precision}: it differs from eager at every layer by design; there is "
                              "no fp32 ONNX artifact to compare it with layer by layer (name one with --against)")
        elif base is None:
            eager = eager if eager is not None else module()
            done.results.append(localize_onnx(eager, specs, feed, str(t.path), t.id, set_name, atol, rtol,
                                              options.runner.threads))
    return done


def record(run_dir: str | Path, localized: Localized, report_name: str) -> None:
    """Add the diagnoses to the run's validation report (rewritten whole, atomically)."""
    import json

    path = Path(run_dir) / report_name
    data = json.loads(path.read_text())
    data.update(localized.to_json())
    write_json_atomic(path, data)


def compare_files(reference: str, targets: list[Target], specs: list[InputSpec] | None,
                  options: ValidationOptions) -> list[LayerwiseReport]:
    """``validate --reference a.onnx b.onnx ...``: each file layer by layer against ``a.onnx``."""
    if not targets:
        raise InputError("--reference FILE.onnx needs at least one ONNX file (or run directory) to compare",
                         "e.g. modelport validate --reference fp32.onnx int8.onnx")
    bad = next((t for t in targets if t.kind != "onnx"), None)
    if bad is not None:
        raise InputError(f"{str(bad.path)!r} is not ONNX; an ONNX reference is compared with ONNX files only",
                         "validate other artifacts against the model: --reference SOURCE")
    specs = specs or specs_from_onnx(load_graph(reference))
    set_name, feed = replay_set({s.name: s for s in input_sets(specs, int(options.seed or 0), options)}, None,
                                specs)
    tol = Tolerances(dict(options.atol), dict(options.rtol))
    return [compare_layers(reference, str(t.path), feed, set_name, tol, reference, t.id, options.runner.threads)
            for t in targets]
