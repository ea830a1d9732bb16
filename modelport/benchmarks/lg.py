"""The one place that imports a LoadGen, and the batch-level calls the SUTs use.

Benchmarks drive ``modelport.loadgen`` (our drop-in for ``mlperf_loadgen``). Its batch API hands the SUT
numpy arrays of ids and sample indices and completes a whole batch in one call, so no Python object is built
per sample. ``construct_sut``/``complete`` hide the difference from the per-sample API of the official
module, which ``MODELPORT_LOADGEN=mlperf_loadgen`` selects for side-by-side comparisons.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import numpy as np

_NAME = os.environ.get("MODELPORT_LOADGEN", "modelport.loadgen")
lg: Any = importlib.import_module(_NAME)
NAME: str = _NAME
HAS_BATCH_API: bool = hasattr(lg, "ConstructBatchSUT") and hasattr(lg, "QuerySamplesCompleteBatch")

IssueFn = Callable[[np.ndarray, np.ndarray], None]


def construct_sut(issue: IssueFn, flush: Callable[[], None]) -> int:
    """A SUT whose ``issue(ids, indices)`` gets uint64 arrays of response ids and QSL sample indices."""
    if HAS_BATCH_API:
        return lg.ConstructBatchSUT(issue, flush)

    def fast_issue(ids: list[int], indices: list[int]) -> None:
        issue(np.asarray(ids, dtype=np.uint64), np.asarray(indices, dtype=np.uint64))

    return lg.ConstructFastSUT(fast_issue, flush)


def destroy_sut(handle: int) -> None:
    if HAS_BATCH_API and hasattr(lg, "DestroyBatchSUT"):
        lg.DestroyBatchSUT(handle)
    elif HAS_BATCH_API:
        lg.DestroySUT(handle)
    else:
        lg.DestroyFastSUT(handle)


def complete(ids: np.ndarray, ptrs: np.ndarray, sizes: np.ndarray) -> None:
    """Report a batch done: ``ptrs``/``sizes`` address each sample's response bytes, which the caller keeps
    alive until this returns (LoadGen copies what the accuracy log needs before returning)."""
    if HAS_BATCH_API:
        lg.QuerySamplesCompleteBatch(ids, ptrs, sizes)
        return
    lg.QuerySamplesComplete([lg.QuerySampleResponse(int(i), int(p), int(s))
                             for i, p, s in zip(ids.tolist(), ptrs.tolist(), sizes.tolist(), strict=True)])


def scenario(name: str) -> Any:
    return getattr(lg.TestScenario, name)


def mode(name: str) -> Any:
    return getattr(lg.TestMode, name)
