"""``modelport submission --check --mlperf-repo PATH``: MLPerf's own submission checker, run from the user's
checkout of mlcommons/inference over the written tree (docs/decisions.md, "Submission: the official checker").

The checker is found up front (before any benchmark): the package ``tools/submission/submission_checker``
(run as ``python -m submission_checker.main`` from ``tools/submission``, as its README says) or, in older
checkouts, the single script ``tools/submission/submission_checker.py``. Its verdict is its own last
``SUMMARY:`` line and its exit status; every ERROR line it logged is kept for the report and ``--json``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.errors import InputError

#: the checker's configuration whose seeds match the LoadGen conf modelport runs (mlperf.conf's
#: qsl_rng_seed 2085463073848966840); --mlperf-version picks another
DEFAULT_VERSION = "v6.1"
TIMEOUT_S = 1800
_LOG_LINE = re.compile(r"^\[[^\]]*\b(ERROR|WARNING|INFO)\]\s*(.*)$")


@dataclass(frozen=True)
class Checker:
    command: list[str]  # the argv before --input
    cwd: Path


@dataclass
class CheckResult:
    passed: bool
    summary: str  # the checker's SUMMARY line, or why there is none
    errors: list[str] = field(default_factory=list)
    returncode: int = 0
    log: str = ""  # where the whole output was saved

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "summary": self.summary, "errors": self.errors,
                "returncode": self.returncode, "log": self.log}

    def one_line(self, version: str) -> str:
        errors = f"{len(self.errors)} error line(s)" if self.errors else "no error lines"
        return f"MLPerf submission checker ({version}): {self.summary} ({errors}; full output: {self.log})"


def find_checker(repo: str | Path) -> Checker:
    """The checker of a mlcommons/inference checkout; one line naming what is missing otherwise."""
    root = Path(repo).expanduser().resolve()
    tools = root / "tools" / "submission"
    if (tools / "submission_checker" / "main.py").is_file():
        return Checker([sys.executable, "-m", "submission_checker.main"], tools)
    if (tools / "submission_checker.py").is_file():
        return Checker([sys.executable, str(tools / "submission_checker.py")], tools)
    raise InputError(f"--mlperf-repo {str(repo)!r} has no tools/submission/submission_checker",
                     "pass a checkout of github.com/mlcommons/inference")


def run_checker(checker: Checker, tree: Path, submitter: str, version: str = DEFAULT_VERSION,
                log_dir: Path | None = None) -> CheckResult:
    """Run the checker over ``tree`` (the folder holding ``<division>/<submitter>``) for ``submitter``."""
    out_dir = Path(log_dir or tempfile.mkdtemp(prefix="modelport-check-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [*checker.command, "--input", str(Path(tree).resolve()), "--version", version, "--submitter", submitter,
            "--csv", str(out_dir / "summary.csv")]
    try:
        proc = subprocess.run(argv, cwd=checker.cwd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return CheckResult(False, f"the checker ran past {TIMEOUT_S} s", returncode=-1)
    output = proc.stdout + proc.stderr
    log = out_dir / "checker.log"
    log.write_text(" ".join(argv) + "\n\n" + output)
    summary, errors = parse_output(output)
    if summary is None:
        last = next((line for line in reversed(output.splitlines()) if line.strip()), "no output")
        summary = f"no SUMMARY line (exit {proc.returncode}): {last.strip()[:200]}"
    return CheckResult(proc.returncode == 0 and "looks OK" in summary, summary, errors, proc.returncode, str(log))


def parse_output(output: str) -> tuple[str | None, list[str]]:
    """The checker's ``SUMMARY: ...`` text and its ERROR lines (without the time and source prefix)."""
    summary, errors = None, []
    for line in output.splitlines():
        m = _LOG_LINE.match(line.strip())
        text = m.group(2) if m else line.strip()
        if "SUMMARY:" in text:
            summary = text[text.index("SUMMARY:") + len("SUMMARY:"):].strip()
        elif m and m.group(1) == "ERROR":
            errors.append(text)
    return summary, errors
