"""The MLPerf Inference model family's zoo entries (docs/decisions.md, "Zoo: the MLPerf model family"): each at
its MLPerf size and as ``NAME-small``, the same architecture at a size tests can afford."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.spec import InputSpec
from modelport.zoo.entry import ZooEntry
from modelport.zoo.mlperf import MLPERF

_ONNX_TS = ("torchscript", "onnx-opset17")


def _image_specs(args: dict[str, Any]) -> list[InputSpec]:
    size = args.get("image_size", 300)
    return [InputSpec("image", (2, 3, size, size), "float32", -1.0, 1.0, {0: "batch"})]


def _unet_specs(args: dict[str, Any]) -> list[InputSpec]:
    p = _PATCH[tuple(args["channels"])[0]]
    return [InputSpec("volume", (1, 1, p, p, p), "float32", -2.0, 2.0, {0: "batch"})]


_PATCH = {32: 128, 8: 32}  # the patch side of each 3D-UNet config, keyed by its first level's width


def _dlrm_specs(args: dict[str, Any]) -> list[InputSpec]:
    return [InputSpec("dense", (4, 13), "float32", 0.0, 5.0, {0: "batch"}),
            InputSpec("sparse", (4, 26, _BAG), "int64", 0, 10_000_000, {0: "batch"})]


_BAG = 2  # ids per bag: a multi-hot feature's pooling factor (MLPerf's multi-hot sizes range from 1 to 100)


def _dlrm_samples(args: dict[str, Any], n: int, seed: int) -> dict[str, np.ndarray]:
    from modelport.zoo.dlrm import dlrm_samples

    return dlrm_samples(n, seed, _BAG, 10_000_000)


def _rnnt_specs(args: dict[str, Any]) -> list[InputSpec]:
    frames, feats = _FRAMES[args.get("hidden", 1024)], args.get("features", 240)
    return [InputSpec("features", (2, frames, feats), "float32", -2.0, 2.0, {0: "batch", 1: "frames"}),
            InputSpec("feature_lengths", (2,), "int64", frames // 2, frames + 1, {0: "batch"}),
            InputSpec("tokens", (2, 8), "int64", 0, args.get("vocab", 29) - 1, {0: "batch", 1: "context"})]


_FRAMES = {1024: 500, 64: 40}  # 15 s of stacked frames at MLPerf size; 4 s for the small config


def _rnnt_samples(args: dict[str, Any], n: int, seed: int) -> dict[str, np.ndarray]:
    from modelport.zoo.rnnt import speech_samples

    return speech_samples(n, seed, _FRAMES[args.get("hidden", 1024)], args.get("features", 240))


def _gnmt_specs(args: dict[str, Any]) -> list[InputSpec]:
    length, vocab = _GNMT_LEN[args.get("hidden", 1024)], args.get("vocab", 32317)
    axes = {0: "batch", 1: "source_sequence"}
    return [InputSpec("source", (2, length), "int64", 4, vocab, axes),
            InputSpec("source_lengths", (2,), "int64", length // 2, length + 1, {0: "batch"}),
            InputSpec("target", (2, length), "int64", 4, vocab, {0: "batch", 1: "target_sequence"})]


_GNMT_LEN = {1024: 50, 32: 12}  # tokens per sentence: WMT16's typical length; a short one for the small config


def _gnmt_samples(args: dict[str, Any], n: int, seed: int) -> dict[str, np.ndarray]:
    from modelport.zoo.gnmt import sentence_samples

    return sentence_samples(n, seed, _GNMT_LEN[args.get("hidden", 1024)], args.get("vocab", 32317))


_GNMT_SMALL = {"vocab": 256, "hidden": 32, "layers": 2}
_SSD_SMALL = {"width": 0.25, "image_size": 128, "num_classes": 11, "max_detections": 10, "candidates": 50,
              "score_threshold": 0.05}
_SSD_OUT = ("detection_boxes", "detection_scores", "detection_classes")
_RNNT_SMALL = {"features": 40, "hidden": 64, "pre_layers": 1, "post_layers": 1, "pred_hidden": 32, "pred_layers": 1,
               "joint": 32}
_DLRM_SMALL = {"tables": (1000,) * 26, "dim": 16, "bottom": (32,), "top": (64, 32)}

ENTRIES = [
    ZooEntry("ssd-mobilenet", "SSD-MobileNet-v1, 300x300 COCO detector (91 classes, 1917 anchors), box decoding and "
             "greedy NMS in the graph", "modelport.zoo.ssd:SSD", _image_specs, _SSD_OUT, "detection",
             {"backbone": "mobilenet"}, atol=1e-4, mlperf=MLPERF["ssd-mobilenet"], metric="detection",
             sample="one 300x300 RGB image", known_working=_ONNX_TS),
    ZooEntry("ssd-mobilenet-small", "SSD-MobileNet-v1 at width 0.25, 128x128, 11 classes, top 10 detections",
             "modelport.zoo.ssd:SSD", _image_specs, _SSD_OUT, "detection", {"backbone": "mobilenet", **_SSD_SMALL},
             atol=1e-4, mlperf=MLPERF["ssd-mobilenet"], metric="detection", sample="one 128x128 RGB image",
             known_working=_ONNX_TS),
    ZooEntry("ssd-resnet34", "SSD-ResNet34, 1200x1200 COCO detector (81 classes, 15130 anchors), NMS in the graph",
             "modelport.zoo.ssd:SSD", _image_specs, _SSD_OUT, "detection",
             {"backbone": "resnet34", "image_size": 1200, "num_classes": 81, "max_detections": 200,
              "candidates": 400, "score_threshold": 0.05}, atol=1e-4, mlperf=MLPERF["ssd-resnet34"],
             metric="detection", sample="one 1200x1200 RGB image", known_working=_ONNX_TS),
    # 400x400 is about the smallest image ResNet-34's SSD geometry takes (maps 17, 9, 5, 3, 1, 1 after the 50x50
    # backbone map; 384 leaves the fifth map empty)
    ZooEntry("ssd-resnet34-small", "SSD-ResNet34 at width 0.25, 400x400, 11 classes, top 10 detections",
             "modelport.zoo.ssd:SSD", _image_specs, _SSD_OUT, "detection",
             {"backbone": "resnet34", **_SSD_SMALL, "image_size": 400}, atol=1e-4, mlperf=MLPERF["ssd-resnet34"],
             metric="detection", sample="one 400x400 RGB image", known_working=_ONNX_TS),
    ZooEntry("3d-unet", "3D-UNet for KiTS19 (6 levels, 32-320 channels, instance norm, ConvTranspose3d), one "
             "128^3 patch; sliding-window inference outside the graph", "modelport.zoo.unet3d:UNet3D",
             _unet_specs, ("logits",), "segmentation", {"channels": (32, 64, 128, 256, 320, 320)}, atol=1e-4,
             mlperf=MLPERF["3d-unet"], metric="segmentation",
             sample="one 128^3 patch of a KiTS19 volume (MLPerf: one whole volume, slid over in 128^3 patches)",
             known_working=_ONNX_TS),
    ZooEntry("3d-unet-small", "3D-UNet, 3 levels (8-32 channels), one 32^3 patch", "modelport.zoo.unet3d:UNet3D",
             _unet_specs, ("logits",), "segmentation", {"channels": (8, 16, 32)}, atol=1e-4,
             mlperf=MLPERF["3d-unet"], metric="segmentation", sample="one 32^3 patch", known_working=_ONNX_TS),
    ZooEntry("dlrm", "DLRM (MLPerf MLPs 13-512-256-128 and 1024-1024-512-256-1, 26 embedding bags of dim 128; "
             "tables capped at 100k rows, {\"tables\": \"mlperf\"} for the MLPerf sizes)",
             "modelport.zoo.dlrm:DLRM", _dlrm_specs, ("click_probability",), "recommendation", {"tables": "small"},
             mlperf=MLPERF["dlrm"], metric="recommendation",
             sample="one user-item pair (MLPerf: one user, 100-700 pairs)", samples_fn=_dlrm_samples,
             known_working=_ONNX_TS),
    ZooEntry("dlrm-small", "DLRM, 26 bags of 1000 rows x 16, small MLPs", "modelport.zoo.dlrm:DLRM", _dlrm_specs,
             ("click_probability",), "recommendation", _DLRM_SMALL, mlperf=MLPERF["dlrm"],
             metric="recommendation", sample="one user-item pair", samples_fn=_dlrm_samples, known_working=_ONNX_TS),
    ZooEntry("rnnt", "RNN-T (LSTM encoder 2+3 x 1024 with time stacking, prediction 2 x 320, joint 512, 29 "
             "symbols); greedy decoding in Python", "modelport.zoo.rnnt:RNNT", _rnnt_specs,
             ("logits", "encoder_lengths"), "speech", mlperf=MLPERF["rnnt"], metric="speech", atol=1e-4,
             sample="one utterance up to 15 s (500 stacked frames of 240 features) and a token context",
             samples_fn=_rnnt_samples, known_working=_ONNX_TS),
    ZooEntry("gnmt", "GNMT (4+4 LSTM layers of 1024, first encoder layer bidirectional, normalised Bahdanau "
             "attention, 32k vocabulary); search in Python", "modelport.zoo.gnmt:GNMT", _gnmt_specs, ("logits",),
             "translation", mlperf=MLPERF["gnmt"], metric="translation", atol=1e-4,
             sample="one sentence of up to 50 tokens and a target context", samples_fn=_gnmt_samples,
             known_working=_ONNX_TS),
    ZooEntry("gnmt-small", "GNMT, 2+2 LSTM layers of 32, 256-token vocabulary, 12-token sentences",
             "modelport.zoo.gnmt:GNMT", _gnmt_specs, ("logits",), "translation", _GNMT_SMALL, mlperf=MLPERF["gnmt"],
             metric="translation", atol=1e-4, sample="one sentence of up to 12 tokens and a target context",
             samples_fn=_gnmt_samples, known_working=_ONNX_TS),
    ZooEntry("rnnt-small", "RNN-T, 1+1 LSTM layers of 64, prediction 32, 4 s utterances", "modelport.zoo.rnnt:RNNT",
             _rnnt_specs, ("logits", "encoder_lengths"), "speech", _RNNT_SMALL, mlperf=MLPERF["rnnt"],
             metric="speech", atol=1e-4, sample="one utterance up to 4 s (40 stacked frames of 40 features)",
             samples_fn=_rnnt_samples, known_working=_ONNX_TS),
]
