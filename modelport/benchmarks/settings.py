"""Benchmark profiles (docs/decisions.md, "Benchmarks: profiles") and the user.conf check.

``submission`` uses the MLPerf rules of the built-in mlperf.conf (600 s per run, MultiStream 662 queries,
p90/p99/p99 target percentiles, the official RNG seeds). ``quick`` runs seconds per cell: good for demos and
for comparing artifacts on one machine, but shorter than MLPerf's minimums, so LoadGen reports cells whose
early-stopping or query-count checks fail as INVALID (the report says so). ``tiny`` is for tests.
Explicit options (``--duration-ms``, ...) override the profile; ``--user-conf`` is applied last, with
LoadGen's own parser. What each scenario sets in LoadGen's TestSettings is the scenario object's business
(``scenarios``); ``CellSettings`` (``cellsettings``) carries the numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from modelport import zoo
from modelport.benchmarks import lg
from modelport.benchmarks.cellsettings import CellSettings
from modelport.benchmarks.scenarios import OFFLINE, SCENARIOS, parse_scenarios
from modelport.errors import InputError
from modelport.zoo.mlperf import MLPERF

__all__ = ["MLPERF_SEEDS", "PROFILES", "SCENARIOS", "CellSettings", "Profile", "check_user_conf", "get_profile",
           "nice_ceiling", "parse_scenarios"]

#: The MLPerf RNG seeds of mlperf.conf (every submission uses them).
MLPERF_SEEDS = {"qsl_rng_seed": 2085463073848966840, "sample_index_rng_seed": 2747215439041700203,
                "schedule_rng_seed": 16159082839903944936}

#: LoadGen's built-in mlperf.conf (the same file both LoadGens were built with): the per-model rules are read
#: from it, not copied (docs/decisions.md, "Benchmarks: mlperf.conf's per-model values")
MLPERF_CONF = Path(__file__).resolve().parents[1] / "loadgen" / "mlperf.conf"


def read_conf(path: Path = MLPERF_CONF) -> dict[str, str]:
    """``model.scenario.key`` -> value of every line of a LoadGen conf file (``#`` starts a comment)."""
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.split("#", 1)[0].partition("=")
        if sep and key.strip() and value.strip():
            values[key.strip()] = value.strip()
    return values


def conf_value(conf: dict[str, str], model: str, scenario: str, key: str) -> str | None:
    """A key for one model and scenario as LoadGen's FromConfig looks it up: ``model.scenario``, then
    ``model.*``, then ``*.scenario``, then ``*.*``."""
    for m, s in ((model, scenario), (model, "*"), ("*", scenario), ("*", "*")):
        if f"{m}.{s}.{key}" in conf:
            return conf[f"{m}.{s}.{key}"]
    return None


def _server_bounds() -> dict[str, float]:
    """mlperf.conf's model-specific Server latency bounds (ms), by the model names it uses."""
    conf = read_conf()
    return {key.split(".")[0]: float(v) for key, v in conf.items()
            if key.endswith(".Server.target_latency") and not key.startswith("*.") and float(v) > 0}


#: the Server latency bound (ms) per MLPerf model name, for models whose zoo entry gives none
MLPERF_SERVER_LATENCY_MS = _server_bounds()


def performance_samples(model: str, conf: dict[str, str] | None = None) -> int:
    """mlperf.conf's performance sample count for an MLPerf model (0, as for 3d-unet, is the whole data set)."""
    value = conf_value(conf or read_conf(), model, OFFLINE.name, "performance_sample_count_override")
    return int(value or 0) or MLPERF[model].qsl_size


def mlperf_model_name(zoo_name: str | None) -> str | None:
    """The name mlperf.conf gives a zoo model's MLPerf benchmark (resnet50-small -> resnet50), or None."""
    if zoo_name is None or zoo_name not in zoo.names():
        return None
    keywords = zoo.get(zoo_name).mlperf
    return next((name for name, kw in MLPERF.items() if kw is keywords), None) if keywords else None


@dataclass(frozen=True)
class Profile:
    name: str
    duration_ms: dict[str, int]  # per scenario; for Server, per search trial
    min_query_count: dict[str, int]
    samples_per_query: int = 8  # MultiStream
    total_samples: int = 64  # QSL size (and performance sample count)
    accuracy_samples: int = 32  # AccuracyOnly issues samples [0, n)
    server_trials: int = 5  # at most this many Server runs in the QPS search
    percentiles: dict[str, float] = field(default_factory=lambda: {"SingleStream": 0.9, "MultiStream": 0.99,
                                                                   "Server": 0.99})
    #: Server search: a QPS passes when the latency percentile meets the bound (LoadGen's FindPeakPerformance
    #: rule); with ``search_requires_valid`` the whole result must also be VALID (duration, early stopping).
    search_requires_valid: bool = False
    #: Server trials are stretched to several latency bounds, but not beyond this (ms)
    server_trial_cap_ms: int = 10_000
    mlperf_seeds: bool = False
    mlperf_model_rules: bool = False  # apply mlperf.conf's per-model rules to MLPerf zoo models

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def for_model(self, zoo_name: str | None) -> Profile:
        """With ``mlperf_model_rules``: mlperf.conf's per-model Offline query count and performance sample
        count for a zoo model of an MLPerf benchmark (small configurations included)."""
        model = mlperf_model_name(zoo_name) if self.mlperf_model_rules else None
        if model is None:
            return self
        conf = read_conf()
        queries = dict(self.min_query_count)
        offline = conf_value(conf, model, OFFLINE.name, "min_query_count")
        if offline is not None:
            queries[OFFLINE.name] = int(offline)
        samples = performance_samples(model, conf)
        # accuracy over the whole library stays so (a --dataset's library can exceed the performance count)
        every = self.accuracy_samples >= self.total_samples
        accuracy = max(samples, self.accuracy_samples) if every else min(self.accuracy_samples, samples)
        return replace(self, min_query_count=queries, total_samples=samples, accuracy_samples=accuracy)


def _same(value: int) -> dict[str, int]:
    return {s: value for s in SCENARIOS}


PROFILES = {
    "tiny": Profile("tiny", _same(250), _same(1), samples_per_query=4, total_samples=16, accuracy_samples=8,
                    server_trials=3, server_trial_cap_ms=1000),
    "quick": Profile("quick", {"SingleStream": 1500, "MultiStream": 1500, "Offline": 1500, "Server": 2000},
                     _same(1), total_samples=64, accuracy_samples=16, server_trials=5),
    "submission": Profile("submission", _same(600_000),
                          {"SingleStream": 100, "MultiStream": 662, "Offline": 1, "Server": 100},
                          total_samples=1024, accuracy_samples=1024, server_trials=8, search_requires_valid=True,
                          mlperf_seeds=True, mlperf_model_rules=True),
}


def get_profile(name: str, duration_ms: int | None = None, min_query_count: int | None = None,
                samples_per_query: int | None = None, total_samples: int | None = None,
                accuracy_samples: int | None = None, server_trials: int | None = None) -> Profile:
    try:
        p = PROFILES[name]
    except KeyError:
        raise InputError(f"unknown profile {name!r}", f"use one of {', '.join(PROFILES)}") from None
    for flag, value in (("--duration-ms", duration_ms), ("--min-query-count", min_query_count),
                        ("--samples-per-query", samples_per_query), ("--total-samples", total_samples),
                        ("--accuracy-samples", accuracy_samples), ("--server-trials", server_trials)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be at least 1, got {value}")
    if duration_ms is not None:
        p = replace(p, duration_ms=_same(duration_ms))
    if min_query_count is not None:
        p = replace(p, min_query_count=_same(min_query_count))
    if samples_per_query is not None:
        p = replace(p, samples_per_query=samples_per_query)
    if total_samples is not None:
        p = replace(p, total_samples=total_samples)
    if accuracy_samples is not None:
        p = replace(p, accuracy_samples=accuracy_samples)
    if server_trials is not None:
        p = replace(p, server_trials=server_trials)
    if p.accuracy_samples > p.total_samples:
        p = replace(p, accuracy_samples=p.total_samples)
    return p


def nice_ceiling(x: float) -> float:
    """Round up to two significant digits (a latency bound a person can read)."""
    if x <= 0:
        return x
    mag = 10 ** math.floor(math.log10(x) - 1)
    return math.ceil(x / mag) * mag


def check_user_conf(path: str | None) -> str | None:
    """The absolute path of a user.conf that LoadGen's parser accepts (checked before any benchmark runs)."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--user-conf {path!r} does not exist")
    try:
        lg.check_conf(str(p.resolve()))
    except lg.ConfError as e:
        hint = "lines are 'model.Scenario.key = value' with spaces around '='; no trailing comments"
        raise InputError(f"--user-conf {path!r} could not be parsed (LoadGen returned {e.rc})", hint) from None
    return str(p.resolve())
