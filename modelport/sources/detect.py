"""Tell the kind of a model file or directory from its layout, without running any code from it."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import warnings
import zipfile
from pathlib import Path

import torch

from modelport.errors import InputError
from modelport.pickle_scan import refusal_reason, refused_globals

_NOT_PYTORCH_HINT = ("expected a torch.save file, a TorchScript archive, a torch.export .pt2 file, "
                     "a .safetensors file, or a Hugging Face save_pretrained directory")


def is_safetensors(path: Path) -> bool:
    """safetensors files start with an 8-byte little-endian header length followed by a JSON object."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 0 < length <= path.stat().st_size - 8


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{str(path)!r} is a corrupt zip archive ({e})", "re-save or re-download the file") from None
    tails = {n.split("/", 1)[1] if "/" in n else n for n in names}
    if "archive_format" in tails or any(t.startswith("models/") and t.endswith(".json") for t in tails):
        return "pt2"
    if "constants.pkl" in tails and any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception as e:  # the pickle inside is damaged
            raise InputError(f"{str(path)!r} is a damaged torch.save file: {type(e).__name__}: {e}",
                             "re-save the file") from None
        return "pickle" if unsafe else "state_dict"
    raise InputError(f"{str(path)!r} is a zip archive but not a PyTorch file", _NOT_PYTORCH_HINT)


def _legacy_kind(path: Path) -> str:
    """torch.save's pre-1.6 format is a plain pickle stream; a weights-only load tells weights from objects."""
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols above 2 before failing or succeeding; we report the outcome.
            warnings.simplefilter("ignore", UserWarning)
            torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        if refused_globals(e) or "Unsupported class" in str(e):
            return "pickle"
        raise InputError(f"{str(path)!r} is a pickle stream torch.load cannot read ({refusal_reason(e)})",
                         "save weights with torch.save(model.state_dict(), FILE)") from None
    except Exception as e:
        raise InputError(f"{str(path)!r} is not a readable PyTorch file: {first_line(e)}", _NOT_PYTORCH_HINT) from None
    return "state_dict"


def first_line(e: BaseException) -> str:
    """The first line of an exception's text, without terminal colour codes (torch bolds some warnings)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip() or type(e).__name__
    return text.splitlines()[0][:300]


def detect_kind(path: str | os.PathLike[str]) -> str:
    """``state_dict`` | ``pickle`` | ``torchscript`` | ``pt2`` | ``hf``; ``InputError`` for anything else."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"source {str(path)!r} does not exist", "check the path")
    if p.is_dir():
        if (p / "config.json").is_file():
            try:
                json.loads((p / "config.json").read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"{str(p / 'config.json')!r} is not valid JSON: {e}",
                                 "re-save the model with save_pretrained") from None
            return "hf"
        raise InputError(f"directory {str(path)!r} has no config.json, so it is not a Hugging Face model directory",
                         _NOT_PYTORCH_HINT)
    if p.stat().st_size == 0:
        raise InputError(f"{str(path)!r} is empty", _NOT_PYTORCH_HINT)
    if zipfile.is_zipfile(p):
        return _zip_kind(p)
    with open(p, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04"):
        raise InputError(f"{str(path)!r} is a truncated or corrupt zip archive (no central directory)",
                         "re-save or re-download the file")
    if is_safetensors(p):
        return "state_dict"
    if head[:1] == b"\x80":  # a pickle protocol marker: torch.save's legacy format
        return _legacy_kind(p)
    raise InputError(f"{str(path)!r} is not a PyTorch model file", _NOT_PYTORCH_HINT)
