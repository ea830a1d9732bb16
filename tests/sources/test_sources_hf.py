"""Hugging Face save_pretrained directories load offline into a positional, tuple-returning module."""

from __future__ import annotations

import json

import pytest
import torch
from helpers.sources import run

from modelport.errors import InputError, UnsafePickleError
from modelport.sources import detect_kind, load_source, reload_source

transformers = pytest.importorskip("transformers")


def _tiny_bert(vocab: int = 120):
    config = transformers.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    torch.manual_seed(0)
    return transformers.BertForQuestionAnswering(config).eval()


def _reference(model, specs, seed=0):
    from modelport.spec import make_inputs

    feed = make_inputs(specs, seed)
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v) for k, v in feed.items()})
    return out.start_logits, out.end_logits


@pytest.fixture
def bert_dir(tmp_path):
    model = _tiny_bert()
    model.save_pretrained(tmp_path / "bert")
    return model, tmp_path / "bert"


def test_hf_directory_loads_with_specs_and_output_names(bert_dir, monkeypatch):
    model, path = bert_dir
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert detect_kind(path) == "hf"
    loaded = load_source(str(path))
    assert [s.name for s in loaded.inputs] == ["input_ids", "attention_mask", "token_type_ids"]
    ids, mask, types = loaded.inputs
    assert ids.dtype == "int64" and ids.shape == (2, 16) and (ids.low, ids.high) == (0, 120)
    assert (mask.low, mask.high) == (0, 2) and (types.low, types.high) == (0, 2)
    assert all(s.dynamic_axes == {0: "batch", 1: "sequence"} for s in loaded.inputs)
    assert loaded.output_names == ["start_logits", "end_logits"]
    assert loaded.record.kind == "hf" and loaded.record.model_class == "transformers:BertForQuestionAnswering"
    assert not loaded.module.training and loaded.warnings == []
    import os

    assert "HF_HUB_OFFLINE" not in os.environ  # offline only while loading
    for seed in (0, 1):
        got = run(loaded.module, loaded.inputs, seed)
        for x, y in zip(got, _reference(model, loaded.inputs, seed), strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    again = reload_source(loaded.record)
    for x, y in zip(run(again, loaded.inputs), _reference(model, loaded.inputs), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_hf_pytorch_model_bin_loads(bert_dir):
    model, path = bert_dir
    (path / "model.safetensors").unlink()  # transformers 5 writes safetensors only; older saves have a .bin
    torch.save(model.state_dict(), path / "pytorch_model.bin")
    loaded = load_source(str(path))
    for x, y in zip(run(loaded.module, loaded.inputs), _reference(model, loaded.inputs), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_hf_weights_that_do_not_fit_the_architecture_are_refused(bert_dir):
    _, path = bert_dir
    config = json.loads((path / "config.json").read_text())
    config["hidden_size"] = 48
    config["intermediate_size"] = 96
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"do not fit BertForQuestionAnswering: size mismatches: .*saved \[120, 32\], "
                                         r"model \[120, 48\]"):
        load_source(str(path))


def test_hf_weights_missing_for_the_head_are_refused(tmp_path):
    """A bare encoder saved under a QA architecture would get a random head: refused, naming the keys."""
    encoder = _tiny_bert().bert
    encoder.save_pretrained(tmp_path / "enc")
    config = json.loads((tmp_path / "enc" / "config.json").read_text())
    config["architectures"] = ["BertForQuestionAnswering"]
    (tmp_path / "enc" / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"do not fit BertForQuestionAnswering: missing keys: .*qa_outputs.weight"):
        load_source(str(tmp_path / "enc"))


def test_hf_directory_without_weights(tmp_path, bert_dir):
    _, path = bert_dir
    (path / "model.safetensors").unlink()
    with pytest.raises(InputError, match=r"has a config.json but no model.safetensors or pytorch_model.bin"):
        load_source(str(path))


def test_hf_source_hash_changes_with_the_weights(bert_dir):
    _, path = bert_dir
    loaded = load_source(str(path))
    (path / "extra.txt").write_text("changed")
    with pytest.raises(InputError, match="has changed since the run was made"):
        reload_source(loaded.record)


def test_hf_pickle_weights_are_never_unpickled_with_code(bert_dir, monkeypatch):
    import importlib

    from helpers.sources import write_user_module

    _, path = bert_dir
    monkeypatch.syspath_prepend(str(path.parent))
    booby = importlib.import_module(write_user_module(path.parent)).Booby()
    marker = path.parent / "marker"
    booby._marker = str(marker)
    (path / "model.safetensors").unlink()
    torch.save({"bert.embeddings.word_embeddings.weight": booby}, path / "pytorch_model.bin")
    with pytest.raises(UnsafePickleError, match=r"the .bin weights in .* hold pickled Python objects, not only "
                                                r"tensors \(they name user_models_\w+\.Booby, torch.nn"):
        load_source(str(path))
    assert not marker.exists()
