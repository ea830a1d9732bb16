"""Load a PyTorch model from any source a user has: a zoo name, a state_dict plus its class, a whole pickled
model (only with ``trust_pickle``), a TorchScript archive, a ``torch.export`` .pt2 file, or a Hugging Face
``save_pretrained`` directory.

``load_source`` gives a ``LoadedModel``: the module in ``eval()``, its input specs and output names where the
source says them, and the ``SourceRecord`` for the manifest. ``reload_source`` rebuilds the same eager module
from that record later (validators use it as the reference), after checking the file has not changed.
"""

from __future__ import annotations

import json
from typing import Any

from torch import nn

from modelport.converters.sources import zoo as zoo_source
from modelport.converters.sources.base import LoadedModel
from modelport.errors import InputError
from modelport.manifest import SourceRecord

__all__ = ["LoadedModel", "load_source", "reload_source", "detect_kind", "parse_model_args"]


def parse_model_args(text: str | None) -> dict[str, Any]:
    """Parse ``--model-args`` (a JSON object of constructor keyword arguments)."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"--model-args is not valid JSON ({e.msg} at column {e.colno})",
                         "pass a JSON object, e.g. --model-args '{\"num_classes\": 10}'") from None
    if not isinstance(value, dict):
        raise InputError(f"--model-args must be a JSON object of keyword arguments, got {type(value).__name__}",
                         "e.g. --model-args '{\"num_classes\": 10}'")
    return value


def load_source(source: str | None, *, state_dict: str | None = None, model_class: str | None = None,
                model_args: dict[str, Any] | None = None, trust_pickle: bool = False, seed: int = 0) -> LoadedModel:
    """Load the model named by ``source`` (and/or ``state_dict`` + ``model_class``), switched to eval()."""
    if source is not None and source.startswith(zoo_source.PREFIX):
        return zoo_source.load(source, model_args, seed)
    raise InputError(f"cannot load source {source!r} yet")


def reload_source(record: SourceRecord, *, trust_pickle: bool = False, seed: int = 0) -> nn.Module:
    """Rebuild the eager module a run was made from, in eval(); the source file must be unchanged."""
    if record.kind == "zoo":
        return zoo_source.rebuild(record, seed)
    raise InputError(f"unknown source kind {record.kind!r} in the manifest")
