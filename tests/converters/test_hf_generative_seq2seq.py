"""Encoder-decoders (t5, bart, whisper) as encoder_model + decoder_model + decoder_with_past_model components.

Each conversion takes 20-60 s on 2 cores, so these run with ``-m slow``; the default suite covers the
component mechanism and the generation check with gpt2 (test_hf_generative_decoders.py).
"""

from __future__ import annotations

import json

import pytest
from helpers.hf_generative_models import converted

SEQ2SEQ_PRESENT = [f"present.{i}.{part}.{kv}" for i in range(2) for part in ("decoder", "encoder")
                   for kv in ("key", "value")]


def _components(manifest: dict, artifact_id: str) -> dict[str, dict]:
    art = next(a for a in manifest["artifacts"] if a["id"] == artifact_id)
    return {c["name"]: c for c in art["components"]}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["t5", "bart"])
def test_text2text_with_past_exports_three_components_on_every_target(arch):
    run_dir, manifest = converted(arch, "text2text-generation-with-past", ("torchscript", "onnx", "pt2"))
    assert {a["id"] for a in manifest["artifacts"]} == {"torchscript", "onnx-opset17", "pt2"}
    comps = _components(manifest, "onnx-opset17")
    assert list(comps) == ["encoder_model", "decoder_model", "decoder_with_past_model"]
    assert comps["encoder_model"]["inputs"] == ["input_ids", "attention_mask"]
    assert comps["decoder_model"]["outputs"] == ["logits", *SEQ2SEQ_PRESENT]
    # with past, only the self-attention entries change; the cross-attention ones come from decoder_model
    assert comps["decoder_with_past_model"]["outputs"] == ["logits"] + [n for n in SEQ2SEQ_PRESENT if "decoder" in n]
    assert "past_key_values.1.encoder.value" in comps["decoder_with_past_model"]["inputs"]
    report = json.loads((run_dir / "validation.json").read_text())
    assert report["passed"]
    for art in report["artifacts"]:
        assert art["generation"]["exported"] == art["generation"]["eager"]


@pytest.mark.slow
def test_whisper_speech_recognition_encodes_input_features():
    run_dir, manifest = converted("whisper", "automatic-speech-recognition-with-past", ("torchscript", "onnx", "pt2"))
    comps = _components(manifest, "onnx-opset17")
    assert comps["encoder_model"]["inputs"] == ["input_features"]
    assert "encoder_attention_mask" not in comps["decoder_model"]["inputs"]
    report = json.loads((run_dir / "validation.json").read_text())
    assert report["passed"] and {a["id"] for a in report["artifacts"]} == {"torchscript", "onnx-opset17", "pt2"}


@pytest.mark.slow
def test_text2text_without_past_decodes_the_whole_prefix_each_step():
    run_dir, manifest = converted("t5", "text2text-generation", ("torchscript", "onnx", "pt2"))
    for art_id in ("torchscript", "onnx-opset17", "pt2"):
        assert list(_components(manifest, art_id)) == ["encoder_model", "decoder_model"]
    assert json.loads((run_dir / "validation.json").read_text())["passed"]


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "task"), [("t5", "text2text-generation-with-past"),
                                            ("llama", "text-generation-with-past")])
def test_the_dynamo_exporter_carries_the_components_at_opset_18(arch, task, tmp_path, capsys):
    from helpers.convert import run_cli
    from helpers.hf_generative_models import save

    src = save(arch, tmp_path / arch)
    code, out, err = run_cli(capsys, "convert", src, "--task", task, "--to", "onnx", "--opset", "18",
                             "--out", tmp_path / "r", "--json")
    assert code == 0, err
    art = json.loads(out)["artifacts"][0]
    assert art["id"] == "onnx-opset18" and art["exporter"] == "dynamo"
    with_past = next(c for c in art["components"] if c["name"] == "decoder_with_past_model")
    past = next(n for n in with_past["inputs"] if n.startswith("past_key_values."))
    assert with_past["dynamic_axes"][past]["0"] == "batch"
    assert json.loads(out)["validation"]["passed"]
    code, _, err = run_cli(capsys, "convert", src, "--task", task, "--to", "onnx", "--opset", "17",
                           "--exporter", "dynamo", "--out", tmp_path / "r17")
    assert code == 3 and "writes opset 18 and above for generative components" in err
