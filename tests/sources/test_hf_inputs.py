"""Inputs come from the model: names from the forward signature, shapes and ranges from the config, per task and
modality; --task picks the head; the wrapper calls by keyword and returns the task's output fields."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers.convert import run_cli
from helpers.hf_models import saved_models

from modelport.errors import InputError
from modelport.sources import load_source, reload_source
from modelport.spec import make_inputs

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> its save_pretrained directory, each built once for the module."""
    return saved_models(tmp_path_factory.mktemp("hf"))


def _inputs(loaded) -> list[tuple]:
    return [(s.name, s.shape, s.dtype, s.low, s.high, s.dynamic_axes) for s in loaded.inputs]


@pytest.mark.parametrize(("name", "task", "inputs", "outputs"), [
    ("bert-multiple-choice", "multiple-choice",
     [("input_ids", (2, 3, 16), "int64", 0, 96, {0: "batch", 1: "choices", 2: "sequence"}),
      ("attention_mask", (2, 3, 16), "int64", 0, 2, {0: "batch", 1: "choices", 2: "sequence"}),
      ("token_type_ids", (2, 3, 16), "int64", 0, 2, {0: "batch", 1: "choices", 2: "sequence"})], ["logits"]),
    ("bert-feature-extraction", "feature-extraction",
     [("input_ids", (2, 16), "int64", 0, 96, {0: "batch", 1: "sequence"}),
      ("attention_mask", (2, 16), "int64", 0, 2, {0: "batch", 1: "sequence"}),
      ("token_type_ids", (2, 16), "int64", 0, 2, {0: "batch", 1: "sequence"})],
     ["last_hidden_state", "pooler_output"]),
    ("vit-image-classification", "image-classification",
     [("pixel_values", (2, 3, 32, 32), "float32", -1.0, 1.0, {0: "batch"})], ["logits"]),
    ("convnext-image-classification", "image-classification",
     [("pixel_values", (2, 3, 32, 32), "float32", -1.0, 1.0, {0: "batch"})], ["logits"]),
    ("wav2vec2-automatic-speech-recognition", "automatic-speech-recognition",
     [("input_values", (2, 16000), "float32", -1.0, 1.0, {0: "batch", 1: "samples"})], ["logits"]),
    ("detr-object-detection", "object-detection",  # no image_size in DETR's config: 224, all pixels real
     [("pixel_values", (2, 3, 224, 224), "float32", -1.0, 1.0, {0: "batch"}),
      ("pixel_mask", (2, 224, 224), "int64", 1, 2, {0: "batch"})],
     ["logits", "pred_boxes", "last_hidden_state", "encoder_last_hidden_state"]),
    ("whisper-audio-classification", "audio-classification",  # whisper's mel window: 2 frames per position
     [("input_features", (2, 8, 32), "float32", -1.0, 1.0, {0: "batch"})], ["logits"]),
    ("clip-zero-shot-image-classification", "zero-shot-image-classification",
     [("input_ids", (2, 16), "int64", 0, 96, {0: "batch", 1: "sequence"}),
      ("pixel_values", (2, 3, 32, 32), "float32", -1.0, 1.0, {0: "batch"}),
      ("attention_mask", (2, 16), "int64", 0, 2, {0: "batch", 1: "sequence"})],
     ["logits_per_image", "logits_per_text", "text_embeds", "image_embeds"]),
])
def test_inputs_and_outputs_come_from_the_model(saved, name, task, inputs, outputs):
    loaded = load_source(str(saved(name)))
    assert loaded.record.task == task
    assert _inputs(loaded) == inputs
    assert loaded.output_names == outputs


def test_attention_masks_are_padded_like_a_tokenizer_batch(saved):
    loaded = load_source(str(saved("bert-question-answering")))
    mask = make_inputs(loaded.inputs, seed=3)["attention_mask"]
    assert mask[0].all() and not mask[1].all()  # the first row is full, the others end in zeros
    for row in mask:
        n = int(row.sum())
        assert n > 0 and row[:n].all() and not row[n:].any()
    # one sample at a time (a benchmark's query samples): some padded, some not
    lengths = {int(make_inputs(loaded.inputs, seed, shapes={"attention_mask": (1, 16)})["attention_mask"].sum())
               for seed in range(12)}
    assert 16 in lengths and min(lengths) >= 8 and len(lengths) > 1


def test_the_wrapper_calls_by_keyword_and_names_its_inputs(saved):
    import inspect

    path = saved("clip-zero-shot-image-classification")
    loaded = load_source(str(path))
    assert list(inspect.signature(loaded.module.forward).parameters) == ["input_ids", "pixel_values",
                                                                          "attention_mask"]
    feed = {k: torch.from_numpy(v) for k, v in make_inputs(loaded.inputs, seed=1).items()}
    got = loaded.module(*feed.values())
    eager = transformers.CLIPModel.from_pretrained(str(path)).eval()
    with torch.no_grad():
        ref = eager(**feed)
    torch.testing.assert_close(got[0], ref.logits_per_image, rtol=0, atol=0)
    torch.testing.assert_close(got[1], ref.logits_per_text, rtol=0, atol=0)


def test_task_picks_the_head_and_is_rebuilt_from_the_record(saved):
    """A classifier's save exported for feature-extraction: the bare encoder (with the pooler the classifier
    has), and the record rebuilds the same."""
    path = saved("bert-text-classification")
    loaded = load_source(str(path), task="feature-extraction")
    assert loaded.record.task == "feature-extraction" and loaded.record.model_class == "transformers:BertModel"
    assert loaded.output_names == ["last_hidden_state", "pooler_output"]
    again = reload_source(loaded.record)
    feed = [torch.from_numpy(v) for v in make_inputs(loaded.inputs, seed=0).values()]
    np.testing.assert_array_equal(again(*feed)[0].detach().numpy(), loaded.module(*feed)[0].detach().numpy())


def test_a_head_the_files_lack_is_refused_for_the_task(saved):
    with pytest.raises(InputError, match=r"do not fit BertForQuestionAnswering: missing keys: .*qa_outputs"):
        load_source(str(saved("bert-feature-extraction")), task="question-answering")


def test_wrong_task_on_the_command_line_is_one_line(saved, capsys, tmp_path):
    code, _, err = run_cli(capsys, "convert", saved("vit-image-classification"), "--task", "question-answering",
                           "--out", tmp_path / "run")
    lines = [line for line in err.splitlines() if line.startswith("modelport: error:")]
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("modelport: error: task 'question-answering' is not supported for vit (supported for "
                               "vit: feature-extraction, sentence-similarity, image-classification)")
    assert not (tmp_path / "run").exists()


def test_run_refuses_a_wrong_task_before_any_work(saved, capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", saved("wav2vec2-automatic-speech-recognition"), "--task", "fill-mask",
                           "--out", tmp_path / "run")
    assert code == 2 and "task 'fill-mask' is not supported for wav2vec2" in err
    assert not (tmp_path / "run").exists()


def test_task_on_a_source_that_is_no_hf_directory_is_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "convert", "zoo:tiny-cnn", "--task", "fill-mask", "--out", tmp_path / "run")
    assert code == 2 and "--task" in err


def test_remote_code_is_refused_with_a_task_too(tmp_path, capsys):
    from helpers import security as hostile

    marker = tmp_path / "pwned"
    hf = hostile.hf_dir_with_remote_code(tmp_path / "hf", marker)
    code, _, err = run_cli(capsys, "convert", hf, "--task", "feature-extraction", "--out", tmp_path / "run")
    assert code == 2 and "auto_map" in err and "--trust-remote-code" in err
    assert not marker.exists() and not (tmp_path / "run").exists()
    loaded = load_source(str(hf), task="feature-extraction", trust_remote_code=True)
    assert marker.exists() and loaded.record.task == "feature-extraction"


def test_old_manifests_without_a_task_rebuild_the_inferred_one(saved):
    loaded = load_source(str(saved("bert-question-answering")))
    record = json.loads(json.dumps(loaded.record.__dict__))
    record.pop("task")
    from modelport.manifest import SourceRecord

    module = reload_source(SourceRecord(**record))
    assert type(module.model).__name__ == "BertForQuestionAnswering"


def test_a_model_type_transformers_does_not_know_gets_a_hint_that_helps(tmp_path, capsys):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"model_type": "frobnicator"}')
    code, _, err = run_cli(capsys, "convert", tmp_path / "hf", "--out", tmp_path / "run")
    assert code == 2 and "model_type 'frobnicator' is unknown to transformers" in err
    assert "save_pretrained" not in err and not (tmp_path / "run").exists()
