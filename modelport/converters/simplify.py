"""``--simplify``: onnxsim in a subprocess with a timeout, its output kept only if it still matches eager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from modelport.converters.capture import first_line
from modelport.converters.gate import describe_failure, judge_quick, summary
from modelport.converters.onnx_checks import check_onnx
from modelport.errors import ModelportError
from modelport.validators.session import ValidationSession

#: the worker command; tests replace it to simulate a crashing or regressing onnxsim
WORKER = [sys.executable, "-m", "modelport.converters.simplify_worker"]


@dataclass
class SimplifyOutcome:
    kept: bool
    warning: str | None = None
    info: dict = field(default_factory=dict)


def _run_worker(src: Path, dest: Path, timeout_s: float) -> dict:
    try:
        proc = subprocess.run([*WORKER, str(src), str(dest)], capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"timed out after {timeout_s:g} s") from None
    if proc.returncode != 0:
        why = first_line(proc.stderr.strip().splitlines()[-1]) if proc.stderr.strip() else ""
        code = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        raise RuntimeError(f"worker {code}" + (f": {why}" if why else ""))
    if not dest.is_file():
        raise RuntimeError("worker wrote no file")
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {}


def simplify_onnx(path: Path, opset: int, exporter: str, session: ValidationSession, key: str,
                  timeout_s: float) -> SimplifyOutcome:
    """Replace ``path`` (known to ``session`` as ``key``) by its simplification if that passes every check;
    otherwise leave it and say why. A kept simplification's results replace the original's in the session."""
    candidate = path.with_name(f".{path.name}.simplified.tmp")
    cand_key = str(candidate)
    runner = None
    try:
        info = _run_worker(path, candidate, timeout_s)
        try:
            _, runner = check_onnx(candidate, opset, exporter, session, cand_key)
        except ModelportError as e:
            raise RuntimeError(f"its output fails the export checks: {e.format_message()}") from None
        results, failed = judge_quick(session, cand_key, runner)
        if failed is not None:
            raise RuntimeError(f"its output no longer matches eager {describe_failure(failed)}")
        runner.close()
        os.replace(candidate, path)
        session.rename(cand_key, key)
        return SimplifyOutcome(True, info={**info, "equivalence": summary(results)})
    except RuntimeError as e:
        return SimplifyOutcome(False, warning=f"onnxsim failed/regressed: {e}; kept the unsimplified model")
    finally:
        if runner is not None:
            runner.close()
        session.forget(cand_key)
        candidate.unlink(missing_ok=True)
