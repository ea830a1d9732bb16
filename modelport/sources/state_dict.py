"""A state_dict (weights only) plus the class that holds it: ``--state-dict FILE --model-class MODULE:CLASS``."""

from __future__ import annotations

import inspect
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelport import zoo
from modelport.errors import InputError
from modelport.manifest import SourceRecord
from modelport.sources import classes, pickled
from modelport.sources.base import LoadedModel, existing_path, finish, sha256_path
from modelport.sources.detect import detect_kind, first_line, is_safetensors
from modelport.spec import InputSpec

# Training checkpoints often wrap the weights: {"epoch": 3, "state_dict": {...}, "optimizer": {...}}.
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
# Prefixes added by wrappers around the model: DataParallel/DDP ("module.") and torch.compile ("_orig_mod.").
_WRAPPER_PREFIXES = {"module.": "DataParallel/DistributedDataParallel", "_orig_mod.": "torch.compile"}


def read_weights(path: Path, trust_pickle: bool = False) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Tensors from a state_dict file, and the warnings about what was unwrapped.

    Code is unpickled only with ``trust_pickle``: training checkpoints often carry objects beside the weights
    (an ``argparse.Namespace`` of hyper-parameters, say), and those need it.
    """
    if is_safetensors(path):
        try:
            from safetensors.torch import load_file  # optional dependency, only for this format
        except ImportError:
            raise InputError(f"{str(path)!r} is a safetensors file, which needs the safetensors package",
                             "pip install safetensors") from None
        try:
            return _extract(load_file(str(path), device="cpu"), path)
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{str(path)!r} is not a readable safetensors file: {first_line(e)}",
                             "re-save it with safetensors.torch.save_file") from None
    kind = detect_kind(path)
    if kind == "pickle" and trust_pickle:
        return _extract(pickled.unpickle_trusted(path), path)
    if kind == "pickle":
        raise pickled.refusal(path, "holds pickled Python objects, not only tensors")
    if kind != "state_dict":
        raise InputError(f"{str(path)!r} is a {kind} model, not a state_dict",
                         "pass it as the SOURCE without --state-dict/--model-class")
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise pickled.refusal(path, "holds pickled Python objects, not only tensors") from None
    except Exception as e:
        raise InputError(f"cannot read {str(path)!r} as a PyTorch file: {first_line(e)}",
                         "re-save it with torch.save(model.state_dict(), FILE)") from None
    return _extract(obj, path)


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _extract(obj: Any, path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    warnings: list[str] = []
    if not _is_tensor_dict(obj) and isinstance(obj, Mapping):
        for key in _CHECKPOINT_KEYS:
            if _is_tensor_dict(obj.get(key)):
                warnings.append(f"{path.name} is a checkpoint; using its {key!r} entry as the state_dict")
                obj = obj[key]
                break
    if not _is_tensor_dict(obj):
        if isinstance(obj, Mapping):
            keys = ", ".join(repr(k) for k in list(obj)[:8])
            what = f"a dict with keys {keys}" if obj else "an empty dict"
        else:
            what = f"a {type(obj).__name__}"
        raise InputError(f"{str(path)!r} is not a state_dict: it holds {what}",
                         "save one with torch.save(model.state_dict(), FILE)")
    sd = dict(obj)
    for prefix, wrapper in _WRAPPER_PREFIXES.items():
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
            warnings.append(f"stripped the {prefix!r} prefix from every key (saved from a {wrapper} wrapper)")
    return sd, warnings


_KEY_LIST = re.compile(r"^(?P<head>(?:Missing|Unexpected) key\(s\) in state_dict: )(?P<keys>.*)$")
MAX_KEYS = 12  # a wrong class can miss hundreds of keys; the first few say enough


def _shorten(line: str) -> str:
    m = _KEY_LIST.match(line)
    if not m:
        return line
    keys = [k.strip() for k in m["keys"].split(", ")]
    if len(keys) <= MAX_KEYS:
        return line
    return f"{m['head']}{', '.join(keys[:MAX_KEYS])}, ... ({len(keys) - MAX_KEYS} more)"


def _one_line_load_error(e: RuntimeError) -> str:
    lines = [ln.strip().rstrip(".") for ln in str(e).splitlines() if ln.strip()]
    # The first line is "Error(s) in loading state_dict for X:"; the rest is what a user needs, verbatim.
    body = "; ".join(_shorten(ln) for ln in lines[1:]) or (lines[0] if lines else type(e).__name__)
    return re.sub(r"torch\.Size\((\[[^\]]*\])\)", r"\1", body)


def apply_weights(module: nn.Module, sd: dict[str, torch.Tensor], class_spec: str) -> None:
    try:
        module.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise InputError(f"state_dict does not fit {class_spec}: {_one_line_load_error(e)}",
                         "check --model-class and --model-args") from None


def _zoo_metadata(class_spec: str, model_args: dict[str, Any], cls: Any) -> tuple[list[InputSpec], list[str]]:
    """A zoo class carries its input specs; reuse them so that zoo weights need no --input."""
    for entry in zoo.ZOO.values():
        if entry.model_class != class_spec:
            continue
        try:
            defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()
                        if p.default is not inspect.Parameter.empty}
            return entry.inputs({**defaults, **model_args}), list(entry.output_names)
        except Exception:  # the entry cannot describe this configuration; the user gives --input
            return [], []
    return [], []


def build(class_spec: str, weights_path: Path, model_args: dict[str, Any],
          trust_pickle: bool = False) -> tuple[nn.Module, list[str]]:
    sd, warnings = read_weights(weights_path, trust_pickle)
    # A freshly constructed module starts in training mode by nn.Module convention; that is not the
    # "arrived in training mode" a saved model can be in, so it is switched silently.
    module = classes.construct(class_spec, model_args).eval()
    apply_weights(module, sd, class_spec)
    return module, warnings


def load(spec: str, weights: str, class_spec: str, model_args: dict[str, Any] | None,
         trust_pickle: bool = False) -> LoadedModel:
    path = existing_path(weights, "state_dict file")
    class_spec = classes.normalize_spec(class_spec)
    args = dict(model_args or {})
    module, warnings = build(class_spec, path, args, trust_pickle)
    inputs, outputs = _zoo_metadata(class_spec, args, classes.import_model_class(class_spec))
    record = SourceRecord(kind="state_dict", spec=spec, path=str(path), sha256=sha256_path(path),
                          model_class=class_spec, model_args=args, state_dict=str(path),
                          trusted_pickle=trust_pickle and detect_kind(path) == "pickle")
    return finish(module, inputs, outputs, record, warnings)


def rebuild(record: SourceRecord, path: Path, trust_pickle: bool = False) -> nn.Module:
    assert record.model_class is not None
    module, _ = build(record.model_class, path, dict(record.model_args), trust_pickle)
    return module.eval()
