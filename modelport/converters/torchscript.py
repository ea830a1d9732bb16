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


FULL_PASSES = "freeze+optimize_for_inference"
#: kept on the frozen module: code that walks ``module.modules()`` for ``.training`` (modelport itself, when
#: the archive comes back as a source) must still find it
PRESERVED = ["training"]


def _save(compiled: torch.jit.ScriptModule, dest: Path, extra: dict[str, str]) -> None:
    try:
        compiled.save(str(dest), _extra_files=extra)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"cannot save the TorchScript archive: {first_line(str(e))}") from None


def _loads_back(dest: Path) -> bool:
    try:
        torch.jit.load(str(dest))
        return True
    except Exception:  # noqa: BLE001 - any failure means the archive is not shippable as is
        return False


#: the ops ``optimize_for_inference`` is for: its MKLDNN conversion gives convolutions their layouts
_CONVOLUTIONS = {f"aten::{op}" for op in ("_convolution", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                          "conv_transpose2d", "conv_transpose3d")}


def has_convolution(graph: torch._C.Graph) -> bool:
    """Whether the (frozen, hence inlined) graph calls a convolution, in any nested block."""
    todo = [graph.nodes()]
    while todo:
        for node in todo.pop():
            if node.kind() in _CONVOLUTIONS:
                return True
            todo.extend(b.nodes() for b in node.blocks())
    return False


def for_inference(compiled: torch.jit.ScriptModule, notes: list[str]) -> tuple[torch.jit.ScriptModule, str | None]:
    """``torch.jit.freeze``, + ``optimize_for_inference`` for graphs with convolutions (docs/decisions.md,
    "TorchScript: frozen for inference", "TorchScript: optimize_for_inference only with convolutions").

    Returns the module and what was applied (None: kept unfrozen, with a note saying why). Freezing inlines
    the weights and submodules as constants, which lets the optimizer fold conv+batchnorm and fuse ops.
    """
    compiled.eval()
    try:
        frozen = torch.jit.freeze(compiled, preserved_attrs=PRESERVED)
    except Exception as e:  # noqa: BLE001 - freezing raises many exception types
        notes.append(f"torch.jit.freeze failed ({first_line(str(e), 200)}); shipped unfrozen")
        return compiled, None
    if not has_convolution(frozen.graph):
        # it would rewrite each aten::linear into a matmul with a transposed constant plus an add: measured
        # 10-20% slower than freeze alone on BERT and bert-small; its MKLDNN layouts are for convolutions
        return frozen, "freeze"
    try:
        return torch.jit.optimize_for_inference(frozen), FULL_PASSES
    except Exception as e:  # noqa: BLE001 - the pass raises many exception types
        notes.append(f"torch.jit.optimize_for_inference failed ({first_line(str(e), 200)}); shipped frozen only")
        return torch.jit.freeze(compiled, preserved_attrs=PRESERVED), "freeze"


def export_torchscript(module: nn.Module, args: tuple[torch.Tensor, ...], specs: list[InputSpec],
                       output_names: list[str], method: str, dest: Path, freeze: bool = True) -> Exported:
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
        applied, unfrozen = None, compiled
        if freeze:
            compiled, applied = for_inference(compiled, notes)
        extra = {EXTRA_FILE: metadata.dumps(specs, output_names)}
        _save(compiled, dest, extra)
        if applied == FULL_PASSES and not _loads_back(dest):
            # optimize_for_inference can turn conv weights into MKLDNN constants, which save but do not load
            # back; freeze alone (which runs the frozen-graph folding passes) does.
            compiled, applied = torch.jit.freeze(unfrozen, preserved_attrs=PRESERVED), "freeze"
            notes.append("torch.jit.optimize_for_inference made an archive that does not load back (MKLDNN "
                         "constants); shipped frozen only")
            _save(compiled, dest, extra)
    elapsed = time.perf_counter() - t0
    return Exported("torchscript", dest, [dest], elapsed, method=used, dynamic_axes=dynamic_symbols(specs),
                    warnings=notes + cap.warnings, extra={"frozen": applied is not None, "inference_passes": applied})
