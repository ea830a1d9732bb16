"""Each MLPerf data set loader reads a tiny data set written in the reference's on-disk format, preprocesses it
for the zoo's small MLPerf model, and scores responses into the line the reference accuracy script prints,
which must parse with the submission checker's pattern for that benchmark."""

from __future__ import annotations

import json
import pickle
import re
import wave

import numpy as np
import pytest

from modelport import zoo
from modelport.datasets import load_dataset, parse_dataset
from modelport.datasets.base import Streamed
from modelport.errors import InputError

# What MLPerf's submission checker (tools/submission/submission_checker, ACC_PATTERN) matches with re.match on
# each line of accuracy.txt, rewritten here: the group is the number it compares with the accuracy target.
CHECKER = {
    "imagenet": r"^accuracy[\": ]*=?\s*([\d.]+)",  # resnet: "acc"
    "squad": r"^\{[\"']exact_match[\"']:\s*[\d.]+,\s*[\"']f1[\"']:\s*([\d.]+)\}",  # bert-99: "F1"
    "kits19": r"Accuracy:\s*mean\s*=\s*([\d.]+)",  # 3d-unet-99: "DICE"
    "criteo": r"^AUC=([\d.]+)",  # dlrm-v2-99: "AUC"
    "librispeech": r"Word Error Rate:.*, accuracy=([0-9.]+)%",  # the speech "ACCURACY" pattern
}


def checked(name: str, line: str) -> float:
    m = re.match(CHECKER[name], line)
    assert m, f"{line!r} does not parse as the checker reads {name}"
    return float(m.group(1))


def specs(model: str):
    return zoo.get(model).input_specs()


def test_imagenet_jpegs_and_val_map(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, size in enumerate([(80, 60), (50, 90), (64, 64)]):
        Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(tmp_path / f"val_{i}.JPEG")
    (tmp_path / "val_map.txt").write_text("val_0.JPEG 3\nval_1.JPEG 7\nval_2.JPEG 1\n")
    data = load_dataset(*parse_dataset(f"imagenet={tmp_path}"), specs("resnet50-small"))
    # streamed: no image is preprocessed until the samples are written (full ImageNet is about 30 GB)
    assert isinstance(data.samples, Streamed) and data.count == 3
    x = data.arrays()["input"]
    assert x.shape == (3, 3, 64, 64) and x.dtype == np.float32
    assert -2.2 < x.min() < x.max() < 2.7  # torchvision-normalised pixels
    logits = [np.eye(100, dtype=np.float32)[k] for k in (3, 7, 5)]  # the third is wrong
    scored = data.score({i: {"logits": v} for i, v in enumerate(logits)})
    assert scored.line == "accuracy=66.667%, good=2, total=3"
    assert checked("imagenet", scored.line) == pytest.approx(66.667)


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "what", "is", "the", "capital", "of", "france", "paris", "city",
         "a", "big", "who", "wrote", "it", "nobody", ".", "?", ","]


def test_squad_dev_json_and_vocab(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    context = "Paris is the capital of France, a big city. Nobody wrote it."
    dev = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": context, "qas": [
        {"id": "q1", "question": "What is the capital of France?", "answers": [{"text": "Paris", "answer_start": 0}]},
        {"id": "q2", "question": "Who wrote it?", "answers": [{"text": "Nobody", "answer_start": 44}]}]}]}]}
    (tmp_path / "dev-v1.1.json").write_text(json.dumps(dev))
    data = load_dataset(*parse_dataset(f"squad={tmp_path}"), specs("bert-small"))
    ids = data.samples["input_ids"]
    assert ids.shape == (2, 32) and ids[0, 0] == VOCAB.index("[CLS]")
    assert (data.samples["token_type_ids"][0] == 1).sum() == (data.samples["attention_mask"][0] == 1).sum() - 9

    def peaked(row: np.ndarray, word: str) -> dict[str, np.ndarray]:
        pos = int(np.flatnonzero(row == VOCAB.index(word))[-1])  # in the context (it is after the question)
        logits = np.zeros(32, np.float32)
        logits[pos] = 5.0
        return {"start_logits": logits, "end_logits": logits.copy()}

    # q1 answered right; q2 answered "paris": exact match 50, F1 50
    scored = data.score({0: peaked(ids[0], "paris"), 1: peaked(ids[1], "paris")})
    assert json.loads(scored.line) == {"exact_match": 50.0, "f1": 50.0}
    assert checked("squad", scored.line) == 50.0


def test_squad_vocabulary_larger_than_the_model_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB + [f"w{i}" for i in range(2000)]) + "\n")
    (tmp_path / "dev-v1.1.json").write_text(json.dumps({"data": []}))
    with pytest.raises(InputError, match="has 2021 tokens but the model embeds 1000"):
        load_dataset("squad", tmp_path, specs("bert-small"))


def test_kits19_reference_pickles(tmp_path):
    rng = np.random.default_rng(1)
    for case, shape in (("case_00000", (1, 40, 32, 36)), ("case_00001", (1, 32, 20, 32))):
        label = rng.integers(0, 3, shape).astype(np.uint8)
        # the image carries its own label so the test's "model" can be perfect
        with open(tmp_path / f"{case}.pkl", "wb") as f:
            pickle.dump([label.astype(np.float32), label], f)
    data = load_dataset(*parse_dataset(f"kits19={tmp_path}"), specs("3d-unet-small"))
    assert isinstance(data.samples, Streamed) and data.count == 5  # patches are written case by case
    x = data.arrays()["volume"]
    # 2 x 1 x 2 half-overlapping patches of the first case, 1 of the second (padded to 32)
    assert x.shape[1:] == (1, 32, 32, 32) and x.shape[0] == 2 * 1 * 2 + 1
    perfect = {i: {"logits": np.eye(3, dtype=np.float32)[np.rint(p[0]).astype(int)].transpose(3, 0, 1, 2)}
               for i, p in enumerate(x)}
    scored = data.score(perfect)
    assert scored.line == "Accuracy: mean = 1.00000, kidney = 1.0000, tumor = 1.0000"
    assert checked("kits19", scored.line) == 1.0
    background = {i: {"logits": np.eye(3, dtype=np.float32)[np.zeros(p[0].shape, int)].transpose(3, 0, 1, 2)}
                  for i, p in enumerate(x)}
    assert checked("kits19", data.score(background).line) < 0.01


def test_kits19_pickle_that_would_run_code_is_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("ran",))

    (tmp_path / "case_00000.pkl").write_bytes(pickle.dumps([Boom(), np.zeros(1)]))
    with pytest.raises(InputError, match="builtins.print"):
        load_dataset("kits19", tmp_path, specs("3d-unet-small"))


def test_criteo_day23_multi_hot_sample_files(tmp_path):
    n = 8
    rng = np.random.default_rng(2)
    np.save(tmp_path / "day_23_dense_sample.npy", rng.random((n, 13), dtype=np.float32))
    np.save(tmp_path / "day_23_labels_sample.npy", np.array([[1], [0], [1], [0], [1], [0], [0], [1]], np.int32))
    hot = {str(k): rng.integers(0, 1000, (n, 1 + k % 3), dtype=np.int32) for k in range(26)}
    np.savez(tmp_path / "day_23_sparse_multi_hot_sample.npz", **hot)
    data = load_dataset(*parse_dataset(f"criteo={tmp_path}"), specs("dlrm-small"))
    sparse = data.samples["sparse"]
    assert sparse.shape == (n, 26, 2) and sparse.dtype == np.int64
    assert (sparse[:, 0, 0] == sparse[:, 0, 1]).all() and (sparse[:, 1] == hot["1"]).all()  # 1 id repeated
    probs = [0.9, 0.2, 0.8, 0.3, 0.7, 0.1, 0.75, 0.4]  # 14 of 16 positive-negative pairs ranked right
    scored = data.score({i: {"click_probability": np.array([p], np.float32)} for i, p in enumerate(probs)})
    assert scored.line == "AUC=87.500%, accuracy=75.000%, good=6, total=8, queries=8"
    assert checked("criteo", scored.line) == pytest.approx(87.5)


def _write_wav(path, seconds: float, seed: int) -> None:
    audio = (np.random.default_rng(seed).normal(0, 0.1, int(16000 * seconds)) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(audio.tobytes())


def test_librispeech_dev_clean_layout(tmp_path):
    chapter = tmp_path / "dev-clean" / "84" / "121123"
    chapter.mkdir(parents=True)
    _write_wav(chapter / "84-121123-0000.wav", 0.5, 0)
    soundfile = pytest.importorskip("soundfile")
    audio = np.random.default_rng(1).normal(0, 0.1, 8000).astype(np.float32)
    soundfile.write(str(chapter / "84-121123-0001.flac"), audio, 16000)
    (chapter / "84-121123.trans.txt").write_text("84-121123-0000 AB C\n84-121123-0001 GO ON\n")
    data = load_dataset(*parse_dataset(f"librispeech={tmp_path}"), specs("rnnt-small"))
    feats = data.samples["features"]
    assert feats.shape == (2, 40, 40) and data.samples["feature_lengths"].tolist() == [40, 40]
    assert abs(float(feats[0].mean())) < 0.2  # normalised per feature over the utterance
    assert (data.samples["tokens"] == 28).all()  # the blank context

    def emitting(symbols: list[int]) -> dict[str, np.ndarray]:
        logits = np.zeros((20, 9, 29), np.float32)
        logits[:, :, 28] = 1.0  # blank everywhere but where a symbol is emitted at frame 0
        for u, s in enumerate(symbols):
            logits[0, u, s] = 2.0
        return {"logits": logits, "encoder_lengths": np.array(20, np.int64)}

    ab_c = [1, 2, 0, 3]  # "ab c"
    scored = data.score({0: emitting(ab_c), 1: emitting([])})  # 2 words right, 2 deleted
    assert scored.values["wer"] == pytest.approx(50.0)
    assert checked("librispeech", scored.line) == pytest.approx(50.0)


@pytest.mark.parametrize("text, needle", [
    ("imagenet", "expected NAME=PATH"),
    ("coco=/tmp", "unknown data set 'coco'"),
    ("squad=/does/not/exist", "not a folder"),
])
def test_bad_dataset_option_is_one_line(text, needle):
    with pytest.raises(InputError, match=needle):
        parse_dataset(text)


def test_a_model_of_another_task_is_refused(tmp_path):
    (tmp_path / "val_map.txt").write_text("a.JPEG 1\n")
    with pytest.raises(InputError, match="--dataset imagenet needs a model taking one image input"):
        load_dataset("imagenet", tmp_path, specs("bert-small"))


@pytest.mark.slow
def test_the_patterns_above_read_our_lines_as_the_real_checker_does():
    """Needs a checkout of mlcommons/inference in MODELPORT_MLPERF_REPO: its checker's own ACC_PATTERN, not the
    rewrite above, reads each scorer's line format to the same number."""
    import importlib.util
    import os
    from pathlib import Path

    repo = os.environ.get("MODELPORT_MLPERF_REPO")
    if not repo:
        pytest.skip("set MODELPORT_MLPERF_REPO to a checkout of mlcommons/inference")
    path = Path(repo) / "tools" / "submission" / "submission_checker" / "constants.py"
    spec = importlib.util.spec_from_file_location("mlperf_checker_constants", path)
    constants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constants)
    lines = {  # the f-strings of modelport/datasets/*.py with example numbers
        ("imagenet", "acc"): "accuracy=76.456%, good=38228, total=50000",
        ("squad", "F1"): '{"exact_match": 83.100000, "f1": 90.812345}',
        ("kits19", "DICE"): "Accuracy: mean = 0.86170, kidney = 0.9347, tumor = 0.7887",
        ("criteo", "AUC"): "AUC=80.310%, accuracy=77.000%, good=77, total=100, queries=100",
        ("librispeech", "ACCURACY"): "Word Error Rate: 7.450000%, accuracy=92.550000%",
    }
    for (name, key), line in lines.items():
        real = re.match(constants.ACC_PATTERN[key], line)
        assert real and float(real.group(1)) == checked(name, line), (name, line)
