"""The export's own gate: an artifact ships only if it matches the eager model on the quick input profile.

The quick profile (``validators.inputs``: the example, a negated set, the largest other batch, the other
dynamic dimensions) exposes a traced data-dependent branch and a baked-in shape; the comparison is the one
rule of ``validators.compare``, with the tolerances the full validation uses. Results go through the convert
run's ``ValidationSession``, so the full validation afterwards reuses them instead of running the sets again.
"""

from __future__ import annotations

from typing import Any

from modelport.errors import ValidationFailed
from modelport.runners import Runner
from modelport.validators.inputs import QUICK
from modelport.validators.results import InputSetResult
from modelport.validators.session import ValidationSession

TRACED_HINT = ("the exporter traced one path through a data-dependent branch; keep the model in PyTorch "
               "(--to torchscript --method script) or rewrite the branch with torch.where / torch.cond")


def judge_quick(session: ValidationSession, key: str, runner: Runner) -> tuple[list[InputSetResult],
                                                                              InputSetResult | None]:
    """The candidate on every quick set, and the first set it fails (None: it passes)."""
    results = session.judge_all(key, runner, session.sets_of(QUICK))
    return results, next((r for r in results if not r.passed), None)


def check_gate(session: ValidationSession, key: str, runner: Runner, what: str, warnings: list[str],
               hint: str | None = None) -> dict[str, Any]:
    """Judge the candidate; ``ValidationFailed`` naming the set, output and tolerance if it does not match.

    Returns the summary the manifest records as the artifact's ``equivalence``.
    """
    results, failed = judge_quick(session, key, runner)
    if failed is not None:
        tracer = [w for w in warnings if w.startswith("TracerWarning")]
        extra = f" (captured: {tracer[0]})" if tracer else ""
        raise ValidationFailed(f"{what} does not match the eager model {describe_failure(failed)}{extra}",
                               hint if hint is not None or not tracer else TRACED_HINT)
    return summary(results)


def describe_failure(r: InputSetResult) -> str:
    """Where and how a set failed, as the tail of a one-line message."""
    if r.error:
        return f"on the {r.input_set} input set: {r.error}"
    o = next(o for o in r.outputs if not o.passed)
    if o.failed_on != "values":
        return f"on the {r.input_set} input set: output {o.name!r} {o.describe_failure()}"
    return (f"on the {r.input_set} input set: {o.mismatched}/{o.total} elements differ (output {o.name!r} "
            f"max abs {o.max_abs:.3g}, max rel {o.max_rel:.3g}; tolerance abs {o.atol:g} and rel {o.rtol:g})")


def summary(results: list[InputSetResult]) -> dict[str, Any]:
    """Per set: passed, the largest errors over its outputs, elements compared and mismatched."""
    sets = []
    for r in results:
        worst = max(r.outputs, key=lambda o: o.max_abs or 0.0, default=None)
        sets.append({"input_set": r.input_set, "passed": r.passed,
                     "max_abs": max((o.max_abs or 0.0 for o in r.outputs), default=0.0),
                     "max_rel": max((o.max_rel or 0.0 for o in r.outputs), default=0.0),
                     "mismatched": sum(o.mismatched for o in r.outputs), "total": sum(o.total for o in r.outputs),
                     "worst_output": worst.name if worst else None, "error": r.error})
    tolerances = {o.name: {"atol": o.atol, "rtol": o.rtol} for r in results for o in r.outputs}
    return {"passed": all(r.passed for r in results), "profile": QUICK, "tolerances": tolerances, "sets": sets}
