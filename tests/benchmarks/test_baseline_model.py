"""bench --baseline compares benches of one model; a baseline of another is refused before any work."""

from __future__ import annotations

import pytest

from modelport.benchmarks.results import BenchResults
from modelport.benchmarks.workflow import Baseline, check_same_model
from modelport.errors import InputError


def test_a_baseline_of_another_model_is_refused() -> None:
    baseline = Baseline("base.json", BenchResults(model="zoo:tiny-cnn"))
    check_same_model(baseline, "zoo:tiny-cnn")
    with pytest.raises(InputError, match="is a bench of zoo:tiny-cnn, and this run is of zoo:bert-small"):
        check_same_model(baseline, "zoo:bert-small")
