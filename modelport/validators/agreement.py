"""The quality gate: top-k agreement of classification-like outputs with the reference over seeded samples
(followed by the rows of the user's ``.npz``), for ``--min-agreement``."""

from __future__ import annotations

import numpy as np

from modelport.errors import InputError
from modelport.runners import Runner
from modelport.spec import InputSpec
from modelport.validators.compare import topk_agreement
from modelport.validators.inputs import InputSet, gate_batches
from modelport.validators.options import Candidate, ValidationOptions
from modelport.validators.results import AgreementResult, Failure, ValidationReport
from modelport.validators.session import error_line


def run_gate(runner: Runner, specs: list[InputSpec], seed: int, options: ValidationOptions,
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


def gate_reference(runner: Runner, specs: list[InputSpec], options: ValidationOptions, class_outs: list[str],
                   user_set: InputSet | None, report: ValidationReport) -> dict[str, np.ndarray]:
    """The reference's side of the gate; warns when random samples all land in one class (the gate then
    checks little)."""
    try:
        gate_ref = run_gate(runner, specs, int(options.seed or 0), options, class_outs, user_set)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"the reference model fails on the agreement samples: {error_line(e)}") from None
    for name, logits in gate_ref.items():
        if len(np.unique(logits.reshape(-1, logits.shape[-1]).argmax(axis=1))) == 1:
            report.warnings.append(
                f"the reference predicts the same class of {name!r} for every agreement sample, so the gate "
                "checks only that class; pass real inputs with --inputs FILE.npz")
    return gate_ref


def judge_agreement(cand: Candidate, runner: Runner, specs: list[InputSpec], options: ValidationOptions,
                    class_outs: list[str], gate_ref: dict[str, np.ndarray], user_set: InputSet | None,
                    failures: list[Failure]) -> list[AgreementResult]:
    """The candidate's side of the gate, one result per classification-like output."""
    try:
        out = run_gate(runner, specs, int(options.seed or 0), options, class_outs, user_set)
    except Exception as e:  # noqa: BLE001
        failures.append(Failure(cand.id, "run", f"artifact {cand.id!r} fails on the agreement samples: "
                                f"{error_line(e)}"))
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
