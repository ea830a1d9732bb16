"""The CLI shell: help, version, zoo listing, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from modelport.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelport.cli", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_command():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("convert", "validate", "opsets", "bench", "run", "zoo"):
        assert cmd in r.stdout


def test_zoo_json():
    r = run_cli("zoo", "--json")
    assert r.returncode == 0
    models = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    # every MLPerf entry has its small configuration for tests
    assert {"resnet50", "resnet50-small", "bert", "bert-small", "ssd-mobilenet", "ssd-mobilenet-small", "3d-unet",
            "3d-unet-small", "dlrm", "dlrm-small", "rnnt", "rnnt-small", "gnmt", "gnmt-small", "ssd-resnet34",
            "ssd-resnet34-small", "tiny-cnn", "tiny-transformer", "branchy"} == set(models)
    mlperf = {m["mlperf"]["model"] for m in models.values() if m["mlperf"]}
    assert all(any(m["mlperf"] and m["mlperf"]["model"] == model and n.endswith("-small") for n, m in models.items())
               for model in mlperf)
    assert models["resnet50"]["mlperf"]["server_latency_ms"] == 15
    assert models["tiny-cnn"]["mlperf"] is None


@pytest.mark.parametrize("args, needle", [
    (("frobnicate",), "No such command 'frobnicate'"),
    (("convert", "zoo:tiny-cnn", "--to", "onx"), "Invalid value for '--to'"),
    (("convert", "--too", "onnx"), "No such option '--too'"),
])
def test_usage_errors_are_one_line(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("modelport: error: ") and needle in r.stderr
    assert "--help" in r.stderr and "Traceback" not in r.stderr


def test_modelport_error_exit_code(monkeypatch, capsys):
    from modelport import cli as cli_mod
    from modelport.errors import InputError

    def boom(*_a, **_kw):
        raise InputError("bad thing", "do the other thing")

    monkeypatch.setattr(cli_mod.cli, "invoke", boom)
    with pytest.raises(SystemExit) as ei:
        main(["zoo"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "modelport: error: bad thing; do the other thing"


def test_json_failure_is_one_object_on_stdout():
    r = run_cli("convert", "zoo:no-such-model", "--json")
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"error": r.stderr.strip().removeprefix("modelport: error: "),
                                    "kind": "InputError", "exit_code": 2}


@pytest.mark.parametrize("args", [("convert", "--to", "tflite"), ("convert", "zoo:tiny-cnn", "--seed", "-1"),
                                  ("bench", "--bogus")])
def test_usage_errors_under_json_are_one_object_on_stdout(args):
    r = run_cli(*args, "--json")
    assert r.returncode == 2
    got = json.loads(r.stdout)
    assert got["kind"] == "UsageError" and got["exit_code"] == 2 and got["error"] in r.stderr


def test_json_never_holds_nan_tokens():
    from modelport.fsutil import json_text

    def refuse(token):
        raise ValueError(token)

    text = json_text({"worst_ref": float("nan"), "max": [float("inf"), 1.5]})
    assert json.loads(text, parse_constant=refuse) == {"worst_ref": None, "max": [None, 1.5]}


def test_library_import_noise_is_kept_off_stderr_unless_debugging():
    """torchao, imported by transformers when installed, logs a warning per CUDA kernel library it cannot load:
    a user converting a Hugging Face model on a CPU machine must not see those lines (--debug shows them)."""
    script = ("import logging, sys\nfrom modelport.cli import main\ntry:\n    main(sys.argv[1:])\n"
              "except SystemExit:\n    pass\nlogging.getLogger('torchao').warning('Failed to load _C_x.so')\n")
    for argv, shown in ((["--version"], False), (["--debug", "--version"], True)):
        res = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "MODELPORT_DEBUG"})
        assert ("Failed to load" in res.stderr) is shown, res.stderr


def test_json_stdout_survives_model_code_writing_to_file_descriptor_1(tmp_path):
    (tmp_path / "noisy.py").write_text(
        "import os\nfrom torch import nn\nos.write(1, b'written at import\\n')\n\n\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.l = nn.Linear(8, 2)\n\n"
        "    def forward(self, x):\n        os.write(1, b'written in forward\\n')\n        return self.l(x)\n")
    import torch

    torch.manual_seed(0)
    torch.save({f"l.{k}": v for k, v in torch.nn.Linear(8, 2).state_dict().items()}, tmp_path / "w.pt")
    r = run_cli("convert", str(tmp_path / "w.pt"), "--model-class", f"{tmp_path / 'noisy.py'}:Net", "--input",
                "x:2,8", "--out", str(tmp_path / "run"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["run_dir"].endswith("run")  # one document, nothing else
    assert "written at import" in r.stderr and "written in forward" in r.stderr
