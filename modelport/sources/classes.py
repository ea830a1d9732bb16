"""Find and construct a user's model class from ``pkg.module:Class`` or ``path/to/file.py:Class``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from torch import nn

from modelport.errors import InputError
from modelport.sources.base import user_code

_FORMAT_HINT = "use --model-class pkg.module:Class or --model-class path/to/file.py:Class"


def split_spec(spec: str) -> tuple[str, str]:
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise InputError(f"--model-class {spec!r} is not MODULE:CLASS", _FORMAT_HINT)
    return where, attr


def is_file_spec(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def normalize_spec(spec: str) -> str:
    """Make a file-path spec absolute so the manifest can rebuild it from any working directory."""
    where, attr = split_spec(spec)
    if is_file_spec(where):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return spec


def _import_file(path_text: str) -> Any:
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise InputError(f"model class file {path_text!r} does not exist", "check the path in --model-class")
    # One stable module name per file, so classes defined there pickle/compare consistently within a run.
    name = f"modelport_user_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path_text!r} as Python source", "give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Let the file import its neighbours, as it would when run from its own directory.
    sys.path.insert(0, str(path.parent))
    try:
        with user_code(f"importing model class file {path_text!r}"):
            spec.loader.exec_module(module)
    except InputError:
        sys.modules.pop(name, None)
        raise
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise InputError(f"model class file {path_text!r} has a syntax error at line {e.lineno}: {e.msg}",
                         "fix the file") from None
    except Exception as e:  # the user's module code failed while importing
        sys.modules.pop(name, None)
        raise InputError(f"importing model class file {path_text!r} failed: {type(e).__name__}: {e}",
                         "fix the file or its imports") from None
    finally:
        try:
            sys.path.remove(str(path.parent))
        except ValueError:
            pass
    return module


def _import_module(module_name: str) -> Any:
    try:
        with user_code(f"importing module {module_name!r}"):
            return importlib.import_module(module_name)
    except InputError:
        raise
    except ModuleNotFoundError as e:
        missing = e.name or module_name
        what = f"module {module_name!r} cannot be imported" + (
            "" if missing == module_name else f" (it needs {missing!r}, which is not installed)")
        raise InputError(f"{what}: No module named {missing!r}",
                         "install it, add its directory to PYTHONPATH, or give a file: --model-class "
                         "path/to/file.py:Class") from None
    except SyntaxError as e:
        raise InputError(f"module {module_name!r} has a syntax error in {e.filename} at line {e.lineno}: {e.msg}",
                         "fix the file") from None
    except Exception as e:
        raise InputError(f"importing module {module_name!r} failed: {type(e).__name__}: {e}",
                         "fix the module or its imports") from None


def import_model_class(spec: str) -> Any:
    """The class (or factory) named by ``spec``; an ``InputError`` that says what is wrong otherwise."""
    where, attr = split_spec(spec)
    module = _import_file(where) if is_file_spec(where) else _import_module(where)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            candidates = sorted(n for n, v in vars(module).items()
                                if inspect.isclass(v) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
            listing = f"; nn.Module classes there: {', '.join(candidates)}" if candidates else ""
            raise InputError(f"{where!r} has no attribute {attr!r}{listing}", "check the class name in --model-class")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"{spec!r} is a {type(obj).__name__}, not a class", _FORMAT_HINT)
    return obj


def construct(spec: str, model_args: dict[str, Any] | None) -> nn.Module:
    cls = import_model_class(spec)
    try:
        with user_code(f"constructing {spec}"):
            model = cls(**(model_args or {}))
    except InputError:
        raise
    except TypeError as e:
        raise InputError(f"cannot construct {spec} with --model-args {model_args or {}}: {e}",
                         "pass the constructor's keyword arguments with --model-args JSON") from None
    except Exception as e:
        raise InputError(f"constructing {spec} failed: {type(e).__name__}: {e}", "check --model-args") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"{spec} built a {type(model).__name__}, not a torch.nn.Module",
                         "point --model-class at the model's nn.Module class")
    return model
