"""Before any export: the loaded model, its input specs, and the validation session every check shares.

The session (``validators.session``) holds the eager model's outputs on the full input profile and every
candidate's results; the post-export checks, the gate and the full validation all go through it, so each
input set runs once per artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from modelport import zoo
from modelport.converters.capture import capture
from modelport.converters.example import example_args, export_specs
from modelport.converters.options import ConvertOptions
from modelport.errors import InputError
from modelport.manifest import SourceRecord
from modelport.sources import LoadedModel, load_source
from modelport.spec import InputSpec, apply_dynamic
from modelport.validators.comparator import resolve_zoo_defaults
from modelport.validators.options import ValidationOptions
from modelport.validators.reference import open_session
from modelport.validators.session import ReferenceFailed, ValidationSession
from modelport.validators.tolerances import Tolerances


@dataclass
class Prepared:
    """The eager model and everything derived from it that every export shares."""

    module: Any
    specs: list[InputSpec]
    output_names: list[str]
    output_shapes: list[tuple[int, ...]]
    args: tuple[torch.Tensor, ...]
    session: ValidationSession
    validation: ValidationOptions  # what the gate and the full validation judge by
    source_kind: str = ""
    #: output axes that follow an input's dynamic non-batch axis, by its symbol (``output_symbols``)
    output_axes: dict[str, dict[int, str]] = field(default_factory=dict)


def load_model(source: str | None, options: ConvertOptions) -> LoadedModel:
    so = options.source_options
    return load_source(source, state_dict=so.get("state_dict"), model_class=so.get("model_class"),
                       model_args=so.get("model_args"), trust_pickle=bool(so.get("trust_pickle")),
                       trust_remote_code=bool(so.get("trust_remote_code")), seed=options.seed,
                       task=so.get("task"))


def resolve_specs(loaded: LoadedModel, options: ConvertOptions) -> list[InputSpec]:
    so = options.source_options
    specs = list(so.get("inputs") or loaded.inputs)
    if not specs:
        raise InputError("the source does not say what inputs the model takes",
                         "pass --input NAME:SHAPE[:DTYPE], e.g. --input x:2x3x32x32:float32")
    specs = apply_dynamic(specs, list(so.get("dynamic") or []), bool(so.get("dynamic_batch")))
    return export_specs(specs)


def validation_options(options: ConvertOptions, record: SourceRecord) -> ValidationOptions:
    """The user's --atol/--rtol for every float output over the zoo model's own default (the same rule
    ``modelport validate`` applies, so the gate and the full validation never disagree on defaults)."""
    vopts = ValidationOptions(atol={"": options.atol} if options.atol is not None else {},
                              rtol={"": options.rtol} if options.rtol is not None else {},
                              seed=options.seed, trust_pickle=bool(options.source_options.get("trust_pickle")),
                              trust_remote_code=bool(options.source_options.get("trust_remote_code")),
                              quality=options.quality, inputs_file=options.inputs_file,
                              class_outputs=list(options.class_outputs) or None)
    return resolve_zoo_defaults(vopts, record.spec if record.kind == "zoo" else None)


def gate_tolerances(options: ConvertOptions, record: SourceRecord) -> Tolerances:
    """The tolerances the gate judges by (those of the full validation)."""
    vopts = validation_options(options, record)
    return Tolerances.for_model(zoo.ZOO.get(vopts.model_name or ""), vopts.atol, vopts.rtol)


def prepare(loaded: LoadedModel, options: ConvertOptions) -> Prepared:
    specs = resolve_specs(loaded, options)
    vopts = validation_options(options, loaded.record)
    session = open_session(loaded.module, specs, list(loaded.output_names), vopts, quiet=capture)
    try:
        outs = session.reference_outputs(session.example)
    except ReferenceFailed as e:  # the user's model or input spec is wrong; say which
        shapes = ", ".join(f"{s.name}: {s.dtype}{list(s.shape)}" for s in specs)
        raise InputError(f"the model fails on its example inputs ({shapes}): {e.reason}", "check --input") from None
    unknown = [n for n in options.class_outputs if n not in outs]
    if unknown:
        raise InputError(f"--class-output names {unknown[0]!r}, but the model's outputs are {list(outs)}")
    reduced = [p for p in options.precision if p != "fp32"]
    if reduced and options.validate and not vopts.model_name and not session.class_outputs:
        # the quality gate needs a task metric; refused before minutes of exporting
        raise InputError(f"--precision {reduced[0]}: no task metric to judge it by (not a zoo model, no "
                         "classification output)", "name the output holding logits with --class-output NAME "
                         "(judged by top-1 agreement, best on your data: --inputs FILE.npz), or drop "
                         f"--precision {reduced[0]}")
    return Prepared(loaded.module, specs, list(outs), [tuple(v.shape) for v in outs.values()],
                    example_args(specs, options.seed), session, vopts, loaded.record.kind,
                    output_symbols(session, specs, outs))


def output_symbols(session: ValidationSession, specs: list[InputSpec],
                   outs: dict[str, Any]) -> dict[str, dict[int, str]]:
    """Which output axes follow which input symbol (a QA model's start_logits axis 1 is ``sequence``): an axis
    whose size equals the symbol's in the example set and again in the other-dims set, where the symbol has
    another size. Read from the eager model, so the ONNX file names its output axes as its inputs' (as
    Optimum's configs do by hand); an axis that two symbols could explain is left unnamed."""
    other = next((s for s in session.sets if s.kind == "other-dims"), None)
    if other is None:
        return {}
    try:
        other_outs = session.reference_outputs(other)
    except ReferenceFailed:
        return {}  # the full validation reports it
    first = {sym: sp.shape[a] for sp in specs for a, sym in sp.dynamic_axes.items() if a != 0}
    second = {sym: other.feed[sp.name].shape[a] for sp in specs for a, sym in sp.dynamic_axes.items()
              if a != 0 and sp.name in other.feed}
    found: dict[str, dict[int, str]] = {}
    for name, a in outs.items():
        b = other_outs.get(name)
        if b is None or getattr(a, "ndim", 0) != getattr(b, "ndim", -1):
            continue
        for axis in range(1, a.ndim):
            fits = [sym for sym in first if sym in second and first[sym] != second[sym]
                    and a.shape[axis] == first[sym] and b.shape[axis] == second[sym]]
            if len(fits) == 1:
                found.setdefault(name, {})[axis] = fits[0]
    return found
