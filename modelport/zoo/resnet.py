"""ResNet-50 v1.5 in the torchvision layout, written with torch.nn only.

v1.5 puts the stride-2 of each downsampling bottleneck on the 3x3 convolution (v1 has it on the first 1x1),
as torchvision and the MLPerf reference model do. Parameter names match torchvision's, so a torchvision
state_dict loads into it.

Seeded weights are made to score like a trained classifier (``calibrate_seeded``, applied by the zoo's build
after its BatchNorm init) on ``natural_images``, the zoo's image samples (docs/decisions.md, "Zoo: seeded
classifier and QA heads scored like trained ones").
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from modelport.zoo.entry import scale_for_median_top1


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, num_classes: int = 1000, layers: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        super().__init__()
        self.in_ch = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(64, layers[0], 1)
        self.layer2 = self._stage(128, layers[1], 2)
        self.layer3 = self._stage(256, layers[2], 2)
        self.layer4 = self._stage(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, width: int, blocks: int, stride: int) -> nn.Sequential:
        out_ch = width * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.in_ch != out_ch:
            downsample = nn.Sequential(nn.Conv2d(self.in_ch, out_ch, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(out_ch))
        layers = [Bottleneck(self.in_ch, width, stride, downsample)]
        self.in_ch = out_ch
        layers += [Bottleneck(out_ch, width) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def calibrate_seeded(self, images: torch.Tensor, top1_probability: float = 0.8,
                         residual_scale: float = 0.2) -> None:
        """Give seeded weights a trained classifier's statistics on ``images`` (seeded, never the gate's;
        docs/decisions.md, "Zoo: seeded classifier and QA heads scored like trained ones"):

        - each residual branch ends in a small BatchNorm scale (``residual_scale`` times the seeded one), as
          trained ResNets do (zero-initialised there for training), so a block refines its input instead of
          burying it under 16 layers of noise;
        - BatchNorm running statistics are the batch statistics of ``images``, as training leaves them (the
          affine weights stay as seeded): with made-up statistics nothing is normalised, ReLU means pile up
          through depth and 98% of the pooled feature is a constant every input shares;
        - the classifier's rows lie in the span of the images' centred pooled features (random coefficients,
          from the zoo's seed), as a linear classifier trained from zero does, so logits follow the feature
          directions along which images differ; it is centred (bias = -W mean) and scaled so that the median
          softmax top-1 probability on images it was not built from is ``top1_probability`` (a trained
          ResNet-50 on ImageNet's validation set: about 0.8).
        """
        batchnorms = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [m.momentum for m in batchnorms]
        with torch.no_grad():
            for block in self.modules():
                if isinstance(block, Bottleneck):
                    block.bn3.weight.mul_(residual_scale)
        for m in batchnorms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one batch leaves exactly its statistics
        pooled: list[torch.Tensor] = []
        hook = self.avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(torch.flatten(out, 1)))
        self.train()
        with torch.no_grad():
            # one pass: train mode normalises each layer with the statistics it records, so every layer
            # downstream, and the pooled feature, sees what eval mode will give on these images
            self(images)
        self.eval()
        hook.remove()
        for m, momentum in zip(batchnorms, momenta, strict=True):
            m.momentum = momentum
        with torch.no_grad():
            feats = pooled[0]
            centred = feats - feats.mean(0)
            # rows in the span of half the images; scaled on the other half, images the head was not built
            # from, as a trained model's confidence is quoted on held-out images
            half = len(images) // 2
            weight = torch.randn(self.fc.out_features, half) @ centred[:half]
            logits = centred[half:] @ weight.T

            high = scale_for_median_top1(logits, top1_probability)
            self.fc.weight.copy_(weight * high)
            self.fc.bias.copy_(-(self.fc.weight @ feats.mean(0)))


def natural_images(n: int, size: int, seed: int) -> np.ndarray:
    """``n`` seeded ``size`` x ``size`` RGB images with the statistics of normalised photographs: a 1/f^2 power
    spectrum (natural images' scale invariance), luminance plus two colour-opponent channels, and a brightness,
    colour cast and contrast of their own, clipped to [-2, 2]. Uniform noise is not a stand-in: every
    white-noise image has the same statistics, so a pooled feature barely tells two of them apart."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(size)[:, None], np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    amplitude = np.where(radius > 0, 1.0 / np.maximum(radius, 1e-9), 0.0)  # power 1/f^2; no DC (set below)
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        shape = (3, *amplitude.shape)
        spectra = amplitude * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))  # random phases
        lum, red_green, blue_yellow = (f / f.std() for f in np.fft.irfft2(spectra, s=(size, size)))
        rg, by = rng.uniform(0.2, 0.6, 2)
        rgb = np.stack([lum + rg * red_green, lum - rg * red_green + by * blue_yellow, lum - by * blue_yellow])
        rgb *= rng.uniform(0.5, 1.1) / rgb.std(axis=(1, 2), keepdims=True)
        out[i] = np.clip(rgb + rng.normal(0.0, 0.4, (3, 1, 1)), -2.0, 2.0)
    return out
