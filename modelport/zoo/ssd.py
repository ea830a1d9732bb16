"""SSD detectors of MLPerf Inference: SSD-MobileNet-v1 (300x300, 91 COCO classes, 1917 anchors) and
SSD-ResNet34 (1200x1200, 81 classes, 15130 anchors), with box decoding and NMS in the graph
(``zoo.detection``).

Outputs: ``detection_boxes`` (B, K, 4) normalised x1, y1, x2, y2; ``detection_scores`` (B, K);
``detection_classes`` (B, K) int64, 0 for an empty slot. One sample is one image.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from modelport.zoo.detection import (
    DetectionPostprocess,
    SSDHead,
    calibrate_head,
    calibration_features,
    decode_boxes,
    linear_scales,
    map_sizes,
    ssd_anchors,
)
from modelport.zoo.entry import seeded_init


def _conv_bn(cin: int, cout: int, stride: int, groups: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class MobileNetV1Features(nn.Module):
    """MobileNet-v1 (depthwise-separable convs) to conv13, then SSD's extra layers: six maps (19, 10, 5, 3, 2,
    1 at 300x300), from conv11 and conv13 as in the TensorFlow reference."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = [max(8, int(ch * width)) for ch in (32, 64, 128, 128, 256, 256, 512, 512, 1024, 1024)]
        plan = [(c[0], c[1], 1), (c[1], c[2], 2), (c[2], c[3], 1), (c[3], c[4], 2), (c[4], c[5], 1),
                (c[5], c[6], 2)] + [(c[6], c[6], 1)] * 5
        layers = [_conv_bn(3, c[0], 2)]
        for cin, cout, stride in plan:
            layers += [_conv_bn(cin, cin, stride, groups=cin), _conv_bn(cin, cout, 1, kernel=1)]
        self.to_conv11 = nn.Sequential(*layers)
        self.to_conv13 = nn.Sequential(_conv_bn(c[6], c[6], 2, groups=c[6]), _conv_bn(c[6], c[8], 1, kernel=1),
                                       _conv_bn(c[8], c[8], 1, groups=c[8]), _conv_bn(c[8], c[9], 1, kernel=1))
        extra = [max(8, int(ch * width)) for ch in (512, 256, 256, 128)]
        prev, self.extras = c[9], nn.ModuleList()
        for ch in extra:
            self.extras.append(nn.Sequential(_conv_bn(prev, ch // 2, 1, kernel=1), _conv_bn(ch // 2, ch, 2)))
            prev = ch
        self.channels = [c[6], c[9], *extra]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f11 = self.to_conv11(x)
        feats = [f11, self.to_conv13(f11)]
        for layer in self.extras:
            feats.append(layer(feats[-1]))
        return feats


class _Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.down(x))


class ResNet34Features(nn.Module):
    """ResNet-34 to layer3 with layer3's stride removed (the MLPerf reference), then five extra blocks: six
    maps (50, 25, 13, 7, 3, 3 at 1200x1200)."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        w = [max(8, int(ch * width)) for ch in (64, 128, 256, 512, 256)]
        blocks: list[nn.Module] = [nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True),
                                   nn.MaxPool2d(3, 2, 1)]
        for cin, cout, n, stride in ((w[0], w[0], 3, 1), (w[0], w[1], 4, 2), (w[1], w[2], 6, 1)):
            blocks += [_Basic(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)]
        self.backbone = nn.Sequential(*blocks)
        self.channels = [w[2], w[3], w[3], w[4], w[4], w[4]]
        # 150x150 -> 50x50 (stride 3), then 25, 13, 7, 3, 3: (stride, padding) of each extra block
        self.to_first = nn.Sequential(nn.Conv2d(w[2], w[2], 3, 3, 1, bias=False), nn.BatchNorm2d(w[2]), nn.ReLU())
        self.extras = nn.ModuleList()
        for k, (stride, pad) in enumerate(((2, 1), (2, 1), (2, 1), (2, 0), (1, 1))):
            cin, cout = self.channels[k], self.channels[k + 1]
            self.extras.append(nn.Sequential(nn.Conv2d(cin, cout // 2, 1), nn.ReLU(inplace=True),
                                             nn.Conv2d(cout // 2, cout, 3, stride, pad), nn.ReLU(inplace=True)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.to_first(self.backbone(x))]
        for layer in self.extras:
            feats.append(layer(feats[-1]))
        return feats


class SSD(nn.Module):
    """A feature extractor, SSD's box and class heads, box decoding and in-graph NMS.

    Seeded like a trained detector (``zoo.detection.calibrate_head``): on one seeded image about
    ``expected_candidates`` (anchor, class) pairs score above ``score_threshold``, with foreground logits of
    standard deviation ``logit_spread`` per map."""

    def __init__(self, backbone: str = "mobilenet", image_size: int = 300, num_classes: int = 91,
                 width: float = 1.0, max_detections: int = 100, candidates: int = 200,
                 score_threshold: float = 0.3, expected_candidates: float = 12.0, logit_spread: float = 2.0) -> None:
        super().__init__()
        if backbone not in ("mobilenet", "resnet34"):
            raise ValueError(f"unknown SSD backbone {backbone!r}; known: mobilenet, resnet34")
        self.features = MobileNetV1Features(width) if backbone == "mobilenet" else ResNet34Features(width)
        _he_init(self.features)
        # the zoo's BatchNorm statistics now (build applies the same ones again: a no-op), so that the head is
        # calibrated on the backbone the artifact has (docs/decisions.md, "Zoo: seeded SSD heads scored like
        # trained ones")
        seeded_init(self.features, torch.initial_seed())
        feats = calibration_features(self.features, image_size)
        sizes = map_sizes(feats)
        six, four = [1.0, 2.0, 0.5, 3.0, 1 / 3, 0.0], [1.0, 2.0, 0.5, 0.0]  # 0.0: SSD's extra square box
        if backbone == "mobilenet":  # TF ssd_mobilenet_v1: 3 boxes on the first map, 6 on the others
            ratios = [[1.0, 2.0, 0.5]] + [six] * (len(sizes) - 1)
        else:  # MLPerf SSD-ResNet34: 4, 6, 6, 6, 4, 4 boxes per cell
            ratios = [four, six, six, six, four, four]
        self.head = SSDHead(self.features.channels, [len(r) for r in ratios], num_classes,
                            kernel=1 if backbone == "mobilenet" else 3)
        calibrate_head(self.head, feats, lambda conf: class_scores(conf, backbone == "mobilenet"), score_threshold,
                       expected_candidates, logit_spread)
        self.register_buffer("anchors", ssd_anchors(sizes, linear_scales(len(sizes)), ratios), persistent=False)
        self.postprocess = DetectionPostprocess(max_detections, candidates, 0.6 if backbone == "mobilenet" else 0.5,
                                                score_threshold)
        self.backbone = backbone

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loc, conf = self.head(self.features(image))
        boxes = decode_boxes(loc, self.anchors)
        return self.postprocess(boxes, class_scores(conf, self.backbone == "mobilenet"))


def class_scores(conf: torch.Tensor, sigmoid: bool) -> torch.Tensor:
    """TF SSD-MobileNet scores each class with a sigmoid; the ResNet34 reference uses a softmax."""
    return torch.sigmoid(conf) if sigmoid else torch.softmax(conf, dim=-1)


def _he_init(features: nn.Module) -> None:
    """He-normal convolutions (fan-in over the group, as torchvision's backbones start from): with PyTorch's
    default init the seeded backbone lost the image after a few layers (every anchor's features were the same
    to 3 digits on every input), so no head could score anchors apart."""
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / m.weight[0].numel()))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
