"""Load a PyTorch model from any source a user has: a zoo name, a state_dict plus its class, a whole pickled
model (only with ``trust_pickle``), a TorchScript archive, a ``torch.export`` .pt2 file, or a Hugging Face
``save_pretrained`` directory.

``load_source`` gives a ``LoadedModel``: the module in ``eval()``, its input specs and output names where the
source says them, and the ``SourceRecord`` for the manifest. ``reload_source`` rebuilds the same eager module
from that record later (validators use it as the reference), after checking the file has not changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from modelport.errors import InputError
from modelport.manifest import SourceRecord
from modelport.sources import hf, pickled, pt2, torchscript
from modelport.sources import state_dict as state_dict_source
from modelport.sources import zoo as zoo_source
from modelport.sources.base import LoadedModel, existing_path, verify_sha256
from modelport.sources.detect import detect_kind
from modelport.sources.metadata import EXTRA_FILE as METADATA_FILE
from modelport.sources.metadata import dumps as metadata_json

__all__ = ["LoadedModel", "load_source", "reload_source", "copy_source_files", "detect_kind", "parse_model_args",
           "METADATA_FILE", "metadata_json"]

_NEEDS_CLASS_HINT = "pass --model-class MODULE:CLASS (or path/to/file.py:CLASS), and --model-args JSON if needed"


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
                model_args: dict[str, Any] | None = None, trust_pickle: bool = False, trust_remote_code: bool = False,
                seed: int = 0, task: str | None = None) -> LoadedModel:
    """Load the model named by ``source`` (and/or ``state_dict`` + ``model_class``), switched to eval().

    ``zoo:NAME`` builds a zoo model (``state_dict`` then loads weights into it). With ``model_class`` the
    weights come from ``state_dict``, or from ``source`` when only that is given. Otherwise the kind of
    ``source`` is detected from its contents: TorchScript, .pt2, Hugging Face directory, or a pickled model.
    ``task`` (a Hugging Face task name, see ``hf_tasks.TASKS``) applies to a Hugging Face directory only.
    """
    is_zoo = source is not None and source.startswith(zoo_source.PREFIX)
    if task is not None and (is_zoo or model_class is not None or state_dict is not None):
        raise InputError(f"--task {task} applies to a Hugging Face save_pretrained directory, not to "
                         f"{'a zoo model' if is_zoo else '--model-class/--state-dict'}", "leave out --task")
    if is_zoo and model_class is not None:
        raise InputError("give either zoo:NAME or --model-class, not both",
                         "zoo:NAME --state-dict FILE loads your weights into the zoo model")
    if is_zoo and state_dict is None:
        assert source is not None
        return zoo_source.load(source, model_args, seed)
    spec = source
    if is_zoo:
        assert source is not None
        model_class = zoo_source.get(source).model_class
        model_args = zoo_source.get(source).args(model_args)
        source = None
    if model_class is not None:
        if state_dict is not None and source is not None:
            raise InputError(f"both SOURCE {source!r} and --state-dict {state_dict!r} were given as the weights",
                             "give the state_dict file once, with --state-dict")
        weights = state_dict or source
        if weights is None:
            raise InputError("--model-class needs the weights to load into it", "pass --state-dict FILE")
        return state_dict_source.load(spec or weights, weights, model_class, model_args, trust_pickle)
    if state_dict is not None:
        raise InputError(f"--state-dict {state_dict!r} needs the class its weights belong to", _NEEDS_CLASS_HINT)
    if source is None:
        raise InputError("no model source given", "pass zoo:NAME, a model file or directory, or --state-dict FILE "
                         "--model-class MODULE:CLASS")
    path = existing_path(source)
    kind = detect_kind(path)
    if task is not None and kind != "hf":
        raise InputError(f"--task {task} applies to a Hugging Face save_pretrained directory; {source!r} is a {kind}",
                         "leave out --task")
    if kind == "state_dict":
        raise InputError(f"{source!r} is a state_dict (weights only) and does not say which model it belongs to",
                         _NEEDS_CLASS_HINT)
    if kind == "pickle":
        return pickled.load(source, path, trust_pickle)
    if kind == "torchscript":
        return torchscript.load(source, path)
    if kind == "pt2":
        return pt2.load(source, path, trust_pickle)
    return hf.load(source, path, trust_remote_code, task)


def copy_source_files(record: SourceRecord, run_dir: Path) -> None:
    """Copy what a user needs beside the artifacts from the source into ``run_dir`` (a Hugging Face directory's
    tokenizer/processor files and configs) and record their paths in ``record.files``."""
    if record.kind == "hf" and record.path:
        record.files = hf.copy_files(Path(record.path), run_dir)


def reload_source(record: SourceRecord, *, trust_pickle: bool = False, trust_remote_code: bool = False,
                  seed: int = 0) -> nn.Module:
    """Rebuild the eager module a run was made from, in eval(); the source file must be unchanged.

    A pickled model needs ``trust_pickle`` again, a Hugging Face directory with its own code
    ``trust_remote_code``: a manifest alone is no consent to run a file's code.
    """
    if record.kind == "zoo":
        return zoo_source.rebuild(record, seed)
    if record.kind not in ("state_dict", "pickle", "torchscript", "pt2", "hf"):
        raise InputError(f"unknown source kind {record.kind!r} in the manifest", "re-run modelport convert")
    path = verify_sha256(record)
    if record.kind == "state_dict":
        return state_dict_source.rebuild(record, path, trust_pickle)
    if record.kind == "pickle":
        return pickled.rebuild(path, trust_pickle)
    if record.kind == "torchscript":
        return torchscript.rebuild(path)
    if record.kind == "pt2":
        return pt2.rebuild(path, trust_pickle)
    return hf.rebuild(record, path, trust_remote_code)
