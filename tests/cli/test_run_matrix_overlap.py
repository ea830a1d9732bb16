"""An axis given both on the command line and in ``--matrix FILE`` is refused before any work."""

from __future__ import annotations

import json

import pytest
from helpers.convert import run_cli


@pytest.mark.parametrize(("flags", "named"), [(("--to", "torchscript"), "--to"), (("zoo:tiny-cnn",), "SOURCE"),
                                              (("--suite", "edge"), "--suite")])
def test_an_axis_set_twice_is_one_line_and_writes_nothing(flags, named, tmp_path, capsys):
    matrix = tmp_path / "m.json"
    matrix.write_text(json.dumps({"models": ["zoo:tiny-cnn"], "targets": ["onnx"]}))
    code, _, err = run_cli(capsys, "run", *flags, "--matrix", matrix, "--out", tmp_path / "run")
    assert code == 2 and f"{named} and the matrix file" in err and "both set the same axis" in err
    assert not (tmp_path / "run").exists()
