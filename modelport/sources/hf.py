"""A Hugging Face ``save_pretrained`` directory (config.json + model.safetensors or pytorch_model.bin), loaded
offline with ``transformers`` for a task (``hf_tasks``), with the inputs its forward takes (``hf_inputs``)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modelport.errors import InputError, UnsafePickleError
from modelport.manifest import SourceRecord
from modelport.sources import hf_inputs, hf_tasks, pickled
from modelport.sources.base import LoadedModel, finish, sha256_path
from modelport.sources.detect import first_line
from modelport.spec import InputSpec, make_inputs

#: the files a tokenizer or processor reads, and the configs: copied into the run directory (``copy_files``)
PROCESSOR_FILES = ("config.json", "generation_config.json", "tokenizer*.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.*", "merges.txt", "*.model", "*preprocessor_config.json",
                   "processor_config.json", "chat_template.*")
#: their folder in the run directory: ``AutoTokenizer.from_pretrained(RUN_DIR / "hf_files")`` works without the source
FILES_DIR = "hf_files"


def copy_files(source: Path, run_dir: Path) -> list[str]:
    """Copy the source directory's tokenizer/processor files and configs into ``run_dir/hf_files``; return
    their paths relative to ``run_dir`` (none copied: [])."""
    found = sorted({p for pattern in PROCESSOR_FILES for p in source.glob(pattern) if p.is_file()})
    if _has_auto_map(source):
        # a config with auto_map names the directory's own modules: without them hf_files/ cannot be loaded,
        # even with trust_remote_code (copying runs nothing; loading them still needs the flag)
        found = sorted({*found, *(p for p in source.glob("*.py") if p.is_file())})
    if not found:
        return []
    (run_dir / FILES_DIR).mkdir(exist_ok=True)
    for p in found:
        shutil.copyfile(p, run_dir / FILES_DIR / p.name)
    return [f"{FILES_DIR}/{p.name}" for p in found]


def _has_auto_map(source: Path) -> bool:
    for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json", "processor_config.json"):
        try:
            if "auto_map" in json.loads((source / name).read_text()):
                return True
        except (OSError, ValueError, TypeError):
            continue
    return False


def _listing(what: str, keys: list[str], limit: int = 10) -> str:
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return f"{what}: {', '.join(keys[:limit])}{more}"


def _key(entry: Any) -> str:
    """A missing key is a name; a mismatched one is (name, saved shape, model shape)."""
    if isinstance(entry, tuple) and len(entry) == 3:
        name, saved, wanted = entry
        return f"{name} (saved {list(saved)}, model {list(wanted)})"
    return str(entry)


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update({k: "1" for k in saved})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet(tf: Any) -> Iterator[None]:
    """No progress bars on our stderr; loading problems are reported by us, from the loading info."""
    bars = tf.utils.logging.is_progress_bar_enabled()
    verbosity = tf.utils.logging.get_verbosity()
    tf.utils.logging.disable_progress_bar()
    tf.utils.logging.set_verbosity_error()
    try:
        yield
    finally:
        tf.utils.logging.set_verbosity(verbosity)
        if bars:
            tf.utils.logging.enable_progress_bar()


def _transformers() -> Any:
    try:
        import transformers  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise InputError("loading a Hugging Face directory needs the transformers package",
                         "pip install 'modelport[hf]'") from None
    return transformers


def custom_code(path: Path) -> list[str]:
    """What in ``config.json`` would make transformers import Python files from the directory (empty: none).

    Read as plain JSON, before transformers sees the directory: transformers itself would prompt on a
    terminal ("Do you wish to run the custom code?") and run the files on "y".
    """
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"cannot read {str(path / 'config.json')!r}: {e}", "re-save the model with save_pretrained") \
            from None
    if not isinstance(config, dict):
        raise InputError(f"{str(path / 'config.json')!r} is not a JSON object",
                         "re-save the model with save_pretrained")
    found = []
    for key in ("auto_map", "custom_pipelines"):
        value = config.get(key)
        if value:
            refs = sorted({str(v) for v in (value.values() if isinstance(value, dict) else [value])})
            found.append(f"{key} ({', '.join(refs)})")
    found += [f"{p.name}" for p in sorted(path.glob("*.py"))] if found else []
    return found


def _check_code(path: Path, trust_remote_code: bool) -> None:
    if trust_remote_code:
        return
    found = custom_code(path)
    if found:
        raise InputError(f"the Hugging Face directory {str(path)!r} needs its own Python code to load: "
                         f"{', '.join(found)}",
                         "pass --trust-remote-code to run it (only for directories you trust)")


def _weights_present(path: Path) -> None:
    if not any((path / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json",
                                              "pytorch_model.bin", "pytorch_model.bin.index.json")):
        raise InputError(f"{str(path)!r} has a config.json but no model.safetensors or pytorch_model.bin",
                         "save the model with model.save_pretrained(DIR)")


def read_config(path: Path, trust_remote_code: bool = False) -> Any:
    """The directory's transformers config, after the remote-code check; read offline."""
    _check_code(path, trust_remote_code)
    tf = _transformers()
    with _offline(), _quiet(tf):
        try:
            # An explicit trust_remote_code=False makes transformers raise instead of prompting, should custom
            # code be referenced somewhere _check_code does not look.
            return tf.AutoConfig.from_pretrained(str(path), local_files_only=True,
                                                 trust_remote_code=trust_remote_code)
        except Exception as e:
            raise InputError(f"cannot read the Hugging Face config in {str(path)!r}: {first_line(e)}",
                             _config_hint(path, tf)) from None


def _config_hint(path: Path, tf: Any) -> str:
    """What helps when transformers cannot read a config: a model type this transformers does not know needs
    a newer one (or the directory's own code); anything else, a fresh save_pretrained."""
    try:
        model_type = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        model_type = None
    if model_type and model_type not in tf.CONFIG_MAPPING:
        return (f"model_type {model_type!r} is unknown to transformers {tf.__version__}: use a transformers that "
                "has it, or a directory whose config.json maps it to its own code (then --trust-remote-code)")
    return "re-save the model with save_pretrained"


def read_model(path: Path, auto_class: str, trust_remote_code: bool = False) -> tuple[nn.Module, str]:
    """The model of a save_pretrained directory built by the transformers ``auto_class`` (e.g.
    "AutoModelForQuestionAnswering"), offline, in eval(), every weight present and of the right shape.

    Returns the model and its class name. Refuses a directory with its own Python code unless
    ``trust_remote_code``, and a .bin whose pickle needs code.
    """
    read_config(path, trust_remote_code)
    tf = _transformers()
    _weights_present(path)
    cls = getattr(tf, auto_class, None)
    if cls is None:
        raise InputError(f"this transformers {tf.__version__} has no {auto_class}", "upgrade transformers")
    # transformers reads .bin weights with weights_only itself; safetensors is preferred when present.
    options = {"local_files_only": True, "output_loading_info": True, "trust_remote_code": trust_remote_code,
               "use_safetensors": (path / "model.safetensors").is_file() or None}
    with _offline():
        try:
            with _quiet(tf):
                try:
                    model, info = cls.from_pretrained(str(path), **options)
                except RuntimeError as e:
                    if "ignore_mismatched_sizes" not in str(e):
                        raise
                    # Its size-mismatch report goes to the log; load again to get it as data, then refuse below.
                    model, info = cls.from_pretrained(str(path), ignore_mismatched_sizes=True, **options)
        except Exception as e:
            if "Weights only load failed" in str(e):
                raise _unsafe_bin(path) from None
            raise InputError(f"cannot load the Hugging Face model in {str(path)!r} with {auto_class}: "
                             f"{first_line(e)}", "check that the directory was written by save_pretrained") from None
    cls_name = type(model).__name__
    # Weights the files lack would be left randomly initialised: as strict as a state_dict load.
    problems = [_listing(what, sorted(_key(k) for k in info[key]))
                for key, what in (("missing_keys", "missing keys"), ("mismatched_keys", "size mismatches"))
                if info.get(key)]
    if problems:
        raise InputError(f"the weights in {str(path)!r} do not fit {cls_name}: {'; '.join(problems)}",
                         "check config.json's architectures (or --task) against the saved model")
    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False  # caches are not tensors and not part of a single-graph export
    model.eval()
    return model, cls_name


def _unsafe_bin(path: Path) -> UnsafePickleError:
    """transformers refused a .bin that needs code to unpickle; name what it holds, as for any pickle."""
    names = list(dict.fromkeys(g for f in sorted(path.glob("*.bin")) for g in pickled.unsafe_globals(f)))
    listing = f" (they name {', '.join(names)})" if names else ""
    return UnsafePickleError(f"the .bin weights in {str(path)!r} hold pickled Python objects, not only "
                             f"tensors{listing}; loading them would execute code from the files",
                             "re-save the model with save_pretrained (safetensors), or load it yourself and pass a "
                             "state_dict with --state-dict FILE --model-class MODULE:CLASS")


def _probe_outputs(model: nn.Module, specs: list[InputSpec]) -> list[str]:
    """Output names are the tensor fields of the model's output object; one small forward pass reveals them."""
    feed = make_inputs(specs, seed=0)
    kwargs = {s.name: torch.from_numpy(feed[s.name]) for s in specs}
    try:
        with torch.inference_mode():
            out = model(**kwargs, return_dict=True)
    except Exception as e:  # the model's own code failed on standard inputs
        shapes = ", ".join(f"{s.name}: {s.dtype}{list(s.shape)}" for s in specs)
        raise InputError(f"the Hugging Face model {type(model).__name__} fails on example inputs ({shapes}): "
                         f"{type(e).__name__}: {first_line(e)}",
                         "wrap it in your own nn.Module and use --state-dict/--model-class") from None
    return [k for k, v in out.items() if isinstance(v, torch.Tensor)]


def build(path: Path, task: str, trust_remote_code: bool = False,
          config: Any = None) -> tuple[nn.Module, list[InputSpec], list[str], str]:
    """(wrapper in eval mode, input specs, output names, class name) of a single-graph task."""
    config = config if config is not None else read_config(path, trust_remote_code)
    model, class_name = read_model(path, hf_tasks.auto_class(task, config), trust_remote_code)
    specs = hf_inputs.input_specs(model, task)
    outputs = _probe_outputs(model, specs)
    return hf_inputs.keyword_call(model, [s.name for s in specs]).eval(), specs, outputs, f"transformers:{class_name}"


def _generative() -> Any:
    """modelport.sources.hf_generative, imported only for a generative task (it pulls in the generation code)."""
    return importlib.import_module("modelport.sources.hf_generative")


def load(spec: str, path: Path, trust_remote_code: bool = False, task: str | None = None) -> LoadedModel:
    """Load a save_pretrained directory for ``task`` (inferred from config.architectures when None)."""
    config = read_config(path, trust_remote_code)
    task = hf_tasks.resolve_task(config, task)
    if hf_tasks.is_generative(task, config):
        return _generative().load(spec, path, task, trust_remote_code)  # type: ignore[no-any-return]
    wrapper, specs, outputs, class_name = build(path, task, trust_remote_code, config)
    record = SourceRecord(kind="hf", spec=spec, path=str(path), sha256=sha256_path(path), model_class=class_name,
                          trusted_remote_code=trust_remote_code, task=task)
    return finish(wrapper, specs, outputs, record)


def rebuild(record: SourceRecord, path: Path, trust_remote_code: bool = False) -> nn.Module:
    """The eager module ``load`` built for ``record`` (a manifest without a task: the inferred one)."""
    config = read_config(path, trust_remote_code)
    task = hf_tasks.resolve_task(config, record.task)
    if hf_tasks.is_generative(task, config):
        return _generative().rebuild(record, path, trust_remote_code)  # type: ignore[no-any-return]
    return build(path, task, trust_remote_code, config)[0].eval()
