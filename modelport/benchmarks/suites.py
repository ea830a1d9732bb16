"""``--suite datacenter|edge``: the scenarios an MLPerf suite requires of a model."""

from __future__ import annotations

from modelport.benchmarks.scenarios import SCENARIOS
from modelport.errors import InputError

#: the scenarios of each MLPerf suite for a model outside the zoo's MLPerf family (the rules' general sets)
SUITE_SCENARIOS = {"datacenter": ("Server", "Offline"), "edge": ("SingleStream", "MultiStream", "Offline")}


def suite_scenarios(suite: str, source_spec: str | None) -> list[str]:
    """``--suite datacenter|edge``: the scenarios that suite requires of the model, in the canonical order.

    A zoo model of the MLPerf family gets its benchmark's own list (3d-unet has no Server, only resnet50 and
    retinanet-like detectors have MultiStream at the edge); any other model the suite's general set."""
    from modelport import zoo

    entry = zoo.entry_for_source(source_spec)
    names = entry.mlperf.scenarios(suite) if entry is not None and entry.mlperf is not None \
        else SUITE_SCENARIOS[suite]
    if not names:  # dlrm has no edge benchmark, ssd-mobilenet no datacenter one
        other = "edge" if suite == "datacenter" else "datacenter"
        raise InputError(f"{source_spec} has no {suite} scenarios in MLPerf", f"use --suite {other}")
    return [s for s in SCENARIOS if s in names]
