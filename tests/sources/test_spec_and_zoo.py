"""Input specs, seeded inputs and the zoo: the contracts every other part relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modelport import zoo
from modelport.errors import InputError
from modelport.spec import InputSpec, apply_dynamic, make_inputs, parse_dynamic_option, parse_input_option


def test_parse_input_option_forms():
    assert parse_input_option("x:2x3x32x32:float32").shape == (2, 3, 32, 32)
    spec = parse_input_option("ids:[4,16]:int64:0,100")
    assert (spec.shape, spec.dtype, spec.low, spec.high) == ((4, 16), "int64", 0.0, 100.0)
    assert parse_input_option("x:8").dtype == "float32"


@pytest.mark.parametrize("bad", ["x", "x:2xA", "x:2x3:complex", "x:2:float32:1", "x:0x3"])
def test_parse_input_option_rejects(bad):
    with pytest.raises(InputError):
        parse_input_option(bad)


def test_dynamic_options():
    specs = [InputSpec("x", (2, 16, 64))]
    out = apply_dynamic(specs, [parse_dynamic_option("x:1:seq")], dynamic_batch=True)
    assert out[0].dynamic_axes == {0: "batch", 1: "seq"}
    with pytest.raises(InputError, match="'y'"):
        apply_dynamic(specs, [parse_dynamic_option("y:0")], dynamic_batch=False)
    with pytest.raises(InputError):
        apply_dynamic(specs, [("x", 5, "z")], dynamic_batch=False)


def test_make_inputs_seeded_ranges_and_sign():
    specs = [InputSpec("img", (2, 3, 4, 4), "float32", 0.0, 1.0, {0: "batch"}),
             InputSpec("ids", (2, 5), "int64", 3, 7, {0: "batch"})]
    a, b = make_inputs(specs, seed=1), make_inputs(specs, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["img"], make_inputs(specs, seed=2)["img"])
    assert a["img"].min() >= 0 and a["img"].max() < 1 and a["img"].dtype == np.float32
    neg = make_inputs(specs, seed=1, sign=-1, batch=5)
    assert neg["img"].shape == (5, 3, 4, 4) and neg["img"].max() <= 0
    assert neg["ids"].min() >= 3 and neg["ids"].max() < 7, "integer inputs must stay in range whatever the sign"


def test_spec_json_round_trip():
    s = InputSpec("x", (2, 3), "float16", -1, 1, {0: "batch"})
    assert InputSpec.from_json(s.to_json()) == s


@pytest.mark.parametrize("name", ["tiny-cnn", "tiny-transformer", "branchy", "bert-small"])
def test_zoo_models_are_seeded_eval_and_match_their_specs(name):
    entry = zoo.get(name)
    m1, m2, m3 = entry.build(seed=0), entry.build(seed=0), entry.build(seed=1)
    assert not m1.training
    s1, s3 = m1.state_dict(), m3.state_dict()
    assert all(torch.equal(v, m2.state_dict()[k]) for k, v in s1.items())
    assert any(not torch.equal(v, s3[k]) for k, v in s1.items() if v.is_floating_point())
    feed = make_inputs(entry.input_specs(), seed=0)
    with torch.no_grad():
        out = m1(*[torch.from_numpy(v) for v in feed.values()])
    outs = out if isinstance(out, tuple) else (out,)
    assert len(outs) == len(entry.output_names)
    assert all(o.shape[0] == 2 and torch.isfinite(o).all() for o in outs)


def test_zoo_resnet50_has_torchvision_layout():
    m = zoo.get("resnet50").build()
    n_params = sum(p.numel() for p in m.parameters())
    assert n_params == 25_557_032  # torchvision resnet50 parameter count
    assert m.layer2[0].conv2.stride == (2, 2) and m.layer2[0].conv1.stride == (1, 1), "v1.5: stride on the 3x3"


def test_zoo_bert_large_config_is_selectable():
    specs = zoo.get("bert").input_specs({"config": "large"})
    assert specs[0].shape == (2, 384)
    with pytest.raises(InputError):
        zoo.get("bert").build(model_args={"config": "huge"})


def test_unknown_zoo_name():
    with pytest.raises(InputError, match="known: resnet50"):
        zoo.get("resnet51")
