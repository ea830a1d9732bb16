"""Shared helpers for the convert tests: run the real CLI in-process, and check artifacts independently.

The artifact checks load files with onnxruntime / torch.jit / torch.export directly (not through
modelport's runners), so the tests do not grade modelport with its own loader.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from modelport.cli import main
from modelport.spec import InputSpec, make_inputs


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``modelport ARGS`` in this process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def manifest(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "manifest.json").read_text())


def specs_of(m: dict) -> list[InputSpec]:
    return [InputSpec.from_json(s) for s in m["inputs"]]


def _outputs(out: object) -> list[np.ndarray]:
    if isinstance(out, torch.Tensor):
        return [out.detach().numpy()]
    if hasattr(out, "to_tuple"):  # a Hugging Face ModelOutput
        out = out.to_tuple()
    return [o.detach().numpy() for o in out]


def run_artifact(run_dir: Path, art: dict, feed: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    path = str(Path(run_dir) / art["path"])
    if art["target"] == "onnx":
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return sess.run(None, feed)
    tensors = [torch.from_numpy(feed[n]) for n in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(path) if art["target"] == "torchscript" else torch.export.load(path).module()
    with torch.no_grad():
        return _outputs(module(*tensors))


def assert_matches_eager(run_dir: Path, module: torch.nn.Module, atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Every artifact equals ``module`` on two input sets: the example, and a negated one at another batch."""
    m = manifest(run_dir)
    specs = specs_of(m)
    names = [s.name for s in specs]
    other_batch = specs[0].shape[0] + 1 if any(s.batch_dynamic for s in specs) else None
    module.eval()
    for seed, sign, batch in ((m["seed"], 1, None), (m["seed"] + 1, -1, other_batch)):
        feed = make_inputs(specs, seed, batch=batch, sign=sign)
        with torch.no_grad():
            ref = _outputs(module(*[torch.from_numpy(feed[n]) for n in names]))
        for art in m["artifacts"]:
            got = run_artifact(run_dir, art, feed, names)
            assert len(got) == len(ref), art["id"]
            for g, r in zip(got, ref, strict=True):
                np.testing.assert_allclose(g, r, atol=atol, rtol=rtol, err_msg=f"{art['id']} seed {seed}")


def assert_onnx_file(run_dir: Path, art: dict, opset: int) -> onnx.ModelProto:
    """The file says ``opset`` and passes the full checker."""
    path = Path(run_dir) / art["path"]
    model = onnx.load(str(path), load_external_data=False)
    assert {i.domain: i.version for i in model.opset_import}.get("", None) == opset
    onnx.checker.check_model(str(path), full_check=True)
    assert art["opset"] == opset and art["ir_version"] == model.ir_version
    return model


def dim_params(model: onnx.ModelProto, input_name: str) -> list[str]:
    vi = next(i for i in model.graph.input if i.name == input_name)
    return [d.dim_param for d in vi.type.tensor_type.shape.dim]


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in Path(directory).iterdir()) if Path(directory).exists() else []
