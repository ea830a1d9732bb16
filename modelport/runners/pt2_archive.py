"""Open a ``torch.export`` .pt2 archive without running code from it unless the user trusts the file.

``torch.export.load`` unpickles several kinds of payload with code execution allowed: weights and constants
marked ``use_pickle`` (``torch.load(weights_only=False)``), "opaque" constants (plain ``pickle.loads``),
TorchScript custom objects, and, when a weights-only load fails, the sample inputs. A crafted archive can
therefore run ``os.system`` on load. Two layers stop that (docs/decisions.md, "Pickles are code execution"):

1. Before loading, every pickle payload in the archive is found and its globals are listed statically; any
   global outside torch's weights-only allowlist refuses the file, naming the globals, unless trusted.
2. The load itself runs with ``TORCH_FORCE_WEIGHTS_ONLY_LOAD=1``, which makes every ``torch.load`` inside it
   weights-only even where torch asks for ``weights_only=False``: a payload the scan did not foresee fails
   to unpickle instead of running.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import torch

from modelport.errors import InputError, UnsafePickleError
from modelport.pickle_scan import raw_pickle_globals, refusal_reason, refused_globals

WAYS_FORWARD = ("re-export the model from code with torch.export.save (plain tensors only), or pass --trust-pickle "
                "(it executes code from the file; only for files you trust)")
_ZIP_MAGIC = b"PK\x03\x04"
# Constants torch loads with a code-executing unpickler whatever their content.
_CODE_PREFIXES = ("custom_obj_", "opaque_obj_")
_FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_FORCE_NOT = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


def _torch_save_unsafe(data: bytes) -> list[str]:
    """Unsafe globals of a payload torch loads with ``torch.load``: a torch.save zip or a legacy raw pickle."""
    if data.startswith(_ZIP_MAGIC):
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(io.BytesIO(data)))
    # The legacy format: a weights-only load names the first offending global without running it.
    try:
        torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        return []
    except pickle.UnpicklingError as e:
        return refused_globals(e) or [f"an object weights-only loading refuses ({refusal_reason(e)})"]
    except Exception:
        return ["an unreadable pickle payload"]


def _config_payloads(z: zipfile.ZipFile, names: list[str]) -> Iterator[tuple[str, str]]:
    """(member, how torch unpickles it) for each payload a weights/constants config marks as pickled."""
    for name in names:
        if not name.endswith("_config.json") or "/data/" not in f"/{name}":
            continue
        try:
            config = json.loads(z.read(name)).get("config", {})
        except (ValueError, AttributeError, zipfile.BadZipFile):
            raise InputError(f"the .pt2 archive has a damaged payload config {name!r}",
                             "re-save it with torch.export.save") from None
        folder = name.rsplit("/", 1)[0]
        for meta in config.values() if isinstance(config, dict) else []:
            path_name = str(meta.get("path_name", "")) if isinstance(meta, dict) else ""
            if path_name.startswith(_CODE_PREFIXES):
                yield f"{folder}/{path_name}", "code"
            elif isinstance(meta, dict) and meta.get("use_pickle"):
                yield f"{folder}/{path_name}", "torch.load"


def unsafe_globals(path: Path) -> list[str]:
    """What the archive's pickle payloads would import beyond torch's weights-only allowlist (empty: safe)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            members = set(names)
            found: list[str] = []
            pickled = dict(_config_payloads(z, names))
            # torch.save zips anywhere (sample inputs, legacy weight files) are torch.load-ed too.
            for name in names:
                if name not in pickled and z.getinfo(name).file_size >= 4:
                    with z.open(name) as f:
                        if f.read(4) == _ZIP_MAGIC:
                            pickled[name] = "torch.load"
            for name, how in sorted(pickled.items()):
                if name not in members:
                    continue  # torch fails on a missing payload before unpickling anything
                data = z.read(name)
                if how == "code":
                    listed = raw_pickle_globals(data) if data[:1] == b"\x80" else []
                    found.extend(listed or [f"a TorchScript/opaque object ({name.rsplit('/', 1)[-1]})"])
                else:
                    found.extend(_torch_save_unsafe(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise InputError(f"{str(path)!r} is not a readable .pt2 archive ({e})",
                         "re-save it with torch.export.save") from None
    return sorted(set(found), key=lambda g: (g.startswith("torch."), g))


def refusal(path: Path, names: list[str]) -> UnsafePickleError:
    return UnsafePickleError(f"the .pt2 archive {str(path)!r} holds pickled payloads that name {', '.join(names)}; "
                             "loading it would execute code from the file", WAYS_FORWARD)


@contextlib.contextmanager
def _weights_only_loads() -> Iterator[None]:
    """Force every ``torch.load`` inside the block to be weights-only, then restore the environment."""
    saved = {k: os.environ.get(k) for k in (_FORCE, _FORCE_NOT)}
    os.environ[_FORCE] = "1"
    os.environ.pop(_FORCE_NOT, None)  # both set is an error in torch.load
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _register_quantized_ops() -> None:
    """A PT2E int8 program (``convert --to pt2 --precision int8``) calls ``quantized_decomposed`` ops, which torch
    defines in one of its own modules but registers only when that module is imported; deserializing fails on an
    unknown op otherwise. Importing it runs torch's code, none from the file (docs/decisions.md, "Precision: int8
    .pt2 through PT2E")."""
    import torch.ao.quantization.fx._decomposed  # noqa: F401


def load_program(path: str | Path, *, trust_pickle: bool = False,
                 extra_files: dict[str, str] | None = None) -> torch.export.ExportedProgram:
    """``torch.export.load`` that refuses code-executing payloads unless ``trust_pickle``.

    Raises ``UnsafePickleError`` (naming the globals) for an untrusted archive that needs code to load; lets
    torch's own errors through for archives that are damaged in other ways (callers word those).
    """
    path = Path(path)
    if not trust_pickle:
        names = unsafe_globals(path)
        if names:
            raise refusal(path, names)
    _register_quantized_ops()
    guard = contextlib.nullcontext() if trust_pickle else _weights_only_loads()
    with guard, open(path, "rb") as f:  # a file handle: torch.export.load insists on a ".pt2" suffix for paths
        stream: IO[bytes] = f
        try:
            return torch.export.load(stream, extra_files=extra_files)
        except pickle.UnpicklingError as e:
            if trust_pickle:
                raise
            found = refused_globals(e) or [f"an object weights-only loading refuses ({refusal_reason(e)})"]
            raise refusal(path, found) from None
