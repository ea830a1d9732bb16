"""The bench QSL draws a zoo model's samples from its realistic generator (docs/decisions.md, "Zoo: seeded
classifier and QA heads scored like trained ones"), one seed per (run seed, index) as before."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from modelport import zoo
from modelport.benchmarks.preflight import zoo_generator
from modelport.benchmarks.qsl import SampleLibrary, sample_seed
from modelport.zoo.bert import CLS, qa_samples


def test_a_zoo_model_with_a_generator_gets_its_samples_per_seed_and_index():
    entry = zoo.get("bert-small")
    specs = entry.input_specs()
    gen = zoo_generator(entry, specs, None)
    assert gen is not None and gen[0] == "zoo:bert-small's sample generator"
    a, b = SampleLibrary(specs, 8, 8, seed=3, generator=gen), SampleLibrary(specs, 8, 8, seed=3, generator=gen)
    a.load([1, 6])
    b.load([6])
    b.load([1])
    assert "bert-small's sample generator, seed 3" in a.source
    for i in (1, 6):
        want = qa_samples(1, 32, 1000, sample_seed(3, i))
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            np.testing.assert_array_equal(a.sample(i)[name], want[name])
            np.testing.assert_array_equal(b.sample(i)[name], want[name])
    assert a.sample(1)["input_ids"][0, 0] == CLS  # a tokenised question, not uniform ids
    assert a.batch([1, 6])["attention_mask"].shape == (2, 32)


def test_models_without_a_fitting_generator_keep_the_input_specs():
    tiny = zoo.get("tiny-cnn")
    assert zoo_generator(tiny, tiny.input_specs(), None) is None
    entry = zoo.get("resnet50-small")
    (spec,) = entry.input_specs()
    assert zoo_generator(entry, [replace(spec, shape=(2, 3, 32, 32))], None) is None  # exported at another size
    assert zoo_generator(entry, [replace(spec, dynamic_axes={})], None) is None  # no batch axis to draw along
    assert zoo_generator(None, [spec], None) is None
    assert "the input specs" in SampleLibrary([spec], 4, 4, seed=1).source
