"""Benchmarks: every artifact of a run directory (and the eager model) in the four MLPerf scenarios.

The MLPerf reference-harness structure: a backend per framework (``backends``, wrapping ``modelport.runners``),
a query sample library (``qsl``), a SUT per scenario (``sut``), our LoadGen driving it (``lg``). ``suite``
runs the grid and writes ``results.json``; ``report`` and ``plots`` render it; ``regression`` compares it with
a baseline.
"""

from modelport.benchmarks.settings import PROFILES, SCENARIOS, get_profile, parse_scenarios
from modelport.benchmarks.suite import BenchOptions, run_bench

__all__ = ["PROFILES", "SCENARIOS", "BenchOptions", "get_profile", "parse_scenarios", "run_bench"]
