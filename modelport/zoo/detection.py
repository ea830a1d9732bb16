"""SSD detection post-processing written with plain tensor ops: anchors, box decoding and greedy NMS.

Non-maximum suppression runs *inside* the graph as a fixed number of greedy steps (docs/decisions.md, "Zoo:
NMS in the graph"): each step takes the highest-scoring live candidate and suppresses every candidate of
the same class that overlaps it by more than ``iou_threshold``. ``max_detections`` steps give exactly the
first ``max_detections`` picks of the reference's greedy per-class NMS, with fixed output shapes, using
only ops every exporter carries (TopK, Gather, ArgMax, Where). ONNX ``NonMaxSuppression`` is not used: torch
has no op that exports to it without torchvision (not a dependency), a Python loop would be frozen by
``torch.jit.trace``, and its variable-length output would make the artifact's output shape data-dependent.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


def ssd_anchors(sizes: list[int], scales: list[float], ratios: list[list[float]]) -> torch.Tensor:
    """Default boxes (cx, cy, w, h), normalised, one row per (map cell, ratio); SSD's scheme: per map, a box
    per aspect ratio at its scale; the ratio 0 stands for SSD's extra square box at sqrt(scale * next scale)."""
    out = []
    for k, (size, rs) in enumerate(zip(sizes, ratios, strict=True)):
        s, s_next = scales[k], scales[k + 1]
        shapes = [(s * math.sqrt(r), s / math.sqrt(r)) if r else (math.sqrt(s * s_next),) * 2 for r in rs]
        for i in range(size):
            for j in range(size):
                cx, cy = (j + 0.5) / size, (i + 0.5) / size
                out += [(cx, cy, w, h) for w, h in shapes]
    return torch.tensor(out, dtype=torch.float32)


def decode_boxes(loc: torch.Tensor, anchors: torch.Tensor, variances: tuple[float, float] = (0.1, 0.2)) -> torch.Tensor:
    """(B, N, 4) offsets -> (B, N, 4) boxes (x1, y1, x2, y2) normalised, as the SSD reference decodes them."""
    cxcy = anchors[:, :2] + loc[..., :2] * variances[0] * anchors[:, 2:]
    wh = anchors[:, 2:] * torch.exp(loc[..., 2:] * variances[1])
    return torch.cat([cxcy - wh / 2, cxcy + wh / 2], dim=-1)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` (B, N, 4) with every box of ``b`` (B, M, 4): (B, N, M)."""
    lt = torch.maximum(a[:, :, None, :2], b[:, None, :, :2])
    rb = torch.minimum(a[:, :, None, 2:], b[:, None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(dim=-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(dim=-1)
    return inter / (area_a[:, :, None] + area_b[:, None, :] - inter + 1e-9)


class DetectionPostprocess(nn.Module):
    """Scores (B, N, C) with class 0 the background, boxes (B, N, 4) -> the top ``max_detections`` of greedy
    per-class NMS: boxes (B, K, 4), scores (B, K), classes (B, K) int64; empty slots hold 0 / 0 / 0."""

    def __init__(self, max_detections: int = 100, candidates: int = 200, iou_threshold: float = 0.6,
                 score_threshold: float = 0.3) -> None:
        super().__init__()
        self.k, self.candidates = max_detections, candidates
        self.iou_threshold, self.score_threshold = iou_threshold, score_threshold

    def forward(self, boxes: torch.Tensor, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        fg = scores[:, :, 1:]
        classes = fg.shape[2]
        flat = fg.reshape(fg.shape[0], -1)
        top_s, top_i = flat.topk(min(self.candidates, flat.shape[1]), dim=1)
        anchor, cls = top_i // classes, top_i % classes + 1
        cand = torch.gather(boxes, 1, anchor.unsqueeze(-1).expand(-1, -1, 4))
        # per-class NMS in one pass: boxes of different classes are moved apart so they never overlap
        shifted = cand + cls.unsqueeze(-1).to(cand.dtype) * 4.0
        overlap = pairwise_iou(shifted, shifted) > self.iou_threshold
        alive = top_s > self.score_threshold
        picks, valid = [], []
        for _ in range(self.k):  # fixed count: traced and exported as-is (see the module docstring)
            best_s, best = torch.where(alive, top_s, torch.full_like(top_s, -1.0)).max(dim=1)
            ok = best_s > self.score_threshold
            row = torch.gather(overlap, 1, best.view(-1, 1, 1).expand(-1, 1, overlap.shape[2])).squeeze(1)
            alive = alive & ~row
            picks.append(best)
            valid.append(ok)
        idx, ok = torch.stack(picks, 1), torch.stack(valid, 1)
        out_boxes = torch.gather(cand, 1, idx.unsqueeze(-1).expand(-1, -1, 4)) * ok.unsqueeze(-1).to(cand.dtype)
        out_scores = torch.gather(top_s, 1, idx) * ok.to(top_s.dtype)
        out_classes = torch.gather(cls, 1, idx) * ok.to(cls.dtype)
        return out_boxes, out_scores, out_classes


class SSDHead(nn.Module):
    """One conv per feature map for box offsets and one for class scores, concatenated over maps."""

    def __init__(self, channels: list[int], anchors: list[int], num_classes: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.num_classes = num_classes
        self.loc = nn.ModuleList(nn.Conv2d(c, a * 4, kernel, padding=pad) for c, a in zip(channels, anchors,
                                                                                           strict=True))
        self.conf = nn.ModuleList(nn.Conv2d(c, a * num_classes, kernel, padding=pad)
                                  for c, a in zip(channels, anchors, strict=True))

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        b = feats[0].shape[0]
        locs, confs = [], []
        # indexed loops over ModuleLists: the one form torch.jit.script compiles (scripted models freeze and
        # optimise for inference; docs/decisions.md, "Zoo: scriptable forwards")
        for i, (lo, co) in enumerate(zip(self.loc, self.conf)):  # noqa: B905 - TorchScript has no strict=
            locs.append(lo(feats[i]).permute(0, 2, 3, 1).reshape(b, -1, 4))
            confs.append(co(feats[i]).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes))
        return torch.cat(locs, 1), torch.cat(confs, 1)


def calibration_features(backbone: nn.Module, size: int) -> list[torch.Tensor]:
    """The feature maps of one seeded ``size`` x ``size`` image, uniform in [-1, 1] like the zoo's image samples
    (its own generator: the caller's random stream is untouched). Their sides size the anchors, and
    ``calibrate_head`` scales the head on them."""
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(_CALIBRATION_SEED)) * 2 - 1
    with torch.no_grad():
        return list(backbone.eval()(image))


_CALIBRATION_SEED = 1234


def calibrate_head(head: SSDHead, feats: list[torch.Tensor], scores_of: Callable[[torch.Tensor], torch.Tensor],
                   threshold: float, expected: float, spread: float) -> None:
    """Give seeded head weights the output statistics of a trained SSD head (docs/decisions.md, "Zoo: seeded SSD
    heads scored like trained ones"), measured on ``feats`` (one image):

    - box offsets of unit standard deviation on every map (SSD's variances make trained offsets about unit);
    - class logits (background excluded) of standard deviation ``spread`` on every map, so the candidates'
      scores spread over (0, 1) instead of sitting in a band where float noise reorders NMS picks;
    - one foreground bias, found by bisection, that puts about ``expected`` (anchor, class) candidates of the
      image above ``threshold``: the background dominates every other anchor, as in a trained detector.
    """
    c = head.num_classes
    with torch.no_grad():
        for lo, co, f in zip(head.loc, head.conf, feats, strict=True):
            for conv, keep in ((lo, None), (co, c)):
                conv.bias.zero_()
                out = conv(f).permute(0, 2, 3, 1).reshape(-1, keep or 4)
                scale = (spread / out[:, 1:].std()) if keep else 1.0 / out.std()
                conv.weight.mul_(scale)
        _, conf = head(feats)
        fg = torch.arange(c) > 0

        def above(bias: float) -> int:
            return int((scores_of(conf + bias * fg)[..., 1:] > threshold).sum())

        low, high = -100.0, 100.0
        for _ in range(60):  # above() rises with the bias: bisect to the count
            mid = (low + high) / 2
            low, high = (mid, high) if above(mid) < expected else (low, mid)
        for co in head.conf:
            co.bias.copy_(fg.repeat(co.bias.numel() // c) * high)


def map_sizes(feats: list[torch.Tensor]) -> list[int]:
    """The side of each feature map."""
    return [int(f.shape[-1]) for f in feats]


def linear_scales(n: int, low: float = 0.2, high: float = 0.95) -> list[float]:
    """SSD's scales, evenly spaced from ``low`` to ``high``, plus one past the last for the extra square box."""
    step = (high - low) / max(n - 1, 1)
    return [low + step * k for k in range(n + 1)]
