"""Hostile and careless input: no code runs without a trust flag, nothing outside the user's paths is read,
written or deleted, and every failure is one line on stderr with exit 2.

Each code-execution test also loads its payload once *with* the trust flag and sees the marker appear, so a
payload that silently stopped working (a torch change) fails the test instead of passing it vacuously.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import security as hostile
from helpers.convert import run_cli
from helpers.signals import default_sigint

from modelport.errors import InputError, UnsafePickleError
from modelport.runners import pt2_archive
from modelport.runners.load import load_runner
from modelport.sources import load_source

PT2_ATTACKS = [hostile.pt2_with_pickled_weight, hostile.pt2_with_opaque_constant, hostile.pt2_with_evil_sample_inputs]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("modelport: error: "), err
    return lines[0]


def cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The installed command in a fresh process, as a user runs it (no terminal: no progress)."""
    return subprocess.run([sys.executable, "-m", "modelport.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


# -- 1. .pt2 archives -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attack", PT2_ATTACKS, ids=lambda f: f.__name__)
def test_pt2_payload_never_runs_without_trust(tmp_path, attack):
    marker = tmp_path / "pwned"
    path = attack(tmp_path / "evil.pt2", marker)
    with pytest.raises(UnsafePickleError, match=r"io\.open.*--trust-pickle"):
        load_source(str(path))
    with pytest.raises(UnsafePickleError):
        load_runner("pt2", path, ["x"], ["y"])  # how validate and bench open a run's .pt2 artifact
    assert not marker.exists()


def test_pt2_payloads_are_real(tmp_path):
    """With the flag the payloads do run: the refusals above are not refusing something harmless."""
    for attack in (hostile.pt2_with_pickled_weight, hostile.pt2_with_evil_sample_inputs):
        marker = tmp_path / f"pwned-{attack.__name__}"
        path = attack(tmp_path / f"{attack.__name__}.pt2", marker)
        with pytest.raises(Exception):  # noqa: B017 - the crafted file is no valid program once unpickled
            pt2_archive.load_program(path, trust_pickle=True)
        assert marker.exists()


def test_pt2_load_is_weights_only_even_if_the_scan_misses(tmp_path, monkeypatch):
    """Second layer: a payload the static scan did not foresee still cannot unpickle code."""
    marker = tmp_path / "pwned"
    path = hostile.pt2_with_pickled_weight(tmp_path / "evil.pt2", marker)
    monkeypatch.setattr(pt2_archive, "unsafe_globals", lambda p: [])
    with pytest.raises(UnsafePickleError, match=r"io\.open"):
        pt2_archive.load_program(path)
    assert not marker.exists()
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ  # the guard restores the environment


def test_plain_pt2_still_loads(tmp_path):
    path = hostile.save_pt2(tmp_path / "ok.pt2")
    assert pt2_archive.unsafe_globals(path) == []
    assert load_source(str(path)).module is not None


def test_convert_refuses_evil_pt2_in_one_line(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = hostile.pt2_with_pickled_weight(tmp_path / "evil.pt2", marker)
    code, out, err = run_cli(capsys, "convert", path, "--to", "onnx", "--out", tmp_path / "run")
    assert code == 2
    assert "io.open" in one_error_line(err)
    assert not marker.exists() and not (tmp_path / "run").exists()


# -- 2. manifests name only paths inside the run directory ---------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("tiny") / "run"
    code = subprocess.run([sys.executable, "-m", "modelport.cli", "convert", "zoo:tiny-cnn", "--to", "torchscript",
                           "--out", str(run), "--no-validate", "--quiet"], capture_output=True, text=True,
                          timeout=300).returncode
    assert code == 0
    return run


def _tampered(tiny_run: Path, tmp_path: Path, change) -> Path:
    run = tmp_path / "work" / "run"
    shutil.copytree(tiny_run, run)
    data = json.loads((run / "manifest.json").read_text())
    change(data["artifacts"][0])
    (run / "manifest.json").write_text(json.dumps(data))
    return run


def test_bench_never_touches_a_folder_an_artifact_id_points_at(tiny_run, tmp_path):
    victim = tmp_path / "victim"
    (victim / "Offline").mkdir(parents=True)
    (victim / "Offline" / "keep.txt").write_text("mine")
    run = _tampered(tiny_run, tmp_path, lambda a: a.update(id="../../victim"))
    r = cli("bench", run, "--scenario", "Offline", "--profile", "quick")
    assert r.returncode == 2
    assert "../../victim" in one_error_line(r.stderr)
    assert (victim / "Offline" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in victim.rglob("*")) == ["Offline", "keep.txt"]


@pytest.mark.parametrize("path", ["../outside.ts", "/etc/hostname", "sub/../../outside.ts"])
def test_validate_never_loads_a_file_outside_the_run(tiny_run, tmp_path, path):
    run = _tampered(tiny_run, tmp_path, lambda a: (a.update(path=path), a["files"][0].update(path=path)))
    shutil.copy(run / "model.ts", run.parent / "outside.ts")
    r = cli("validate", run)
    assert r.returncode == 2
    assert repr(path) in one_error_line(r.stderr) and "inside the run directory" in r.stderr


def test_symlink_out_of_the_run_is_refused(tiny_run, tmp_path):
    run = _tampered(tiny_run, tmp_path, lambda a: None)
    outside = tmp_path / "elsewhere.ts"
    shutil.move(run / "model.ts", outside)
    (run / "model.ts").symlink_to(outside)
    r = cli("validate", run)
    assert r.returncode == 2 and "outside the run directory" in one_error_line(r.stderr)


# -- 3. --out is claimed, never wiped ----------------------------------------------------------------------------

def test_out_with_a_file_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", out, "--no-validate")
    assert code == 2 and "not empty" in one_error_line(err)
    assert (out / "notes.txt").read_text() == "mine"


def test_out_held_by_another_run_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".out.modelport-lock").write_text(str(holder.pid))
        code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", out,
                               "--no-validate")
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and f"pid {holder.pid}" in one_error_line(err)
    assert not out.exists() or not any(out.iterdir())


def test_stale_lock_of_a_dead_run_is_taken_over(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".out.modelport-lock").write_text(str(dead.pid))
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", tmp_path / "out",
                           "--no-validate")
    assert code == 0, err
    assert (tmp_path / "out" / "manifest.json").is_file()
    assert not (tmp_path / ".out.modelport-lock").exists()


def test_file_appearing_in_out_during_the_run_is_kept(tmp_path, monkeypatch):
    from modelport import fsutil

    out = tmp_path / "out"
    with pytest.raises(InputError, match="changed during the run"), fsutil.atomic_dir(out) as stage:
        (stage / "artifact").write_text("ours")
        out.mkdir()
        (out / "theirs.txt").write_text("theirs")
    assert (out / "theirs.txt").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder, no lock left


def test_out_that_is_a_symlink_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", tmp_path / "link",
                           "--no-validate")
    assert code == 2 and "symbolic link" in one_error_line(err)
    assert not any(target.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


# -- 4. Hugging Face directories with their own code ------------------------------------------------------------

def test_hf_remote_code_is_refused_without_a_prompt(tmp_path):
    pytest.importorskip("transformers")
    marker = tmp_path / "pwned"
    hf = hostile.hf_dir_with_remote_code(tmp_path / "hf", marker)
    r = subprocess.run([sys.executable, "-m", "modelport.cli", "convert", str(hf), "--to", "onnx", "--out",
                        str(tmp_path / "run"), "--json"], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    line = one_error_line(r.stderr)
    assert "auto_map" in line and "--trust-remote-code" in line
    assert json.loads(r.stdout)["exit_code"] == 2  # stdout is exactly one JSON object: no prompt text
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_hf_remote_code_runs_with_the_flag(tmp_path):
    pytest.importorskip("transformers")
    marker = tmp_path / "pwned"
    hf = hostile.hf_dir_with_remote_code(tmp_path / "hf", marker)
    loaded = load_source(str(hf), trust_remote_code=True)
    assert marker.exists() and loaded.record.trusted_remote_code
    # the run directory's hf_files/ carries the module auto_map names, so it loads without the source (with the
    # flag, as the source did); copying it ran nothing
    from modelport.sources.hf import copy_files

    marker.unlink()
    assert "hf_files/evil.py" in copy_files(hf, tmp_path) and not marker.exists()


# -- 8. user code that exits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "import sys\nclass Net(nn.Module):\n    def __init__(self):\n        sys.exit(0)\n",
    "import argparse\nargparse.ArgumentParser().parse_args(['--nope'])\nclass Net(nn.Module):\n    pass\n",
])
def test_model_code_that_exits_is_the_models_failure(tmp_path, body):
    import torch

    (tmp_path / "net.py").write_text("from torch import nn\n" + body)
    torch.save({"w": torch.zeros(1)}, tmp_path / "w.pt")
    r = cli("convert", "--state-dict", tmp_path / "w.pt", "--model-class", f"{tmp_path / 'net.py'}:Net",
            "--input", "x:1x3", "--out", tmp_path / "run")
    assert r.returncode == 2
    assert "called sys.exit" in one_error_line(r.stderr)
    assert r.stdout == "" and not (tmp_path / "run").exists()


# -- 5. signals --------------------------------------------------------------------------------------------------

SLOW_MODEL = textwrap.dedent("""
    import pathlib, time
    import torch
    from torch import nn

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            if not torch.jit.is_scripting() and not torch.compiler.is_compiling():
                pathlib.Path(__file__).with_name("exporting").touch()
                time.sleep(30)
            return self.fc(x)
""")


@pytest.mark.parametrize("sig, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "aborted")])
def test_signal_during_convert_leaves_nothing(tmp_path, sig, code, word):
    import torch

    from modelport.sources.classes import split_spec  # noqa: F401 - the model file is imported by path

    work = tmp_path / "work"
    work.mkdir()
    (work / "slow.py").write_text(SLOW_MODEL)
    torch.save({"fc.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}, work / "w.pt")
    proc = subprocess.Popen([sys.executable, "-m", "modelport.cli", "convert", "--state-dict", str(work / "w.pt"),
                             "--model-class", f"{work / 'slow.py'}:Slow", "--input", "x:1x3", "--to", "torchscript",
                             "--method", "trace", "--out", str(work / "run")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not (work / "exporting").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip() == f"modelport: {word}"
    assert sorted(p.name for p in work.iterdir()) == ["exporting", "slow.py", "w.pt"]


# -- 7, 9. ONNX files: unknown ops, external data fields, absurd shapes ---------------------------------------

def _onnx_with(tmp_path: Path, name: str, node_op: str = "Relu", shape=(4,), external: dict | None = None) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, inputs = [], ["x"]
    if external is not None:
        w = numpy_helper.from_array(np.ones(4, np.float32), "w")
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        for key, value in external.items():
            entry = w.external_data.add()
            entry.key, entry.value = key, value
        inits, inputs, node_op = [w], ["x", "w"], "Add"
        (tmp_path / "w.bin").write_bytes(np.ones(4, np.float32).tobytes())
    node = helper.make_node(node_op, inputs, ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))], inits)
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.mark.parametrize("args", [("check", "--target", "13"), ("check",)])
def test_unknown_default_domain_op_is_an_error(tmp_path, capsys, args):
    path = _onnx_with(tmp_path, "foobar.onnx", node_op="FooBar")
    code, _, err = run_cli(capsys, "opsets", args[0], path, *args[1:])
    assert code == 4
    assert "FooBar" in one_error_line(err) and "not an operator of the ai.onnx domain" in err


@pytest.mark.parametrize("fields, word", [({"location": "w\x00.bin"}, "NUL"),
                                          ({"location": "w.bin", "offset": "-4"}, "offset '-4'"),
                                          ({"location": "w.bin", "length": "lots"}, "length 'lots'")])
@pytest.mark.parametrize("command", [("check",), ("convert", "--opset", "14")])
def test_malformed_external_data_is_a_one_line_input_error(tmp_path, capsys, fields, word, command):
    path = _onnx_with(tmp_path, "ext.onnx", external=fields)
    extra = ("--out", tmp_path / "out.onnx") if command[0] == "convert" else ()
    code, _, err = run_cli(capsys, "opsets", command[0], path, *command[1:], *extra)
    assert code == 2 and word in one_error_line(err)
    assert not (tmp_path / "out.onnx").exists()


def test_absurd_input_shape_is_refused_before_allocating(tmp_path, capsys):
    path = _onnx_with(tmp_path, "huge.onnx", shape=(100000, 100000, 100000))
    code, _, err = run_cli(capsys, "opsets", "convert", path, "--opset", "14", "--out", tmp_path / "out.onnx")
    assert code == 2 and "GiB of generated test data" in one_error_line(err)
    assert not (tmp_path / "out.onnx").exists()


# -- 11. one line, always ----------------------------------------------------------------------------------------

def test_legacy_pickle_naming_a_blocked_module_names_it(tmp_path, capsys):
    import torch

    marker = tmp_path / "pwned"

    class Blocked:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save(Blocked(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    code, _, err = run_cli(capsys, "convert", tmp_path / "legacy.pt", "--input", "x:1x3", "--out", tmp_path / "run")
    assert code == 2
    line = one_error_line(err)
    assert "system" in line and "--trust-pickle" in line
    assert not marker.exists()


def test_raw_protocol_4_pickle_is_one_line(tmp_path, capsys):
    import pickle

    import torch

    with open(tmp_path / "raw.pt", "wb") as f:
        pickle.dump({"w": torch.zeros(2)}, f, protocol=4)
    code, _, err = run_cli(capsys, "convert", tmp_path / "raw.pt", "--input", "x:1x3", "--out", tmp_path / "run")
    assert code == 2
    assert "pickle stream torch.load cannot read" in one_error_line(err)


def test_interrupt_during_validation_leaves_no_run_directory(tmp_path, capsys, monkeypatch):
    """Validation runs on the staged directory: a run directory is complete (validation.json included) or absent."""
    import modelport.validators as validators

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(validators, "validate_run", interrupted)
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", tmp_path / "run")
    assert code == 130 and err.strip() == "modelport: aborted"
    assert list(tmp_path.iterdir()) == []


def test_finished_convert_has_its_validation_report(tmp_path, capsys):
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--to", "torchscript", "--out", tmp_path / "run")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "validation.json").read_text())
    assert report["run_dir"] == str(tmp_path / "run")
    assert all(a["path"].startswith(str(tmp_path / "run")) for a in report["artifacts"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_hf_remote_code_flag_through_convert_and_validate(tmp_path):
    """--trust-remote-code on convert runs the directory's code; validate needs the flag again."""
    pytest.importorskip("transformers")
    marker = tmp_path / "pwned"
    hf = hostile.hf_dir_with_remote_code(tmp_path / "hf", marker)
    r = cli("convert", hf, "--to", "onnx", "--trust-remote-code", "--out", tmp_path / "run", "--quiet")
    assert r.returncode == 0, r.stderr
    assert marker.exists()
    marker.unlink()
    r = cli("validate", tmp_path / "run")
    assert r.returncode == 2 and "--trust-remote-code" in one_error_line(r.stderr)
    assert not marker.exists()
    r = cli("validate", tmp_path / "run", "--trust-remote-code")
    assert r.returncode == 0, r.stderr


def test_validate_on_a_read_only_run_directory_is_one_line(tiny_run, tmp_path):
    run = _tampered(tiny_run, tmp_path, lambda a: None)
    before = sorted(p.name for p in run.iterdir())
    with hostile.read_only(run):
        r = cli("validate", run)
    assert r.returncode == 2 and "is not writable" in one_error_line(r.stderr)
    assert sorted(p.name for p in run.iterdir()) == before
