"""A re-bench of a served model keeps the earlier cells only when they were measured over the same transport:
``bench --sut-url grpc://...`` then ``bench --sut-url http://... --scenario Offline`` must not keep the gRPC
Server cell under the HTTP backend record (docs/decisions.md, "Benchmarks: never mix conditions")."""

from __future__ import annotations

from modelport.benchmarks.results import BenchResults, Cell
from modelport.benchmarks.store import carry_earlier_cells

BACKEND = "network-m"


def served(url: str, scenarios: tuple[str, ...], in_flight: int = 16, profile: str = "oip") -> BenchResults:
    net = {"endpoints": [url], "protocol": url.split(":")[0], "wire": "x", "model": "m", "max_in_flight": in_flight,
           "server_profile": profile, "request_timeout_s": 30.0, "max_consecutive_failures": 8,
           "served_outputs": ["y"], "failed_samples": {}}
    cells = {sc: Cell(validity="VALID", metrics={"samples_per_second": 1.0}) for sc in scenarios}
    return BenchResults(cells={"eager": {"Offline": Cell(validity="VALID")}, BACKEND: cells}, created="t0",
                        backends={"eager": {}, BACKEND: {"network": net}})


def carried(old: BenchResults, new: BenchResults) -> set[str]:
    carry_earlier_cells(old, new)
    return set(new.cells[BACKEND])


def test_served_cells_are_kept_only_over_the_same_transport():
    grpc = "grpc://127.0.0.1:9001"
    assert carried(served(grpc, ("Offline", "Server")), served(grpc, ("Offline",))) == {"Offline", "Server"}
    for new in (served("http://127.0.0.1:9002", ("Offline",)), served(grpc, ("Offline",), in_flight=4),
                served(grpc, ("Offline",), profile="triton"), served("grpc://127.0.0.1:9003", ("Offline",))):
        assert carried(served(grpc, ("Offline", "Server")), new) == {"Offline"}, new.backends


def test_in_process_cells_are_not_kept_under_a_served_backend():
    old = served("grpc://127.0.0.1:9001", ("Offline", "Server"))
    old.backends[BACKEND] = {}  # the same backend id measured in this process
    assert carried(old, served("grpc://127.0.0.1:9001", ("Offline",))) == {"Offline"}
