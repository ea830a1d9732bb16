"""A whole pickled model (``torch.save(model, FILE)``). Unpickling it runs code from the file, so it is
refused unless the user trusts the file; the refusal lists the classes the file names without running it."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from modelport.errors import InputError, UnsafePickleError
from modelport.manifest import SourceRecord
from modelport.pickle_scan import refused_globals
from modelport.sources.base import LoadedModel, finish, sha256_path
from modelport.sources.detect import first_line

WAYS_FORWARD = ("either save a state_dict (torch.save(model.state_dict(), FILE)) and pass --state-dict FILE "
                "--model-class MODULE:CLASS, or pass --trust-pickle (it executes code from the file; "
                "only for files you trust)")


def unsafe_globals(path: Path) -> list[str]:
    """The classes/functions the file's pickle names beyond torch's weights-only allowlist, found statically."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except ValueError:
        # torch's legacy (pre-zip) format is not covered; a weights-only load names the first offender.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # pickle protocol notices; the outcome is reported
                torch.load(path, weights_only=True, map_location="cpu")
            return []
        except pickle.UnpicklingError as e:
            return refused_globals(e)
        except Exception:
            return []
    # The user's own classes first: those are what they need to recognise; torch.nn ones follow.
    return sorted(found, key=lambda g: (g.startswith("torch."), g))


def refusal(path: Path, what: str = "is a whole pickled model") -> UnsafePickleError:
    names = unsafe_globals(path)
    listing = f" (it names {', '.join(names)})" if names else ""
    return UnsafePickleError(f"{str(path)!r} {what}{listing}; loading it would execute code from the file",
                             WAYS_FORWARD)


def _unwrap(obj: object, warnings: list[str]) -> nn.Module:
    while isinstance(obj, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        warnings.append(f"unwrapped the {type(obj).__name__} wrapper (.module)")
        obj = obj.module
    assert isinstance(obj, nn.Module)
    return obj


def unpickle_trusted(path: Path) -> object:
    """``torch.load`` with code execution: only ever called when the user passed ``--trust-pickle``."""
    try:
        return torch.load(path, weights_only=False, map_location="cpu")
    except (ModuleNotFoundError, AttributeError) as e:
        # Pickles name classes by module path: the module must be importable here as it was when saved.
        name = getattr(e, "name", None)
        raise InputError(f"the pickle in {str(path)!r} needs code that cannot be imported: {first_line(e)}",
                         f"make {'module ' + repr(name) if name else 'its module'} importable (install it or add "
                         "its directory to PYTHONPATH), or use --state-dict FILE --model-class MODULE:CLASS") from None
    except Exception as e:
        raise InputError(f"cannot unpickle {str(path)!r}: {type(e).__name__}: {first_line(e)}",
                         "re-save the model, or use --state-dict FILE --model-class MODULE:CLASS") from None


def load_trusted(path: Path) -> tuple[nn.Module, list[str]]:
    obj = unpickle_trusted(path)
    if isinstance(obj, dict):
        raise InputError(f"{str(path)!r} holds a dict (a state_dict or checkpoint), not a model",
                         "pass --model-class MODULE:CLASS (and --model-args JSON) to load it into its class")
    if not isinstance(obj, nn.Module):
        raise InputError(f"{str(path)!r} holds a {type(obj).__module__}.{type(obj).__name__}, not a torch.nn.Module",
                         "save the model itself or its state_dict")
    warnings: list[str] = []
    return _unwrap(obj, warnings), warnings


def load(spec: str, path: Path, trust_pickle: bool) -> LoadedModel:
    if not trust_pickle:
        raise refusal(path)
    module, warnings = load_trusted(path)
    cls = type(module)
    record = SourceRecord(kind="pickle", spec=spec, path=str(path), sha256=sha256_path(path),
                          model_class=f"{cls.__module__}:{cls.__qualname__}", trusted_pickle=True)
    return finish(module, [], [], record, warnings)


def rebuild(path: Path, trust_pickle: bool) -> nn.Module:
    if not trust_pickle:
        raise refusal(path)
    return load_trusted(path)[0].eval()
