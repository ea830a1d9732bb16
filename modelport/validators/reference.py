"""The eager reference of a validation: the session around it, and what must hold of it before anything is
judged against it (it runs on every set, it is deterministic, the options fit its outputs)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np
from torch import nn

from modelport import zoo
from modelport.errors import InputError
from modelport.runners.torch_runners import TorchModuleRunner
from modelport.spec import InputSpec
from modelport.validators.agreement import task_metric
from modelport.validators.inputs import generated_sets, load_npz
from modelport.validators.options import ValidationOptions
from modelport.validators.results import Failure, ValidationReport
from modelport.validators.session import ValidationSession
from modelport.validators.tolerances import Tolerances


def open_session(module: nn.Module, specs: list[InputSpec], output_names: list[str], options: ValidationOptions,
                 quiet: Callable[[], AbstractContextManager[object]] | None = None) -> ValidationSession:
    """A session for ``module`` on the full profile (plus the user's ``.npz``), with the options' tolerances.

    ``options.seed`` and ``options.model_name`` must be resolved already (``validate_run`` takes them from the
    run; ``convert`` from its own options and source).
    """
    if not specs:
        raise InputError("the model's inputs are unknown", "give them with --input NAME:SHAPE[:DTYPE]")
    runner = TorchModuleRunner(module, [s.name for s in specs], list(output_names), options.runner)
    sets = generated_sets(specs, int(options.seed or 0), options.batch_sizes)
    if options.inputs_file:
        sets.append(load_npz(options.inputs_file, specs))
    entry = zoo.ZOO.get(options.model_name or "")
    tolerances = Tolerances.for_model(entry, options.atol, options.rtol)
    return ValidationSession(runner, specs, sets, tolerances, options.task, options.class_outputs, options.topk, quiet)


def check_reference(session: ValidationSession, report: ValidationReport) -> None:
    """Run the reference on every set; record NaN/Inf it makes and whether two runs agree bit for bit."""
    for s in session.sets:
        for name, arr in session.reference_outputs(s).items():
            if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
                report.warnings.append(f"the reference's output {name!r} has {int((~np.isfinite(arr)).sum())} "
                                       f"NaN/Inf values on input set {s.name!r}; they only match the same values")
    same, worst = session.deterministic()
    module = getattr(session.reference, "module", None)
    report.reference = {"kind": "eager", "class": type(module).__name__, "deterministic": same,
                        "outputs": session.output_names}
    if not same:
        report.failures.append(Failure(None, "reference", (
            f"the reference model is not deterministic: two eager runs on input set {session.example.name!r} "
            f"differ by up to {worst:.3g}; nothing can be validated against it (look for randomness in forward())")))


def check_options(session: ValidationSession, options: ValidationOptions) -> list[str]:
    """Options that name outputs must name the reference's; returns the classification-like outputs."""
    output_names = session.output_names
    session.tolerances.check_names(output_names)
    for name in options.class_outputs or []:
        if name not in output_names:
            raise InputError(f"--class-output names {name!r}, but the model's outputs are {output_names}")
    outs = session.class_outputs
    # a zoo model with a task metric needs no logits: the metric reads its outputs (agreement.task_metric)
    needs_logits = options.topk or (options.min_agreement is not None and task_metric(options)[0] is None)
    if needs_logits and not outs:
        raise InputError(f"--topk/--min-agreement need classification-like outputs, and the model's task is "
                         f"{options.task or 'unknown'}", "name the logits outputs with --class-output NAME")
    return outs
