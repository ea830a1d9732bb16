"""``modelport submission``: the plan is checked before any run, and ``--dry-run`` writes a complete tree."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers.bench_cli import invoke

from modelport.benchmarks.mlperf_logs import read_detail

pytest.importorskip("mlperf_loadgen")

META = ["--submitter", "Acme", "--system", "box1", "--threads", "1"]
PER_SCENARIO = ["performance/run_1/mlperf_log_summary.txt", "performance/run_1/mlperf_log_detail.txt",
                "accuracy/mlperf_log_accuracy.json", "accuracy/accuracy.txt", "accuracy/mlperf_log_detail.txt",
                "TEST01/verify_accuracy.txt", "TEST01/verify_performance.txt",
                "TEST01/accuracy/mlperf_log_accuracy.json", "TEST01/performance/run_1/mlperf_log_detail.txt",
                "measurements.json", "user.conf", "README.md"]
#: TEST04 is required of resnet50 only (bert's cost varies with the sample: exempt)
TEST04 = ["TEST04/verify_performance.txt", "TEST04/performance/run_1/mlperf_log_summary.txt"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """resnet50-small and bert-small (MLPerf's resnet50 and bert, small configs) and tiny-cnn, as ONNX."""
    root = tmp_path_factory.mktemp("submission")
    for name in ("resnet50-small", "bert-small", "tiny-cnn"):
        res = invoke("convert", f"zoo:{name}", "--to", "onnx", "--out", str(root / name), "--no-validate", "--quiet")
        assert res.exit_code == 0, res.output
    return root


@pytest.mark.parametrize("args, needle", [
    (["--division", "closed", "--system-type", "edge", "--scenario", "Offline"],
     "a closed edge submission of resnet50 needs SingleStream, MultiStream, Offline: missing SingleStream, "
     "MultiStream"),
    (["--division", "open", "--system-type", "edge", "--artifact", "nope"], "no artifact 'nope'"),
])
def test_the_plan_is_refused_in_one_line_before_any_run(runs, tmp_path, args, needle):
    res = invoke("submission", str(runs / "resnet50-small"), *META, "--out", str(tmp_path / "sub"), "--dry-run",
                 *args)
    assert res.exit_code == 2 and needle in res.stderr and "Traceback" not in res.output, res.output
    assert not (tmp_path / "sub").exists() and not (runs / "resnet50-small" / "results.json").exists()


def test_a_model_outside_mlperf_and_a_used_out_folder_are_refused(runs, tmp_path):
    res = invoke("submission", str(runs / "tiny-cnn"), *META, "--division", "open", "--system-type", "edge",
                 "--out", str(tmp_path / "sub"), "--dry-run")
    assert res.exit_code == 2 and "zoo:tiny-cnn is not an MLPerf benchmark model" in res.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    res = invoke("submission", str(runs / "bert-small"), *META, "--division", "open", "--system-type", "edge",
                 "--out", str(tmp_path / "used"), "--dry-run")
    assert res.exit_code == 2 and "exists and is not empty" in res.stderr


# about 9 s: two models x two scenarios x (performance, accuracy, TEST01, resnet50's TEST04), the artifact's cells
# only
def test_dry_run_writes_a_complete_open_tree_for_resnet50_and_bert(runs, tmp_path):
    out = tmp_path / "sub"
    res = invoke("submission", str(runs / "resnet50-small"), str(runs / "bert-small"), *META, "--division", "open",
                 "--system-type", "edge", "--scenario", "SingleStream,Offline", "--out", str(out), "--dry-run",
                 "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["dry_run"] is True
    root = out / "open" / "Acme"
    system = json.loads((root / "systems" / "box1.json").read_text())
    assert system["system_name"] == "box1" and system["division"] == "open" and system["system_type"] == "edge"
    assert "NOT A VALID SUBMISSION" in (root / "src" / "README.md").read_text()
    for bench, run in (("resnet50", "resnet50-small"), ("bert-99", "bert-small")):
        for scenario in ("SingleStream", "Offline"):
            folder = root / "results" / "box1" / bench / scenario
            for name in PER_SCENARIO + (TEST04 if bench == "resnet50" else []):
                assert (folder / name).is_file() and (folder / name).stat().st_size > 0, folder / name
            assert (folder / "TEST04").exists() is (bench == "resnet50")
            # TEST01 ran with the benchmark's published sampling target (4096 for both)
            detail = read_detail(folder / "TEST01" / "performance" / "run_1")
            assert detail.get("effective_accuracy_log_sampling_target") == 4096
            assert "NOT A VALID SUBMISSION" in (folder / "README.md").read_text()
            assert json.loads((folder / "measurements.json").read_text())["weight_data_types"] == "fp32"
            assert (folder / "user.conf").read_text().startswith(f"{bench}.{scenario}.")
            # the hash line is the sha256 of the whole accuracy log, which the tree keeps only the ends of
            cell = json.loads((runs / run / "results.json").read_text())["cells"]["onnx-opset17"][scenario]
            original = (runs / run / cell["accuracy"]["log_dir"] / "mlperf_log_accuracy.json").read_bytes()
            assert f"hash={hashlib.sha256(original).hexdigest()}" in (folder / "accuracy/accuracy.txt").read_text()
            kept = (folder / "accuracy/mlperf_log_accuracy.json").read_bytes()
            assert kept == original if len(original) < 10240 else (len(kept) < 10240 and b"\n\n...\n\n" in kept)
    assert not list(tmp_path.glob(".sub.*"))  # no staging folder left behind
    # a submission measures its artifact only: the eager model gives accuracy references, not cells
    assert list(json.loads((runs / "bert-small" / "results.json").read_text())["cells"]) == ["onnx-opset17"]


def test_user_conf_lines_naming_the_mlperf_model_apply(runs, tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("resnet50.SingleStream.min_query_count = 41\nbert.SingleStream.min_query_count = 999\n")
    res = invoke("bench", str(runs / "resnet50-small"), "--scenario", "SingleStream", "--no-accuracy", "--profile",
                 "tiny", "--duration-ms", "50", "--threads", "1", "--user-conf", str(conf), "--json")
    assert res.exit_code == 0, res.output
    cell = json.loads(res.stdout)["results"]["cells"]["onnx-opset17"]["SingleStream"]
    assert cell["effective_settings"]["min_query_count"] == 41 and cell["settings"]["conf_model"] == "resnet50"
