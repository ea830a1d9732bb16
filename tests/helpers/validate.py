"""Build small run directories for the validator tests, with the exporters called directly.

The validators must judge artifacts that anyone produced (including broken ones), so the tests make them
here rather than through ``modelport convert``: a perturbed ONNX, a traced branchy model, a static batch.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from modelport import zoo
from modelport.manifest import Artifact, ArtifactFile, RunManifest, SourceRecord
from modelport.spec import InputSpec, make_inputs


def example_args(specs: list[InputSpec], seed: int = 0) -> tuple[torch.Tensor, ...]:
    feed = make_inputs(specs, seed)
    return tuple(torch.from_numpy(feed[s.name]) for s in specs)


def export_onnx(module: torch.nn.Module, specs: list[InputSpec], output_names: list[str], path: Path,
                opset: int = 17, dynamic: bool = True) -> None:
    axes = {s.name: dict(s.dynamic_axes) for s in specs if s.dynamic_axes} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example_args(specs), str(path), input_names=[s.name for s in specs],
                          output_names=output_names, opset_version=opset, dynamic_axes=axes, dynamo=False)


def export_torchscript(module: torch.nn.Module, specs: list[InputSpec], path: Path, method: str = "script") -> str:
    """Script (or trace); ``auto`` scripts and falls back to tracing, as convert does. Returns the method used."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = None
        if method in ("script", "auto"):
            try:
                sm = torch.jit.script(module)
                method = "script"
            except RuntimeError:
                if method == "script":
                    raise
        if sm is None:
            sm = torch.jit.trace(module, example_args(specs))
            method = "trace"
        torch.jit.save(sm, str(path))
    return method


def export_pt2(module: torch.nn.Module, specs: list[InputSpec], path: Path) -> None:
    dims = {s.name: {a: torch.export.Dim.AUTO for a in s.dynamic_axes} for s in specs}
    program = torch.export.export(module, example_args(specs), dynamic_shapes=tuple(dims[s.name] for s in specs))
    torch.export.save(program, str(path))


def make_run(run_dir: Path, name: str, targets: tuple[str, ...] = ("onnx", "torchscript", "pt2"),
             method: str = "auto", seed: int = 0, model_args: dict | None = None,
             dynamic: bool = True) -> RunManifest:
    """A run directory for zoo model ``name`` with one artifact per target, and its manifest."""
    run_dir.mkdir(parents=True, exist_ok=True)
    entry = zoo.get(name)
    module = entry.build(seed=seed, model_args=model_args)
    specs = entry.input_specs(model_args)
    if not dynamic:
        specs = [InputSpec(s.name, s.shape, s.dtype, s.low, s.high) for s in specs]
    outputs = list(entry.output_names)
    artifacts = []
    for target in targets:
        t = time.perf_counter()
        if target == "onnx":
            rel = "model.onnx"
            export_onnx(module, specs, outputs, run_dir / rel, dynamic=dynamic)
            extra = {"opset": 17, "exporter": "torchscript"}
        elif target == "torchscript":
            rel = "model.pt"
            extra = {"method": export_torchscript(module, specs, run_dir / rel, method)}
        else:
            rel = "model.pt2"
            export_pt2(module, specs, run_dir / rel)
            extra = {}
        aid = {"onnx": "onnx-opset17", "torchscript": "torchscript", "pt2": "pt2"}[target]
        artifacts.append(Artifact(id=aid, target=target, path=rel, files=[ArtifactFile.of(run_dir, rel)],
                                  export_time_s=time.perf_counter() - t, **extra))
    record = SourceRecord(kind="zoo", spec=f"zoo:{name}", model_class=entry.model_class,
                          model_args=entry.args(model_args))
    manifest = RunManifest(source=record, inputs=specs, output_names=outputs, seed=seed, artifacts=artifacts)
    manifest.save(run_dir)
    return manifest


def perturb_onnx(run_dir: Path, artifact_id: str, initializer: str | None = None, shape: tuple[int, ...] | None = None,
                 index: tuple | slice = (), delta: float = 1e-3, rehash: bool = True) -> str:
    """Add ``delta`` to ``initializer[index]`` (the initializer found by name, or by its shape) of an ONNX
    artifact; with ``rehash`` the manifest records the new hash, as if the exporter had written this file."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from modelport.manifest import load_manifest

    manifest = load_manifest(run_dir)
    art = manifest.artifact(artifact_id)
    path = run_dir / art.path
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        if init.name == initializer or (initializer is None and tuple(init.dims) == shape):
            arr = numpy_helper.to_array(init).copy()
            arr[index] += np.asarray(delta, dtype=arr.dtype)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
            break
    else:
        raise LookupError(f"no initializer {initializer or shape} in {path}")
    onnx.save(model, str(path))
    if rehash:
        art.files = [ArtifactFile.of(run_dir, f.path) for f in art.files]
        manifest.save(run_dir)
    return init.name
