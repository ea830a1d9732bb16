"""The one equivalence rule of modelport, and the comparisons built on it.

Every numeric verdict (``modelport validate``, the gate inside ``modelport convert``, ``opsets convert``,
the benchmarks' accuracy check) comes from ``compare_arrays``; nothing else in the package compares outputs.

- ``compare_arrays``: element-wise closeness of one output, with the statistics a user needs to judge a failure.
- ``compare_outputs``: every output of one run, by name, with per-output tolerances.
- ``topk_agreement``: do the predictions agree (argmax / top-k sets), for classification-like outputs.
- ``worst_per_output``: one comparison per output over several input sets (the first failure, else the worst).

The rule (docs/decisions.md, "Validation: the failure rule"), relative to Polygraphy's ``CompareFunc.simple``
with ``check_error_stat="elemwise"`` (docs/equivalence.md has the table):

- same as Polygraphy: shapes must be equal; in float64, ``abs = |cand - ref|`` and ``rel = abs / |ref|``; an
  element mismatches when ``abs > atol AND rel > rtol``; where ``ref == 0`` the divisor is float64 eps
  (2.2e-16), so a zero reference is judged by ``atol`` alone; booleans compare as 0/1.
- differs: an element that is NaN or infinite on either side matches only the very same value on the other
  side (NaN with NaN, +inf with +inf): the reference produced it too, so the export reproduced the model.
  Polygraphy fails every NaN, and infinities unless ``infinities_compare_equal``. A dtype that differs from
  the reference's fails (``failed_on="dtype"``): callers read the dtype, so it is part of the model's
  interface; Polygraphy casts both sides up and compares values only. ``rel`` is always relative to the
  reference (Polygraphy: to its second output, whichever runner that is).
"""

from __future__ import annotations

import numpy as np

from modelport.validators.results import InputSetResult, OutputComparison
from modelport.validators.tolerances import Tolerances

#: Divisor of ``rel`` where the reference is exactly 0, so that rel = abs / |ref| stays defined (as Polygraphy).
REL_EPS = float(np.finfo(np.float64).eps)


def _shape(a: np.ndarray) -> list[int]:
    return [int(d) for d in a.shape]


def compare_arrays(name: str, ref: np.ndarray, cand: np.ndarray, atol: float, rtol: float) -> OutputComparison:
    """Compare ``cand`` with ``ref`` element-wise by the module's rule; ``.passed`` when nothing fails.

    ``failed_on`` names what decided a failure, first match wins: "shape", then "nan"/"inf" (a non-finite
    value where the other side has a different one), then "dtype", then "values" (an element beyond both
    tolerances). The statistics are computed whenever the shapes agree, a dtype mismatch included.
    """
    ref, cand = np.asarray(ref), np.asarray(cand)
    result = OutputComparison(name=name, passed=False, atol=float(atol), rtol=float(rtol), ref_shape=_shape(ref),
                              cand_shape=_shape(cand), ref_dtype=ref.dtype.name, cand_dtype=cand.dtype.name,
                              total=int(ref.size))
    if ref.shape != cand.shape:
        result.failed_on = "shape"
        return result

    if ref.dtype == np.bool_ or cand.dtype == np.bool_:
        r64, c64 = ref.astype(np.float64), cand.astype(np.float64)
    else:
        r64, c64 = ref.astype(np.float64, copy=False), cand.astype(np.float64, copy=False)
    r_fin, c_fin = np.isfinite(r64), np.isfinite(c64)
    both_fin = r_fin & c_fin
    # A non-finite value is acceptable only where the reference has the very same one.
    same_nonfinite = ~r_fin & ~c_fin & ((r64 == c64) | (np.isnan(r64) & np.isnan(c64)))
    bad_nonfinite = ~both_fin & ~same_nonfinite
    result.nonfinite_ref = int((~r_fin).sum())
    result.nonfinite_cand = int((~c_fin).sum())

    absdiff = np.zeros(r64.shape, dtype=np.float64)
    absdiff[both_fin] = np.abs(c64[both_fin] - r64[both_fin])
    denom = np.array(np.abs(r64))  # an array even for a 0-d output (np.abs gives a scalar there)
    denom[~both_fin | (denom == 0)] = REL_EPS
    reldiff = absdiff / denom
    mismatch = ((absdiff > atol) & (reldiff > rtol)) | bad_nonfinite
    result.mismatched = int(mismatch.sum())

    if ref.size:
        _statistics(result, r64, c64, absdiff, reldiff, mismatch, bad_nonfinite, both_fin)

    if bad_nonfinite.any():
        nan = np.isnan(c64[bad_nonfinite]).any() or np.isnan(r64[bad_nonfinite]).any()
        result.failed_on = "nan" if nan else "inf"
    elif ref.dtype != cand.dtype:
        result.failed_on = "dtype"
    elif result.mismatched:
        result.failed_on = "values"
    result.passed = result.failed_on is None
    return result


def _statistics(result: OutputComparison, r64: np.ndarray, c64: np.ndarray, absdiff: np.ndarray,
                reldiff: np.ndarray, mismatch: np.ndarray, bad_nonfinite: np.ndarray, both_fin: np.ndarray) -> None:
    """What a user needs to judge a comparison: error statistics, the element to look at, the tolerances that
    would have passed."""
    result.max_abs = float(absdiff.max())
    result.max_rel = float(reldiff.max())
    result.mean_abs = float(absdiff.mean())
    result.p99_abs = float(np.quantile(absdiff, 0.99))
    # The element a user should look at: the first bad non-finite one, else the mismatched element with the
    # largest error (not an element that is large in abs but within rtol), else the largest error overall.
    if bad_nonfinite.any():
        worst = int(np.flatnonzero(bad_nonfinite)[0])
    elif mismatch.any():
        worst = int(np.where(mismatch, absdiff, -1.0).argmax())
    else:
        worst = int(absdiff.argmax())
    result.worst_index = [int(i) for i in np.unravel_index(worst, r64.shape)]
    result.worst_ref, result.worst_cand = float(r64.flat[worst]), float(c64.flat[worst])
    result.cosine = _cosine(r64[both_fin], c64[both_fin])
    needs_atol = reldiff > result.rtol
    result.required_atol = float(absdiff[needs_atol].max()) if needs_atol.any() else 0.0
    needs_rtol = absdiff > result.atol
    result.required_rtol = float(reldiff[needs_rtol].max()) if needs_rtol.any() else 0.0


def _cosine(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size == 0:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a.ravel(), b.ravel()) / (na * nb))


def _topk_sets(x: np.ndarray, k: int) -> np.ndarray:
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    if k == 1:
        return rows.argmax(axis=1)[:, None]
    # Stable sort so that ties break the same way in both arrays; compare the sets, not their order.
    return np.sort(np.argsort(-rows, axis=1, kind="stable")[:, :k], axis=1)


def topk_agreement(ref_logits: np.ndarray, cand_logits: np.ndarray, k: int = 1) -> float:
    """Fraction of rows (every index but the last axis) whose top-k index sets agree; k=1 compares argmax.

    For classification logits ``[batch, classes]`` a row is a sample; for question-answering start/end
    logits ``[batch, sequence]`` a row is a sequence and the argmax is the predicted token position.
    """
    ref_logits, cand_logits = np.asarray(ref_logits), np.asarray(cand_logits)
    if ref_logits.shape != cand_logits.shape:
        raise ValueError(f"shapes differ: {ref_logits.shape} vs {cand_logits.shape}")
    if ref_logits.ndim == 0 or ref_logits.size == 0:
        raise ValueError("top-k agreement needs at least one row of logits")
    k = max(1, min(int(k), ref_logits.shape[-1]))
    agree = (_topk_sets(ref_logits, k) == _topk_sets(cand_logits, k)).all(axis=1)
    return float(agree.mean())


def classification_outputs(task: str | None, ref_outputs: dict[str, np.ndarray],
                           explicit: list[str] | None = None) -> list[str]:
    """Which outputs hold logits whose argmax is the prediction.

    ``explicit`` (``--class-output``) wins; otherwise classification and question-answering models' float
    outputs with at least two axes (logits over classes, or start/end logits over the sequence).
    """
    if explicit:
        return list(explicit)
    if task not in ("classification", "question-answering"):
        return []
    return [n for n, a in ref_outputs.items() if np.issubdtype(a.dtype, np.floating) and a.ndim >= 2]


def compare_outputs(ref: dict[str, np.ndarray], cand: dict[str, np.ndarray], tolerances: Tolerances,
                    topk: int | None = None, class_outputs: list[str] | None = None) -> list[OutputComparison]:
    """Compare every reference output with the candidate's output of the same name."""
    results = []
    for name, r in ref.items():
        atol, rtol, _ = tolerances.for_output(name, r.dtype)
        if name not in cand:
            results.append(OutputComparison(name=name, passed=False, atol=atol, rtol=rtol, ref_shape=_shape(r),
                                            cand_shape=None, ref_dtype=r.dtype.name, cand_dtype=None,
                                            failed_on="missing", total=int(r.size)))
            continue
        comp = compare_arrays(name, r, cand[name], atol, rtol)
        if comp.cand_shape == comp.ref_shape and name in (class_outputs or []) and r.size:
            for k in sorted({1, topk or 1}):
                comp.topk[f"top{k}"] = topk_agreement(r, cand[name], k)
        results.append(comp)
    return results


def worst_per_output(results: list[InputSetResult]) -> list[OutputComparison]:
    """One comparison per output over several input sets: its first failure, else its largest abs error."""
    chosen: dict[str, OutputComparison] = {}
    for result in results:
        for comp in result.outputs:
            have = chosen.get(comp.name)
            if have is None or (have.passed and (not comp.passed or (comp.max_abs or 0.0) > (have.max_abs or 0.0))):
                chosen[comp.name] = comp
    return list(chosen.values())
