"""``bench`` of a generative run: tokens per sample through LoadGen's token API, TTFT/TPOT/tokens per second."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers.convert import run_cli
from helpers.hf_generative_models import converted


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory):
    run_dir, _ = converted("gpt2", "text-generation-with-past", ("onnx",))
    dest = tmp_path_factory.mktemp("genbench") / "run"
    shutil.copytree(run_dir, dest)
    return dest


def _bench(capsys, run_dir, *args):
    code, out, err = run_cli(capsys, "bench", run_dir, "--profile", "tiny", "--total-samples", "4", "--threads", "1",
                             "--json", *args)
    return code, (json.loads(out) if out.strip() else None), err


def test_offline_reports_tokens_per_second_ttft_and_tpot_for_eager_and_the_artifact(gpt2_run, capsys):
    code, out, err = _bench(capsys, gpt2_run, "--scenario", "Offline")
    assert code == 0, err
    results = out["results"]
    assert results["kind"] == "generation" and results["scenarios"] == ["Offline"]
    for backend in ("eager", "onnx-opset17"):
        cell = results["cells"][backend]["Offline"]
        assert cell["samples"] >= 4 and cell["tokens"] == 8 * cell["samples"]  # the tiny gpt2 never ends early
        assert cell["tokens_per_s"] > 0 and cell["ttft_ms"]["mean"] > 0 and cell["tpot_ms"]["mean"] > 0
        assert cell["token_agreement"] == 1.0  # the same tokens as eager generate() on every prompt
        assert cell["loadgen_tokens_per_s"] > 0 and cell["settings"]["use_token_latencies"] is True
        assert (gpt2_run / "bench" / backend / "Offline" / "mlperf_log_summary.txt").is_file()
    on_disk = json.loads((gpt2_run / "results.json").read_text())
    assert on_disk["cells"].keys() == results["cells"].keys()
    assert "tokens/s" in (gpt2_run / "report.md").read_text()


def test_a_scenario_without_token_latencies_is_refused_in_one_line(gpt2_run, capsys):
    code, _, err = _bench(capsys, gpt2_run, "--scenario", "SingleStream")
    assert code == 2 and "benchmarks Offline and Server" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_server_reports_first_token_latency_measured_by_loadgen(gpt2_run, capsys):
    code, out, err = _bench(capsys, gpt2_run, "--scenario", "Server", "--artifact", "onnx-opset17", "--new-tokens", "5")
    assert code == 0, err
    assert out["results"]["new_tokens"] == 5
    cell = out["results"]["cells"]["onnx-opset17"]["Server"]
    assert cell["tokens"] == 5 * cell["samples"]
    assert cell["loadgen_ttft_mean_ns"] > 0 and cell["loadgen_tpot_mean_ns"] >= 0
    assert cell["settings"]["ttft_latency"] > 0 and cell["token_agreement"] == 1.0


def test_options_a_generative_bench_does_not_support_are_refused_in_one_line(gpt2_run, capsys):
    code, _, err = _bench(capsys, gpt2_run, "--scenario", "Offline", "--compliance", "TEST01")
    assert code == 2 and "--compliance not supported for generative runs" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_run_converts_and_benchmarks_a_speech_recognition_model(tmp_path, capsys):
    from helpers.hf_generative_models import save

    src = save("whisper", tmp_path / "whisper")
    code, out, err = run_cli(capsys, "run", src, "--to", "onnx", "--profile", "tiny", "--scenario", "Offline",
                             "--total-samples", "3", "--out", tmp_path / "run", "--json")
    assert code == 0, err
    cells = json.loads(out)["results"]["cells"]
    assert cells["onnx-opset17"]["Offline"]["token_agreement"] == 1.0
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["source"]["task"] == \
        "automatic-speech-recognition-with-past"


def test_the_sut_reports_first_tokens_and_answers_of_a_batch_to_loadgen(tmp_path):
    """No model: a fake generator whose rows end at different lengths, in one Offline LoadGen run."""
    import numpy as np

    from modelport.benchmarks import lg
    from modelport.benchmarks.generative_sut import GenerativeSUT
    from modelport.benchmarks.mlperf_logs import read_summary

    answers = {i: np.arange(1, 2 + i % 3, dtype=np.int64) + 10 * i for i in range(6)}  # 1..3 tokens
    batches = []

    def generate(indices, on_first):
        batches.append(list(indices))
        on_first(np.array([answers[i][0] for i in indices]))
        return [answers[i] for i in indices]

    sut = GenerativeSUT(generate, max_batch=4)
    qsl = lg.construct_qsl(6, 6, lambda _: None, lambda _: None)
    fields = {"use_token_latencies": True, "min_duration_ms": 1, "min_query_count": 6, "offline_expected_qps": 1,
              "performance_sample_count_override": 6}
    try:
        lg.run_test(sut.handle, qsl, lg.TestConfig("Offline", "PerformanceOnly", fields), tmp_path)
    finally:
        sut.close()
        lg.destroy_qsl(qsl)
    assert sut.error is None and max(len(b) for b in batches) <= 4 and len(batches) >= 2
    got = {r.index: r.tokens for r in sut.records}
    assert len(sut.records) >= 6 and all(got[i] == answers[i].tolist() for i in got)
    assert float(read_summary(tmp_path)["Tokens per second"]) > 0


@pytest.mark.parametrize("flags", [("--sut-url", "grpc://127.0.0.1:9", "--model", "m"), ("--suite", "datacenter")])
def test_options_not_built_for_generative_runs_are_refused_not_ignored(flags, capsys):
    run_dir, _ = converted("gpt2", "text-generation-with-past", ("onnx",))
    code, _, err = run_cli(capsys, "bench", run_dir, *flags, "--profile", "tiny")
    assert code == 2 and f"{flags[0]} not supported for generative runs" in err


def test_serving_a_generative_artifact_is_refused_naming_its_components(capsys):
    run_dir, _ = converted("gpt2", "text-generation-with-past", ("onnx",))
    code, _, err = run_cli(capsys, "serve", run_dir, "--export-triton-repo", run_dir.parent / "triton")
    assert code == 2 and "decoder_with_past_model" in err and "not supported yet" in err


@pytest.mark.parametrize(("changes", "flag"), [
    ({"with_compiled_eager": True}, "--with-compiled-eager"),
    ({"ort_graph_opt_level": "basic"}, "--ort-graph-opt-level"),
    ({"ort_spinning": False}, "--no-ort-spinning"),
    ({"repeat": 2}, "--repeat"),
])
def test_generative_runs_name_every_option_they_would_ignore(changes, flag):
    """Every caller (bench, a matrix cell) refuses these rather than run a generative bench without them."""
    from modelport.benchmarks.generative_bench import unsupported_flags
    from modelport.benchmarks.options import BenchOptions
    from modelport.benchmarks.settings import get_profile

    assert unsupported_flags(BenchOptions(["Offline"], get_profile("tiny"))) == []
    assert unsupported_flags(BenchOptions(["Offline"], get_profile("tiny"), **changes)) == [flag]
