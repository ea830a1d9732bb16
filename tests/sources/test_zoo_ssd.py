"""Seeded SSD detectors score like trained ones: the background dominates, a handful of detections per image
with scores spread over (0, 1) (near-tied scores let float noise reorder greedy NMS picks, and the full-size
ssd-mobilenet failed its own export gate); the full size converts and validates (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.convert import run_cli

from modelport import zoo
from modelport.zoo.detection import SSDHead, calibrate_head, calibration_features
from modelport.zoo.ssd import class_scores


def _detect(name: str, n: int) -> tuple[torch.nn.Module, list[np.ndarray]]:
    """The zoo model and the scores of each image's detections (empty slots dropped), on ``n`` zoo samples."""
    entry = zoo.get(name)
    model = entry.build(seed=0)
    with torch.no_grad():
        _, scores, classes = model(torch.from_numpy(entry.samples(n, seed=5)["image"]))
    return model, [s[c > 0].numpy() for s, c in zip(scores, classes, strict=True)]


def test_full_size_ssd_mobilenet_detects_a_handful_of_objects_with_spread_scores():
    model, per_image = _detect("ssd-mobilenet", 2)
    for scores in per_image:
        assert 5 <= len(scores) <= 30  # COCO has 7.3 objects per image; not 0, not the 100 slots
        assert scores.max() > 0.8 and scores.min() >= 0.3  # spread from the threshold towards 1
        # adjacent picks far apart compared with ORT-vs-torch float noise (~3e-6 on these scores)
        assert np.min(-np.diff(scores)) > 1e-4
    # the background dominates: the head is calibrated on the backbone build returns (the zoo's BatchNorm
    # statistics applied before calibrating), so the calibration image gets the expected count
    with torch.no_grad():
        _, conf = model.head(calibration_features(model.features, 300))
    fg = class_scores(conf, True)[..., 1:]
    assert float(fg.median()) < 0.01
    assert 12 <= int((fg > 0.3).sum()) <= 14


def test_small_config_fills_its_slots_above_its_threshold():
    _, per_image = _detect("ssd-mobilenet-small", 2)
    for scores in per_image:
        assert len(scores) == 10 and scores.min() >= 0.05 and len(np.unique(scores)) == 10


@pytest.mark.parametrize("sigmoid", [True, False])
def test_calibrated_head_has_unit_offsets_spread_logits_and_the_expected_count(sigmoid):
    torch.manual_seed(0)
    head = SSDHead([16, 8], [3, 2], num_classes=5, kernel=1)
    feats = [torch.rand(1, 16, 6, 6) * 3, torch.rand(1, 8, 3, 3) * 100]  # maps of very different scales
    calibrate_head(head, feats, lambda c: class_scores(c, sigmoid), threshold=0.3, expected=10, spread=2.0)
    with torch.no_grad():
        for lo, co, f in zip(head.loc, head.conf, feats, strict=True):
            assert float(lo(f).std()) == pytest.approx(1.0, rel=1e-3)
            fg = (co(f) - co.bias[:, None, None]).permute(0, 2, 3, 1).reshape(-1, 5)[:, 1:]
            assert float(fg.std()) == pytest.approx(2.0, rel=1e-3)
        _, conf = head(feats)
    assert int((class_scores(conf, sigmoid)[..., 1:] > 0.3).sum()) == 10


@pytest.mark.slow  # 1-2 minutes on 2 busy cores: a full-size export to two targets and the whole validation
def test_full_size_ssd_mobilenet_converts_and_validates(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "convert", "zoo:ssd-mobilenet", "--to", "onnx", "--to", "torchscript",
                           "--out", str(out))
    assert code == 0, err
    report = json.loads((out / "validation.json").read_text())
    assert report["passed"] and {a["id"] for a in report["artifacts"] if a["passed"]} == {"onnx-opset17",
                                                                                          "torchscript"}
