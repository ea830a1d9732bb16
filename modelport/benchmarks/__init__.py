"""Benchmarks: every artifact of a run directory (and the eager model) in the four MLPerf scenarios.

The MLPerf reference-harness structure (docs/decisions.md, "Benchmarks: the MLPerf harness shape"): a backend
per framework (``backends``, wrapping ``modelport.runners``), a query sample library (``qsl``), a SUT per
scenario (``sut``), our LoadGen driving it through one facade (``lg``). Each scenario is one object
(``scenarios``) that the rest asks instead of comparing names. ``preflight`` checks every input before any
work, ``suite`` runs the grid of cells (``cells``, ``server_cell``), ``results``/``store`` read and write
``results.json``; ``report`` and ``plots`` render it; ``regression`` compares it with a baseline.
"""

from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.scenarios import SCENARIOS, parse_scenarios
from modelport.benchmarks.settings import PROFILES, get_profile
from modelport.benchmarks.suite import run_bench

__all__ = ["PROFILES", "SCENARIOS", "BenchOptions", "get_profile", "parse_scenarios", "run_bench"]
