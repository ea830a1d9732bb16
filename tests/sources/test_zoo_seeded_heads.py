"""The seeded ResNet-50 and BERT score like trained models on the gate's samples (docs/decisions.md, "Zoo: seeded
classifier and QA heads scored like trained ones"): their predictions vary with the input and lead by margins a
rounding error does not flip, and the samples look like what they stand for."""

from __future__ import annotations

import numpy as np
import torch

from modelport import zoo
from modelport.validators.agreement import gate_feeds


def _gate(name: str, samples: int = 48) -> tuple[zoo.ZooEntry, dict[str, np.ndarray]]:
    entry = zoo.get(name)
    feeds = list(gate_feeds(entry, entry.input_specs(), 0, samples))
    return entry, {k: np.concatenate([f[k] for f in feeds]) for k in feeds[0]}


def test_resnet50_small_predicts_many_classes_with_trained_like_confidence():
    entry, feed = _gate("resnet50-small")
    with torch.no_grad():
        logits = entry.build(seed=0)(torch.from_numpy(feed["input"]))
    probs = torch.softmax(logits, 1).max(1).values
    # uncalibrated, every one of these images fell in 5 classes at a median top-1 probability of 0.015
    assert len(set(logits.argmax(1).tolist())) >= 15
    assert 0.5 <= float(probs.median()) <= 0.95


def test_resnet_calibration_sets_batchnorm_statistics_and_centres_the_classifier():
    from modelport.zoo.resnet import natural_images

    model = zoo.get("resnet50-small").build(seed=0)
    images = torch.from_numpy(natural_images(16, 64, 99))
    pooled: list[torch.Tensor] = []
    model.avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(torch.flatten(out, 1)))
    with torch.no_grad():
        logits = model(images)
    feats = pooled[0]
    shared = float((feats.mean(0) ** 2).sum() / (feats ** 2).sum(1).mean())
    assert shared < 0.8  # 0.987 with the made-up BatchNorm statistics: one constant feature for every image
    # centred: the mean logit of every class is small next to the spread across images
    assert float(logits.mean(0).abs().max()) < float(logits.std(0).mean())


def test_natural_images_are_seeded_in_range_and_differ_in_their_statistics():
    from modelport.zoo.resnet import natural_images

    a, b = natural_images(8, 32, 3), natural_images(8, 32, 3)
    assert a.shape == (8, 3, 32, 32) and a.dtype == np.float32 and np.array_equal(a, b)
    assert a.min() >= -2.0 and a.max() <= 2.0
    assert not np.array_equal(a, natural_images(8, 32, 4))
    # neighbouring pixels are alike (a 1/f^2 spectrum), unlike uniform noise
    corr = np.corrcoef(a[:, :, :, :-1].ravel(), a[:, :, :, 1:].ravel())[0, 1]
    assert corr > 0.5  # uniform noise: about 0
    assert np.ptp(a.mean(axis=(2, 3)), axis=0).max() > 0.3  # colour casts differ between images


def test_qa_samples_are_laid_out_like_tokenised_squad():
    from modelport.zoo.bert import CLS, PAD, SEP, qa_samples

    feed = qa_samples(16, 32, 1000, seed=5)
    ids, mask, types = feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]
    assert ids.shape == mask.shape == types.shape == (16, 32)
    for row_ids, row_mask, row_types in zip(ids, mask, types, strict=True):
        length = int(row_mask.sum())
        assert 16 <= length <= 32 and row_mask[:length].all()  # ones, then padding
        assert row_ids[0] == CLS and row_ids[length - 1] == SEP and (row_ids[length:] == PAD).all()
        sep = int(np.flatnonzero(row_ids == SEP)[0])
        assert 0 < sep < length - 1 and not row_types[:sep + 1].any() and row_types[sep + 1:length].all()
        assert not row_types[length:].any() and (row_ids[1:length - 1] > SEP).sum() == length - 3
    assert np.array_equal(ids, qa_samples(16, 32, 1000, seed=5)["input_ids"])


def test_bert_small_spans_land_in_the_text_with_peaked_logits():
    entry, feed = _gate("bert-small")
    with torch.no_grad():
        start, end = entry.build(seed=0)(*(torch.from_numpy(feed[k]) for k in ("input_ids", "attention_mask",
                                                                               "token_type_ids")))
    mask = torch.from_numpy(feed["attention_mask"]).bool()
    for logits in (start, end):
        best = logits.argmax(1)
        assert bool(mask.gather(1, best[:, None]).all())  # padding never wins (83% of starts did, uncalibrated)
        top2 = logits.topk(2, 1).values
        assert float((top2[:, 0] - top2[:, 1]).median()) > 0.5  # was 0.05 with the initialised head
