"""mlperf.conf's per-model values, read from LoadGen's own file with LoadGen's lookup order, size the submission
profile of every MLPerf zoo model (small configurations included); a user.conf line naming the MLPerf model
changing a run is tested in test_bench_submission.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelport.benchmarks.settings import (
    MLPERF_SERVER_LATENCY_MS,
    conf_value,
    get_profile,
    mlperf_model_name,
    read_conf,
)


def test_lookup_order_is_loadgens(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("# a comment\n*.*.min_duration = 1\n*.Offline.min_duration = 2  # trailing\n"
                    "resnet50.*.min_duration = 3\nresnet50.Server.min_duration = 4\n")
    values = read_conf(conf)
    assert conf_value(values, "resnet50", "Server", "min_duration") == "4"
    assert conf_value(values, "resnet50", "Offline", "min_duration") == "3"
    assert conf_value(values, "bert", "Offline", "min_duration") == "2"
    assert conf_value(values, "bert", "SingleStream", "min_duration") == "1"
    assert conf_value(values, "bert", "SingleStream", "target_qps") is None


@pytest.mark.parametrize("zoo_name, model, offline_queries, samples", [
    ("resnet50", "resnet50", 24576, 1024),
    ("resnet50-small", "resnet50", 24576, 1024),
    ("bert-small", "bert", 10833, 10833),
    ("rnnt-small", "rnnt", 2513, 2513),
    ("3d-unet-small", "3d-unet", 43, 43),  # performance_sample_count_override = 0: the whole data set (43 volumes)
])
def test_submission_profile_takes_mlperf_conf_per_model_values(zoo_name, model, offline_queries, samples):
    assert mlperf_model_name(zoo_name) == model
    p = get_profile("submission").for_model(zoo_name)
    assert p.min_query_count["Offline"] == offline_queries and p.total_samples == samples
    assert get_profile("quick").for_model(zoo_name) == get_profile("quick")  # only the submission profile


def test_a_data_sets_accuracy_run_keeps_every_sample():
    """--dataset asks for accuracy over the whole data set (50000 images), more than the performance count."""
    p = replace(get_profile("submission"), accuracy_samples=50000, total_samples=1024).for_model("resnet50-small")
    assert p.accuracy_samples == 50000 and p.total_samples == 1024


def test_server_bounds_come_from_mlperf_conf():
    assert MLPERF_SERVER_LATENCY_MS["resnet50"] == 15.0 and MLPERF_SERVER_LATENCY_MS["bert"] == 130.0
    assert MLPERF_SERVER_LATENCY_MS["rnnt"] == 1000.0 and all(v > 0 for v in MLPERF_SERVER_LATENCY_MS.values())
    assert mlperf_model_name("tiny-cnn") is None and mlperf_model_name("nope") is None
