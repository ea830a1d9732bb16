"""``--to aoti``: the ``torch.export`` program compiled by AOTInductor into a ``.pt2`` package.

The package holds a shared object compiled from generated C++ for this machine's CPU (docs/decisions.md,
"AOTInductor: --to aoti"). The compile needs a C++ compiler; its absence is found before any work and worded
in one line. The export and the compile are timed separately and both recorded.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.capture import capture, first_line
from modelport.converters.example import dynamic_symbols
from modelport.converters.exported import Exported
from modelport.converters.pt2 import capture_program
from modelport.errors import ExportError
from modelport.runners.aoti_runner import register_produced
from modelport.spec import InputSpec

NO_COMPILER_HINT = "install g++ (apt-get install g++) or set CXX to a C++17 compiler, or drop --to aoti"
#: the inductor options a package is compiled with, as measured by bench/aoti_options.py: ``freezing`` (constant
#: folding, weights prepacked for oneDNN, bias and activation fused into the GEMM) is on unless asked off; the
#: others did not beat the defaults beyond the noise (docs/decisions.md, "AOTInductor: freezing, under no_grad")
RECORDED_OPTIONS = ("freezing", "max_autotune", "max_autotune_gemm_backends", "epilogue_fusion",
                    "cpp.weight_prepack")


def find_compiler() -> str:
    """The C++ compiler AOTInductor will run: ``$CXX`` (read now, not at torch's import) or torch's default."""
    wanted = os.environ.get("CXX")
    if not wanted:
        from torch._inductor import config

        configured = config.cpp.cxx if isinstance(config.cpp.cxx, (list, tuple)) else (config.cpp.cxx,)
        wanted = next((c for c in configured if c), "g++")
    found = shutil.which(wanted)
    if found is None:
        raise ExportError(f"--to aoti needs a C++ compiler, and {wanted!r} was not found", NO_COMPILER_HINT)
    return found


def compile_patch(compiler: str, freezing: bool) -> dict[str, object]:
    """The inductor config patch of a compile: only the compiler found (torch's own search list may otherwise
    try to download gcc via conda), and freezing."""
    return {"cpp.cxx": (compiler,), "freezing": freezing}


def inductor_options() -> dict[str, object]:
    """The compile options in force (inside the compile's patch), as the manifest records them."""
    from torch._inductor import config

    out: dict[str, object] = {}
    for name in RECORDED_OPTIONS:
        value: object = config
        for part in name.split("."):
            value = getattr(value, part, None)
        out[name] = value if isinstance(value, (bool, int, float, str)) or value is None else str(value)
    return out


def export_aoti(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec], dest: Path,
                freezing: bool = True) -> Exported:
    """Capture with ``torch.export`` (the .pt2 target's capture), compile with AOTInductor, write ``dest``.

    ``freezing`` folds the weights into the package as constants (prepacked for oneDNN's GEMMs and
    convolutions); off, they stay plain constants a caller may swap. The compile runs with grad off, because
    inductor applies freezing only to an inference compile and ignores it, silently, under grad mode.
    """
    compiler = find_compiler()  # before the capture: a missing compiler should not cost an export
    notes: list[str] = []
    t0 = time.perf_counter()
    with capture() as cap:
        program = capture_program(module, args, specs, notes, "an AOTInductor package", "torch.export")
    return compile_program(program, specs, dest, freezing, compiler, t0, notes + cap.warnings)


def compile_program(program: torch.export.ExportedProgram, specs: list[InputSpec], dest: Path, freezing: bool,
                    compiler: str, t0: float, notes: list[str]) -> Exported:
    """``program`` compiled by AOTInductor with ``compiler`` (``find_compiler``) into the package ``dest``;
    ``t0`` is when the caller began (capture or quantization), ``notes`` its warnings. Also the int8 path: a PT2E
    program, whose quantize/dequantize patterns freezing lowers to oneDNN's int8 kernels."""
    from torch._inductor import config

    t_compile = time.perf_counter()
    with capture() as cap:
        try:
            with config.patch(compile_patch(compiler, freezing)), torch.no_grad():
                options = inductor_options()
                path = torch._inductor.aoti_compile_and_package(program, package_path=str(dest))
        except Exception as e:  # noqa: BLE001 - compile errors come as many types
            raise ExportError(f"AOTInductor cannot compile the model: {first_line(str(e))}",
                              "use --to pt2 or --to torchscript") from None
    compile_s = time.perf_counter() - t_compile
    digest = register_produced(path)
    extra = {"compile_time_s": round(compile_s, 3), "capture_time_s": round(t_compile - t0, 3),
             "device": "cpu", "compiler": compiler, "sha256": digest, "inductor_options": options}
    return Exported("aoti", Path(path), [Path(path)], time.perf_counter() - t0, exporter="aotinductor",
                    dynamic_axes=dynamic_symbols(specs), warnings=notes + cap.warnings, extra=extra)
