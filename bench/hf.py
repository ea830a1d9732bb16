"""What ``modelport convert --to onnx`` of a Hugging Face directory costs over a bare export, on tiny BERT
(question-answering), ViT (image-classification) and wav2vec2 (CTC) models saved with save_pretrained.

The peer the issue names, ``optimum-cli export onnx``, does not install beside this project's pins: optimum-onnx
0.1.0 (and optimum 1.x, which carried the exporter) require transformers < 4.58, and the project runs
transformers 5 (``pip install --dry-run optimum-onnx`` would downgrade transformers to 4.57.6). So, as the
issue allows, the peer is the bare path a user would write: ``AutoModelFor<task>.from_pretrained`` +
``torch.onnx.export(dynamo=False, opset 17)`` with the same inputs and dynamic axes + one onnxruntime run,
nothing else checked (docs/decisions.md "## Hugging Face: bench/hf.py against a bare export").

Measured three ways, each repeated (median): bare in-process; ``modelport.converters.pipeline.convert`` in-process
with ``--no-validate`` (export + the five ONNX checks) and with validation (the gate and the full report); and
the ``modelport convert`` CLI against the bare script, each in its own Python process (as optimum-cli would be).
Not part of CI; run on a quiet machine:

    python bench/hf.py [--repeat 3] [--models bert-question-answering,vit-image-classification,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tiny-model builders the tests use

MODELS = ("bert-question-answering", "vit-image-classification", "wav2vec2-automatic-speech-recognition")

def bare_export(src: str, out: str, auto: str, specs_json: str, outputs_json: str) -> None:
    """The bare path: load with the Auto class, torch.onnx.export with the same inputs and axes, one ORT run."""
    import onnxruntime as ort
    import torch
    import transformers

    from modelport.spec import InputSpec, make_inputs

    specs = [InputSpec.from_json(s) for s in json.loads(specs_json)]
    names = [s.name for s in specs]
    model = getattr(transformers, auto).from_pretrained(src).eval()
    feed = make_inputs(specs, seed=0)

    class Call(torch.nn.Module):  # what a user writes: keyword call, tensors out
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.m(**dict(zip(names, args, strict=True)), return_dict=True)
            return tuple(v for v in out.values() if torch.is_tensor(v))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Call(), tuple(torch.from_numpy(feed[n]) for n in names), out, dynamo=False,
                          opset_version=17, input_names=names, output_names=json.loads(outputs_json),
                          dynamic_axes={s.name: s.dynamic_axes for s in specs})
    session = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})


def _bare_args(src: Path, out: Path) -> list[str]:
    from modelport.sources import hf_tasks, load_source
    from modelport.sources.hf import read_config

    loaded = load_source(str(src))
    auto = hf_tasks.auto_class(loaded.record.task or "", read_config(src))
    return [str(src), str(out), auto, json.dumps([s.to_json() for s in loaded.inputs]),
            json.dumps(loaded.output_names)]


def bare(src: Path, work: Path) -> float:
    args = _bare_args(src, work / f"bare-{time.monotonic_ns()}.onnx")
    t0 = time.perf_counter()
    bare_export(*args)
    return time.perf_counter() - t0


def library(src: Path, work: Path, validate: bool) -> float:
    from modelport.converters.options import ConvertOptions
    from modelport.converters.pipeline import convert

    out = work / f"lib-{validate}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        convert(str(src), ConvertOptions(targets=("onnx",), opsets=(17,), validate=validate, out=out))
    return time.perf_counter() - t0


def processes(src: Path, work: Path) -> tuple[float, float]:
    """(modelport convert CLI, bare script), each in a fresh Python process."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "modelport.cli", "convert", str(src), "--to", "onnx", "--out",
                    str(work / f"cli-{time.monotonic_ns()}"), "--quiet"], check=True)
    cli = time.perf_counter() - t0
    args = _bare_args(src, work / f"bare-cli-{time.monotonic_ns()}.onnx")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--bare", *args], check=True, capture_output=True)
    return cli, time.perf_counter() - t0


def measure(name: str, work: Path, repeat: int) -> dict[str, Any]:
    from helpers.hf_models import save

    src = save(name, work / name)
    library(src, work, False)  # warm: first imports and allocations are nobody's cost
    runs: dict[str, list[float]] = {"bare_s": [], "no_validate_s": [], "validate_s": [], "cli_s": [],
                                    "bare_process_s": []}
    for _ in range(repeat):
        runs["bare_s"].append(bare(src, work))
        runs["no_validate_s"].append(library(src, work, False))
        runs["validate_s"].append(library(src, work, True))
        cli, bare_process = processes(src, work)
        runs["cli_s"].append(cli)
        runs["bare_process_s"].append(bare_process)
    med = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    return {"model": name, **med,
            "no_validate_x_bare": round(med["no_validate_s"] / med["bare_s"], 2),
            "validate_x_bare": round(med["validate_s"] / med["bare_s"], 2),
            "cli_x_bare_process": round(med["cli_s"] / med["bare_process_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--bare", nargs=5, metavar="ARG", help=argparse.SUPPRESS)  # the bare path's own process
    args = parser.parse_args()
    if args.bare:
        bare_export(*args.bare)
        return
    import torch

    from modelport.environment import package_versions

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="modelport-bench-hf-") as tmp:
        rows = [measure(m, Path(tmp), args.repeat) for m in args.models.split(",")]
    result = {"peer": "bare torch.onnx.export + one onnxruntime run (optimum-onnx needs transformers < 4.58)",
              "repeat": args.repeat, "threads": torch.get_num_threads(), "versions": package_versions(),
              "rows": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"peer: {result['peer']}; median of {args.repeat}; {result['threads']} torch threads")
    print(f"{'model':<40} {'bare':>7} {'no-val':>7} {'x':>6} {'valid.':>7} {'x':>6} {'cli':>7} {'bare-p':>7} {'x':>6}")
    for r in rows:
        print(f"{r['model']:<40} {r['bare_s']:7.2f} {r['no_validate_s']:7.2f} {r['no_validate_x_bare']:6.2f} "
              f"{r['validate_s']:7.2f} {r['validate_x_bare']:6.2f} {r['cli_s']:7.2f} {r['bare_process_s']:7.2f} "
              f"{r['cli_x_bare_process']:6.2f}")


if __name__ == "__main__":
    main()
