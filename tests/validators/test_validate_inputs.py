"""Input sets: seeded, differing, shape-aware, in range; the user's .npz checked against the spec."""

from __future__ import annotations

import numpy as np
import pytest

from modelport import zoo
from modelport.errors import InputError
from modelport.spec import InputSpec, make_inputs
from modelport.validators.inputs import gate_batches, generated_sets, load_npz


def test_sets_differ_in_values_and_sign_and_are_reproducible():
    specs = zoo.get("tiny-cnn").input_specs()
    sets = generated_sets(specs, seed=7)
    assert [s.name for s in sets] == ["example", "negated", "batch-1", "batch-5"]
    ex, neg = sets[0].feed["input"], sets[1].feed["input"]
    assert ex.shape == neg.shape == (2, 3, 32, 32)
    assert not np.allclose(ex, -neg)  # another seed, not just the negation
    assert np.array_equal(neg, -make_inputs(specs, 8)["input"])  # the second set is negated, with seed + 1
    assert [s.batch for s in sets] == [2, 2, 1, 5]
    again = generated_sets(specs, seed=7)
    assert all(np.array_equal(a.feed["input"], b.feed["input"]) for a, b in zip(sets, again, strict=True))


def test_branchy_sets_take_both_branches():
    sets = generated_sets(zoo.get("branchy").input_specs(), seed=0)
    assert sets[0].feed["x"].sum() > 0 > sets[1].feed["x"].sum()


def test_integer_inputs_stay_in_range_and_other_dynamic_axes_shrink_together():
    specs = zoo.get("bert-small").input_specs()
    sets = generated_sets(specs, seed=0)
    assert [s.name for s in sets][-1] == "other-dims"
    for s in sets:
        for spec in specs:
            a = s.feed[spec.name]
            assert a.dtype == np.int64
            assert a.min() >= spec.low and a.max() < spec.high
    other = sets[-1]
    assert {tuple(a.shape) for a in other.feed.values()} == {(2, 16)}  # sequence 32 -> 16 for every input


def test_static_batch_gets_no_other_batch_sizes_and_explicit_sizes_are_used():
    static = [InputSpec("x", (4, 3))]
    assert [s.batch for s in generated_sets(static, 0)] == [4, 4]
    dynamic = [InputSpec("x", (4, 3), dynamic_axes={0: "batch"})]
    assert [s.batch for s in generated_sets(dynamic, 0, batch_sizes=[1, 4, 16])] == [4, 4, 1, 16]


def test_gate_batches_cover_the_requested_samples():
    dyn = zoo.get("tiny-cnn").input_specs()
    assert sum(f["input"].shape[0] for f in gate_batches(dyn, 0, 37)) == 37
    static = [InputSpec("x", (4, 3))]
    assert [f["x"].shape[0] for f in gate_batches(static, 0, 9)] == [4, 4, 4]  # trimmed after running


@pytest.fixture
def bert_specs():
    return zoo.get("bert-small").input_specs()


def _save(tmp_path, **arrays):
    path = tmp_path / "inputs.npz"
    np.savez(path, **arrays)
    return path


def test_npz_accepted_with_a_different_dynamic_dimension(tmp_path, bert_specs):
    arrays = {s.name: np.ones((3, 20), np.int64) for s in bert_specs}
    s = load_npz(_save(tmp_path, **arrays), bert_specs)
    assert s.name == "user" and s.source == "npz" and s.batch == 3
    assert list(s.feed) == [spec.name for spec in bert_specs]


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("token_type_ids"), r"missing \['token_type_ids'\]"),
    (lambda a: a.update(extra=np.ones(2)), r"unexpected \['extra'\]"),
    (lambda a: a.update(input_ids=a["input_ids"].astype(np.int32)), "'input_ids' has dtype int32"),
    (lambda a: a.update(input_ids=np.ones((2,), np.int64)), "needs 2 dimensions"),
])
def test_npz_mismatches_are_one_line_input_errors(tmp_path, bert_specs, change, message):
    arrays = {s.name: np.ones((2, 32), np.int64) for s in bert_specs}
    change(arrays)
    with pytest.raises(InputError, match=message) as e:
        load_npz(_save(tmp_path, **arrays), bert_specs)
    assert "\n" not in str(e.value)


def test_npz_static_axis_and_unreadable_files(tmp_path):
    specs = zoo.get("tiny-cnn").input_specs()
    with pytest.raises(InputError, match="axis 2 is static at 32"):
        load_npz(_save(tmp_path, input=np.zeros((2, 3, 16, 32), np.float32)), specs)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_npz(junk, specs)
    with pytest.raises(InputError, match="does not exist"):
        load_npz(tmp_path / "nope.npz", specs)


@pytest.mark.parametrize("name", ["tiny-cnn", "bert-small", "branchy"])
def test_quick_profile_is_a_subset_of_the_full_one_with_the_same_arrays(name):
    specs = zoo.get(name).input_specs()
    full = {s.name: s for s in generated_sets(specs, seed=3)}
    quick = generated_sets(specs, seed=3, profile="quick")
    assert [s.name for s in quick][:2] == ["example", "negated"]
    for s in quick:
        assert s.quick and all(np.array_equal(s.feed[k], full[s.name].feed[k]) for k in s.feed)
    if name == "bert-small":  # dynamic batch and sequence: the largest other batch and the other dims
        assert [s.name for s in quick] == ["example", "negated", "batch-5", "other-dims"]
        assert quick[2].sign == -1  # the larger batch is negated too
    assert [s.name for s in full.values() if not s.quick] == ["batch-1"]


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown input-set profile"):
        generated_sets(zoo.get("tiny-cnn").input_specs(), 0, profile="fast")
