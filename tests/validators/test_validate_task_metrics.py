"""Task metrics of the --min-agreement gate: each scores identical outputs 1 and a changed prediction lower."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.errors import InputError
from modelport.validators import task_metrics as tm


def _det(classes: list[int], shift: float = 0.0) -> dict[str, np.ndarray]:
    boxes = np.array([[[0.1 + shift, 0.1, 0.4 + shift, 0.4], [0.5, 0.5, 0.9, 0.9], [0, 0, 0, 0]]], np.float32)
    return {"detection_boxes": boxes, "detection_scores": np.array([[0.9, 0.8, 0.0]], np.float32),
            "detection_classes": np.array([classes], np.int64)}


def test_detection_matches_boxes_by_iou_and_class():
    ref = _det([1, 2, 0])
    assert tm.detection(ref, ref).value == 1.0
    moved = tm.detection(ref, _det([1, 2, 0], shift=0.25))  # first box now overlaps by IoU < 0.5
    assert moved.values["matched_recall"] == 0.5 and moved.value == 0.5
    relabelled = tm.detection(ref, _det([3, 2, 0]))
    assert relabelled.values["matched_precision"] == 0.5


def test_segmentation_dice_and_voxel_agreement():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 3, 4, 4, 4)).astype(np.float32)
    assert tm.segmentation({"l": ref}, {"l": ref}).value == 1.0
    other = ref.copy()
    other[:, 0] += 100  # everything background
    s = tm.segmentation({"l": ref}, {"l": other})
    assert s.value == 0.0 and 0 < s.values["voxel_agreement"] < 1


def test_speech_token_error_rate_from_the_lattice():
    logits = np.full((1, 4, 3, 5), -5.0, np.float32)
    logits[..., 4] = 0.0  # blank everywhere ...
    logits[0, 0, 0, 1] = logits[0, 1, 1, 2] = 5.0  # ... but two symbols
    ref = {"logits": logits, "encoder_lengths": np.array([4])}
    assert tm.lattice_transcript(logits[0], 4) == [1, 2]
    cand = {"logits": logits.copy(), "encoder_lengths": np.array([4])}
    cand["logits"][0, 1, 1, 2] = -5.0
    assert tm.speech(ref, ref).value == 1.0 and tm.speech(ref, cand).values["ter"] == 0.5


def test_question_answering_span_f1_and_exact_match():
    start, end = np.zeros((1, 10), np.float32), np.zeros((1, 10), np.float32)
    start[0, 2], end[0, 5] = 5, 5
    ref = {"start_logits": start, "end_logits": end}
    s2, e2 = start.copy(), end.copy()
    e2[0, 5], e2[0, 3] = 0, 5
    s = tm.question_answering(ref, {"start_logits": s2, "end_logits": e2})
    assert s.values["exact_match"] == 0 and s.value == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_recommendation_auc_difference_and_click_agreement():
    p = np.random.default_rng(1).random((200, 1)).astype(np.float32)
    same = tm.recommendation({"p": p}, {"p": p})
    assert same.value == 1.0 and same.values["click_agreement"] == 1.0
    worse = tm.recommendation({"p": p}, {"p": 1 - p})
    assert worse.values["auc_difference"] > 0.5 and worse.values["click_agreement"] < 0.1


def test_classification_and_unknown_metric():
    a = np.eye(4, dtype=np.float32)
    assert tm.score("classification", {"y": a}, {"y": a[::-1]}).value == 0.0
    with pytest.raises(InputError, match="unknown task metric"):
        tm.score("bleu", {"y": a}, {"y": a})
