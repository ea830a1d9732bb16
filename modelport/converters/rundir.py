"""Where a convert run goes: its default name and directory, and the checks on ``--out`` before any work."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from modelport.errors import InputError
from modelport.fsutil import check_new_dir, ensure_writable_dir

FILE_NAMES = {"torchscript": "model.ts", "pt2": "model.pt2", "aoti": "model.aoti.pt2"}


def onnx_file_name(opset: int) -> str:
    return f"model.opset{opset}.onnx"


def onnx_level_file_name(opset: int, level: str) -> str:
    return f"model.opset{opset}.{level}.onnx"


def run_name(source: str | None, source_options: dict[str, Any]) -> str:
    """A file-name-safe name for the run: the zoo name, the source file's stem, or the model class."""
    if source and source.startswith("zoo:"):
        base = source[4:]
    elif source:
        base = Path(source.rstrip("/")).name.split(".")[0]
    elif source_options.get("model_class"):
        base = re.split(r"[:.]", source_options["model_class"])[-1]
    else:
        base = Path(source_options.get("state_dict") or "model").name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", base) or "model"


def default_run_dir(name: str) -> Path:
    base = Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, n = base, 1
    while candidate.exists():  # two runs in the same second get their own directories
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def prepare_out(out: Path) -> bool:
    """Refuse a non-empty or symlinked ``out``; check it can be written. Returns whether we created it."""
    check_new_dir(out)
    created = not out.exists()
    ensure_writable_dir(out)
    try:
        ensure_writable_dir(out.resolve().parent)
    except InputError:
        if created:
            out.rmdir()
        raise
    return created
