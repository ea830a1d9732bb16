"""3D-UNet for KiTS19 (MLPerf Inference): Conv3d + instance norm + leaky ReLU, strided-conv downsampling,
ConvTranspose3d upsampling, skip connections, 3 classes (background, kidney, tumour).

The exported graph takes one 128^3 patch (the reference's ROI); the reference's sliding-window inference over
a whole volume (50% overlap, Gaussian importance weighting) stays outside the graph, in
``sliding_window`` below, which takes any runner's ``infer`` (docs/decisions.md, "Zoo: 3D-UNet sliding window
outside the graph"). One MLPerf sample is one KiTS19 volume; one modelport sample is one patch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.InstanceNorm3d(cout, affine=True),
                         nn.LeakyReLU(0.01, inplace=True), nn.Conv3d(cout, cout, 3, 1, 1, bias=False),
                         nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01, inplace=True))


class UNet3D(nn.Module):
    """``channels`` per level; the MLPerf model uses (32, 64, 128, 256, 320, 320)."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 256, 320, 320), in_channels: int = 1,
                 num_classes: int = 3) -> None:
        super().__init__()
        self.down = nn.ModuleList([_block(in_channels, channels[0], 1)])
        self.down.extend(_block(channels[i - 1], channels[i], 2) for i in range(1, len(channels)))
        self.up = nn.ModuleList(nn.ConvTranspose3d(channels[i], channels[i - 1], 2, 2)
                                for i in range(len(channels) - 1, 0, -1))
        self.merge = nn.ModuleList(_block(2 * channels[i - 1], channels[i - 1], 1)
                                   for i in range(len(channels) - 1, 0, -1))
        self.output = nn.Conv3d(channels[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()
        for up, merge in zip(self.up, self.merge):  # noqa: B905 - TorchScript has no strict=
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.output(x)


def _gaussian(patch: int) -> np.ndarray:
    ax = np.arange(patch) - (patch - 1) / 2
    g = np.exp(-(ax**2) / (2 * (patch / 8) ** 2))
    w = g[:, None, None] * g[None, :, None] * g[None, None, :]
    return (w / w.max()).astype(np.float32)


def sliding_window(infer: Callable[[np.ndarray], np.ndarray], volume: np.ndarray, patch: int,
                   num_classes: int = 3, overlap: float = 0.5) -> np.ndarray:
    """Class logits of a whole (1, C, D, H, W) volume from ``infer`` on (1, C, patch^3) patches, averaged with
    Gaussian weights where patches overlap, as the MLPerf reference does; each axis must be >= ``patch``."""
    shape = volume.shape[2:]
    if any(s < patch for s in shape):
        raise ValueError(f"volume {list(shape)} is smaller than the {patch}^3 patch; pad it first")
    step = max(1, int(patch * (1 - overlap)))
    starts = [sorted({*range(0, s - patch + 1, step), s - patch}) for s in shape]
    out = np.zeros((1, num_classes, *shape), np.float32)
    norm = np.zeros(shape, np.float32)
    weight = _gaussian(patch)
    for z in starts[0]:
        for y in starts[1]:
            for x in starts[2]:
                win = (slice(z, z + patch), slice(y, y + patch), slice(x, x + patch))
                out[(slice(None), slice(None), *win)] += infer(volume[(slice(None), slice(None), *win)]) * weight
                norm[win] += weight
    return out / norm
