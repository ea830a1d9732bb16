"""The zoo's entry types: ``ZooEntry`` (one built-in model and its defaults) and ``MLPerfKeywords``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from modelport.errors import InputError
from modelport.spec import InputSpec, make_inputs


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


def scale_for_median_top1(logits: torch.Tensor, target: float) -> float:
    """The factor that gives ``logits * factor`` a median softmax top-1 probability (over dim 1) of ``target``:
    how the zoo's seeded heads are made as confident as trained ones (docs/decisions.md, "Zoo: seeded
    classifier and QA heads scored like trained ones")."""
    def median_top1(scale: float) -> float:
        return float(torch.softmax(logits * scale, dim=1).max(1).values.median())

    low, high = 0.0, 1.0
    while median_top1(high) < target and high < 1e12:  # the probability rises with the scale
        low, high = high, high * 2
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if median_top1(mid) < target else (low, mid)
    return high


@dataclass(frozen=True)
class MLPerfKeywords:
    """The MLPerf Inference rules' keywords for one benchmark model (docs/decisions.md, "Zoo: MLPerf keywords").

    Values follow the rules and the built-in ``mlperf.conf``: ``qsl_size`` is the dataset's QSL size,
    ``performance_sample_count`` mlperf.conf's ``performance_sample_count_override`` (0 = the whole QSL),
    ``server_latency_ms`` the Server scenario's latency constraint (None: no Server scenario for this model).
    """

    area: str
    task: str
    model: str
    dataset: str
    qsl_size: int
    performance_sample_count: int
    quality_target: str
    server_latency_ms: float | None
    datacenter_scenarios: tuple[str, ...]
    edge_scenarios: tuple[str, ...]

    def scenarios(self, suite: str) -> tuple[str, ...]:
        """The scenarios a submission of ``suite`` ("datacenter" or "edge") must run."""
        if suite not in ("datacenter", "edge"):
            raise InputError(f"unknown suite {suite!r}", "use datacenter or edge")
        return self.datacenter_scenarios if suite == "datacenter" else self.edge_scenarios

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


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
    #: the MLPerf Inference keywords of the benchmark this model stands for (None: not an MLPerf model)
    mlperf: MLPerfKeywords | None = None
    #: the task metric ``validate --min-agreement`` and the bench accuracy check use
    #: (``modelport.validators.task_metrics.METRICS``); None = top-k agreement of the logits
    metric: str | None = None
    #: what one sample is, in words (the batch axis of every input counts samples)
    sample: str = "one row along axis 0 of every input"
    #: realistic inputs: (model args, n samples, seed) -> feed; None = seeded uniform values from the input specs
    samples_fn: Callable[[dict[str, Any], int, int], dict[str, Any]] | None = None
    #: the targets/opsets this entry is known to export and validate at (filled by tests and bench/zoo.py)
    known_working: tuple[str, ...] = ()
    #: (model, model args) -> None, run by ``build`` after ``seeded_init``: gives the seeded weights a trained
    #: model's statistics from a fixed seed (docs/decisions.md, "Zoo: seeded classifier and QA heads scored like
    #: trained ones"); after, because it sets BatchNorm statistics ``seeded_init`` would overwrite
    calibrate: Callable[[nn.Module, dict[str, Any]], None] | None = None

    def args(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**self.default_args, **(overrides or {})}

    def build(self, seed: int = 0, model_args: dict[str, Any] | None = None) -> nn.Module:
        cls = import_class(self.model_class)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                model = cls(**self.args(model_args))
            except (TypeError, ValueError, RuntimeError) as e:  # RuntimeError: torch refusing a size (num_classes -1)
                raise InputError(f"zoo:{self.name}: bad --model-args: {' '.join(str(e).split())}") from None
            seeded_init(model, seed)
            if self.calibrate is not None:
                self.calibrate(model, self.args(model_args))
        return model.eval()

    def input_specs(self, model_args: dict[str, Any] | None = None) -> list[InputSpec]:
        return self.inputs(self.args(model_args))

    def samples_fit(self, specs: list[InputSpec], model_args: dict[str, Any] | None = None, seed: int = 0) -> bool:
        """Whether this entry has a realistic generator whose samples match ``specs`` (every input, every axis
        but the batch): the model args, or the specs a run was exported with, may have changed them."""
        if self.samples_fn is None:
            return False
        first = self.samples(1, seed, model_args)
        return all(s.name in first and first[s.name].shape[1:] == s.shape[1:] for s in specs)

    def samples(self, n: int, seed: int = 0, model_args: dict[str, Any] | None = None) -> dict[str, Any]:
        """``n`` realistic samples as a feed (numpy arrays by input name), seeded."""
        args = self.args(model_args)
        if self.samples_fn is not None:
            return self.samples_fn(args, n, seed)
        return make_inputs(self.inputs(args), seed, batch=n)
