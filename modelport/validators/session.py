"""A validation session: one reference, its input sets, the comparison rule, and every result computed so far
(docs/decisions.md, "Validation: one run per input set").

Built once per model and shared, so that no input set runs twice: ``modelport convert`` opens one, its
post-export checks run candidates through it (shapes other than the example's), its gate judges the quick
profile through it, and the full validation (``validate_run(..., session=...)``) then judges the rest. Each
result is cached per (candidate key, input set name); a key is whatever names the candidate file for its
caller (convert: the scratch path, renamed to the artifact id when the file is committed).

This module runs models only through ``Runner``; it imports neither torch nor the zoo, so that
``opsets convert`` (onnxruntime against onnxruntime) stays light.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import numpy as np

from modelport.errors import InputError
from modelport.runners import Runner
from modelport.spec import InputSpec
from modelport.validators.checks import identical
from modelport.validators.compare import classification_outputs, compare_outputs
from modelport.validators.inputs import InputSet
from modelport.validators.results import InputSetResult
from modelport.validators.tolerances import Tolerances

#: a run's outputs, or the one-line reason it failed
Outcome = tuple[dict[str, np.ndarray] | None, str | None]


class ReferenceFailed(InputError):
    """The reference model fails on one of its own input sets; ``reason`` is the failure as one line."""

    def __init__(self, message: str, hint: str | None, reason: str) -> None:
        super().__init__(message, hint)
        self.reason = reason


def error_line(e: BaseException) -> str:
    """An exception as one line: its type and the start of its message (runtimes write pages)."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:400]}" if text else type(e).__name__


class ValidationSession:
    """The reference's outputs and candidates' results on a fixed list of input sets, each computed once.

    ``quiet`` wraps every candidate run (convert passes its exporter-output capture: onnxruntime prints the
    failing kernel on stderr, which must not reach a ``--json`` stdout or the terminal twice).
    """

    def __init__(self, reference: Runner, specs: list[InputSpec], sets: list[InputSet], tolerances: Tolerances,
                 task: str | None = None, class_outputs: list[str] | None = None, topk: int | None = None,
                 quiet: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        self.reference = reference
        self.specs = specs
        self.sets = sets
        self.tolerances = tolerances
        self.task = task
        self.explicit_class_outputs = class_outputs
        self.topk = topk
        self.quiet = quiet or contextlib.nullcontext
        self._reference: dict[str, dict[str, np.ndarray]] = {}
        self._runs: dict[str, dict[str, Outcome]] = {}
        self._judged: dict[str, dict[str, InputSetResult]] = {}
        self._class_outputs: list[str] | None = None

    # -- the reference ---------------------------------------------------------------------------------

    @property
    def example(self) -> InputSet:
        return self.sets[0]

    def sets_of(self, profile: str) -> list[InputSet]:
        """The session's sets that belong to ``profile`` ("quick" or "full"), in order."""
        return [s for s in self.sets if profile == "full" or s.quick]

    def reference_outputs(self, s: InputSet) -> dict[str, np.ndarray]:
        """The reference's outputs on ``s``, computed on first use; its failure is the user's input error."""
        if s.name not in self._reference:
            try:
                self._reference[s.name] = self.reference.infer(s.feed)
            except Exception as e:  # noqa: BLE001 - any failure of the user's model on these inputs is theirs
                reason = error_line(e)
                raise ReferenceFailed(f"the reference model fails on input set {s.name!r} (shapes {s.shapes}): "
                                      f"{reason}", "check the input spec (--input) or the --inputs file",
                                      reason) from None
        return self._reference[s.name]

    @property
    def output_names(self) -> list[str]:
        self.reference_outputs(self.example)  # a module runner learns its output names on the first run
        return list(self.reference.output_names)

    @property
    def class_outputs(self) -> list[str]:
        """Outputs holding logits (top-k agreement is reported for them): named by the caller, else by task."""
        if self._class_outputs is None:
            self._class_outputs = classification_outputs(self.task, self.reference_outputs(self.example),
                                                         self.explicit_class_outputs)
        return self._class_outputs

    def deterministic(self) -> tuple[bool, float]:
        """Run the reference on the example again: bit-equal outputs, and the largest difference if not."""
        again = self.reference.infer(self.example.feed)
        return identical(self.reference_outputs(self.example), again)

    # -- candidates ------------------------------------------------------------------------------------

    def run(self, key: str, runner: Runner, s: InputSet) -> Outcome:
        """The candidate's outputs on ``s`` (or why it failed to run), run on first use."""
        runs = self._runs.setdefault(key, {})
        if s.name not in runs:
            try:
                with self.quiet():
                    runs[s.name] = (runner.infer(s.feed), None)
            except Exception as e:  # noqa: BLE001 - e.g. onnxruntime refusing a batch size: reported, not raised
                runs[s.name] = (None, error_line(e))
        return runs[s.name]

    def judge(self, key: str, runner: Runner, s: InputSet) -> InputSetResult:
        """The candidate against the reference on ``s`` by the one rule (``compare.compare_outputs``)."""
        judged = self._judged.setdefault(key, {})
        if s.name not in judged:
            ref = self.reference_outputs(s)
            out, error = self.run(key, runner, s)
            if out is None:
                judged[s.name] = InputSetResult(s.name, s.batch, s.shapes, False, error=error)
            else:
                comps = compare_outputs(ref, out, self.tolerances, self.topk, self.class_outputs)
                judged[s.name] = InputSetResult(s.name, s.batch, s.shapes, all(c.passed for c in comps), comps)
        return judged[s.name]

    def judge_all(self, key: str, runner: Runner, sets: list[InputSet]) -> list[InputSetResult]:
        return [self.judge(key, runner, s) for s in sets]

    def rename(self, old: str, new: str) -> None:
        """The candidate once known as ``old`` is now ``new`` (a committed file); its results move with it."""
        for table in (self._runs, self._judged):
            if old in table:
                table[new] = table.pop(old)

    def forget(self, key: str) -> None:
        """Drop a candidate's results (a discarded export: its key may be reused by another file)."""
        self._runs.pop(key, None)
        self._judged.pop(key, None)

    def close(self) -> None:
        self.reference.close()
