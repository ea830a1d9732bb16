"""A Triton model repository for one artifact: ``DIR/<name>/config.pbtxt`` and ``DIR/<name>/1/<files>``.

Triton serves ``.onnx`` with its onnxruntime backend and TorchScript with its pytorch (libtorch) backend, so
the artifact goes in unchanged; only ``config.pbtxt`` is written (docs/decisions.md, "Serving: a Triton model
repository for production"). When every input and output has a dynamic batch axis, the config sets
``max_batch_size`` and dynamic batching and lists dims without the batch axis (Triton's convention); otherwise
``max_batch_size: 0`` and the full shapes. The pytorch backend names outputs ``<name>__<index>`` by position.
The directory appears whole or not at all (``fsutil.atomic_dir``) and must be absent or empty.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from modelport.errors import InputError
from modelport.fsutil import atomic_dir, check_new_dir
from modelport.serving.model_info import ServedModel, TensorInfo

BACKENDS = {"onnx": "onnxruntime", "torchscript": "pytorch"}
VERSION = "1"


def _batched(model: ServedModel) -> bool:
    return all(t.shape and t.shape[0] == -1 for t in (*model.inputs, *model.outputs))


def _tensor(t: TensorInfo, name: str, batched: bool) -> str:
    dims = t.shape[1:] if batched else t.shape
    # a scalar is dims [1] reshaped to [] (Triton's convention: dims may not be empty)
    scalar = "    dims: [ 1 ]\n    reshape: { shape: [ ] }"
    shape = f"    dims: [ {', '.join(str(d) for d in dims)} ]" if dims else scalar
    return f'  {{\n    name: "{name}"\n    data_type: TYPE_{t.datatype}\n{shape}\n  }}'


def output_names(model: ServedModel) -> list[str]:
    """The names a Triton client reads outputs by: the run's names (ONNX), ``<name>__<i>`` (TorchScript)."""
    if model.kind == "torchscript":
        return [f"{t.name}__{i}" for i, t in enumerate(model.outputs)]
    return [t.name for t in model.outputs]


def config_pbtxt(model: ServedModel, max_batch_size: int = 32) -> str:
    """The model configuration (protobuf text format) Triton reads from ``config.pbtxt``."""
    batched = _batched(model) and max_batch_size > 0
    lines = [f'name: "{model.name}"', f'backend: "{BACKENDS[model.kind]}"',
             f"max_batch_size: {max_batch_size if batched else 0}",
             f'default_model_filename: "{model.path.name}"']
    lines.append("input [\n" + ",\n".join(_tensor(t, t.name, batched) for t in model.inputs) + "\n]")
    lines.append("output [\n" + ",\n".join(_tensor(t, n, batched)
                                           for t, n in zip(model.outputs, output_names(model), strict=True)) + "\n]")
    if batched:
        lines.append("dynamic_batching { }")
    lines.append("instance_group [ { kind: KIND_CPU } ]")
    return "\n".join(lines) + "\n"


def export_triton_repo(model: ServedModel, out_dir: str | Path, max_batch_size: int = 32) -> Path:
    """Write the repository into ``out_dir`` (absent or empty; refused otherwise) and return it."""
    out = Path(out_dir)
    try:
        check_new_dir(out)
    except InputError as e:  # fsutil's hint names convert's --out; here the folder came from another option
        raise InputError(e.message.split("; ")[0], "choose another --export-triton-repo DIR") from None
    with atomic_dir(out) as tmp:
        version = tmp / model.name / VERSION
        version.mkdir(parents=True)
        for f in model.files:  # external data keeps its name beside the .onnx file, as the file refers to it
            shutil.copy2(f, version / f.name)
        (tmp / model.name / "config.pbtxt").write_text(config_pbtxt(model, max_batch_size))
    return out
