"""Small models for the convert tests; each exercises one exporter behaviour (docs/decisions.md, "Convert
acceptance cases")."""

from __future__ import annotations

import torch
from torch import nn


class Triu(nn.Module):
    """Uses torch.triu: the TorchScript exporter lowers it only from opset 14 (ONNX Trilu)."""

    def __init__(self, n: int = 6) -> None:
        super().__init__()
        self.linear = nn.Linear(n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.triu(self.linear(x)) + 1


class QR(nn.Module):
    """Uses torch.linalg.qr, which no ONNX exporter lowers."""

    def __init__(self, n: int = 4) -> None:
        super().__init__()
        self.linear = nn.Linear(n, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.qr(self.linear(x))[0]


class HardBatch(nn.Module):
    """``view(2, -1)`` bakes the example batch of 2 into the graph: the batch axis cannot be dynamic."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(48, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.view(2, -1))


class TrainMode(nn.Module):
    """Dropout + BatchNorm, handed over in train() mode: exports differ unless switched to eval()."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 4))
        with torch.no_grad():
            self.net[1].running_mean.uniform_(-0.5, 0.5)
            self.net[1].running_var.uniform_(0.5, 1.5)
        self.train()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
