"""``--opset min``: the lowest opset at which the model exports, passes every check and matches eager.

First an export that passes: at the default opset, or upward from the opset the exporter's own error names.
Then a binary search below it, each try a full export with every check (assuming, as holds for the exporters,
that a model which exports at opset k also exports at k+1). The exporter picks different operators at
different opsets (LayerNormalization at 17, its decomposition below), so the first file's own minimum opset
(``modelport.opsets.check_model(...).min_opset``) is not a bound on the answer; it is tried first as a hint,
which usually halves the search. Every try is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from modelport.errors import ExportError, ModelportError
from modelport.opsets import check_model
from modelport.opsets.exporters import DEFAULT_OPSET, DYNAMO_NATIVE_MIN, DYNAMO_RANGE, TORCHSCRIPT_RANGE

_NEEDS = re.compile(r"support added in opset (\d+)")
#: failures that another opset may cure; anything else (no lowering anywhere, a capture failure, a numeric
#: mismatch, a static dynamic axis) ends the search at once
_OPSET_RELATED = ("support added in opset", "onnx.checker rejects", "onnxruntime cannot load", "conversion 18->",
                  "but the dynamo exporter has one", "wrote opset", "has no ONNX lowering in the torchscript")


@dataclass
class Attempt:
    opset: int
    exporter: str
    ok: bool
    error: str | None = None


def search_range(exporter: str) -> tuple[int, int]:
    if exporter == "torchscript":
        return TORCHSCRIPT_RANGE
    return TORCHSCRIPT_RANGE[0], DYNAMO_RANGE[1]


def lower_bound(path: Path) -> int | None:
    """The opsets module's minimum for an exported file, or None if it cannot say."""
    try:
        report = check_model(path, confirm=False)
    except ModelportError:
        return None
    return report.min_opset or report.lower_bound


class _Search:
    """The tries of one search: each opset is exported at most once, and every try is recorded."""

    def __init__(self, try_export: Callable[[int], Any], exporter_for: Callable[[int], str]) -> None:
        self.try_export = try_export
        self.exporter_for = exporter_for
        self.attempts: list[Attempt] = []
        self.results: dict[int, Any] = {}
        self.failures: dict[int, str] = {}

    def attempt(self, op: int, below_a_success: bool = False) -> Any | None:
        """The checked export at ``op``, or None if it fails there."""
        if op in self.results:
            return self.results[op]
        if op in self.failures:
            return None
        exp = self.exporter_for(op)
        try:
            res = self.try_export(op)
        except ModelportError as e:
            # Before any success, a failure no opset can cure ends the search; below a success, any failure
            # only means "not this opset".
            if not below_a_success and not any(p in e.format_message() for p in _OPSET_RELATED):
                raise
            self.failures[op] = e.format_message()
            self.attempts.append(Attempt(op, exp, False, self.failures[op]))
            return None
        self.results[op] = res
        self.attempts.append(Attempt(op, exp, True))
        return res

    def first_success(self, exporter: str, lo: int, hi: int) -> int:
        """Upward from the default opset (dynamo: its native floor), jumping to the opset an error names."""
        probe = DEFAULT_OPSET if exporter != "dynamo" else DYNAMO_NATIVE_MIN
        while probe <= hi:
            if self.attempt(probe) is not None:
                return probe
            m = _NEEDS.search(self.failures[probe])
            if m and int(m.group(1)) > probe:
                probe = int(m.group(1))
            elif exporter == "auto" and probe < DYNAMO_NATIVE_MIN:
                probe = DYNAMO_NATIVE_MIN  # no lowering in the TorchScript exporter: the dynamo exporter may have one
            else:
                probe += 1
        last = self.attempts[-1].error if self.attempts else "no opset tried"
        raise ExportError(f"no opset in {lo}-{hi} exports and passes the checks (last: {last})")

    def lowest(self, low: int, high: int, hint: int | None) -> int:
        """Binary search in [low, high] (``high`` passes), trying the hint first."""
        if hint is not None and low <= hint < high:
            if self.attempt(hint, below_a_success=True) is not None:
                high = hint
            else:
                low = hint + 1
        while low < high:
            mid = (low + high) // 2
            if self.attempt(mid, below_a_success=True) is not None:
                high = mid
            else:
                low = mid + 1
        return high


def find_min_opset(try_export: Callable[[int], Any], exporter_for: Callable[[int], str], exporter: str,
                   bound_of: Callable[[Any], int | None]) -> tuple[Any, list[Attempt]]:
    """``try_export(opset)`` returns a checked export or raises ``ModelportError``; returns the lowest success.

    ``bound_of(result)`` gives the lower bound from a successful export; the exports that are not returned
    are discarded here (their ``discard()`` is called).
    """
    lo, hi = search_range(exporter)
    search = _Search(try_export, exporter_for)
    first = search.first_success(exporter, lo, hi)
    best_op = search.lowest(lo, first, bound_of(search.results[first]))
    for op, res in search.results.items():
        discard = getattr(res, "discard", None)
        if op != best_op and discard:
            discard()
    return (best_op, search.results[best_op]), search.attempts


def attempts_json(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [asdict(a) for a in attempts]
