"""A TorchScript archive (``torch.jit.save``); input specs come from its ``modelport.json`` extra file, if any."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from modelport.errors import InputError
from modelport.manifest import SourceRecord
from modelport.sources import metadata
from modelport.sources.base import LoadedModel, finish, sha256_path
from modelport.sources.detect import first_line


def read(path: Path) -> tuple[torch.jit.ScriptModule, str]:
    extra = {metadata.EXTRA_FILE: ""}
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated in torch 2.13; loading an existing archive is still what the user asked.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise InputError(f"cannot load TorchScript archive {str(path)!r}: {first_line(e)}",
                         "re-save it with torch.jit.save") from None
    return module, extra[metadata.EXTRA_FILE]


def load(spec: str, path: Path) -> LoadedModel:
    module, meta = read(path)
    inputs, outputs, warns = metadata.loads(meta)
    record = SourceRecord(kind="torchscript", spec=spec, path=str(path), sha256=sha256_path(path))
    return finish(module, inputs, outputs, record, warns)


def rebuild(path: Path) -> torch.nn.Module:
    module, _ = read(path)
    return module.eval()
