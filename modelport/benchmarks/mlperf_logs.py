"""Reading LoadGen's output files: the MLLOG detail log, the summary, and the accuracy log."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.errors import ModelportError

DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"
ACCURACY = "mlperf_log_accuracy.json"
#: not LoadGen's: the SUT's own issue-to-completion latencies (ns) of a performance run, for the plots
SUT_LATENCIES = "sut_latencies_ns.npy"
_PREFIX = ":::MLLOG "


@dataclass
class DetailLog:
    values: dict[str, Any]  # last value of every key
    errors: list[str] = field(default_factory=list)  # error_* messages
    warnings: list[str] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def results(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k.startswith("result_") or k.startswith("early_stopping")}

    def effective(self) -> dict[str, Any]:
        return {k.removeprefix("effective_"): v for k, v in self.values.items() if k.startswith("effective_")}


def read_detail(folder: Path) -> DetailLog:
    path = folder / DETAIL
    if not path.is_file():
        raise ModelportError(f"LoadGen wrote no {DETAIL} in {folder}")
    values: dict[str, Any] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(_PREFIX):
            continue
        try:
            rec = json.loads(line[len(_PREFIX):])
        except json.JSONDecodeError:
            continue  # the git fields are not always valid JSON; nothing we read is on those lines
        key, value = rec.get("key"), rec.get("value")
        meta = rec.get("metadata") or {}
        if meta.get("is_error"):
            errors.append(f"{key}: {value}")
        elif meta.get("is_warning"):
            warnings.append(f"{key}: {value}")
        values[key] = value
    return DetailLog(values, errors, warnings)


_RESULT_RE = re.compile(r"^Result is\s*:\s*(\S+)", re.M)
_LINE_RE = re.compile(r"^\s*([^:\n]+?)\s*:\s*(.+?)\s*$", re.M)


def read_summary(folder: Path) -> dict[str, str]:
    """The summary's ``name : value`` lines (first occurrence wins); ``Result is`` is required."""
    path = folder / SUMMARY
    if not path.is_file():
        raise ModelportError(f"LoadGen wrote no {SUMMARY} in {folder}")
    text = path.read_text(errors="replace")
    out: dict[str, str] = {}
    for m in _LINE_RE.finditer(text):
        out.setdefault(m.group(1), m.group(2))
    result = _RESULT_RE.search(text)
    if result:
        out["Result is"] = result.group(1)
    return out


def read_accuracy(folder: Path) -> list[tuple[int, int, bytes]]:
    """(seq_id, qsl_idx, response bytes) for every logged sample."""
    path = folder / ACCURACY
    if not path.is_file():
        raise ModelportError(f"LoadGen wrote no {ACCURACY} in {folder}")
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelportError(f"{path} is not valid JSON: {e}") from None
    return [(int(r["seq_id"]), int(r["qsl_idx"]), bytes.fromhex(r["data"])) for r in records]
