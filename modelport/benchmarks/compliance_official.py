"""``--compliance ... --mlperf-repo PATH``: MLPerf's own compliance verification scripts, run from the user's
checkout of mlcommons/inference over the logs a cell wrote (docs/decisions.md, "Compliance: MLPerf's own
verification scripts").

Each test's ``run_verification.py`` (``compliance/TEST0x/`` in current checkouts, ``compliance/nvidia/TEST0x/``
in older ones) is found before any benchmark and run as a subprocess with the current Python, in a temporary
directory (it writes ``verify_*.txt`` into its working directory), with a timeout. It reads MLPerf's results
layout (``RESULTS/accuracy/mlperf_log_accuracy.json``, ``RESULTS/performance/run_1/mlperf_log_*.txt``), which
the temporary directory links to the cell's own logs. Its ``verify_accuracy.txt`` / ``verify_performance.txt``
are the verdict (a check passes when its file says ``TEST PASS``, as the script itself decides) and are what
goes into the test's folder; modelport's own verification (compliance.py) is kept beside it in results.json.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelport.benchmarks.mlperf_logs import ACCURACY, DETAIL, SUMMARY
from modelport.errors import InputError

#: the official scripts read the whole accuracy log with json.load: minutes for a full data set's log
TIMEOUT_S = 1800
#: test -> the checks its run_verification.py writes (verify_<check>.txt)
CHECKS = {"TEST01": ("accuracy", "performance"), "TEST04": ("performance",)}
#: where checkouts keep the scripts, newest layout first
_LAYOUTS = ("compliance", "compliance/nvidia")


@dataclass(frozen=True)
class OfficialScripts:
    """The ``run_verification.py`` of each requested test in one checkout."""

    repo: Path
    scripts: dict[str, Path]  # test -> its run_verification.py


def find_scripts(repo: str | Path, tests: list[str]) -> OfficialScripts:
    """Each test's run_verification.py in the checkout ``repo``; one line naming what is missing otherwise."""
    root = Path(repo).expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"--mlperf-repo {str(repo)!r} is not a folder", "pass a checkout of mlcommons/inference")
    scripts: dict[str, Path] = {}
    for test in tests:
        found = [root / layout / test / "run_verification.py" for layout in _LAYOUTS]
        script = next((p for p in found if p.is_file()), None)
        if script is None:
            raise InputError(f"--mlperf-repo {str(repo)!r} has no compliance/{test}/run_verification.py",
                             "pass a checkout of github.com/mlcommons/inference")
        scripts[test] = script
    return OfficialScripts(root, scripts)


def _results_layout(work: Path, perf_dir: Path, accuracy_dir: Path | None) -> Path:
    """MLPerf's results folder (what ``-r`` names), linking to the cell's performance and accuracy logs."""
    results = work / "results"
    run_1 = results / "performance" / "run_1"
    run_1.mkdir(parents=True)
    for name in (SUMMARY, DETAIL):
        if (perf_dir / name).is_file():
            (run_1 / name).symlink_to((perf_dir / name).resolve())
    if accuracy_dir is not None and (accuracy_dir / ACCURACY).is_file():
        (results / "accuracy").mkdir()
        (results / "accuracy" / ACCURACY).symlink_to((accuracy_dir / ACCURACY).resolve())
    return results


def run_official(scripts: OfficialScripts, test: str, perf_dir: Path, accuracy_dir: Path | None,
                 test_dir: Path, timeout_s: float = TIMEOUT_S) -> tuple[dict[str, bool], dict[str, list[str]]]:
    """Run ``test``'s official verification over the cell's logs and the test run's logs in ``test_dir``;
    check -> passed, and check -> the lines of its verify_<check>.txt (or why there is none)."""
    with tempfile.TemporaryDirectory(prefix=f"modelport-{test.lower()}-") as tmp:
        work = Path(tmp)
        results = _results_layout(work, perf_dir, accuracy_dir)
        argv = [sys.executable, str(scripts.scripts[test]), "-r", str(results), "-c", str(Path(test_dir).resolve()),
                "-o", str(work / "out")]
        try:
            proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            why = f"TEST FAIL: MLPerf's {test}/run_verification.py ran past {timeout_s:g} s"
            return ({c: False for c in CHECKS[test]}, {c: [why] for c in CHECKS[test]})
        output = (proc.stdout + proc.stderr).strip().splitlines()
        checks: dict[str, bool] = {}
        lines: dict[str, list[str]] = {}
        for check in CHECKS[test]:
            written = work / "out" / test / f"verify_{check}.txt"
            if not written.is_file():  # the script stopped before writing it: say how
                last = output[-1].strip()[:200] if output else "no output"
                lines[check] = [f"TEST FAIL: MLPerf's {test}/run_verification.py wrote no verify_{check}.txt "
                                f"(exit {proc.returncode}): {last}"]
            else:
                lines[check] = written.read_text(errors="replace").splitlines()
            checks[check] = "TEST PASS" in "\n".join(lines[check])  # the script's own test
        return checks, lines
