"""Helpers for the source-loader tests: run a module on seeded inputs, write user model files."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import torch

from modelport.spec import InputSpec, make_inputs


def run(module, specs: list[InputSpec], seed: int = 0, batch: int | None = None) -> tuple[torch.Tensor, ...]:
    feed = make_inputs(specs, seed, batch=batch)
    with torch.no_grad():
        out = module(*[torch.from_numpy(feed[s.name]) for s in specs])
    return out if isinstance(out, tuple) else (out,)


def assert_same_outputs(a, b, specs: list[InputSpec], seeds=(0, 1)) -> None:
    for seed in seeds:
        for x, y in zip(run(a, specs, seed), run(b, specs, seed), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)


USER_MODELS = '''
import pathlib
import torch
from torch import nn


class UserNet(nn.Module):
    def __init__(self, features: int = 8, classes: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(16, classes)

    def forward(self, x):
        return self.head(self.body(x))


MARKER = None


class Booby(nn.Module):
    """Unpickling this runs __setstate__, which leaves a marker file: proof that code from the file ran."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def __setstate__(self, state):
        pathlib.Path(state["_marker"]).write_text("code from the pickle ran")
        super().__setstate__(state)
'''


def write_user_module(directory: Path, extra: str = "") -> str:
    """Write an importable module of user models into ``directory``; return its (unique) module name."""
    name = f"user_models_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(textwrap.dedent(USER_MODELS) + extra)
    return name
