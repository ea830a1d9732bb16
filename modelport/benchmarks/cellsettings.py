"""``CellSettings``: everything one LoadGen run of a cell needs, in plain numbers (recorded in results.json).

Each scenario object (``scenarios``) fills in its own fields and turns them into LoadGen TestSettings fields;
this module only holds the data and the fields every scenario shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: the key of a cell's settings holding the session it ran under (backends.Backend.session: threads,
#: onnxruntime's graph level, spinning, memory arena), written by the bench after the cell's runs
SESSION_KEY = "session"
#: LoadGen stops a run whose SUT completes nothing for this long (at least; longer runs get 5x their duration)
MIN_COMPLETION_TIMEOUT_S = 120.0


@dataclass
class CellSettings:
    scenario: str
    mode: str  # PerformanceOnly | AccuracyOnly
    min_duration_ms: int
    min_query_count: int
    percentile: float | None = None
    expected_latency_ns: float | None = None  # SingleStream / MultiStream
    samples_per_query: int | None = None  # MultiStream
    offline_expected_qps: float | None = None
    server_target_qps: float | None = None
    server_latency_ns: int | None = None
    server_max_async_queries: int | None = None
    accuracy_samples: int | None = None
    seeds: dict[str, int] = field(default_factory=dict)
    user_conf: str | None = None
    conf_model: str = "*"
    compliance: str | None = None  # TEST01 | TEST04: the run applies that test's audit.config (compliance.py)

    def common_fields(self) -> dict[str, int | float]:
        """The TestSettings fields every scenario sets (the scenario object adds its own)."""
        fields: dict[str, int | float] = {"min_duration_ms": int(self.min_duration_ms),
                                          "min_query_count": int(self.min_query_count)}
        fields.update({key: int(value) for key, value in self.seeds.items()})
        if self.mode == "AccuracyOnly" and self.accuracy_samples:
            fields["accuracy_sample_count_override"] = int(self.accuracy_samples)
        # a SUT that stops answering ends the run with an error instead of hanging it
        fields["completion_timeout_s"] = float(max(MIN_COMPLETION_TIMEOUT_S, 5 * self.min_duration_ms / 1000))
        return fields

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


def same_session(old: Mapping[str, Any], new: Iterable[Mapping[str, Any]]) -> bool:
    """Whether an earlier cell's settings (``old``) were measured under the session every cell this bench ran
    for the same backend used (``new``; none when the backend did not run, and then its cells keep their own
    record). A cell under another onnxruntime level or thread setting is not the same settings for a partial
    re-bench (docs/decisions.md, "Benchmarks: session settings per cell")."""
    return all(settings.get(SESSION_KEY) == old.get(SESSION_KEY) for settings in new)
