"""Comparison functions and tolerances: the numbers a user judges an export by."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.errors import InputError
from modelport.validators import compare_arrays, parse_tolerances, topk_agreement
from modelport.validators.compare import classification_outputs, compare_outputs
from modelport.validators.tolerances import Tolerances


def test_identical_arrays_pass_with_zero_error():
    a = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    c = compare_arrays("y", a, a.copy(), 1e-5, 1e-5)
    assert c.passed and c.failed_on is None
    assert c.max_abs == 0.0 and c.mismatched == 0 and c.total == 12
    assert c.cosine == pytest.approx(1.0)


def test_statistics_of_one_perturbed_element():
    ref = np.ones((4, 5), dtype=np.float32)
    cand = ref.copy()
    cand[2, 3] += 0.5
    c = compare_arrays("logits", ref, cand, 1e-5, 1e-5)
    assert not c.passed and c.failed_on == "values"
    assert c.max_abs == pytest.approx(0.5)
    assert c.max_rel == pytest.approx(0.5)
    assert c.mean_abs == pytest.approx(0.5 / 20)
    assert c.p99_abs == pytest.approx(np.quantile(np.abs(cand - ref), 0.99))
    assert (c.mismatched, c.total) == (1, 20)
    assert c.worst_index == [2, 3]
    assert (c.worst_ref, c.worst_cand) == (1.0, 1.5)
    assert c.required_atol == pytest.approx(0.5)
    text = c.describe_failure()
    assert "max abs error 0.5 > atol 1e-05" in text and "1/20" in text and "[2, 3]" in text


def test_a_per_sample_scalar_output_compares_like_any_other():
    # one sample of a (batch,) output such as RNN-T's encoder_lengths is a 0-d array
    assert compare_arrays("n", np.array(17), np.array(17), 0.0, 0.0).passed
    differs = compare_arrays("n", np.array(17.0), np.array(18.0), 1e-5, 1e-5)
    assert not differs.passed and differs.failed_on == "values" and differs.mismatched == 1


def test_elementwise_rule_needs_both_abs_and_rel_exceeded():
    ref = np.array([1000.0, 1e-3], dtype=np.float64)
    cand = ref + np.array([1e-3, 5e-4])  # element 0: abs 1e-3, rel 1e-6; element 1: abs 5e-4, rel 0.5
    assert compare_arrays("y", ref, cand, atol=9e-4, rtol=1e-5).mismatched == 0  # each within one tolerance
    assert compare_arrays("y", ref, cand, atol=1e-4, rtol=1e-7).mismatched == 2
    c = compare_arrays("y", ref, cand, atol=1e-4, rtol=2e-6)
    assert c.mismatched == 1
    assert c.worst_index == [1]  # the worst *mismatched* element, though element 0 has the larger abs error
    assert c.max_abs == pytest.approx(1e-3)


def test_zero_reference_uses_absolute_tolerance():
    ref = np.zeros(3, dtype=np.float32)
    assert compare_arrays("y", ref, np.full(3, 5e-6, np.float32), 1e-5, 1e-5).passed
    c = compare_arrays("y", ref, np.full(3, 5e-5, np.float32), 1e-5, 1e-5)
    assert not c.passed and c.mismatched == 3


def test_shape_and_dtype_mismatches_fail_by_name():
    ref = np.zeros((2, 3), np.float32)
    c = compare_arrays("y", ref, np.zeros((3, 2), np.float32), 1, 1)
    assert c.failed_on == "shape" and "shape [3, 2], expected [2, 3]" in c.describe_failure()
    c = compare_arrays("y", ref, np.zeros((2, 3), np.float64), 1, 1)
    assert c.failed_on == "dtype" and "float64" in c.describe_failure()


def test_nan_and_inf_in_candidate_fail_but_matching_nonfinite_is_equal():
    ref = np.array([1.0, np.nan, np.inf], np.float32)
    assert compare_arrays("y", ref, ref.copy(), 1e-5, 1e-5).passed
    bad = np.array([np.nan, np.nan, np.inf], np.float32)
    c = compare_arrays("y", ref, bad, 1e-5, 1e-5)
    assert c.failed_on == "nan" and c.mismatched == 1 and c.worst_index == [0]
    c = compare_arrays("y", ref, np.array([1.0, np.nan, -np.inf], np.float32), 1e-5, 1e-5)
    assert c.failed_on == "inf" and "non-finite" in c.describe_failure()


def test_integers_and_bools_compare_exactly_by_default():
    t = Tolerances()
    assert t.for_output("ids", np.dtype(np.int64))[:2] == (0.0, 0.0)
    assert t.for_output("mask", np.dtype(np.bool_))[:2] == (0.0, 0.0)
    ids = np.array([3, 4, 5], np.int64)
    assert compare_outputs({"ids": ids}, {"ids": ids + np.array([0, 0, 1])}, t)[0].mismatched == 1
    mask = np.array([True, False])
    c = compare_outputs({"m": mask}, {"m": ~mask}, t)[0]
    assert not c.passed and c.mismatched == 2


def test_dtype_defaults_and_priority_of_user_tolerances():
    t = Tolerances()
    assert t.for_output("y", np.dtype(np.float32))[:2] == (1e-5, 1e-5)
    assert t.for_output("y", np.dtype(np.float16))[:2] == (1e-3, 1e-3)
    assert t.for_output("y", np.dtype(np.float64))[:2] == (1e-7, 1e-7)
    t = Tolerances(atol={"": 1e-4, "end": 1e-2}, rtol={"": 1e-3}, model_atol=5e-4, model_name="m")
    assert t.for_output("start", np.dtype(np.float32))[:2] == (1e-4, 1e-3)
    assert t.for_output("end", np.dtype(np.float32))[:2] == (1e-2, 1e-3)
    assert Tolerances(model_atol=5e-4, model_name="m").for_output("y", np.dtype(np.float32))[0] == 5e-4


def test_parse_tolerances_and_bad_values():
    assert parse_tolerances(["1e-5", "logits:1e-3"], "--atol") == {"": 1e-5, "logits": 1e-3}
    assert parse_tolerances(["a:b:2e-3"], "--atol") == {"a:b": 2e-3}  # output names may contain ':'
    for bad in ("abc", "y:", "y:-1", "nan"):
        with pytest.raises(InputError, match="--atol"):
            parse_tolerances([bad], "--atol")
    with pytest.raises(InputError, match="names output 'nope'"):
        Tolerances(atol={"nope": 1.0}).check_names(["y"])


def test_topk_agreement_counts_rows_whose_prediction_agrees():
    ref = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.15], [0.2, 0.3, 0.5], [0.3, 0.25, 0.4]])
    assert topk_agreement(ref, ref) == 1.0
    cand = ref.copy()
    cand[1] = [0.1, 0.8, 0.15]  # argmax 0 -> 1; top-2 set {0, 2} -> {1, 2}
    assert topk_agreement(ref, cand, k=1) == 0.75
    assert topk_agreement(ref, cand, k=2) == 0.75
    cand = ref.copy()
    cand[2] = [0.2, 0.5, 0.3]  # argmax 2 -> 1, but the top-2 set {1, 2} is unchanged
    assert topk_agreement(ref, cand, k=1) == 0.75
    assert topk_agreement(ref, cand, k=2) == 1.0
    # question answering: a row is a sequence and the prediction is the argmax over its positions
    start = np.zeros((2, 3, 7))
    start[..., 4] = 1.0
    moved = start.copy()
    moved[1, 2] = np.roll(moved[1, 2], 1)
    assert topk_agreement(start, moved) == pytest.approx(5 / 6)


def test_classification_outputs_follow_the_task():
    outs = {"logits": np.zeros((2, 10), np.float32), "ids": np.zeros((2, 3), np.int64), "s": np.zeros(2)}
    assert classification_outputs("classification", outs) == ["logits"]
    assert classification_outputs("features", outs) == []
    assert classification_outputs("features", outs, ["s"]) == ["s"]


def test_nonfinite_values_match_only_the_same_value():
    """The one rule: a NaN/Inf matches only the very same value on the other side, whichever side has it."""
    ref = np.array([np.inf, -np.inf, np.nan, 1.0], np.float32)
    assert compare_arrays("y", ref, ref.copy(), 1e-5, 1e-5).passed  # the reference produced them too
    flipped = compare_arrays("y", ref, np.array([-np.inf, -np.inf, np.nan, 1.0], np.float32), 1e-5, 1e-5)
    assert flipped.failed_on == "inf" and flipped.mismatched == 1 and flipped.worst_index == [0]
    lost = compare_arrays("y", ref, np.array([np.inf, -np.inf, 0.5, 1.0], np.float32), 1e-5, 1e-5)
    assert lost.failed_on == "nan" and lost.mismatched == 1  # a reference NaN the candidate does not reproduce
    finite = compare_arrays("y", ref, np.array([1e30, -np.inf, np.nan, 1.0], np.float32), 1e-5, 1e-5)
    assert finite.failed_on == "inf" and finite.mismatched == 1


def test_dtype_change_fails_even_when_the_values_match():
    c = compare_arrays("ids", np.arange(4, dtype=np.int64), np.arange(4, dtype=np.int32), 0, 0)
    assert c.failed_on == "dtype" and c.mismatched == 0 and c.max_abs == 0.0


def test_user_tolerance_for_every_output_leaves_integers_exact():
    t = Tolerances(atol={"": 5.0}, rtol={"": 1.0})
    assert t.for_output("logits", np.dtype(np.float32))[:2] == (5.0, 1.0)
    assert t.for_output("ids", np.dtype(np.int64))[:2] == (0.0, 0.0)
    ids = np.array([3, 4, 5], np.int64)
    assert not compare_outputs({"ids": ids}, {"ids": ids + 1}, t)[0].passed
    named = Tolerances(atol={"ids": 1.0})  # naming the output is how integers get a tolerance
    assert compare_outputs({"ids": ids}, {"ids": ids + 1}, named)[0].passed


def test_zero_reference_is_judged_by_atol_even_when_atol_is_zero():
    # rel divides by float64 eps where the reference is 0: 1e-22 is numerically zero at rtol 1e-5
    assert compare_arrays("y", np.zeros(2), np.full(2, 1e-22), 0.0, 1e-5).passed
    assert not compare_arrays("y", np.zeros(2), np.full(2, 1e-9), 0.0, 1e-5).passed


def test_worst_per_output_keeps_the_first_failure_else_the_largest_error():
    from modelport.validators.compare import worst_per_output
    from modelport.validators.results import InputSetResult

    ref = {"a": np.ones(3, np.float32), "b": np.ones(3, np.float32)}

    def run(da: float, db: float) -> InputSetResult:
        comps = compare_outputs(ref, {"a": ref["a"] + np.float32(da), "b": ref["b"] + np.float32(db)}, Tolerances())
        return InputSetResult("s", 1, {}, all(c.passed for c in comps), comps)

    a, b = worst_per_output([run(1e-7, 0.5), run(2e-6, 0.0)])
    assert a.passed and a.max_abs == pytest.approx(2e-6, rel=0.05)  # float32 steps near 1.0 are 1.2e-7
    assert not b.passed and b.max_abs == pytest.approx(0.5)
