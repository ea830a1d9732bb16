"""The MLPerf Inference keywords of each benchmark model, as data (docs/decisions.md, "Zoo: MLPerf keywords").

Sources: the MLPerf Inference rules (benchmark table: area, task, dataset, quality target, Server latency
constraint, required scenarios per suite) and the built-in ``modelport/loadgen/mlperf.conf``
(``performance_sample_count_override``, ``Server.target_latency``). Retired benchmarks (SSD-MobileNet,
SSD-ResNet34, GNMT) keep the values of the last round that ran them.
"""

from __future__ import annotations

from modelport.zoo.entry import MLPerfKeywords

_DC = ("Server", "Offline")
_EDGE = ("SingleStream", "MultiStream", "Offline")
_EDGE_NO_MS = ("SingleStream", "Offline")

MLPERF: dict[str, MLPerfKeywords] = {
    "resnet50": MLPerfKeywords(
        "vision", "image classification", "ResNet50-v1.5", "ImageNet 2012 (224x224)", 50000, 1024,
        "99% of FP32 (76.46% top-1)", 15.0, _DC, _EDGE),
    "ssd-mobilenet": MLPerfKeywords(
        "vision", "object detection (small)", "SSD-MobileNets-v1", "COCO 2017 (300x300)", 5000, 256,
        "99% of FP32 (0.22 mAP)", None, (), _EDGE),
    "ssd-resnet34": MLPerfKeywords(
        "vision", "object detection (large)", "SSD-ResNet34", "COCO 2017 (1200x1200)", 5000, 64,
        "99% of FP32 (0.20 mAP)", 100.0, _DC, _EDGE),
    # 43 volumes: the reference's inference set (42 KiTS19 cases and case_00400, a copy of case_00185), which the
    # submission checker requires as the performance sample count (>= 43) and mlperf.conf's Offline
    # min_query_count matches; 0: the whole QSL (mlperf.conf)
    "3d-unet": MLPerfKeywords(
        "vision", "medical image segmentation", "3D-UNet", "KiTS 2019", 43, 0,
        "99% and 99.9% of FP32 (0.86330 mean DICE)", None, ("Offline",), _EDGE_NO_MS),
    "rnnt": MLPerfKeywords(
        "speech", "speech-to-text", "RNN-T", "LibriSpeech dev-clean (samples < 15 s)", 2513, 2513,
        "99% of FP32 (1 - WER, WER = 7.452%)", 1000.0, _DC, _EDGE_NO_MS),
    "bert": MLPerfKeywords(
        "language", "question answering", "BERT-Large", "SQuAD v1.1 (max_seq_len 384)", 10833, 10833,
        "99% and 99.9% of FP32 (F1 90.874%)", 130.0, _DC, _EDGE_NO_MS),
    "dlrm": MLPerfKeywords(
        "commerce", "recommendation", "DLRM", "Criteo 1TB Click Logs (multi-hot)", 204800, 204800,
        "99% and 99.9% of FP32 (AUC 80.31%)", 60.0, _DC, ()),
    "gnmt": MLPerfKeywords(
        "language", "machine translation", "GNMT", "WMT16 EN-DE (newstest2014)", 3003, 3003,
        "99% of FP32 (23.9 SacreBLEU)", 250.0, _DC, _EDGE_NO_MS),
}
