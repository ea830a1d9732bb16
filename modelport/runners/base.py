"""The runner interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunnerOptions:
    device: str = "cpu"  # "cpu" or "cuda"
    #: intra-op threads; None = the library default. Recorded in reports.
    threads: int | None = None
    inter_op_threads: int | None = 1
    #: allow code-executing pickle payloads inside a .pt2 artifact (the user's --trust-pickle)
    trust_pickle: bool = False
    #: onnxruntime graph optimisation level (disabled|basic|extended|all); None = the level the file records
    #: (``modelport.ort_graph_opt_level`` metadata, written by ``convert --optimize``), else all
    ort_graph_opt_level: str | None = None
    #: onnxruntime intra-op threads spin while waiting for work (its default); False on a busy machine, where the
    #: spinning threads slow everything else (docs/decisions.md, "Benchmarks: session settings per cell")
    ort_allow_spinning: bool = True
    #: onnxruntime's CPU memory arena (its default). Off for runs that only check outputs (convert's gate,
    #: validate): an arena keeps every block a call took, and with the memory pattern a second block per input
    #: shape, so a full-size 3D-UNet's session held 8 GB after two batch-3 calls (docs/decisions.md, "Zoo:
    #: 3D-UNet memory")
    ort_mem_arena: bool = True


class Runner(ABC):
    """Runs a model on a feed of numpy arrays. Subclasses set ``kind``, ``input_names``, ``output_names``."""

    kind: str = ""
    input_names: list[str]
    output_names: list[str]

    @abstractmethod
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch. ``feed`` holds every input by name; returns every output by name."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the session/module."""

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "inputs": self.input_names, "outputs": self.output_names}
