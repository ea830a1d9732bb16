"""What every source loader returns, and the steps every loader shares (eval mode, hashing, checks)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelport.errors import InputError
from modelport.fsutil import sha256_file
from modelport.manifest import SourceRecord
from modelport.spec import InputSpec


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run the user's Python (a module import, a constructor) so that it cannot speak or exit for us.

    Its prints go to stderr after it returns (stdout is ours: ``--json`` writes one object there), and a
    ``sys.exit`` inside it (argparse at import time, a constructor that exits) becomes an ``InputError`` that
    names it, with the first line it printed, instead of ending modelport with the user code's exit code.
    """
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            yield
    except SystemExit as e:
        said = next((line.strip() for line in captured.getvalue().splitlines() if line.strip()), "")
        raise InputError(f"{what} called sys.exit({e.code!r})" + (f" after printing {said[:200]!r}" if said else ""),
                         "model code must not exit or parse the command line at import; guard it with "
                         "if __name__ == '__main__'") from None
    except BaseException:
        raise
    else:
        sys.stderr.write(captured.getvalue())


TRAINING_WARNING = "model was in training mode; switched to eval() (dropout/batch-norm would make exports differ)"


@dataclass
class LoadedModel:
    """A model ready to export: ``module(*inputs in `inputs` order)`` returns a tensor or a tuple of tensors."""

    module: nn.Module  # in eval() mode
    inputs: list[InputSpec]  # [] when the source carries no metadata and the user gave none
    output_names: list[str]  # [] when unknown
    record: SourceRecord
    warnings: list[str] = field(default_factory=list)
    #: generative tasks: the graphs exported under one artifact (``hf_generative.ComponentSource``), and the
    #: plan the greedy loop follows (docs/decisions.md, "Generative models: components and a flat past")
    components: list[Any] = field(default_factory=list)
    generation: dict[str, Any] | None = None


def switch_to_eval(module: nn.Module) -> bool:
    """Put ``module`` in eval mode; return whether any submodule was in training mode."""
    was_training = any(m.training for m in module.modules())
    if was_training:
        try:
            module.eval()
        except NotImplementedError:  # exported (torch.export) modules refuse eval(); their flags are plain attributes
            for m in module.modules():
                m.training = False
    return was_training


def finish(module: nn.Module, inputs: list[InputSpec], output_names: list[str], record: SourceRecord,
           warnings: list[str] | None = None, was_training: bool = False) -> LoadedModel:
    """Switch to eval, record a training-mode arrival (seen here or by the loader), and package the result."""
    warnings = list(warnings or [])
    if switch_to_eval(module) or was_training:
        record.was_training = True
        warnings.append(TRAINING_WARNING)
    return LoadedModel(module, inputs, output_names, record, warnings)


def existing_path(path: str | os.PathLike[str], what: str = "source") -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{what} {str(path)!r} does not exist", "check the path")
    return p.resolve()


def sha256_path(path: str | os.PathLike[str]) -> str:
    """sha256 of a file; for a directory, of its files' relative names and contents in sorted order."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f.relative_to(p).as_posix().encode() + b"\0")
        h.update(sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def verify_sha256(record: SourceRecord) -> Path:
    """The recorded source file still exists and has the recorded hash; return its path."""
    target = record.state_dict if record.kind == "state_dict" else record.path
    if target is None:
        raise InputError(f"source record of kind {record.kind!r} has no path", "re-run modelport convert")
    p = Path(target)
    if not p.exists():
        raise InputError(f"source {str(p)!r} recorded in the manifest no longer exists",
                         "restore it or re-run modelport convert")
    if record.sha256 is not None and sha256_path(p) != record.sha256:
        raise InputError(f"source {str(p)!r} has changed since the run was made (sha256 differs from the manifest)",
                         "restore the original file or re-run modelport convert")
    return p


def torch_dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
