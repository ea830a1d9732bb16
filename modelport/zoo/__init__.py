"""Built-in models, built from code with seeded weights (nothing is downloaded).

``get("resnet50").build(seed=0)`` gives an ``nn.Module`` in ``eval()``; ``.input_specs()`` its example
inputs (names, shapes, dtypes, value ranges, dynamic axes); ``.output_names`` its outputs.

A ``ZooEntry`` is also the one place that holds what the rest of modelport assumes about a zoo model unless
the user says otherwise: its task (which outputs are logits), its fp32 tolerance, and its sample definition
(the input specs: one sample is one item along axis 0). Validators, the convert gate and the benchmarks read
these fields through ``entry_for_source``; nothing keeps a copy of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from modelport.errors import InputError
from modelport.spec import InputSpec


def seeded_init(module: nn.Module, seed: int) -> nn.Module:
    """Give BatchNorm layers non-trivial statistics so that exports which mishandle them are caught."""
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return module


def import_class(spec: str) -> type[nn.Module]:
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@dataclass(frozen=True)
class ZooEntry:
    """One built-in model and its defaults (see the module docstring)."""

    name: str
    summary: str
    model_class: str  # "module:Class", importable; lets users reach the state_dict + class route
    #: the sample definition: model args -> input specs (example batch first, value ranges, dynamic axes)
    inputs: Callable[[dict[str, Any]], list[InputSpec]]
    output_names: tuple[str, ...]
    task: str  # classification | question-answering | features
    default_args: dict[str, Any] = field(default_factory=dict)
    #: fp32 atol for validation when the outputs are large enough that accumulation order alone exceeds 1e-5
    #: (like Optimum's per-model ATOL_FOR_VALIDATION); None = the dtype default.
    atol: float | None = None

    def args(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**self.default_args, **(overrides or {})}

    def build(self, seed: int = 0, model_args: dict[str, Any] | None = None) -> nn.Module:
        cls = import_class(self.model_class)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                model = cls(**self.args(model_args))
            except (TypeError, ValueError) as e:
                raise InputError(f"zoo:{self.name}: bad --model-args: {e}") from None
        return seeded_init(model, seed).eval()

    def input_specs(self, model_args: dict[str, Any] | None = None) -> list[InputSpec]:
        return self.inputs(self.args(model_args))


def _image(args: dict[str, Any], size: int) -> list[InputSpec]:
    # Normalised image pixels: roughly mean 0, std 1 after ImageNet normalisation.
    return [InputSpec("input", (2, 3, size, size), "float32", -2.0, 2.0, {0: "batch"})]


def _bert_inputs(args: dict[str, Any]) -> list[InputSpec]:
    from modelport.zoo.bert import BertConfig

    cfg = BertConfig.named(args["config"])
    axes = {0: "batch", 1: "sequence"}
    return [
        InputSpec("input_ids", (2, cfg.seq_len), "int64", 0, cfg.vocab_size, axes),
        InputSpec("attention_mask", (2, cfg.seq_len), "int64", 0, 2, axes),
        InputSpec("token_type_ids", (2, cfg.seq_len), "int64", 0, cfg.type_vocab, axes),
    ]


_ENTRIES = [
    ZooEntry("resnet50", "ResNet-50 v1.5 (torchvision layout), 224x224 ImageNet classifier, 25.6 M parameters",
             "modelport.zoo.resnet:ResNet50", lambda a: _image(a, 224), ("logits",), "classification",
             # Seeded logits reach ~200; onnxruntime's fused conv+bn differs from eager by ~1e-4 there (~5e-7 rel).
             atol=1e-3),
    ZooEntry("bert", "BERT encoder + SQuAD QA head; small config (4 layers, 256 hidden, seq 128); "
             "--model-args '{\"config\": \"large\"}' for BERT-Large (seq 384)",
             "modelport.zoo.bert:BertForQuestionAnswering", _bert_inputs, ("start_logits", "end_logits"),
             "question-answering", {"config": "small"}),
    ZooEntry("bert-small", "BERT QA, tiny config (2 layers, 64 hidden, seq 32) for tests",
             "modelport.zoo.bert:BertForQuestionAnswering", _bert_inputs, ("start_logits", "end_logits"),
             "question-answering", {"config": "tiny"}),
    ZooEntry("tiny-cnn", "two conv blocks + linear, 32x32 images, 10 classes",
             "modelport.zoo.tiny:TinyCNN", lambda a: _image(a, 32), ("logits",), "classification"),
    ZooEntry("tiny-transformer", "one pre-norm transformer block (attention + GELU MLP), dim 64",
             "modelport.zoo.tiny:TinyTransformerBlock",
             lambda a: [InputSpec("x", (2, 16, a.get("dim", 64)), "float32", -1.0, 1.0,
                                  {0: "batch", 1: "sequence"})],
             ("y",), "features"),
    ZooEntry("branchy", "a linear layer and a data-dependent branch (if x.sum() > 0); traps torch.jit.trace",
             "modelport.zoo.tiny:Branchy",
             lambda a: [InputSpec("x", (2, a.get("features", 8)), "float32", 0.0, 1.0, {0: "batch"})],
             ("y",), "features"),
]
ZOO: dict[str, ZooEntry] = {e.name: e for e in _ENTRIES}


def names() -> list[str]:
    return list(ZOO)


def entry_for_source(source_spec: str | None) -> ZooEntry | None:
    """The entry of a ``zoo:NAME`` source (its task, tolerance and samples apply); None for any other source."""
    if not source_spec or not source_spec.startswith("zoo:"):
        return None
    return get(source_spec.removeprefix("zoo:"))


def get(name: str) -> ZooEntry:
    """The entry called ``name``; an unknown name is an ``InputError`` listing the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise InputError(f"unknown zoo model {name!r}", f"known: {', '.join(ZOO)}") from None
