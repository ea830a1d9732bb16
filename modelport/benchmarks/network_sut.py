"""The network SUT: LoadGen's query dispatch library (QDL) sending each sample to a served model over the
Open Inference Protocol (KServe v2), as MLPerf's Network division does.

One request per sample (MLPerf forbids batching in the QDL), round-robin over the endpoints, at most
``max_in_flight`` requests outstanding: a pool of that many dispatch threads, each with its own
``tritonclient`` clients (the HTTP client is not thread-safe), takes issued samples off a queue
(docs/decisions.md, "Network SUT: tritonclient as the client" and "Network SUT: an in-flight cap"). gRPC is the
default transport; ``http://`` sends OIP REST JSON (``binary_data`` off, an explicit JSON Content-Type), and the
``triton`` server profile turns on Triton's binary HTTP extension.

A request that fails (transport, timeout, server error) completes its sample with an empty response and is
counted; ``max_consecutive_failures`` failures in a row mean the server is gone: every later sample is
completed empty at once and ``error`` ends the run with one line, so a dead server never hangs LoadGen.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from modelport.benchmarks import lg
from modelport.benchmarks.backends import Backend
from modelport.benchmarks.qsl import SampleLibrary
from modelport.benchmarks.responses import ResponseLayout, addresses
from modelport.benchmarks.sut import BaseSUT
from modelport.errors import InputError, ModelportError
from modelport.runners.base import Runner

PROTOCOLS = {"grpc": "OIP gRPC (inference.GRPCInferenceService)", "http": "OIP REST"}
SERVER_PROFILES = ("oip", "triton")
#: typed ``contents`` fields of a gRPC tensor by OIP datatype, for servers that answer without raw bytes
_TYPED = {"FP32": ("fp32_contents", np.float32), "FP64": ("fp64_contents", np.float64),
          "INT64": ("int64_contents", np.int64), "INT32": ("int_contents", np.int32),
          "INT16": ("int_contents", np.int16), "INT8": ("int_contents", np.int8),
          "UINT64": ("uint64_contents", np.uint64), "UINT32": ("uint_contents", np.uint32),
          "UINT16": ("uint_contents", np.uint16), "UINT8": ("uint_contents", np.uint8),
          "BOOL": ("bool_contents", np.bool_)}
_NP_TO_OIP = {"float32": "FP32", "float16": "FP16", "float64": "FP64", "int64": "INT64", "int32": "INT32",
              "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}
#: error messages kept per run (the count is exact; the texts are examples)
KEEP_ERRORS = 5


class NetworkError(ModelportError):
    """The served model stopped answering (or never answered) during a run."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    protocol: str  # grpc | http
    address: str  # host:port, as tritonclient takes it


def parse_endpoints(urls: list[str] | tuple[str, ...]) -> list[Endpoint]:
    """``grpc://HOST:PORT`` or ``http://HOST:PORT``, all with the same scheme; one-line errors otherwise."""
    if not urls:
        raise InputError("no --sut-url given", "e.g. --sut-url grpc://127.0.0.1:8081")
    out = []
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in PROTOCOLS or not parts.hostname or not port or parts.path not in ("", "/"):
            raise InputError(f"--sut-url {url!r} is not grpc://HOST:PORT or http://HOST:PORT",
                             "e.g. --sut-url grpc://127.0.0.1:8081")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        out.append(Endpoint(url, parts.scheme, f"{host}:{port}"))
    if len({e.protocol for e in out}) > 1:
        raise InputError("--sut-url: every endpoint must use the same protocol (all grpc:// or all http://)")
    return out


@dataclass(frozen=True)
class NetworkOptions:
    urls: list[str]
    model: str
    max_in_flight: int = 16
    server_profile: str = "oip"  # oip | triton (Triton's binary HTTP extension)
    request_timeout_s: float = 10.0
    max_consecutive_failures: int = 32
    endpoints: list[Endpoint] = field(default_factory=list)

    def checked(self) -> NetworkOptions:
        if self.max_in_flight < 1:
            raise InputError(f"--max-in-flight must be at least 1, got {self.max_in_flight}")
        if self.server_profile not in SERVER_PROFILES:
            raise InputError(f"--server-profile {self.server_profile!r} is unknown",
                             f"use {' or '.join(SERVER_PROFILES)}")
        return replace(self, endpoints=parse_endpoints(self.urls))

    @property
    def protocol(self) -> str:
        return self.endpoints[0].protocol if self.endpoints else parse_endpoints(self.urls)[0].protocol

    def to_json(self) -> dict[str, Any]:
        return {"endpoints": [e.url for e in self.endpoints], "protocol": self.protocol,
                "wire": PROTOCOLS[self.protocol] + ("" if self.protocol == "grpc" else
                                                    " binary" if self.server_profile == "triton" else " JSON"),
                "model": self.model, "max_in_flight": self.max_in_flight, "server_profile": self.server_profile,
                "request_timeout_s": self.request_timeout_s, "max_consecutive_failures": self.max_consecutive_failures}


def _typed_contents(tensor: Any) -> np.ndarray:
    """A gRPC output tensor sent as typed ``contents`` (legal OIP; tritonclient reads only raw bytes)."""
    if tensor.datatype not in _TYPED:
        raise ValueError(f"output {tensor.name!r}: datatype {tensor.datatype} has no typed contents")
    attr, dtype = _TYPED[tensor.datatype]
    return np.asarray(getattr(tensor.contents, attr), dtype=dtype).reshape(tuple(tensor.shape))


class OipClient:
    """One endpoint's client for one thread: the request built from a feed, the outputs decoded by position."""

    def __init__(self, endpoint: Endpoint, options: NetworkOptions, output_names: list[str]) -> None:
        self.endpoint = endpoint
        self.options = options
        self.output_names = output_names  # the served names, requested in this order
        if endpoint.protocol == "grpc":
            import tritonclient.grpc as client_lib
        else:
            import tritonclient.http as client_lib
        self.lib: Any = client_lib
        timeout = options.request_timeout_s
        if endpoint.protocol == "grpc":
            self.client: Any = client_lib.InferenceServerClient(endpoint.address)
        else:
            self.client = client_lib.InferenceServerClient(endpoint.address, connection_timeout=timeout,
                                                           network_timeout=timeout)
        self.binary = endpoint.protocol == "http" and options.server_profile == "triton"

    def metadata(self) -> dict[str, Any]:
        grpc = {"as_json": True, "client_timeout": self.options.request_timeout_s}  # a blackholed host must not hang
        md = self.client.get_model_metadata(self.options.model, **(grpc if self.endpoint.protocol == "grpc" else {}))
        return dict(md)

    def infer(self, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        inputs = []
        for name, arr in feed.items():
            arr = np.ascontiguousarray(arr)
            inp = self.lib.InferInput(name, list(arr.shape), _NP_TO_OIP[arr.dtype.name])
            if self.endpoint.protocol == "grpc":
                inp.set_data_from_numpy(arr)
            else:
                inp.set_data_from_numpy(arr, binary_data=self.binary)
            inputs.append(inp)
        if self.endpoint.protocol == "grpc":
            outputs = [self.lib.InferRequestedOutput(n) for n in self.output_names]
            result = self.client.infer(self.options.model, inputs, outputs=outputs,
                                       client_timeout=self.options.request_timeout_s)
            response = result.get_response()
            if not response.raw_output_contents:
                by_name = {t.name: _typed_contents(t) for t in response.outputs}
                return [by_name[n] for n in self.output_names]
        else:
            outputs = [self.lib.InferRequestedOutput(n, binary_data=self.binary) for n in self.output_names]
            headers = None if self.binary else {"Content-Type": "application/json"}
            result = self.client.infer(self.options.model, inputs, outputs=outputs, headers=headers)
        return [result.as_numpy(n) for n in self.output_names]

    def close(self) -> None:
        self.client.close()


class NetworkRunner(Runner):
    """Synchronous requests to the first endpoint: the warm-up, the estimates and the response layout."""

    kind = "network"

    def __init__(self, options: NetworkOptions, input_names: list[str], output_names: list[str],
                 served_outputs: list[str]) -> None:
        self.input_names, self.output_names = input_names, output_names
        self.served_outputs = served_outputs
        self.options = options
        self.client = OipClient(options.endpoints[0], options, served_outputs)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return dict(zip(self.output_names, self.client.infer(feed), strict=True))
        except Exception as e:  # noqa: BLE001 - a warm-up request that fails: one line naming the endpoint
            raise NetworkError(f"{self.client.endpoint.url}: model {self.options.model!r} did not answer: "
                               f"{type(e).__name__}: {' '.join(str(e).split())[:200]}") from None

    def describe(self) -> dict[str, object]:
        return {**super().describe(), **self.options.to_json(), "served_outputs": self.served_outputs}

    def close(self) -> None:
        self.client.close()


class NetworkSUT(BaseSUT):
    """The QDL (``lg.construct_qdl``): samples are queued by ``issue`` and sent by ``max_in_flight`` threads."""

    def __init__(self, backend: Backend, qsl: SampleLibrary, layout: ResponseLayout, options: NetworkOptions,
                 served_outputs: list[str]) -> None:
        self.backend, self.qsl, self.layout = backend, qsl, layout
        self.options = options
        self.served_outputs = served_outputs
        self.error: BaseException | None = None
        self._lat_lock = threading.Lock()
        self._latencies: list[np.ndarray] = []
        self.batches_run = self.samples_run = 0
        self.failed = 0  # every failed request since construction (all runs of a cell)
        self.failures: list[str] = []
        self._consecutive = 0
        self._dead = False
        self._queue: collections.deque[tuple[int, int, int]] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._rr = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"modelport-qdl-{i}", daemon=True)
                         for i in range(options.max_in_flight)]
        for t in self._threads:
            t.start()
        self.handle = lg.construct_qdl(self.issue, self.flush, self.name)

    def name(self) -> str:
        return f"network SUT: {self.options.model} at {', '.join(e.url for e in self.options.endpoints)}"

    def reset(self) -> None:
        super().reset()
        with self._cond:
            self._consecutive = 0
            self._dead = False

    def issue(self, ids: np.ndarray, indices: np.ndarray) -> None:
        t = time.perf_counter_ns()
        with self._cond:
            self._queue.extend((int(i), int(x), t) for i, x in zip(ids.tolist(), indices.tolist(), strict=True))
            self._cond.notify(len(ids))

    def _take(self) -> tuple[int, int, int] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            return self._queue.popleft() if self._queue else None

    def _work(self) -> None:
        clients: dict[int, OipClient] = {}
        try:
            while (item := self._take()) is not None:
                self._one(clients, *item)
        finally:
            for c in clients.values():
                c.close()

    def _one(self, clients: dict[int, OipClient], sample_id: int, index: int, issued: int) -> None:
        outputs = None
        if not self._dead:
            k = next(self._rr) % len(self.options.endpoints)
            try:
                if k not in clients:
                    clients[k] = OipClient(self.options.endpoints[k], self.options, self.served_outputs)
                arrays = clients[k].infer(self.qsl.sample(index))
                outputs = dict(zip(self.layout_names, arrays, strict=True))
                block = self.layout.encode(outputs, 1)
            except Exception as e:  # noqa: BLE001 - any failure is a failed sample, never a hang
                self._failed(self.options.endpoints[k].url, e)
                outputs = None
        ids = np.array([sample_id], dtype=np.uint64)
        ptrs, sizes = addresses(block) if outputs is not None else (np.zeros(1, np.uint64), np.zeros(1, np.uint64))
        try:
            lg.complete(ids, ptrs, sizes)
        except Exception as e:  # noqa: BLE001 - after an interrupted run LoadGen refuses ids of the ended test
            if self.error is None and not self._stopping:
                self.error = e
        if outputs is not None:
            with self._cond:
                self._consecutive = 0
        self._record(np.array([time.perf_counter_ns() - issued], dtype=np.int64))
        with self._cond:
            self.samples_run += 1
            self.batches_run += 1

    @property
    def layout_names(self) -> list[str]:
        return [f.name for f in self.layout.fields]

    def _failed(self, url: str, e: BaseException) -> None:
        text = f"{url}: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
        with self._cond:
            self.failed += 1
            self._consecutive += 1
            if len(self.failures) < KEEP_ERRORS:
                self.failures.append(text)
            if self._consecutive >= self.options.max_consecutive_failures and not self._dead:
                self._dead = True
                self.error = NetworkError(f"{self._consecutive} requests in a row failed; the served model "
                                          f"{self.options.model!r} is not answering (last: {text})")

    def batch_counts(self) -> dict[int, int] | None:
        return {1: self.samples_run}  # one request per sample, always

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()  # samples of a run that ended early (an interrupt or an error)
            self._cond.notify_all()
        for t in self._threads:
            t.join()
        lg.destroy_qdl(self.handle)
