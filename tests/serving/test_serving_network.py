"""The network SUT against a real MLServer started by ``modelport serve``: outputs equal in-process
onnxruntime over gRPC and REST JSON, Server and Offline run through the QDL, and a wrong model name or a
server killed mid-run give failed samples and a one-line error, never a hang."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest
from helpers.bench_cli import invoke
from helpers.served import require_mlserver, serve

from modelport.spec import make_inputs

MODEL = "onnx-opset17"
SHORT = ["--profile", "tiny", "--server-trials", "1", "--total-samples", "16", "--accuracy-samples", "8",
         "--threads", "1", "--server-latency-ms", "200"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("served") / "run"
    res = invoke("convert", "zoo:tiny-cnn", "--to", "onnx", "--to", "torchscript", "--out", str(out), "--no-validate",
                 "--quiet")
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def server(run_dir, tmp_path_factory):
    # one server for the module; the last test kills it (test_a_server_killed_mid_run_..., defined last)
    with serve(run_dir, MODEL, tmp_path_factory.mktemp("log") / "serve.log", "--json") as served:
        yield served


def _onnxruntime(run_dir, feed):
    sess = ort.InferenceSession(str(run_dir / "model.opset17.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(None, feed)[0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_metadata_and_outputs_match_onnxruntime(run_dir, server, protocol):
    from modelport.benchmarks.network_sut import NetworkOptions, OipClient

    net = NetworkOptions([getattr(server, protocol)], MODEL).checked()
    client = OipClient(net.endpoints[0], net, ["logits"])
    try:
        md = client.metadata()
        assert [t["name"] for t in md["inputs"]] == ["input"] and md["inputs"][0]["datatype"] == "FP32"
        assert [int(d) for d in md["inputs"][0]["shape"]] == [-1, 3, 32, 32]
        assert [t["name"] for t in md["outputs"]] == ["logits"]
        feed = make_inputs(make_specs(run_dir), seed=3, batch=3)
        (served,) = client.infer(feed)
    finally:
        client.close()
    np.testing.assert_allclose(served, _onnxruntime(run_dir, feed), rtol=1e-5, atol=1e-6)


def make_specs(run_dir):
    from modelport.manifest import load_manifest

    return load_manifest(run_dir).inputs


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_bench_server_and_offline_through_the_qdl(run_dir, server, protocol):
    url = getattr(server, protocol)
    res = invoke("bench", str(run_dir), "--sut-url", url, "--model", MODEL, "--max-in-flight", "4", "--json", *SHORT)
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]
    backend = f"network-{MODEL}"
    assert list(results["cells"]) == [backend] and set(results["cells"][backend]) == {"Offline", "Server"}
    net = results["backends"][backend]["network"]
    assert net["endpoints"] == [url] and net["protocol"] == protocol and net["max_in_flight"] == 4
    assert net["failed_samples"] == {"Offline": 0, "Server": 0}
    for scenario, cell in results["cells"][backend].items():
        assert cell["accuracy"]["agreement"] == 1.0, scenario  # the served outputs are the eager model's
        assert cell["sut"]["failed_samples"] == 0 and cell["sut"]["samples"] > 0
    detail = (run_dir / results["cells"][backend]["Offline"]["log_dir"] / "mlperf_log_detail.txt").read_text()
    assert f'"network SUT: {MODEL} at {url}"' in detail
    assert "## Network SUT" in (run_dir / "report.md").read_text()


def test_other_scenarios_and_unknown_models_fail_in_one_line(run_dir, server):
    t0 = time.monotonic()
    res = invoke("bench", str(run_dir), "--sut-url", server.grpc, "--model", "nope", *SHORT)
    assert res.exit_code == 2 and "cannot get model 'nope'" in res.stderr and len(res.stderr.splitlines()) == 1
    res = invoke("bench", str(run_dir), "--sut-url", server.grpc, "--model", MODEL, "--scenario", "SingleStream")
    assert res.exit_code == 2 and "SingleStream scenario does not run over the network" in res.stderr
    res = invoke("bench", str(run_dir), "--sut-url", "ftp://x:1", "--model", MODEL)
    assert res.exit_code == 2 and "is not grpc://HOST:PORT" in res.stderr
    assert time.monotonic() - t0 < 20


def _offline(run_dir, url, model, samples):
    """A NetworkSUT for ``model`` at ``url`` and a function running one Offline test of ``samples``."""
    from modelport.benchmarks.cellsettings import CellSettings
    from modelport.benchmarks.loadgen_run import run_loadgen
    from modelport.benchmarks.network_bench import network_backend
    from modelport.benchmarks.network_sut import NetworkOptions, NetworkSUT
    from modelport.benchmarks.qsl import SampleLibrary
    from modelport.benchmarks.responses import OutputField, ResponseLayout
    from modelport.benchmarks.sut import QSLHandle
    from modelport.manifest import load_manifest

    manifest = load_manifest(run_dir)
    net = NetworkOptions([url], model, max_in_flight=4, request_timeout_s=5.0).checked()
    qsl = SampleLibrary(manifest.inputs, 16, 16, seed=0)
    handle = QSLHandle(qsl)
    backend = network_backend(net, manifest, ["logits"])
    sut = NetworkSUT(backend, qsl, ResponseLayout([OutputField("logits", "float32", (10,))]), net, ["logits"])
    # LoadGen issues 1.1 x duration x expected QPS samples in the one Offline query
    settings = CellSettings("Offline", "PerformanceOnly", 1000, 1, offline_expected_qps=samples / 1.1)

    def run(folder):
        return run_loadgen(sut, handle, settings, folder)

    def close():
        sut.close()
        handle.close()
        backend.close()

    return sut, run, close


def test_wrong_model_name_gives_failed_samples_and_an_error(run_dir, server, tmp_path):
    from modelport.errors import ModelportError

    sut, run, close = _offline(run_dir, server.grpc, "nope", 200)
    try:
        t0 = time.monotonic()
        with pytest.raises(ModelportError, match="requests in a row failed.*'nope' is not answering"):
            run(tmp_path / "wrong")
        assert time.monotonic() - t0 < 20
        assert sut.failed >= 32 and "nope" in sut.failures[0]
    finally:
        close()


def test_export_triton_repo_writes_config_pbtxt_and_refuses_a_full_directory(run_dir, tmp_path):
    require_mlserver()  # tritonclient parses config.pbtxt with Triton's own model_config.proto
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    for artifact, backend, output, filename in (("onnx-opset17", "onnxruntime", "logits", "model.opset17.onnx"),
                                                 ("torchscript", "pytorch", "logits__0", "model.ts")):
        out = tmp_path / artifact
        res = invoke("serve", str(run_dir), "--artifact", artifact, "--export-triton-repo", str(out), "--json")
        assert res.exit_code == 0, res.output
        config = text_format.Parse((out / artifact / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        assert config.backend == backend and config.max_batch_size == 32 and config.HasField("dynamic_batching")
        assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [("input", 11, [3, 32, 32])]  # FP32
        assert [(o.name, list(o.dims)) for o in config.output] == [(output, [10])]
        assert config.default_model_filename == filename
        assert (out / artifact / "1" / filename).read_bytes() == (run_dir / filename).read_bytes()
    res = invoke("serve", str(run_dir), "--export-triton-repo", str(tmp_path / "torchscript"))
    assert res.exit_code == 2 and "already exists and is not empty" in res.stderr
    assert sorted(p.name for p in (tmp_path / "torchscript").iterdir()) == ["torchscript"]


def test_serve_refuses_what_it_cannot_serve_in_one_line(run_dir):
    res = invoke("serve", str(run_dir), "--artifact", "nope")
    assert res.exit_code == 2 and "run has no artifact 'nope'" in res.stderr
    res = invoke("serve", str(run_dir), "--server", "triton")
    assert res.exit_code == 2 and "--server triton" in res.stderr and len(res.stderr.splitlines()) == 1
    res = invoke("serve", str(run_dir), "--model-name", "a/b")
    assert res.exit_code == 2 and "is not a plain name" in res.stderr


@pytest.mark.slow
def test_served_torchscript_matches_torch_jit(run_dir, tmp_path):
    import torch

    from modelport.benchmarks.network_sut import NetworkOptions, OipClient

    with serve(run_dir, "ts", tmp_path / "serve.log", "--artifact", "torchscript", "--model-name", "ts") as served:
        net = NetworkOptions([served.grpc], "ts").checked()
        client = OipClient(net.endpoints[0], net, ["logits"])
        feed = make_inputs(make_specs(run_dir), seed=5, batch=2)
        try:
            (out,) = client.infer(feed)
        finally:
            client.close()
        # SIGTERM to modelport serve alone: it stops MLServer, exits 0 and leaves no process behind
        assert served.stop() == 0 and not served.group_alive()
    with torch.no_grad():
        ref = torch.jit.load(str(run_dir / "model.ts"))(torch.from_numpy(feed["input"])).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_typed_contents_are_decoded_when_raw_output_contents_is_empty():
    require_mlserver()
    from tritonclient.grpc import service_pb2

    from modelport.benchmarks.network_sut import _typed_contents, parse_endpoints
    from modelport.errors import InputError

    response = service_pb2.ModelInferResponse()  # how KServe answers: typed contents, no raw bytes
    out = response.outputs.add(name="logits", datatype="FP32", shape=[1, 3])
    out.contents.fp32_contents.extend([0.5, -1.0, 2.0])
    ids = response.outputs.add(name="ids", datatype="INT64", shape=[2])
    ids.contents.int64_contents.extend([7, 9])
    assert not response.raw_output_contents
    np.testing.assert_array_equal(_typed_contents(response.outputs[0]), np.array([[0.5, -1.0, 2.0]], np.float32))
    assert _typed_contents(response.outputs[1]).dtype == np.int64
    with pytest.raises(InputError, match="same protocol"):
        parse_endpoints(["grpc://127.0.0.1:1", "http://127.0.0.1:2"])


def test_a_server_killed_mid_run_ends_the_run_with_one_line(run_dir, server, tmp_path):
    """Last in the module: it kills the shared server."""
    from modelport.errors import ModelportError

    printed = server.printed()  # serve --json: one object once the model is ready
    assert printed["urls"] == {"grpc": server.grpc, "http": server.http}
    assert printed["model"]["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
    sut, run, close = _offline(run_dir, server.grpc, MODEL, 20000)  # ~30 s of work at full speed
    try:
        # the server process dies (not modelport serve): the run ends, and serve says so and exits
        killer = threading.Timer(1.0, os.kill, (printed["pid"], signal.SIGKILL))
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(ModelportError, match="not answering") as err:
            run(tmp_path / "killed")
        killer.join()
        assert time.monotonic() - t0 < 25
        assert "\n" not in str(err.value) and sut.samples_run > 0 and sut.failed >= 32
        assert server.proc.wait(15) == 1
        assert "MLServer exited on its own" in server.log.read_text().splitlines()[-1]
    finally:
        close()
