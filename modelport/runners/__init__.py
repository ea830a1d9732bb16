"""One runner per backend, shared by validators and benchmarks (docs/decisions.md, "One runner per backend").

A runner loads one artifact (or wraps the eager module) and runs a feed of numpy arrays keyed by input name,
returning numpy arrays keyed by output name. Nothing else in modelport loads an artifact.
"""

from modelport.runners.base import Runner, RunnerOptions
from modelport.runners.load import load_runner

__all__ = ["Runner", "RunnerOptions", "load_runner"]
