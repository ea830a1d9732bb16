"""``modelport run --matrix FILE``: the file's keys, one-line refusals naming the key (before any worker
starts or any folder appears), and a failed cell reported on its own line with the right exit code."""

from __future__ import annotations

import json

import pytest
from helpers.bench_cli import invoke

from modelport.benchmarks import BenchOptions, get_profile
from modelport.benchmarks.matrix import from_options, load_matrix_file
from modelport.benchmarks.matrix_run import CellJob, bench_cell, convert_cell
from modelport.converters.options import ConvertOptions
from modelport.errors import InputError

SHORT = ["--scenario", "SingleStream", "--profile", "tiny", "--duration-ms", "100", "--total-samples", "8",
         "--accuracy-samples", "4", "--threads", "1"]
DEFAULTS = from_options("zoo:tiny-cnn", ("onnx",), ("17",), ("fp32",), ["Offline"])


def write(tmp_path, text: str, name: str = "m.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cells_span_models_targets_and_onnx_opsets(tmp_path):
    m = load_matrix_file(write(tmp_path, json.dumps({
        "models": ["zoo:tiny-cnn", "zoo:branchy"], "targets": ["onnx", "torchscript"], "opsets": [13, "17"],
        "precisions": ["fp32", "fp16", "int8"], "scenarios": "SingleStream,Offline"})), DEFAULTS)
    by_id = {c.id: c for c in m.cells}
    assert list(by_id) == ["tiny-cnn-onnx-opset13", "tiny-cnn-onnx-opset17", "tiny-cnn-torchscript",
                           "branchy-onnx-opset13", "branchy-onnx-opset17", "branchy-torchscript"]
    # each target ships fp32 and the reduced precisions it builds; the opset axis is ONNX's alone
    assert by_id["tiny-cnn-onnx-opset13"].precisions == ("fp32", "fp16", "int8")
    assert by_id["tiny-cnn-torchscript"].precisions == ("fp32", "fp16") and by_id["tiny-cnn-torchscript"].opset is None
    assert m.scenarios == ["SingleStream", "Offline"]


def test_left_out_keys_come_from_the_command_line(tmp_path):
    m = load_matrix_file(write(tmp_path, '{"opsets": [13]}'), DEFAULTS)
    assert (m.models, m.targets, m.opsets, m.scenarios) == (["zoo:tiny-cnn"], ("onnx",), (13,), ["Offline"])


def test_yaml_matrix(tmp_path):
    pytest.importorskip("yaml")  # installed with the [ray] and [test] extras (Ray depends on PyYAML)
    m = load_matrix_file(write(tmp_path, "models: [zoo:tiny-cnn]\nopsets:\n  - 13\n  - 17\n", "m.yaml"), DEFAULTS)
    assert [c.id for c in m.cells] == ["tiny-cnn-onnx-opset13", "tiny-cnn-onnx-opset17"]


@pytest.mark.parametrize(("text", "expected"), [
    ('{"opset": [13]}', "unknown key 'opset'"),
    ('{"opsets": [12.5]}', "'opsets' holds 12.5"),
    ('{"opsets": ["seventeen"]}', "'opsets': --opset 'seventeen' is not a number"),
    ('{"targets": ["tflite"]}', "'targets': unknown target 'tflite'"),
    ('{"scenarios": []}', "'scenarios' must be a non-empty list"),
    ('{"precisions": ["fp8"]}', "'precisions': unknown --precision 'fp8'"),
    ('{"models": [""]}', "'models' must list model sources"),
    ('{"models": ["zoo:tiny-cnn", "other/tiny-cnn.pt"]}', "share the name 'tiny-cnn'"),
    ('["zoo:tiny-cnn"]', "must hold an object"),
    ('{"models": ["zoo:tiny-cnn", "zoo:resnet-50"]}', "matrix model 'zoo:resnet-50': unknown zoo model 'resnet-50'"),
    ('{"models": ["nets/missing.pt"]}', "matrix model 'nets/missing.pt': no such file or directory"),
    ('{"models": ["zoo:tiny-cnn",]}', "is not valid JSON"),
])
def test_bad_matrix_files_are_refused_naming_the_key(tmp_path, text, expected):
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        load_matrix_file(write(tmp_path, text), DEFAULTS)


def test_cli_refusals_are_one_line_and_leave_nothing(tmp_path):
    out = tmp_path / "m"
    for args, expected in [
        (["--matrix", str(write(tmp_path, '{"opsets": [99]}'))], "opset 99 is beyond"),
        (["--matrix", str(tmp_path / "missing.json")], "cannot read matrix file"),
        (["--executor", "process", "--ray-address", "127.0.0.1:1"], "--ray-address needs --executor ray"),
        (["--executor", "serial", "--baseline", str(tmp_path / "b.json")], "--baseline/--save-baseline check one"),
    ]:
        res = invoke("run", "zoo:tiny-cnn", "--to", "onnx", *SHORT, "--out", str(out), *args)
        assert res.exit_code == 2, res.output
        assert expected in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not out.exists()


def test_a_worker_without_the_run_directory_fails_its_cell_naming_the_host(tmp_path):
    """A Ray node that does not mount the run directory: the cell fails in one line, the worker survives."""
    job = CellJob(DEFAULTS.cells[0], str(tmp_path / "elsewhere"), ConvertOptions(),
                  BenchOptions(["Offline"], get_profile("tiny")))
    for fn in (convert_cell, bench_cell):
        rec = fn(job)
        assert not rec["ok"] and rec["exit_code"] == 2 and rec["end"] >= rec["start"]
        assert rec["error"].startswith(f"the run directory {tmp_path / 'elsewhere'} is not visible on {rec['host']}")


@pytest.mark.slow  # the default suite checks the same on the Ray executor (test_fanout_executors.py)
def test_a_failed_cell_is_reported_and_sets_the_exit_code(tmp_path):
    broken = tmp_path / "not-a-model.pt"
    broken.write_bytes(b"not a model")
    matrix = write(tmp_path, json.dumps({"models": ["zoo:tiny-cnn", str(broken)], "targets": ["onnx"]}))
    out = tmp_path / "m"
    res = invoke("run", "--matrix", str(matrix), *SHORT, "--executor", "serial", "--out", str(out))
    assert res.exit_code == 2, res.output  # the failed cell's own exit code (not a model file: input)
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("modelport: cell not-a-model-onnx-opset17 failed (exit 2): ") and len(lines) == 2
    assert "1 of 2 matrix cells failed" in lines[1]
    merged = json.loads((out / "results.json").read_text())
    good, bad = merged["cells"]["tiny-cnn-onnx-opset17"], merged["cells"]["not-a-model-onnx-opset17"]
    assert good["bench"]["ok"] and good["bench"]["backends"]["onnx-opset17"]["SingleStream"]["value"] > 0
    assert not bad["convert"]["ok"] and bad["bench"] is None and bad["convert"]["exit_code"] == 2
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["tiny-cnn-onnx-opset17"]  # nothing half-written
    assert "FAILED (exit 2)" in (out / "report.md").read_text()
