"""Hugging Face models as users bring them, converted end to end: every artifact runs on its own (onnxruntime,
torch.jit.load, torch.export.load) and equals the transformers model on padded inputs; the run directory carries
the task, the inputs an exporter dropped, and the tokenizer files.

The default suite converts a representative handful to ONNX and benches one; the slow tests convert every
model of ``helpers.hf_models.MODELS`` to ONNX, TorchScript and .pt2 with full validation.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers.convert import manifest, run_cli
from helpers.hf_models import MODELS, saved_models

from modelport.spec import InputSpec, make_inputs

transformers = pytest.importorskip("transformers")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return saved_models(tmp_path_factory.mktemp("hf"), tokenizer=True)


def _eager(path: Path, m: dict) -> torch.nn.Module:
    """The transformers model of the run's class, loaded by transformers itself (not through modelport)."""
    cls = getattr(transformers, m["source"]["model_class"].removeprefix("transformers:"))
    return cls.from_pretrained(str(path)).eval()


def _artifact_outputs(run_dir: Path, art: dict, feed: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    path = str(run_dir / art["path"])
    if art["target"] == "onnx":
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return session.run(None, {i.name: feed[i.name] for i in session.get_inputs()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(path) if art["target"] == "torchscript" else torch.export.load(path).module()
    with torch.no_grad():
        return [t.numpy() for t in module(*[torch.from_numpy(feed[n]) for n in names])]


def assert_artifacts_match_transformers(run_dir: Path, path: Path, atol: float = 1e-4) -> dict:
    """Every artifact of the run equals the transformers model on seeded inputs (padded masks) at two batches."""
    m = manifest(run_dir)
    specs = [InputSpec.from_json(s) for s in m["inputs"]]
    names = [s.name for s in specs]
    eager = _eager(path, m)
    for seed, batch in ((5, None), (6, 3)):
        feed = make_inputs(specs, seed, batch=batch)
        with torch.no_grad():
            out = eager(**{k: torch.from_numpy(v) for k, v in feed.items()}, return_dict=True)
        ref = [out[k].numpy() for k in m["output_names"]]
        for art in m["artifacts"]:
            got = _artifact_outputs(run_dir, art, feed, names)
            assert len(got) == len(ref), art["id"]
            for g, r, k in zip(got, ref, m["output_names"], strict=True):
                np.testing.assert_allclose(g, r, atol=atol, rtol=1e-4, err_msg=f"{art['id']} {k} seed {seed}")
    return m


def _convert(capsys, path: Path, out: Path, *args: str) -> dict:
    code, stdout, err = run_cli(capsys, "convert", path, "--out", out, "--json", "--quiet", *args)
    assert code == 0, err
    return json.loads(stdout)


def test_bert_question_answering_to_onnx_with_its_task_and_tokenizer_files(saved, capsys, tmp_path):
    path = saved("bert-question-answering")
    _convert(capsys, path, tmp_path / "run", "--to", "onnx", "--task", "question-answering", "--no-validate")
    m = assert_artifacts_match_transformers(tmp_path / "run", path)
    assert m["source"]["task"] == "question-answering"
    assert m["output_names"] == ["start_logits", "end_logits"]
    # output axes that follow an input's axis carry its name, not one the exporter made up
    graph = onnx.load(str(tmp_path / "run" / m["artifacts"][0]["path"])).graph
    assert {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output} == \
        {"start_logits": ["batch", "sequence"], "end_logits": ["batch", "sequence"]}
    files = m["source"]["files"]
    assert files == ["hf_files/config.json", "hf_files/special_tokens_map.json", "hf_files/tokenizer_config.json",
                     "hf_files/vocab.txt"]
    for f in files:  # the artifact works without the source: its tokenizer files travel with it
        assert (tmp_path / "run" / f).read_bytes() == (path / Path(f).name).read_bytes()
    tokenizer = transformers.BertTokenizer.from_pretrained(str(tmp_path / "run" / "hf_files"))
    assert tokenizer.convert_tokens_to_ids(["w3"]) == [8]


def test_deberta_v2_input_the_graph_does_not_use_is_recorded_and_not_fed(saved, capsys, tmp_path):
    """type_vocab_size 0: the exporter drops token_type_ids; that is recorded, never an error."""
    path = saved("deberta-v2-fill-mask")
    result = _convert(capsys, path, tmp_path / "run", "--to", "onnx")
    assert result["validation"]["passed"]
    m = assert_artifacts_match_transformers(tmp_path / "run", path)
    assert [s["name"] for s in m["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    (art,) = m["artifacts"]
    assert art["extra"]["dropped_inputs"] == ["token_type_ids"]
    session = ort.InferenceSession(str(tmp_path / "run" / art["path"]), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["attention_mask", "input_ids"]
    checks = json.dumps(result["validation"])
    assert "unused, dropped: ['token_type_ids']" in checks


@pytest.mark.parametrize("name", ["wav2vec2-automatic-speech-recognition", "vit-image-classification",
                                  "clip-zero-shot-image-classification"])
def test_audio_image_and_multimodal_models_to_onnx(saved, capsys, tmp_path, name):
    path = saved(name)
    _convert(capsys, path, tmp_path / "run", "--to", "onnx", "--no-validate")
    m = assert_artifacts_match_transformers(tmp_path / "run", path)
    assert m["source"]["task"] == name.split("-", 1)[1]
    assert m["source"]["files"][0] == "hf_files/config.json"


_SLOW_ONLY = sorted(set(MODELS) - {"deberta-v2-fill-mask"})  # validated in the default suite


@pytest.mark.slow
@pytest.mark.parametrize("name", _SLOW_ONLY)
def test_every_model_to_onnx_validated(saved, capsys, tmp_path, name):
    path = saved(name)
    result = _convert(capsys, path, tmp_path / "run", "--to", "onnx")
    assert result["validation"]["passed"]
    assert_artifacts_match_transformers(tmp_path / "run", path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_to_onnx_with_the_dynamo_exporter(saved, capsys, tmp_path, name):
    path = saved(name)
    _convert(capsys, path, tmp_path / "run", "--to", "onnx", "--opset", "18", "--no-validate")
    m = assert_artifacts_match_transformers(tmp_path / "run", path)
    assert m["artifacts"][0]["exporter"] == "dynamo"


@pytest.mark.slow
@pytest.mark.parametrize("target", ["torchscript", "pt2"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_to_torchscript_and_pt2_validated(saved, capsys, tmp_path, name, target):
    path = saved(name)
    result = _convert(capsys, path, tmp_path / "run", "--to", target)
    assert result["validation"]["passed"]
    m = assert_artifacts_match_transformers(tmp_path / "run", path)
    assert m["artifacts"][0]["target"] == target


def test_validate_and_bench_rebuild_the_same_task(saved, capsys, tmp_path):
    """A classifier exported as feature-extraction: validate and bench rebuild the encoder, not the classifier."""
    path = saved("bert-text-classification")
    _convert(capsys, path, tmp_path / "run", "--to", "onnx", "--task", "feature-extraction", "--no-validate")
    code, _, err = run_cli(capsys, "validate", tmp_path / "run")
    assert code == 0, err
    code, out, err = run_cli(capsys, "bench", tmp_path / "run", "--scenario", "SingleStream", "--profile", "tiny",
                             "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["accuracy_failures"] == []


@pytest.mark.slow
def test_static_int8_calibration_feeds_only_the_inputs_the_graph_takes(saved, capsys, tmp_path):
    """onnxruntime refuses a feed naming an input the graph lacks; calibration must leave the dropped one out."""
    path = saved("deberta-v2-fill-mask")
    m = _convert(capsys, path, tmp_path / "run", "--to", "onnx", "--precision", "fp32", "--precision", "int8",
                 "--quantize", "static", "--no-validate")
    fp32, int8 = m["artifacts"]
    assert fp32["extra"]["dropped_inputs"] == ["token_type_ids"]
    assert int8["extra"]["precision"]["mode"] == "static"
    session = ort.InferenceSession(str(tmp_path / "run" / int8["path"]), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["attention_mask", "input_ids"]
