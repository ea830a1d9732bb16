"""``modelport.json``: the input specs and output names modelport stores inside the archives it writes
(TorchScript ``_extra_files``, ``torch.export.save(extra_files=...)``), so that a reloaded archive needs no
``--input``."""

from __future__ import annotations

import json
from typing import Any

from modelport.errors import ModelportError
from modelport.spec import InputSpec

EXTRA_FILE = "modelport.json"


def dumps(inputs: list[InputSpec], output_names: list[str]) -> str:
    return json.dumps({"inputs": [s.to_json() for s in inputs], "output_names": list(output_names)})


def loads(text: str | bytes | None) -> tuple[list[InputSpec], list[str], list[str]]:
    """(inputs, output_names, warnings); a missing file gives empty lists, a damaged one a warning."""
    if not text:
        return [], [], []
    try:
        data: Any = json.loads(text)
        inputs = [InputSpec.from_json(s) for s in data.get("inputs", [])]
        outputs = [str(n) for n in data.get("output_names", [])]
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError, ModelportError) as e:
        return [], [], [f"ignored the archive's {EXTRA_FILE}, which is damaged: {e}"]
    return inputs, outputs, []
