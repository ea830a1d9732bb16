"""``modelport submission --check --mlperf-repo``: MLPerf's checker is found before any benchmark, run over the
tree with the official arguments, and its verdict reported in one line (exit 4 when it rejects the tree)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.bench_cli import invoke
from helpers.mlperf_checker import fake_mlperf_repo

from modelport.benchmarks.submission_check import find_checker, parse_output, run_checker
from modelport.errors import InputError


def _tree(root: Path, hashed: bool) -> Path:
    folder = root / "tree" / "open" / "Acme"
    (folder / "systems").mkdir(parents=True)
    (folder / "systems" / "box1.json").write_text("{}")
    acc = folder / "results" / "box1" / "resnet50" / "Offline" / "accuracy"
    acc.mkdir(parents=True)
    (acc / "accuracy.txt").write_text("accuracy=75.000%, good=3, total=4\n" + ("hash=ab12\n" if hashed else ""))
    return root / "tree"


@pytest.mark.parametrize("hashed", [True, False])
def test_the_checker_runs_over_the_tree_and_its_verdict_is_read(tmp_path, hashed):
    checker = find_checker(fake_mlperf_repo(tmp_path / "inference"))
    result = run_checker(checker, _tree(tmp_path, hashed), "Acme", "v6.1", tmp_path / "logs")
    assert result.passed is hashed
    assert result.summary == ("submission looks OK" if hashed else "submission has errors")
    assert [e.endswith("not hash value for accuracy.txt") for e in result.errors] == ([] if hashed else [True])
    log = Path(result.log).read_text()
    assert "--version v6.1 --submitter Acme" in log and "checked with v6.1" in log
    assert result.one_line("v6.1").startswith(f"MLPerf submission checker (v6.1): {result.summary} (")


def test_a_folder_without_the_checker_is_refused(tmp_path):
    with pytest.raises(InputError, match="has no tools/submission/submission_checker"):
        find_checker(tmp_path)


def test_the_old_single_script_checker_is_found(tmp_path):
    script = tmp_path / "tools" / "submission" / "submission_checker.py"
    script.parent.mkdir(parents=True)
    script.write_text("")
    assert find_checker(tmp_path).command[-1] == str(script)


def test_output_parsing_keeps_error_lines_and_the_summary():
    out = ("[2026-01-01 10:00:00,000 performance_check.py:381 ERROR] x.txt Test duration less than 600s\n"
           "[2026-01-01 10:00:00,001 main.py:344 INFO] Open Systems=0\n"
           "[2026-01-01 10:00:00,002 main.py:361 ERROR] SUMMARY: submission has errors\n")
    assert parse_output(out) == ("submission has errors", ["x.txt Test duration less than 600s"])


@pytest.mark.parametrize("args, needle", [
    (["--check"], "--check runs MLPerf's checker from a checkout of mlcommons/inference"),
    (["--check", "--mlperf-repo", "."], "has no tools/submission/submission_checker"),
    (["--mlperf-repo", "."], "has no compliance/TEST01/run_verification.py"),
])
def test_check_options_are_refused_before_any_run(tmp_path, args, needle):
    res = invoke("submission", str(tmp_path / "no-run"), "--submitter", "Acme", "--system", "box1", "--division",
                 "open", "--system-type", "edge", "--out", str(tmp_path / "sub"), "--dry-run", *args)
    assert res.exit_code == 2 and needle in res.stderr and "Traceback" not in res.output, res.output


#: what MLPerf's checker must still reject in a dry-run tree, by design (README, "The MLPerf submission path")
DRY_RUN_COMPLAINTS = ("Test duration less than 600s", "accurcy run does not cover all dataset",
                      "Some performance checks", "Some accuracy checks", "NoResults", "SUMMARY: submission has errors")


@pytest.mark.slow
def test_the_real_checker_rejects_a_dry_run_only_for_what_a_dry_run_cannot_do(tmp_path):
    """Needs a checkout of mlcommons/inference in MODELPORT_MLPERF_REPO (CI has no network to fetch one)."""
    import json
    import os

    repo = os.environ.get("MODELPORT_MLPERF_REPO")
    if not repo:
        pytest.skip("set MODELPORT_MLPERF_REPO to a checkout of mlcommons/inference")
    pytest.importorskip("mlperf_loadgen")
    res = invoke("convert", "zoo:resnet50-small", "--to", "onnx", "--out", str(tmp_path / "r50"), "--no-validate",
                 "--quiet")
    assert res.exit_code == 0, res.output
    system = {k: "given by the test" for k in ("host_memory_configuration", "host_storage_type", "host_networking",
                                               "cooling")}
    (tmp_path / "system.json").write_text(json.dumps(system))
    res = invoke("submission", str(tmp_path / "r50"), "--submitter", "Acme", "--system", "box1", "--division",
                 "open", "--system-type", "edge", "--scenario", "SingleStream,Offline", "--out", str(tmp_path / "s"),
                 "--dry-run", "--threads", "1", "--system-json", str(tmp_path / "system.json"), "--check",
                 "--mlperf-repo", repo, "--json")
    check = json.loads(res.stdout)["check"]
    assert res.exit_code == 4 and check["summary"] == "submission has errors", res.output
    unexpected = [e for e in check["errors"] if not any(c in e for c in DRY_RUN_COMPLAINTS)]
    assert not unexpected, unexpected
