"""An artifact described the way an inference server publishes a model: names, datatypes and shapes.

Inputs come from the manifest's input specs (a dynamic axis is -1); outputs from one run of the artifact's
runner on the example input, since the manifest records output names but not their types or ranks.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InputError
from modelport.manifest import Artifact, RunManifest, load_manifest, verify_artifact_files
from modelport.runners import load_runner
from modelport.runners.base import RunnerOptions
from modelport.spec import make_inputs

#: numpy dtype -> Open Inference Protocol datatype (Triton's config.pbtxt prefixes TYPE_)
OIP_DATATYPES: dict[str, str] = {
    "float32": "FP32", "float16": "FP16", "float64": "FP64", "int64": "INT64", "int32": "INT32",
    "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL",
}
#: artifact targets a server runtime can load (a .pt2 program or an AOTInductor package cannot be served yet)
SERVABLE = ("onnx", "torchscript")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    datatype: str  # OIP: FP32, INT64, ...
    shape: list[int]  # -1 = any size

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ServedModel:
    """One artifact as a served model."""

    name: str
    artifact_id: str
    kind: str  # onnx | torchscript
    path: Path  # the artifact's main file, absolute
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    files: list[Path] = field(default_factory=list)  # every file of the artifact (external data included)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "artifact": self.artifact_id, "kind": self.kind, "path": str(self.path),
                "inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs]}


def oip_datatype(dtype: np.dtype | str) -> str:
    name = np.dtype(dtype).name
    if name not in OIP_DATATYPES:
        raise InputError(f"a tensor of dtype {name} has no Open Inference Protocol datatype",
                         f"servable dtypes: {', '.join(OIP_DATATYPES)}")
    return OIP_DATATYPES[name]


def pick_artifact(manifest: RunManifest, artifact_id: str | None) -> Artifact:
    """The chosen artifact, or the first ONNX one (else the first TorchScript one)."""
    if artifact_id is not None:
        art = manifest.artifact(artifact_id)
        if art.target not in SERVABLE:
            raise InputError(f"artifact {art.id!r} is a {art.target} artifact; modelport serve serves "
                             f"{' and '.join(SERVABLE)} artifacts", "pick one with --artifact ID")
        return art
    for target in SERVABLE:
        for art in manifest.artifacts:
            if art.target == target:
                return art
    raise InputError("the run has no onnx or torchscript artifact to serve",
                     "convert with --to onnx or --to torchscript first")


def describe_artifact(run_dir: str | Path, artifact_id: str | None = None, name: str | None = None,
                      options: RunnerOptions = RunnerOptions()) -> ServedModel:
    """The served form of ``artifact_id`` (default: ``pick_artifact``) of the run in ``run_dir``."""
    run_dir = Path(run_dir).resolve()
    manifest = load_manifest(run_dir)
    art = pick_artifact(manifest, artifact_id)
    if art.components:  # a generation loop over several graphs is not one served tensor model
        raise InputError(f"artifact {art.id!r} is a generative model of {len(art.components)} components "
                         f"({', '.join(c.name for c in art.components)}); serving it is not supported yet",
                         "serve a single-graph artifact (a task that is not text or speech generation)")
    verify_artifact_files(run_dir, art)
    name = name or art.id
    if not _NAME.match(name):
        raise InputError(f"model name {name!r} is not a plain name", "use letters, digits, '.', '_' and '-'")
    in_names = [s.name for s in manifest.inputs]
    runner = load_runner(art.target, run_dir / art.path, in_names, list(manifest.output_names), options)
    try:
        outs = runner.infer(make_inputs(manifest.inputs, manifest.seed))
    finally:
        runner.close()
    inputs = [TensorInfo(s.name, oip_datatype(s.np_dtype),
                         [-1 if i in s.dynamic_axes else d for i, d in enumerate(s.shape)]) for s in manifest.inputs]
    batch_dynamic = bool(manifest.inputs) and all(s.batch_dynamic for s in manifest.inputs)
    batch = manifest.inputs[0].shape[0] if manifest.inputs else None
    outputs = []
    for out_name, value in zip(manifest.output_names, outs.values(), strict=False):
        axes = {int(a) for a in art.dynamic_axes.get(out_name, {})}
        if batch_dynamic and value.ndim and value.shape[0] == batch:
            axes.add(0)
        outputs.append(TensorInfo(out_name, oip_datatype(value.dtype),
                                  [-1 if i in axes else int(d) for i, d in enumerate(value.shape)]))
    return ServedModel(name, art.id, art.target, run_dir / art.path, inputs, outputs,
                       [run_dir / f.path for f in art.files])
