"""The quality gate for ``--min-agreement`` and ``--quality``: over the rows of the user's ``.npz`` when there is
one (a trained model is judged on its own data, not on seeded inputs it never saw), else over seeded samples,
the zoo model's task metric (``task_metrics``: detection mAP, Dice, token error rate, span F1, AUC difference,
top-1) when it declares one, else top-k agreement of classification-like outputs
(docs/decisions.md, "Validation: task metrics")."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from modelport import zoo
from modelport.errors import InputError
from modelport.runners import Runner
from modelport.spec import InputSpec
from modelport.validators import task_metrics
from modelport.validators.compare import topk_agreement
from modelport.validators.inputs import InputSet, gate_batches
from modelport.validators.options import Candidate, ValidationOptions
from modelport.validators.results import AgreementResult, Failure, ValidationReport
from modelport.validators.session import error_line


def run_gate(runner: Runner, specs: list[InputSpec], seed: int, options: ValidationOptions,
             class_outs: list[str], user_set: InputSet | None) -> dict[str, np.ndarray]:
    """Outputs of ``class_outs`` on the gate's samples: every row of the user's inputs when there are any, else
    the seeded samples (trimmed to ``samples`` rows along the batch axis)."""
    metric, entry = task_metric(options)
    names = None if metric else class_outs  # a task metric reads every output
    feeds = user_feeds(user_set, specs) if user_set is not None else gate_feeds(entry, specs, seed, options.samples)
    chunks: dict[str, list[np.ndarray]] = {}
    for feed in feeds:
        out = runner.infer(feed)
        for n in names or out:
            chunks.setdefault(n, []).append(out[n])
    rows = None if user_set is not None else options.samples
    return {n: np.concatenate(c, axis=0)[:rows] for n, c in chunks.items()}


def user_feeds(user_set: InputSet, specs: list[InputSpec]) -> Iterator[dict[str, np.ndarray]]:
    """The user's rows 16 at a time when every input's batch axis is dynamic (a file of a thousand images
    is never one call), else the file as it is."""
    feed = user_set.feed
    if not specs or not all(s.batch_dynamic for s in specs):
        yield feed
        return
    n = min(len(a) for a in feed.values())
    for i in range(0, n, 16):
        yield {k: a[i:i + 16] for k, a in feed.items()}


def too_few_rows(rows: int, threshold: float) -> str | None:
    """A warning when the gate judged fewer rows than its threshold can be told on: with N rows one
    disagreement moves agreement by 1/N, so below 1 / (1 - threshold) rows a pass says only "none disagreed"."""
    if threshold >= 1.0 or not rows:
        return None
    need = math.ceil(round(1.0 / (1.0 - threshold), 6))
    if rows >= need:
        return None
    return (f"the quality gate judged only {rows} rows of your inputs: one disagreement moves it by {1 / rows:.3f}, "
            f"more than the {1 - threshold:.3g} the gate {threshold:g} allows; give at least {need} rows")


def gate_samples(options: ValidationOptions, user_set: InputSet | None) -> str:
    """What the gate's samples are, for its messages."""
    return f"samples of {Path(options.inputs_file).name}" if user_set is not None and options.inputs_file \
        else "seeded samples"


def task_metric(options: ValidationOptions) -> tuple[str | None, zoo.ZooEntry | None]:
    """The task metric that judges the gate (the zoo entry's, unless the user named classification outputs)
    and the entry; (None, entry) for top-k agreement."""
    entry = zoo.ZOO.get(options.model_name or "")
    if entry is None or entry.metric is None or options.class_outputs:
        return None, entry
    return entry.metric, entry


def gate_feeds(entry: zoo.ZooEntry | None, specs: list[InputSpec], seed: int,
               samples: int) -> Iterator[dict[str, np.ndarray]]:
    """The entry's realistic samples (16 at a time) when it has a generator and its shapes fit the specs (the
    model args may have changed them), else the seeded uniform ones."""
    if entry is not None and any(s.batch_dynamic for s in specs) and entry.samples_fit(specs, seed=seed):
        for i, done in enumerate(range(0, samples, 16)):
            yield entry.samples(min(16, samples - done), seed + 1000 + i)
        return
    yield from gate_batches(specs, seed, samples)


def gate_reference(runner: Runner, specs: list[InputSpec], options: ValidationOptions, class_outs: list[str],
                   user_set: InputSet | None, report: ValidationReport) -> dict[str, np.ndarray]:
    """The reference's side of the gate; warns when random samples all land in one class (the gate then
    checks little)."""
    try:
        gate_ref = run_gate(runner, specs, int(options.seed or 0), options, class_outs, user_set)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"the reference model fails on the agreement samples: {error_line(e)}") from None
    if task_metric(options)[0]:
        return gate_ref
    for name, logits in gate_ref.items():
        if len(np.unique(logits.reshape(-1, logits.shape[-1]).argmax(axis=1))) == 1:
            report.warnings.append(
                f"the reference predicts the same class of {name!r} for every row of your --inputs, so the gate "
                "checks only that class; include rows of other classes" if user_set is not None else
                f"the reference predicts the same class of {name!r} for every agreement sample, so the gate "
                "checks only that class; pass real inputs with --inputs FILE.npz")
    return gate_ref


def judge_agreement(cand: Candidate, runner: Runner, specs: list[InputSpec], options: ValidationOptions,
                    class_outs: list[str], gate_ref: dict[str, np.ndarray], user_set: InputSet | None,
                    failures: list[Failure], quality: float | None = None) -> list[AgreementResult]:
    """The candidate's side of the gate, one result per classification-like output.

    ``quality`` set: the gate of a reduced-precision artifact (docs/decisions.md, "Precision: the gate is the
    task metric"), judged at that threshold instead of ``--min-agreement`` and worded with its margin."""
    try:
        out = run_gate(runner, specs, int(options.seed or 0), options, class_outs, user_set)
    except Exception as e:  # noqa: BLE001
        failures.append(Failure(cand.id, "run", f"artifact {cand.id!r} fails on the agreement samples: "
                                f"{error_line(e)}"))
        return []
    k = options.topk or 1
    threshold = float(quality if quality is not None else options.min_agreement or 0.0)
    metric, _ = task_metric(options)
    where = gate_samples(options, user_set)
    if metric:
        return [_judge_task(cand, metric, gate_ref, out, threshold, failures, quality is not None, where)]
    results = []
    for name in class_outs:
        ref, got = gate_ref[name], out[name]
        agreement = topk_agreement(ref, got, k) if ref.shape == got.shape else 0.0
        rows = int(np.prod(ref.shape[:-1]))
        ok = agreement >= threshold
        distinct = len(np.unique(ref.reshape(-1, ref.shape[-1]).argmax(axis=1)))
        results.append(AgreementResult(name, k, rows, agreement, threshold, ok, distinct))
        if not ok and quality is not None:
            failures.append(Failure(cand.id, "quality", quality_message(cand, f"top-{k} agreement of {name!r}",
                                                                        agreement, rows, threshold, where),
                                    output=name))
        elif not ok:
            failures.append(Failure(cand.id, "agreement", (
                f"artifact {cand.id!r} output {name!r}: top-{k} agreement with the reference is {agreement:.4f} over "
                f"{rows} {where}, below --min-agreement {threshold:g}"), output=name))
    return results


def quality_message(cand: Candidate, what: str, value: float, samples: int, threshold: float,
                    where: str = "seeded samples") -> str:
    """The one line of a failed quality gate: artifact, metric, value, margin, threshold."""
    return (f"artifact {cand.id!r} ({cand.precision}): {what} against the fp32 reference is {value:.4f} over "
            f"{samples} {where}, {threshold - value:.4f} below the quality gate {threshold:g}")


def _judge_task(cand: Candidate, metric: str, ref: dict[str, np.ndarray], out: dict[str, np.ndarray],
                threshold: float, failures: list[Failure], quality: bool = False,
                where: str = "seeded samples") -> AgreementResult:
    missing = [n for n in ref if n not in out or out[n].shape != ref[n].shape]
    if missing:
        result = AgreementResult(metric, 1, 0, 0.0, threshold, False, metric=metric)
        failures.append(Failure(cand.id, "agreement", f"artifact {cand.id!r}: outputs {missing} are missing or "
                                "shaped unlike the reference's on the agreement samples"))
        return result
    s = task_metrics.score(metric, ref, out)
    ok = s.value >= threshold
    if not ok and quality:
        failures.append(Failure(cand.id, "quality", quality_message(cand, f"{metric} {s.primary}", s.value,
                                                                    s.samples, threshold, where)))
    elif not ok:
        failures.append(Failure(cand.id, "agreement", (
            f"artifact {cand.id!r}: {metric} {s.primary} against the reference is {s.value:.4f} over {s.samples} "
            f"{where}, below --min-agreement {threshold:g}")))
    return AgreementResult(s.primary, 1, s.samples, s.value, threshold, ok, metric=metric, values=s.values)
