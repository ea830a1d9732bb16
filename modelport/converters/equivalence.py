"""The export's own sanity gate: each artifact matches the eager model on two different input sets.

Set 1 is the seeded example; set 2 uses another seed, negated float inputs and, where the batch axis is
dynamic, another batch size, so a traced data-dependent branch or a baked-in shape shows up (converters.md
§1.1). Closeness is Polygraphy's elementwise rule: an element fails when |a-b| > atol AND |a-b|/|b| > rtol.
The full report (per-output statistics, more sets) is ``modelport.validators``; this is the minimum an
export must pass to be shipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from modelport.converters.capture import capture, first_line
from modelport.converters.example import feed_for
from modelport.runners import Runner
from modelport.spec import InputSpec


@dataclass
class InputSet:
    name: str
    seed: int
    sign: int
    shapes: dict[str, tuple[int, ...]] | None = None


@dataclass
class SetResult:
    input_set: str
    passed: bool
    max_abs: float = 0.0
    max_rel: float = 0.0
    mismatched: int = 0
    total: int = 0
    worst_output: str | None = None
    error: str | None = None


@dataclass
class Equivalence:
    atol: float
    rtol: float
    results: list[SetResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def first_failure(self) -> SetResult | None:
        return next((r for r in self.results if not r.passed), None)

    def to_json(self) -> dict:
        return {"passed": self.passed, "atol": self.atol, "rtol": self.rtol,
                "sets": [asdict(r) for r in self.results]}


def input_sets(specs: list[InputSpec], seed: int) -> list[InputSet]:
    second_shapes = None
    if any(s.batch_dynamic for s in specs):
        second_shapes = {s.name: (s.shape[0] + 1, *s.shape[1:]) for s in specs if s.batch_dynamic}
    return [InputSet("example", seed, 1), InputSet("negated" + (", other batch" if second_shapes else ""),
                                                   seed + 1, -1, second_shapes)]


def compare(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], atol: float, rtol: float,
            label: str) -> SetResult:
    res = SetResult(label, True)
    refs, gots = list(ref.items()), list(got.values())
    if len(refs) != len(gots):
        return SetResult(label, False, error=f"{len(gots)} outputs, the eager model has {len(refs)}")
    for (name, r), g in zip(refs, gots, strict=True):
        r, g = np.asarray(r), np.asarray(g)
        if r.shape != g.shape:
            return SetResult(label, False, worst_output=name,
                             error=f"output {name!r} has shape {list(g.shape)}, eager {list(r.shape)}")
        if r.dtype == np.bool_ or g.dtype == np.bool_:
            bad = r != g
            absdiff = bad.astype(np.float64)
            reldiff = absdiff
        else:
            r64, g64 = r.astype(np.float64), g.astype(np.float64)
            absdiff = np.abs(r64 - g64)
            reldiff = absdiff / np.where(r64 == 0, np.finfo(np.float64).eps, np.abs(r64))
            nan_mismatch = np.isnan(r64) != np.isnan(g64)
            both_nan = np.isnan(r64) & np.isnan(g64)
            absdiff = np.where(both_nan, 0.0, absdiff)
            reldiff = np.where(both_nan, 0.0, reldiff)
            bad = ((absdiff > atol) & (reldiff > rtol)) | nan_mismatch
        res.total += int(bad.size)
        res.mismatched += int(bad.sum())
        if absdiff.size:
            worst_abs = float(np.nanmax(absdiff))
            if worst_abs >= res.max_abs:
                res.worst_output = name
            res.max_abs = max(res.max_abs, worst_abs)
            res.max_rel = max(res.max_rel, float(np.nanmax(reldiff)))
    res.passed = res.mismatched == 0
    return res


def check_equivalence(reference: Runner, artifact: Runner, specs: list[InputSpec], seed: int,
                      atol: float = 1e-5, rtol: float = 1e-5,
                      reference_outputs: dict[str, dict[str, np.ndarray]] | None = None) -> Equivalence:
    """Run both on the two input sets; ``reference_outputs`` (by set name) saves re-running the eager model."""
    eq = Equivalence(atol, rtol)
    for s in input_sets(specs, seed):
        feed = feed_for(specs, s.seed, shapes=s.shapes, sign=s.sign)
        ref = (reference_outputs or {}).get(s.name)
        if ref is None:
            ref = reference.infer(feed)
            if reference_outputs is not None:
                reference_outputs[s.name] = ref
        try:
            with capture():
                got = artifact.infer(feed)
        except Exception as e:  # noqa: BLE001 - a runtime failure on a valid input is a mismatch too
            eq.results.append(SetResult(s.name, False, error=f"{type(e).__name__}: {first_line(str(e))}"))
            continue
        eq.results.append(compare(ref, got, atol, rtol, s.name))
    return eq


def describe_failure(r: SetResult, atol: float, rtol: float) -> str:
    if r.error:
        return f"on the {r.input_set} input set: {r.error}"
    return (f"on the {r.input_set} input set: {r.mismatched}/{r.total} elements differ (output {r.worst_output!r} "
            f"max abs {r.max_abs:.3g}, max rel {r.max_rel:.3g}; tolerance abs {atol:g} and rel {rtol:g})")
