"""``zoo:NAME``: a built-in model built from code with seeded weights."""

from __future__ import annotations

from typing import Any

from torch import nn

from modelport import zoo
from modelport.manifest import SourceRecord
from modelport.sources.base import LoadedModel, finish

PREFIX = "zoo:"


def get(spec: str) -> zoo.ZooEntry:
    return zoo.get(spec.removeprefix(PREFIX))


def load(spec: str, model_args: dict[str, Any] | None, seed: int) -> LoadedModel:
    entry = get(spec)
    module = entry.build(seed=seed, model_args=model_args)
    record = SourceRecord(kind="zoo", spec=f"{PREFIX}{entry.name}", model_class=entry.model_class,
                          model_args=entry.args(model_args))
    return finish(module, entry.input_specs(model_args), list(entry.output_names), record)


def rebuild(record: SourceRecord, seed: int) -> nn.Module:
    return get(record.spec).build(seed=seed, model_args=record.model_args).eval()
