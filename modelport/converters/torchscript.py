"""TorchScript export: ``torch.jit.script`` or ``torch.jit.trace``, saved with the input spec inside the archive.

``auto`` scripts first (scripting keeps data-dependent control flow) and falls back to tracing with a
recorded warning. A traced model is only as good as the example it saw; the post-export equivalence check
runs it on a second input set of the opposite sign to catch that (docs/decisions.md, "TorchScript: script
first, check traces").
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from modelport.converters.capture import capture, first_line
from modelport.converters.example import dynamic_symbols
from modelport.converters.exported import Exported
from modelport.errors import ExportError
from modelport.sources import metadata
from modelport.sources.metadata import EXTRA_FILE
from modelport.spec import InputSpec

#: the archive member holding the input spec; the sources module reads it back


def _script(module: nn.Module) -> torch.jit.ScriptModule:
    return torch.jit.script(module)


def _trace(module: nn.Module, args: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
    # check_trace re-runs the trace on the same inputs, which cannot catch a data-dependent branch; our
    # equivalence check on a second input set does.
    return torch.jit.trace(module, args, check_trace=False)


def export_torchscript(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec],
                       output_names: list[str], method: str, dest: Path) -> Exported:
    notes: list[str] = []
    t0 = time.perf_counter()
    with capture() as cap:
        if method in ("script", "auto"):
            try:
                compiled = _script(module)
                used = "script"
            except Exception as e:  # noqa: BLE001 - scripting fails with many exception types
                if method == "script":
                    raise ExportError(f"torch.jit.script cannot compile the model: {first_line(str(e))}",
                                      "use --method trace (checked on two input sets) or --to pt2") from None
                notes.append(f"torch.jit.script failed ({first_line(str(e), 200)}); fell back to torch.jit.trace, "
                             "which records one path through data-dependent branches")
                compiled, used = None, "trace"
        else:
            compiled, used = None, "trace"
        if compiled is None:
            try:
                with torch.no_grad():
                    compiled = _trace(module, args)
            except Exception as e:  # noqa: BLE001
                raise ExportError(f"torch.jit.trace failed: {first_line(str(e))}", "try --to pt2") from None
        extra = {EXTRA_FILE: metadata.dumps(specs, output_names)}
        try:
            compiled.save(str(dest), _extra_files=extra)
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"cannot save the TorchScript archive: {first_line(str(e))}") from None
    elapsed = time.perf_counter() - t0
    return Exported("torchscript", dest, [dest], elapsed, method=used, dynamic_axes=dynamic_symbols(specs),
                    warnings=notes + cap.warnings)
