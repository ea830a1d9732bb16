"""`modelport opsets ...`: JSON on stdout, exit codes, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
from helpers.opsets import argmin, relu, save

from modelport.cli import main
from modelport.opsets import max_known_opset


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(["opsets", *args])
    out = capsys.readouterr()
    return int(ei.value.code or 0), out.out, out.err


def test_show_json(capsys):
    code, out, _ = run(capsys, "show", "ArgMin", "--json")
    data = json.loads(out)
    assert code == 0 and data["op"] == "ArgMin" and data["domain"] == "ai.onnx"
    assert data["versions"] == [1, 11, 12, 13] and len(data["changes"]) == 4


def test_show_human(capsys):
    code, out, _ = run(capsys, "show", "ArgMin")
    assert code == 0
    assert "versions 1, 11, 12, 13" in out and "select_last_index added" in out and "+ bfloat16" in out


def test_show_ml_domain(capsys):
    code, out, _ = run(capsys, "show", "LabelEncoder", "--domain", "ai.onnx.ml", "--json")
    assert code == 0 and json.loads(out)["domain"] == "ai.onnx.ml"


def test_diff_json(capsys):
    code, out, _ = run(capsys, "diff", "17", "18", "--json")
    data = json.loads(out)
    changed = {c["op"] for c in data["changed"]}
    assert code == 0 and {"ReduceMean", "ReduceMax", "Split", "Resize"} <= changed


def test_diff_human(capsys):
    code, out, _ = run(capsys, "diff", "17", "18")
    assert code == 0 and "Split-18" in out and "num_outputs added" in out


def test_check_json_and_target(capsys, tmp_path):
    p = str(save(argmin(select_last_index=1), tmp_path / "a.onnx"))
    code, out, _ = run(capsys, "check", p, "--json")
    data = json.loads(out)
    assert code == 0 and data["min_opset"] == 12 and data["lower_bound"] == 1 and data["ir_version"] > 0
    code, out, err = run(capsys, "check", p, "--target", "11")
    assert code == 4 and "target opset 11: NOT valid" in out and "select_last_index" in out
    assert err.count("\n") == 1 and err.startswith(f"modelport: error: {p} is not valid at opset 11: ArgMin")
    assert "its valid opsets: 12-" in err
    code, out, _ = run(capsys, "check", p, "--target", "12")
    assert code == 0 and "target opset 12: valid" in out and "minimum ai.onnx opset: 12" in out


def test_convert_json(capsys, tmp_path):
    p = str(save(relu(14), tmp_path / "r.onnx"))
    out_path = tmp_path / "r18.onnx"
    code, out, _ = run(capsys, "convert", p, "--opset", "18", "--out", str(out_path), "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["to_opset"] == 18 and out_path.is_file()


def _assert_one_line_error(code: int, err: str, needle: str, exit_code: int = 2) -> None:
    assert code == exit_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelport: error: "), err
    assert needle in lines[0] and "Traceback" not in err


def test_convert_failure_is_one_line(capsys, tmp_path):
    p = str(save(relu(14), tmp_path / "r.onnx"))
    code, out, err = run(capsys, "convert", p, "--opset", "13", "--out", str(tmp_path / "r13.onnx"))
    _assert_one_line_error(code, err, "cannot convert Relu down from opset 14 to 13", exit_code=3)
    assert not (tmp_path / "r13.onnx").exists()


def _outside_external(tmp_path) -> str:
    m = relu()
    t = onnx.helper.make_tensor("w", onnx.TensorProto.FLOAT, [1], [0.0])
    t.ClearField("float_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "/etc/hostname"
    m.graph.initializer.append(t)
    return str(save(m, tmp_path / "ext.onnx"))


BAD = {
    "unknown op": (lambda tp: ["show", "Frobnicate"], "no operator 'Frobnicate'"),
    "unknown domain": (lambda tp: ["show", "Relu", "--domain", "com.example"], "unknown operator domain"),
    "diff beyond max": (lambda tp: ["diff", "1", str(max_known_opset() + 1)], f"(1..{max_known_opset()})"),
    "target beyond max": (lambda tp: ["check", str(save(relu(), tp / "r.onnx")), "--target", "99"],
                          f"(1..{max_known_opset()})"),
    "convert beyond max": (lambda tp: ["convert", str(save(relu(), tp / "r.onnx")), "--opset", "99", "--out",
                                       str(tp / "o.onnx")], f"(1..{max_known_opset()})"),
    "not onnx": (lambda tp: ["check", str(_text(tp))], "is not an ONNX model"),
    "missing file": (lambda tp: ["check", str(tp / "nope.onnx")], "does not exist"),
    "external outside": (lambda tp: ["check", _outside_external(tp)], "outside the model's folder"),
}


def _text(tp):
    p = tp / "notes.onnx"
    p.write_text("just some text\n")
    return p


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line(capsys, tmp_path, case):
    argv, needle = BAD[case]
    code, _, err = run(capsys, *argv(tmp_path))
    _assert_one_line_error(code, err, needle)
    assert not (tmp_path / "o.onnx").exists()


def test_entry_point_subprocess(tmp_path):
    r = subprocess.run([sys.executable, "-m", "modelport.cli", "opsets", "show", "Split", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["versions"] == [1, 2, 11, 13, 18]
    r = subprocess.run([sys.executable, "-m", "modelport.cli", "opsets", "check", str(_text(tmp_path))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_opsets_convert_never_overwrites_its_out_file(capsys, tmp_path):
    src = save(relu(13), tmp_path / "relu.onnx")
    out = tmp_path / "out.onnx"
    out.write_bytes(b"earlier result")
    code, _, err = run(capsys, "convert", str(src), "--opset", "14", "--out", str(out))
    assert code == 2 and "already exists" in err
    assert out.read_bytes() == b"earlier result"
