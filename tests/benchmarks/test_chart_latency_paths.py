"""Plots read the SUT latencies beside each performance log that results.json names: a log folder outside the
run directory (an edited results.json) is never read."""

from __future__ import annotations

import numpy as np

from modelport.benchmarks.charts import load_latencies
from modelport.benchmarks.mlperf_logs import SUT_LATENCIES


def test_latencies_are_read_only_inside_the_run_directory(tmp_path):
    run_dir, outside = tmp_path / "run", tmp_path / "elsewhere"
    for folder in (run_dir / "logs" / "cell", outside):
        folder.mkdir(parents=True)
        np.save(folder / SUT_LATENCIES, np.array([1, 2, 3], dtype=np.int64))
    assert load_latencies(run_dir, "logs/cell").tolist() == [1, 2, 3]
    assert load_latencies(run_dir, "../elsewhere") is None
    assert load_latencies(run_dir, str(outside)) is None  # absolute
    (run_dir / "link").symlink_to(outside)
    assert load_latencies(run_dir, "link") is None  # a symlink out of the run directory
    np.save(run_dir / "logs" / "cell" / SUT_LATENCIES, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert load_latencies(run_dir, "logs/cell") is None  # a pickled array is not unpickled


def test_a_log_folder_outside_the_run_directory_is_refused_for_reading_and_writing(tmp_path):
    """Submission trees copy from, and data-set scoring writes accuracy.txt into, the folders results.json names."""
    import pytest

    from modelport.benchmarks.store import log_folder
    from modelport.errors import InputError

    (tmp_path / "run" / "bench" / "onnx").mkdir(parents=True)
    assert log_folder(tmp_path / "run", "bench/onnx") == (tmp_path / "run" / "bench" / "onnx").resolve()
    for rel in ("../elsewhere", str(tmp_path), ""):
        with pytest.raises(InputError, match="not inside the run directory"):
            log_folder(tmp_path / "run", rel)
