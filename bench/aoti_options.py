"""AOTInductor compile options against eager, in a plain loop: where does ``--to aoti`` lose on BERT?

For one zoo model (default ``bert``), each variant captures the model with ``torch.export`` (modelport's own
capture: the spec's dynamic axes, or the batch and sequence pinned to one size), compiles it with AOTInductor
under an inductor config patch, and times ``model(*args)`` in a loop at each batch size next to the eager
module (same threads, backends rotated each round so drifting load does not always hit the same one).
Prints samples/s and the ratio to eager, the compile time, and what the generated wrapper calls for its
GEMMs (aten ``addmm``/``bmm`` = MKL/oneDNN through aten, ``mkldnn``/``mkl_linear`` = prepacked weights,
``cpp_fused_*`` = inductor's own C++ loops, ``_scaled_dot_product`` = fused attention). Not part of CI:

    python bench/aoti_options.py [--model bert] [--batch 1,8,32] [--threads 2] [--seconds 4]
                                 [--variant default --variant freezing ...] [--work DIR] [--json]

Variants (``--variant``, repeatable, default all but ``autotune``): default (what ``--to aoti`` ships),
freezing (``freezing=True``: constant folding and weight prepacking), static32 (batch and sequence pinned to
32 x the example sequence), freezing_static32, autotune (``max_autotune`` with the CPP GEMM template, needs
freezing; its compile is many minutes), no_epilogue (``epilogue_fusion=False``), decomposed (BERT's attention
spelled out, with its eager twin: what the zoo's fused attention buys). docs/decisions.md,
"Fast artifacts: measured".
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

VARIANTS: dict[str, tuple[dict[str, Any], int | None]] = {
    # name: (inductor config patch, batch the capture pins, None = the spec's dynamic axes)
    "default": ({}, None),
    "freezing": ({"freezing": True}, None),
    "static32": ({}, 32),
    "freezing_static32": ({"freezing": True}, 32),
    "no_epilogue": ({"epilogue_fusion": False}, None),
    "autotune": ({"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"}, None),
    # BERT only: the zoo's attention spelled out (matmul, softmax, matmul: what the zoo exported before it called
    # scaled_dot_product_attention), with an eager_decomposed reference beside it: what fused attention buys
    "decomposed": ({}, None),
}
DEFAULT_VARIANTS = [v for v in VARIANTS if v not in ("autotune", "decomposed")]
_CALLS = re.compile(r"aoti_torch_cpu_[a-z_0-9]+|mkldnn_[a-z_0-9]+|mkl_linear|_scaled_dot_product[a-z_]*|cpp_fused_\w+")


def load(model: str) -> tuple[torch.nn.Module, list[Any]]:
    from modelport.sources import load_source

    loaded = load_source(f"zoo:{model}", seed=0)
    return loaded.module, loaded.inputs


def _decomposed_forward(self: Any, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
    q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
    scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + mask_bias
    ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
    b, _, s, _ = ctx.shape
    return self.out(ctx.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))


def with_decomposed_attention(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of a zoo BERT whose attention layers spell attention out (same weights)."""
    import copy
    import types

    from modelport.zoo.bert import SelfAttention

    twin = copy.deepcopy(module)
    for m in twin.modules():
        if isinstance(m, SelfAttention):
            m.forward = types.MethodType(_decomposed_forward, m)
    return twin


def capture(module: torch.nn.Module, specs: list[Any], pin: int | None) -> torch.export.ExportedProgram:
    from modelport.converters.example import example_args, export_specs
    from modelport.converters.pt2 import export_program

    specs = export_specs(specs)
    if pin is not None:  # one static shape: the batch the bench's Offline uses, the example's sequence
        specs = [replace(s, shape=(pin, *s.shape[1:]), dynamic_axes={}) for s in specs]
    return export_program(module, example_args(specs, 0), specs, [])


def compile_variant(program: Any, patch: dict[str, Any], dest: Path) -> tuple[Any, float]:
    """The package at ``dest`` (compiled now unless ``--work`` already holds it) and the compile's seconds."""
    from torch._inductor import config

    t0 = time.perf_counter()
    if not dest.is_file():
        # grad off: inductor applies ``freezing`` (constant folding, prepacked oneDNN weights) only to an
        # inference compile, and silently ignores it under grad mode
        with config.patch(patch), torch.no_grad():
            torch._inductor.aoti_compile_and_package(program(), package_path=str(dest))
    return torch._inductor.aoti_load_package(str(dest)), time.perf_counter() - t0


def wrapper_calls(package: Path) -> dict[str, int]:
    """What the generated wrapper calls, counted (fused kernels grouped as cpp_fused)."""
    with zipfile.ZipFile(package) as z:
        text = "".join(z.read(n).decode(errors="replace") for n in z.namelist() if n.endswith("wrapper.cpp"))
    found = Counter("cpp_fused" if c.startswith("cpp_fused") else c for c in _CALLS.findall(text))
    return dict(found.most_common())


def feeds(specs: list[Any], batches: list[int]) -> dict[int, tuple[torch.Tensor, ...]]:
    from modelport.spec import make_inputs

    out = {}
    for b in batches:
        feed = make_inputs(specs, 0, batch=b)
        out[b] = tuple(torch.from_numpy(feed[s.name]) for s in specs)
    return out


def measure(fns: dict[str, Any], inputs: dict[int, tuple[torch.Tensor, ...]], pins: dict[str, int | None],
            seconds: float) -> dict[int, dict[str, float]]:
    """samples/s per batch and backend from the median call time, calls interleaved one by one (A B C A B C ...)
    for about ``seconds`` per backend: on a machine other jobs load, the load then drifts over every backend
    alike, where back-to-back loops of a second each measured the load as much as the backend."""
    table: dict[int, dict[str, float]] = {}
    with torch.inference_mode():
        for b, args in inputs.items():
            usable = [k for k in fns if pins.get(k) in (None, b)]
            times: dict[str, list[float]] = {k: [] for k in usable}
            for key in usable:  # warm: first calls of a shape allocate and pick kernels
                for _ in range(3):
                    fns[key](*args)
            start = time.perf_counter()
            while time.perf_counter() - start < seconds * len(usable) or min(map(len, times.values())) < 5:
                for key in usable:
                    t = time.perf_counter()
                    fns[key](*args)
                    times[key].append(time.perf_counter() - t)
            table[b] = {k: b / statistics.median(v) for k, v in times.items()}
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert")
    ap.add_argument("--batch", default="1,8,32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4.0, help="interleaved calls per backend and batch size")
    ap.add_argument("--work", type=Path, help="keep the packages here and reuse them")
    ap.add_argument("--variant", action="append", choices=list(VARIANTS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    module, specs = load(a.model)
    work = a.work or Path(tempfile.mkdtemp(prefix="modelport-aoti-options-"))
    work.mkdir(parents=True, exist_ok=True)
    fns: dict[str, Any] = {"eager": module}
    pins: dict[str, int | None] = {"eager": None}
    info: dict[str, Any] = {}
    for name in a.variant or DEFAULT_VARIANTS:
        patch, pin = VARIANTS[name]
        source = module
        if name == "decomposed":
            source = fns["eager_decomposed"] = with_decomposed_attention(module)
            pins["eager_decomposed"] = None
        fn, secs = compile_variant(lambda pin=pin, m=source: capture(m, specs, pin), patch, work / f"{name}.pt2")
        fns[name], pins[name] = fn, pin
        info[name] = {"compile_s": round(secs, 1), "patch": patch, "pinned_batch": pin,
                      "calls": wrapper_calls(work / f"{name}.pt2")}
        if not a.json:
            print(f"{name}: compiled in {secs:.0f} s; wrapper calls {info[name]['calls']}", flush=True)
    table = measure(fns, feeds(specs, [int(b) for b in a.batch.split(",")]), pins, a.seconds)
    if a.json:
        print(json.dumps({"variants": info, "samples_per_s": table, "threads": a.threads}, indent=1))
        return
    print(f"\n{a.model}: samples/s (x eager), {a.threads} threads")
    for b, row in table.items():
        base = row["eager"]
        print(f"  batch {b:<3} " + "  ".join(f"{k} {v:.1f} ({v / base:.2f})" for k, v in row.items()))


if __name__ == "__main__":
    main()
