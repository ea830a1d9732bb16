"""The end-to-end generation check: exported components must produce the eager model's greedy tokens exactly."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers.convert import run_cli
from helpers.hf_generative_models import converted

from modelport.sources.hf_greedy import greedy
from modelport.validators.generation import first_difference

PLAN = {"task": "text-generation", "family": "causal", "with_past": False, "layers": 2, "vocab": 5, "eos": [4],
        "pad": 0, "start": None, "position_ids": False, "encoder_mask": False}


def _scripted(rows: list[list[int]]):
    """A fake ``model`` component whose argmax at step k is rows[b][k], for every batch row b."""
    calls = []

    def run(name, feed):
        step = feed["input_ids"].shape[1] - 2
        calls.append((name, feed["input_ids"].shape, feed["attention_mask"].shape))
        logits = np.zeros((len(rows), feed["input_ids"].shape[1], PLAN["vocab"]), dtype=np.float32)
        for b, row in enumerate(rows):
            logits[b, -1, row[step]] = 1.0
        return [logits]

    return run, calls


def test_greedy_pads_finished_rows_and_stops_when_all_finish():
    run, calls = _scripted([[1, 4, 3, 3], [2, 3, 4, 1]])
    prompt = {"input_ids": np.zeros((2, 2), dtype=np.int64), "attention_mask": np.ones((2, 2), dtype=np.int64)}
    got = greedy(PLAN, run, {"model": ["logits"]}, prompt, 8)
    # row 0 ends at step 1 and is padded; row 1 ends at step 2; nothing runs after every row ended
    np.testing.assert_array_equal(got.tokens, [[1, 4, 0], [2, 3, 4]])
    assert len(calls) == 3 and calls[-1][1:] == ((2, 4), (2, 4))
    assert got.first_token_s > 0 and len(got.step_s) == 2


def test_greedy_stops_at_the_token_budget():
    run, _ = _scripted([[1, 2, 3, 1, 2]])
    prompt = {"input_ids": np.zeros((1, 2), dtype=np.int64), "attention_mask": np.ones((1, 2), dtype=np.int64)}
    assert greedy(PLAN, run, {"model": ["logits"]}, prompt, 3).tokens.tolist() == [[1, 2, 3]]


def test_first_difference_names_the_step_row_and_both_tokens():
    eager = np.array([[5, 6, 7], [1, 2, 3]])
    assert first_difference(eager, eager.copy()) is None
    assert first_difference(eager, np.array([[5, 6, 7], [1, 9, 3]])) == {"step": 1, "row": 1, "eager": 2,
                                                                           "exported": 9}
    # one side stopped earlier (an end-of-sequence token the other did not produce)
    assert first_difference(eager, eager[:, :2]) == {"step": 2, "row": 0, "eager": 7, "exported": None}


def _perturb(run_dir: Path, component: str) -> None:
    """Scale the largest weight of one component file and record the new hash, as a faulty exporter would."""
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    art = next(a for a in manifest["artifacts"] if a["target"] == "onnx")
    comp = next(c for c in art["components"] if c["name"] == component)
    path = run_dir / comp["path"]
    model = onnx.load(str(path))
    init = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    weights = onnx.numpy_helper.to_array(init) * 3.0
    init.CopyFrom(onnx.numpy_helper.from_array(weights.astype(np.float32), init.name))
    onnx.save(model, str(path))
    for f in art["files"]:
        if f["path"] == comp["path"]:
            f["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            f["size_bytes"] = path.stat().st_size
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def gpt2_copy(tmp_path_factory):
    run_dir, _ = converted("gpt2", "text-generation-with-past", ("onnx",))
    dest = tmp_path_factory.mktemp("gen") / "run"
    shutil.copytree(run_dir, dest)
    return dest


def test_validate_passes_an_untouched_generative_run(gpt2_copy, capsys):
    code, out, err = run_cli(capsys, "validate", gpt2_copy, "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["kind"] == "generation" and report["passed"]


def test_a_perturbed_component_fails_with_exit_4_naming_the_first_differing_step(gpt2_copy, capsys):
    _perturb(gpt2_copy, "decoder_with_past_model")
    code, out, err = run_cli(capsys, "validate", gpt2_copy, "--json")
    assert code == 4
    line = err.strip().splitlines()[-1]
    report = json.loads(out)
    diff = report["artifacts"][0]["generation"]["first_difference"]
    assert diff is not None and diff["step"] >= 1  # step 0 comes from the untouched decoder_model
    assert f"differs from eager generate at step {diff['step']}" in line
    assert f"eager token {diff['eager']}, exported token {diff['exported']}" in line
    assert "component decoder_with_past_model" in line


def test_localize_is_refused_for_a_generative_run_in_one_line(gpt2_copy, capsys):
    code, _, err = run_cli(capsys, "validate", gpt2_copy, "--localize")
    assert code == 2 and "do not apply to a generative run" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_validate_reference_of_a_generative_source_points_to_the_run_directory(tmp_path, capsys):
    from helpers.hf_generative_models import save

    src = save("gpt2", tmp_path / "gpt2")
    code, _, err = run_cli(capsys, "validate", "--reference", src, tmp_path / "decoder_model.onnx")
    assert code == 2 and "is a generative model (text-generation-with-past)" in err
    assert "modelport validate RUN_DIR" in err and len(err.strip().splitlines()) == 1
