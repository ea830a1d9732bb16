"""Accuracy mode: the responses LoadGen logged, decoded and checked against the eager reference.

The agreement rate is the fraction of logged samples whose prediction matches the reference: the top-1
index of every logits output for classification and question-answering models, every output within the
validators' tolerances for the rest. A fp32 artifact must agree on every sample (docs/decisions.md,
"Benchmarks: accuracy mode checks real outputs").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelport.benchmarks.mlperf_logs import read_accuracy
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.results import AccuracyResult
from modelport.validators.compare import classification_outputs, compare_arrays, topk_agreement
from modelport.validators.task_metrics import score
from modelport.validators.tolerances import Tolerances


class Reference:
    """Eager outputs per sample index, computed once and shared by every artifact's check."""

    def __init__(self, task: str | None, tolerances: Tolerances, metric: str | None = None,
                 class_outputs: list[str] | None = None) -> None:
        self.task = task
        self.tolerances = tolerances
        self.metric = metric  # the task metric (validators.task_metrics) scored on top of the agreement
        self.class_outputs = class_outputs  # the run's --class-output; None = from the task
        self.outputs: dict[int, dict[str, np.ndarray]] = {}

    def add(self, index: int, outputs: dict[str, np.ndarray]) -> None:
        self.outputs[index] = {k: np.array(v[0] if v.ndim and v.shape[0] == 1 else v) for k, v in outputs.items()}


def check_accuracy(folder: Path, layout: ResponseLayout, reference: Reference) -> AccuracyResult:
    records = read_accuracy(folder)
    cand: dict[str, list[np.ndarray]] = {f.name: [] for f in layout.fields}
    ref: dict[str, list[np.ndarray]] = {f.name: [] for f in layout.fields}
    empty = 0
    for _, idx, data in records:
        if not data:
            empty += 1
            continue
        if idx not in reference.outputs:
            raise KeyError(f"no reference output for sample {idx}")
        for name, arr in layout.decode(data).items():
            cand[name].append(arr)
            ref[name].append(reference.outputs[idx][name])
    n = len(records)
    if n == 0:
        return AccuracyResult(0, 0.0, "none", empty_responses=0)
    ok = n - empty
    if ok == 0:
        return AccuracyResult(n, 0.0, "none", empty_responses=empty)
    stacked_ref = {k: np.stack(v) for k, v in ref.items()}
    stacked_cand = {k: np.stack(v) for k, v in cand.items()}
    class_outs = classification_outputs(reference.task, stacked_ref, reference.class_outputs)
    per_output: dict[str, dict[str, Any]] = {}
    sample_ok = np.ones(ok, dtype=bool)
    for name, r in stacked_ref.items():
        c = stacked_cand[name]
        atol, rtol, source = reference.tolerances.for_output(name, r.dtype)
        comp = compare_arrays(name, r, c, atol, rtol)
        info: dict[str, Any] = {"within_tolerance": comp.passed, "max_abs": comp.max_abs, "max_rel": comp.max_rel,
                                "atol": atol, "rtol": rtol}
        if name in class_outs:
            agree = np.array([topk_agreement(r[i], c[i], 1) == 1.0 for i in range(ok)])
            info["top1_agreement"] = topk_agreement(r, c, 1)
        else:
            agree = np.array([compare_arrays(name, r[i], c[i], atol, rtol).passed for i in range(ok)])
        sample_ok &= agree
        per_output[name] = info
    method = "top-1" if class_outs else "tolerance"
    # The task's own figure (mAP, Dice, F1, AUC difference...) of the served outputs against eager's, as
    # MLPerf's accuracy scripts compute it against ground truth (docs/decisions.md, "Validation: task metrics").
    task = score(reference.metric, stacked_ref, stacked_cand).to_json() if reference.metric else None
    # empty responses (a failed inference) count as disagreement
    return AccuracyResult(n, float(sample_ok.sum()) / n, method, per_output, empty, task_metric=task)


def precision_failure(acc: AccuracyResult, extra: dict[str, Any]) -> str | None:
    """Why a reduced-precision artifact's accuracy cell fails, or None: its served outputs' task metric against
    eager must reach the quality gate its manifest records (``extra["quality_gate"]["threshold"]``, default
    mlperf-99), as ``validate`` judges it; element tolerances do not (docs/decisions.md, "Precision: the gate
    is the task metric"). Without a task metric, top-1 agreement of the logits is the figure; without logits
    either there is nothing to gate on."""
    from modelport.validators.options import DEFAULT_QUALITY

    threshold = float((extra.get("quality_gate") or {}).get("threshold") or DEFAULT_QUALITY)
    if acc.empty_responses:
        return f"{acc.empty_responses} of {acc.samples} samples got no response"
    if acc.task_metric:
        what, value = f"{acc.task_metric['metric']} {acc.task_metric['primary']}", float(acc.task_metric["value"])
    elif acc.method == "top-1":
        what, value = "top-1 agreement", acc.agreement
    else:
        return None
    if value >= threshold:
        return None
    return (f"{what} against eager {value:.4f} on {acc.samples} samples, {threshold - value:.4f} below the quality "
            f"gate {threshold:g} recorded at convert")
