"""What one exporter call produced, before it becomes a manifest ``Artifact``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Exported:
    target: str  # torchscript | onnx | pt2
    path: Path  # the main file
    files: list[Path]  # the main file first, then external data files
    export_time_s: float
    opset: int | None = None
    exporter: str | None = None
    ir_version: int | None = None
    method: str | None = None
    simplified: bool = False
    dynamic_axes: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
