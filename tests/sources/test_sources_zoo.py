"""zoo:NAME sources: the loaded module is the zoo's, with the zoo's inputs, and reload_source rebuilds it."""

from __future__ import annotations

import pytest
import torch

from modelport import zoo
from modelport.errors import InputError
from modelport.sources import load_source, reload_source
from modelport.spec import make_inputs


def _run(module, specs, seed=0):
    feed = make_inputs(specs, seed)
    with torch.no_grad():
        out = module(*[torch.from_numpy(feed[s.name]) for s in specs])
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", ["tiny-cnn", "tiny-transformer", "branchy", "bert-small"])
def test_zoo_source_matches_zoo_build_and_reloads(name):
    loaded = load_source(f"zoo:{name}", seed=3)
    entry = zoo.get(name)
    assert loaded.inputs == entry.input_specs()
    assert loaded.output_names == list(entry.output_names)
    assert loaded.record.kind == "zoo" and loaded.record.spec == f"zoo:{name}"
    assert loaded.record.model_class == entry.model_class
    assert not loaded.module.training and not loaded.record.was_training
    ref = _run(entry.build(seed=3), loaded.inputs)
    for got, want in zip(_run(loaded.module, loaded.inputs), ref, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    again = reload_source(loaded.record, seed=3)
    for got, want in zip(_run(again, loaded.inputs), ref, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_zoo_model_args_reach_the_model_and_the_record():
    loaded = load_source("zoo:tiny-cnn", model_args={"num_classes": 5})
    assert loaded.record.model_args == {"num_classes": 5}
    assert _run(loaded.module, loaded.inputs)[0].shape == (2, 5)
    assert _run(reload_source(loaded.record), loaded.inputs)[0].shape == (2, 5)


def test_seed_changes_weights():
    a = load_source("zoo:branchy", seed=0).module
    b = load_source("zoo:branchy", seed=1).module
    assert not torch.equal(a.linear.weight, b.linear.weight)


def test_unknown_zoo_name_lists_known_names():
    with pytest.raises(InputError, match=r"unknown zoo model 'nope'.*known: .*tiny-cnn"):
        load_source("zoo:nope")
