"""Decoder-only generative models (gpt2, llama) exported as components and checked by greedy generation.

The default suite converts one tiny gpt2 with past to ONNX (shared with the validator and bench
tests through ``helpers.hf_generative_models.converted``); llama, TorchScript and the no-past task are slow.
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from helpers.convert import run_cli
from helpers.hf_generative_models import converted, save

from modelport.sources.hf_generative import prompt_inputs
from modelport.sources.hf_greedy import eager_generate, greedy

PAST_TASK = "text-generation-with-past"


@pytest.fixture(scope="module")
def gpt2_run():
    return converted("gpt2", PAST_TASK, ("onnx",))


def test_one_artifact_holds_both_decoders(gpt2_run):
    run_dir, manifest = gpt2_run
    arts = {a["id"]: a for a in manifest["artifacts"]}
    assert set(arts) == {"onnx-opset17"}
    for art in arts.values():
        names = [c["name"] for c in art["components"]]
        assert names == ["decoder_model", "decoder_with_past_model"]
        # every component file is one of the artifact's hashed files
        assert {c["path"] for c in art["components"]} <= {f["path"] for f in art["files"]}
        for c in art["components"]:
            assert (run_dir / c["path"]).is_file()
    assert manifest["source"]["task"] == PAST_TASK


def test_with_past_component_takes_and_returns_flat_past_with_dynamic_axes(gpt2_run):
    _, manifest = gpt2_run
    onnx_art = next(a for a in manifest["artifacts"] if a["id"] == "onnx-opset17")
    comp = {c["name"]: c for c in onnx_art["components"]}["decoder_with_past_model"]
    assert comp["inputs"][:3] == ["input_ids", "attention_mask", "position_ids"]
    assert comp["inputs"][3:] == [f"past_key_values.{i}.{k}" for i in range(2) for k in ("key", "value")]
    assert comp["outputs"] == ["logits"] + [f"present.{i}.{k}" for i in range(2) for k in ("key", "value")]
    assert comp["dynamic_axes"]["past_key_values.0.key"] == {"0": "batch", "2": "past_sequence"}
    assert comp["dynamic_axes"]["attention_mask"]["1"] == "total_sequence"


def test_convert_reports_greedy_tokens_equal_to_eager_generate(gpt2_run):
    run_dir, _ = gpt2_run
    report = json.loads((run_dir / "validation.json").read_text())
    assert report["passed"] and report["kind"] == "generation"
    for art in report["artifacts"]:
        g = art["generation"]
        assert g["exported"] == g["eager"] and len(g["eager"][0]) == 8
        assert {c["set"] for c in art["components"]} == {"example", "second"}


def test_onnx_files_generate_eager_tokens_through_plain_onnxruntime(gpt2_run, tmp_path):
    """Independent of modelport's runners: plain onnxruntime sessions through the greedy loop."""
    run_dir, manifest = gpt2_run
    from helpers.hf_generative_models import build

    model = build("gpt2")
    art = next(a for a in manifest["artifacts"] if a["target"] == "onnx")
    sessions = {c["name"]: ort.InferenceSession(str(run_dir / c["path"])) for c in art["components"]}

    def run(name, feed):
        s = sessions[name]
        return s.run(None, {i.name: feed[i.name] for i in s.get_inputs()})

    plan = manifest["settings"]["generation"]
    prompt = prompt_inputs(model, 3, 7, seed=5)  # another batch and prompt length than validation used
    outputs = {c["name"]: c["outputs"] for c in art["components"]}
    got = greedy(plan, run, outputs, prompt, 6).tokens
    np.testing.assert_array_equal(got, eager_generate(model, plan, prompt, 6))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_every_target_carries_the_decoder_with_past(arch):
    run_dir, manifest = converted(arch, PAST_TASK, ("torchscript", "onnx", "pt2"))
    assert {a["id"] for a in manifest["artifacts"]} == {"torchscript", "onnx-opset17", "pt2"}
    report = json.loads((run_dir / "validation.json").read_text())
    assert report["passed"] and all(a["generation"]["passed"] for a in report["artifacts"])


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_text_generation_without_past_is_one_graph(arch):
    run_dir, manifest = converted(arch, "text-generation", ("torchscript", "onnx", "pt2"))
    for art in manifest["artifacts"]:
        comps = art["components"]
        assert [c["name"] for c in comps] == ["model"] and comps[0]["outputs"] == ["logits"]
    assert json.loads((run_dir / "validation.json").read_text())["passed"]


@pytest.mark.slow
def test_a_generative_option_not_supported_is_one_line(tmp_path, capsys):
    src = save("gpt2", tmp_path / "gpt2")
    code, _, err = run_cli(capsys, "convert", src, "--task", PAST_TASK, "--to", "onnx", "--optimize", "O1",
                           "--out", tmp_path / "r")
    assert code == 2 and "--optimize is not supported for generative tasks" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


class _Negated(torch.nn.Module):
    """A component whose logits are negated: a wrong export that still runs."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.inner(*args)
        return (-out[0], *out[1:])


@pytest.mark.slow
def test_a_torch_target_that_fails_or_generates_other_tokens_is_not_shipped_and_says_why(tmp_path, capsys,
                                                                                         monkeypatch):
    from modelport.converters import components
    from modelport.errors import ExportError

    def failing_trace(*args, **kwargs):
        raise ExportError("torch.jit.trace failed: simulated")

    real_fixed_arity = components.fixed_arity
    monkeypatch.setattr(components, "export_torchscript", failing_trace)
    monkeypatch.setattr(components, "fixed_arity", lambda module, arity: real_fixed_arity(_Negated(module), arity))
    src = save("gpt2", tmp_path / "gpt2")
    code, out, err = run_cli(capsys, "convert", src, "--task", PAST_TASK, "--to", "all", "--out", tmp_path / "r",
                             "--json")
    assert code == 0, err
    manifest = json.loads(out)
    assert [a["id"] for a in manifest["artifacts"]] == ["onnx-opset17"]
    reasons = manifest["settings"]["not_shipped"]
    assert reasons["torchscript"] == "torch.jit.trace failed: simulated"
    assert reasons["pt2"].startswith("greedy generation differs from eager generate at step 0")
    assert not (tmp_path / "r" / "pt2").exists() and not (tmp_path / "r" / "torchscript").exists()
    assert any(w.startswith("pt2 not shipped: ") for w in manifest["warnings"])
