"""Validating a generative artifact: every component against its eager wrapper, then greedy tokens end to end.

1. Components: each file runs on two seeded input sets (the export example and a larger batch and prompt),
   whose past comes from the eager model on a real prompt (a non-zero past length), and each output is
   compared with the eager wrapper's by the one equivalence rule (``compare.compare_arrays``).
2. Generation: ``new_tokens`` greedy tokens produced by the exported components (``sources.hf_greedy``)
   must equal the eager model's ``generate(do_sample=False, num_beams=1, max_new_tokens=N)`` exactly; a
   mismatch names the first differing step and the two tokens (docs/decisions.md, "Generative models: greedy
   tokens must be equal").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelport.fsutil import write_json_atomic
from modelport.manifest import Artifact, RunManifest, verify_artifact_files
from modelport.runners import Runner, RunnerOptions, load_runner
from modelport.sources.hf_generative import ComponentSource, describe, pad_last_row, prompt_inputs
from modelport.sources.hf_greedy import eager_generate, greedy
from modelport.validators.compare import compare_arrays
from modelport.validators.options import ValidationOptions
from modelport.validators.tolerances import dtype_default

REPORT_NAME = "validation.json"
NEW_TOKENS = 8
PROMPT_LENGTH = 5
#: the second component input set: another batch and prompt length than the export example (2 x 6)
SECOND_SET = (3, 9)
#: float outputs of a component (logits, every layer's keys and values) when the user gives no --atol/--rtol:
#: runtimes reorder a decoder's sums, and the present of the last layer carries every layer's rounding; the
#: tokens are held exactly (docs/decisions.md, "Generative models: greedy tokens must be equal")
COMPONENT_TOLERANCE = 1e-4


@dataclass
class GenerationCheck:
    options: RunnerOptions = field(default_factory=RunnerOptions)
    new_tokens: int = NEW_TOKENS
    seed: int = 0
    atol: float | None = None  # None: COMPONENT_TOLERANCE for floats, exact for integers
    rtol: float | None = None


class ComponentRunners:
    """One runner per component file of an artifact; ``run(name, feed)`` gives the outputs in file order."""

    def __init__(self, run_dir: Path, artifact: Artifact, options: RunnerOptions) -> None:
        self.artifact = artifact
        self.outputs = {c.name: list(c.outputs) for c in artifact.components}
        self.runners: dict[str, Runner] = {}
        try:
            for c in artifact.components:
                self.runners[c.name] = load_runner(artifact.target, run_dir / c.path, list(c.inputs),
                                                   list(c.outputs), options)
        except BaseException:
            self.close()
            raise

    def run(self, name: str, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return list(self.runners[name].infer(feed).values())

    def close(self) -> None:
        for r in self.runners.values():
            r.close()


def _eager(c: ComponentSource, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.numpy() for t in c.module(*(torch.from_numpy(feed[s.name]) for s in c.inputs))]


def check_components(model: nn.Module, task: str, runners: ComponentRunners, check: GenerationCheck,
                     ) -> list[dict[str, Any]]:
    """Every component on both input sets; one entry per component x set, with its output comparisons."""
    results = []
    for label, (batch, length) in (("example", (None, None)), ("second", SECOND_SET)):
        sizes = {"batch": batch, "length": length} if batch else {}
        _, comps = describe(model, task, check.seed + (1 if batch else 0), **sizes)
        for c in comps:
            ref = _eager(c, c.example)
            got = runners.run(c.name, c.example)
            outs = []
            for name, r, g in zip(c.output_names, ref, got, strict=False):
                default = (COMPONENT_TOLERANCE,) * 2 if np.issubdtype(r.dtype, np.floating) else dtype_default(r.dtype)
                atol = check.atol if check.atol is not None else default[0]
                rtol = check.rtol if check.rtol is not None else default[1]
                outs.append(compare_arrays(name, r, g, atol, rtol).to_json())
            if len(got) != len(ref):
                outs.append({"name": "(outputs)", "passed": False,
                             "note": f"the file gives {len(got)} outputs, the eager wrapper {len(ref)}"})
            results.append({"component": c.name, "set": label, "passed": all(o["passed"] for o in outs),
                            "outputs": outs})
    return results


def check_generation(model: nn.Module, gen: dict[str, Any], runners: ComponentRunners,
                     check: GenerationCheck) -> dict[str, Any]:
    """Greedy tokens of the components against eager ``generate``; the first difference when they differ."""
    # the second row padded: masks and generate()'s position ids are part of what must carry over
    prompt = pad_last_row(prompt_inputs(model, 2, PROMPT_LENGTH, check.seed), gen)
    eager = eager_generate(model, gen, prompt, check.new_tokens)
    exported = greedy(gen, runners.run, runners.outputs, prompt, check.new_tokens).tokens
    out: dict[str, Any] = {"new_tokens": check.new_tokens, "prompt_shape": list(next(iter(prompt.values())).shape),
                           "eager": eager.tolist(), "exported": exported.tolist(), "first_difference": None}
    diff = first_difference(eager, exported)
    out["first_difference"] = diff
    out["passed"] = diff is None
    return out


def first_difference(eager: np.ndarray, exported: np.ndarray) -> dict[str, Any] | None:
    """The first step (0-based new token) where any row differs, or one side stopped earlier; None if equal."""
    steps = max(eager.shape[1], exported.shape[1])
    for step in range(steps):
        for row in range(eager.shape[0]):
            e = int(eager[row, step]) if step < eager.shape[1] else None
            x = int(exported[row, step]) if step < exported.shape[1] else None
            if e != x:
                return {"step": step, "row": row, "eager": e, "exported": x}
    return None


def validate_artifact(run_dir: Path, artifact: Artifact, model: nn.Module, gen: dict[str, Any],
                      check: GenerationCheck) -> dict[str, Any]:
    verify_artifact_files(run_dir, artifact)
    runners = ComponentRunners(run_dir, artifact, check.options)
    try:
        comps = check_components(model, gen["task"], runners, check)
        generation = check_generation(model, gen, runners, check)
    finally:
        runners.close()
    return {"id": artifact.id, "target": artifact.target, "passed": generation["passed"] and
            all(c["passed"] for c in comps), "components": comps, "generation": generation}


def failure_line(result: dict[str, Any]) -> str:
    """One line per failed artifact: the generation step first (what a user sees), then the first component."""
    parts = []
    diff = result["generation"]["first_difference"]
    if diff is not None:
        e = "end" if diff["eager"] is None else diff["eager"]
        x = "end" if diff["exported"] is None else diff["exported"]
        parts.append(f"greedy generation differs from eager generate at step {diff['step']} (row {diff['row']}): "
                     f"eager token {e}, exported token {x}")
    for c in result["components"]:
        bad = next((o for o in c["outputs"] if not o["passed"]), None)
        if bad is not None:
            why = f"max abs error {bad['max_abs']:.3g} > atol {bad['atol']:g}" if bad.get("max_abs") is not None \
                else bad.get("note") or bad.get("failed_on")
            parts.append(f"component {c['component']} output {bad['name']} on the {c['set']} set: {why}")
            break
    return f"artifact {result['id']!r}: " + "; ".join(parts)


@dataclass
class GenerationReport:
    artifacts: list[dict[str, Any]]
    reference: dict[str, Any]

    @property
    def passed(self) -> bool:
        return all(a["passed"] for a in self.artifacts)

    def failure_message(self) -> str:
        return "; ".join(failure_line(a) for a in self.artifacts if not a["passed"]) or "passed"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "generation", "passed": self.passed, "reference": self.reference,
                "artifacts": self.artifacts}


def validate_generative_run(run_dir: Path, manifest: RunManifest, model: nn.Module, gen: dict[str, Any],
                            check: GenerationCheck, artifact_ids: list[str] | None = None) -> GenerationReport:
    """Validate every component artifact of a run (or ``artifact_ids``); write ``validation.json``."""
    arts = [a for a in manifest.artifacts if a.components and (not artifact_ids or a.id in artifact_ids)]
    results = [validate_artifact(run_dir, a, model, gen, check) for a in arts]
    report = GenerationReport(results, {"source": manifest.source.spec, "task": gen["task"],
                                        "new_tokens": check.new_tokens, "seed": check.seed})
    write_json_atomic(Path(run_dir) / REPORT_NAME, report.to_json())
    return report


def render(report: GenerationReport) -> str:
    lines = []
    for a in report.artifacts:
        g = a["generation"]
        comps = sum(c["passed"] for c in a["components"])
        lines.append(f"{a['id']:<18} {'PASS' if a['passed'] else 'FAIL'}  components {comps}/{len(a['components'])} "
                     f"sets matched; greedy {g['new_tokens']} tokens "
                     f"{'equal to eager generate' if g['passed'] else 'DIFFER'}")
    return "\n".join(lines)


def validate_run_dir(run_dir: Path, manifest: RunManifest, options: ValidationOptions,
                     new_tokens: int = NEW_TOKENS) -> GenerationReport:
    """``modelport validate RUN_DIR`` of a run with components: rebuild the eager model from the manifest (the
    source must be unchanged) and validate every component artifact; writes ``validation.json``."""
    from modelport.sources import reload_source  # noqa: PLC0415 - torch and transformers load only here
    from modelport.sources.hf_generative import plan

    model = reload_source(manifest.source, trust_pickle=options.trust_pickle,
                          trust_remote_code=options.trust_remote_code, seed=manifest.seed)
    check = GenerationCheck(options=options.runner, new_tokens=new_tokens,
                            seed=manifest.seed if options.seed is None else options.seed,
                            atol=options.atol.get(""), rtol=options.rtol.get(""))
    return validate_generative_run(run_dir, manifest, model, plan(model, str(manifest.source.task)), check,
                                   options.artifact_ids)
