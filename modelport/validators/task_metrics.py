"""Task-aware agreement of an artifact's outputs with the eager model's (docs/decisions.md, "Validation: task
metrics"): the accuracy the MLPerf task defines, with the eager model's predictions as the ground truth.

``score(metric, reference, candidate)`` takes two output dicts (numpy arrays by output name, samples along axis
0) and returns a ``TaskScore``: every figure, and the primary one that ``validate --min-agreement`` and the
benchmark's accuracy check compare with the threshold.

- classification: top-1 agreement of the first 2-D float output.
- detection: candidate boxes matched to the reference's (IoU >= 0.5, same class); primary: an mAP-style
  score (per-class average precision of the candidate's detections, ranked by score, against the reference's).
- segmentation: per-voxel agreement of the argmax over classes; primary: mean Dice over foreground classes.
- speech: greedy transcripts read off each joint lattice; primary: 1 - token error rate.
- question-answering: the best span (start <= end, at most 30 tokens); primary: F1, plus exact match.
- translation: the next-token predictions along each target context, cut at end of sentence; primary:
  1 - token error rate.
- recommendation: click agreement at 0.5; primary: 1 - |AUC(ref) - AUC(candidate)| with labels drawn
  (seeded) from the reference's click probabilities.

Pure numpy: the benchmarks can call it on logged responses without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.errors import InputError
from modelport.zoo.rnnt import lattice_transcript

Outputs = dict[str, np.ndarray]


@dataclass
class TaskScore:
    metric: str
    primary: str  # the name of the figure the gate compares with the threshold
    value: float
    samples: int
    values: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "primary": self.primary, "value": self.value, "samples": self.samples,
                "values": self.values}


def _first(outs: Outputs, want: str | None = None) -> np.ndarray:
    if want and want in outs:
        return outs[want]
    return next(iter(outs.values()))


def classification(ref: Outputs, cand: Outputs) -> TaskScore:
    r, c = _first(ref), _first(cand)
    agree = float(np.mean(r.reshape(len(r), -1).argmax(1) == c.reshape(len(c), -1).argmax(1))) if len(r) else 1.0
    return TaskScore("classification", "top1_agreement", agree, len(r), {"top1_agreement": agree})


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def _average_precision(hits: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP of detections (ranked by score) whose hit flags are ``hits``."""
    if n_truth == 0:
        return 1.0 if len(hits) == 0 else 0.0
    tp = np.cumsum(hits)
    precision, recall = tp / np.arange(1, len(hits) + 1), tp / n_truth
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(hits) else precision
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * envelope))


def detection(ref: Outputs, cand: Outputs, iou_threshold: float = 0.5) -> TaskScore:
    """Outputs ``detection_boxes`` (B, K, 4), ``detection_scores`` (B, K), ``detection_classes`` (B, K); a slot
    with class 0 is empty."""
    per_class: dict[int, list[tuple[float, bool]]] = {}
    truths: dict[int, int] = {}
    matched = total_ref = total_cand = 0
    for b in range(len(ref["detection_classes"])):
        rk, ck = ref["detection_classes"][b] > 0, cand["detection_classes"][b] > 0
        rb, rc = ref["detection_boxes"][b][rk], ref["detection_classes"][b][rk]
        cb, cc, cs = (cand["detection_boxes"][b][ck], cand["detection_classes"][b][ck],
                      cand["detection_scores"][b][ck])
        total_ref, total_cand = total_ref + len(rb), total_cand + len(cb)
        for c in np.unique(rc):
            truths[int(c)] = truths.get(int(c), 0) + int(np.sum(rc == c))
        used = np.zeros(len(rb), bool)
        ious = _iou(cb, rb) if len(cb) and len(rb) else np.zeros((len(cb), len(rb)))
        for i in np.argsort(-cs, kind="stable"):  # greedy matching, best-scoring detection first
            ok = (rc == cc[i]) & ~used & (ious[i] >= iou_threshold)
            hit = bool(ok.any())
            if hit:
                used[int(np.argmax(np.where(ok, ious[i], -1)))] = True
                matched += 1
            per_class.setdefault(int(cc[i]), []).append((float(cs[i]), hit))
    aps = []
    for c in set(truths) | set(per_class):
        dets = sorted(per_class.get(c, []), key=lambda d: -d[0])
        aps.append(_average_precision(np.array([h for _, h in dets], float), truths.get(c, 0)))
    m_ap = float(np.mean(aps)) if aps else 1.0
    recall = matched / total_ref if total_ref else 1.0
    precision = matched / total_cand if total_cand else 1.0
    return TaskScore("detection", "map", m_ap, len(ref["detection_classes"]),
                     {"map": m_ap, "matched_recall": recall, "matched_precision": precision,
                      "reference_boxes": float(total_ref), "candidate_boxes": float(total_cand)})


def segmentation(ref: Outputs, cand: Outputs) -> TaskScore:
    """Class logits (B, C, D, H, W): the argmax per voxel; mean Dice over foreground classes (1..C-1)."""
    r, c = _first(ref).argmax(1), _first(cand).argmax(1)
    agree = float(np.mean(r == c))
    dices = []
    for k in range(1, _first(ref).shape[1]):
        a, b = r == k, c == k
        denom = a.sum() + b.sum()
        dices.append(1.0 if denom == 0 else float(2 * np.logical_and(a, b).sum() / denom))
    dice = float(np.mean(dices)) if dices else agree
    return TaskScore("segmentation", "mean_dice", dice, len(r), {"mean_dice": dice, "voxel_agreement": agree})


def edit_distance(a: list[int], b: list[int]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def speech(ref: Outputs, cand: Outputs) -> TaskScore:
    """Outputs ``logits`` (B, T, U+1, V) and ``encoder_lengths`` (B,): token error rate of the candidate's
    transcripts against the reference's."""
    errors = words = 0
    for b in range(len(ref["logits"])):
        rt = lattice_transcript(ref["logits"][b], int(ref["encoder_lengths"][b]))
        ct = lattice_transcript(cand["logits"][b], int(cand["encoder_lengths"][b]))
        errors, words = errors + edit_distance(rt, ct), words + len(rt)
    ter = errors / words if words else float(errors > 0)
    return TaskScore("speech", "1-ter", 1.0 - ter, len(ref["logits"]), {"1-ter": 1.0 - ter, "ter": ter,
                                                                       "reference_tokens": float(words)})


def best_span(start: np.ndarray, end: np.ndarray, max_len: int = 30) -> tuple[int, int]:
    """The (start, end) with start <= end < start + max_len maximising start + end logits, as SQuAD does."""
    scores = start[:, None] + end[None, :]
    i, j = np.indices(scores.shape)
    scores = np.where((j >= i) & (j < i + max_len), scores, -np.inf)
    s, e = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(s), int(e)


def question_answering(ref: Outputs, cand: Outputs) -> TaskScore:
    rs, re_ = _first(ref, "start_logits"), _first(ref, "end_logits")
    cs, ce = _first(cand, "start_logits"), _first(cand, "end_logits")
    em = f1 = 0.0
    for b in range(len(rs)):
        (a0, a1), (b0, b1) = best_span(rs[b], re_[b]), best_span(cs[b], ce[b])
        em += float((a0, a1) == (b0, b1))
        overlap = max(0, min(a1, b1) - max(a0, b0) + 1)
        if overlap:
            p, r = overlap / (b1 - b0 + 1), overlap / (a1 - a0 + 1)
            f1 += 2 * p * r / (p + r)
    n = max(len(rs), 1)
    return TaskScore("question-answering", "f1", f1 / n, len(rs), {"f1": f1 / n, "exact_match": em / n})


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank statistic (ties count half)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return 1.0
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def recommendation(ref: Outputs, cand: Outputs) -> TaskScore:
    r, c = _first(ref).reshape(-1), _first(cand).reshape(-1)
    labels = (np.random.default_rng(0).random(len(r)) < r).astype(np.int64)  # clicks as the reference predicts
    a_ref, a_cand = auc(labels, r), auc(labels, c)
    agree = float(np.mean((r > 0.5) == (c > 0.5)))
    diff = abs(a_ref - a_cand)
    return TaskScore("recommendation", "1-auc_difference", 1.0 - diff, len(r),
                     {"1-auc_difference": 1.0 - diff, "auc_difference": diff, "auc_reference": a_ref,
                      "auc_candidate": a_cand, "click_agreement": agree})


def _until_eos(tokens: np.ndarray, eos: int = 2) -> list[int]:
    hits = np.flatnonzero(tokens == eos)
    return tokens[: hits[0] if hits.size else len(tokens)].tolist()


def translation(ref: Outputs, cand: Outputs) -> TaskScore:
    """Outputs ``logits`` (B, T, V): the next-token predictions along each target context, cut at the first end
    of sentence; token error rate of the candidate's against the reference's (GNMT's search is outside the
    graph, as RNN-T's)."""
    r, c = ref["logits"].argmax(-1), cand["logits"].argmax(-1)
    errors = words = 0
    for b in range(len(r)):
        rt, ct = _until_eos(r[b]), _until_eos(c[b])
        errors, words = errors + edit_distance(rt, ct), words + len(rt)
    ter = errors / words if words else float(errors > 0)
    return TaskScore("translation", "1-ter", 1.0 - ter, len(r), {"1-ter": 1.0 - ter, "ter": ter,
                                                                 "reference_tokens": float(words)})


METRICS: dict[str, Callable[[Outputs, Outputs], TaskScore]] = {
    "classification": classification, "detection": detection, "segmentation": segmentation, "speech": speech,
    "question-answering": question_answering, "recommendation": recommendation, "translation": translation,
}


def score(metric: str, reference: Outputs, candidate: Outputs) -> TaskScore:
    """The task metric ``metric`` (a key of ``METRICS``) of ``candidate`` against ``reference``."""
    if metric not in METRICS:
        raise InputError(f"unknown task metric {metric!r}", f"known: {', '.join(METRICS)}")
    return METRICS[metric](reference, candidate)
