"""What every data set loader returns, and the checks they share (docs/decisions.md, "Data sets: the reference
layouts on disk").

A loader reads one MLPerf data set in the layout its reference implementation reads, applies the reference
preprocessing at the model's input shapes, and returns a ``DataSet``: the samples (one per LoadGen sample,
stacked on axis 0, keyed by input name, as ``bench --samples`` takes them) and ``score``, which turns the
responses of an accuracy run into the task metric and the line the reference accuracy script prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelport.errors import InputError
from modelport.spec import InputSpec

#: sample index -> output name -> that sample's output (batch axis dropped), as an accuracy run logs them
Responses = dict[int, dict[str, np.ndarray]]
#: told "imagenet: 1200/50000 images" now and then while a loader reads
Status = Callable[[str], None]


def quiet(_message: str) -> None:
    """The ``Status`` of a caller that shows no progress."""


def report_every(status: Status, what: str, done: int, total: int, every: int = 50) -> None:
    if done % every == 0 or done == total:
        status(f"{what} {done}/{total}")


@dataclass(frozen=True)
class Scored:
    """The task metric of one accuracy run: the reference script's line and its numbers."""

    line: str
    values: dict[str, float]


@dataclass(frozen=True)
class Streamed:
    """Samples preprocessed one at a time as ``rows()`` is walked, so a data set larger than memory is written
    to disk sample by sample (docs/decisions.md, "Data sets: streamed to disk, memory-mapped by the QSL")."""

    count: int
    layout: dict[str, tuple[tuple[int, ...], np.dtype]]  # input name -> (one sample's shape, batch 1), dtype
    rows: Callable[[], Iterator[dict[str, np.ndarray]]]  # each sample's arrays, in the data set's order


@dataclass
class DataSet:
    name: str  # imagenet, squad, kits19, librispeech, criteo
    path: Path
    samples: dict[str, np.ndarray] | Streamed  # input name -> (N, ...) for N samples of batch 1, or streamed
    score: Callable[[Responses], Scored]
    notes: list[str] = field(default_factory=list)  # what differs from the reference, said once

    @property
    def count(self) -> int:
        if isinstance(self.samples, Streamed):
            return self.samples.count
        return int(next(iter(self.samples.values())).shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """Every sample in memory, stacked (a streamed set is read whole: for small sets and tests)."""
        if not isinstance(self.samples, Streamed):
            return self.samples
        rows = list(self.samples.rows())
        return {name: stack([r[name] for r in rows], dtype) for name, (_, dtype) in self.samples.layout.items()}


def find_input(specs: Sequence[InputSpec], dataset: str, rank: int, want: str) -> InputSpec:
    """The model's one input of ``rank`` dimensions (batch included); refused with what the data set needs."""
    found = [s for s in specs if len(s.shape) == rank]
    if len(found) != 1:
        have = ", ".join(f"{s.name} {list(s.shape)}" for s in specs)
        raise InputError(f"--dataset {dataset} needs a model taking {want}; this one takes {have}",
                         f"use an MLPerf {dataset} model (modelport zoo)")
    return found[0]


def named_input(specs: Sequence[InputSpec], dataset: str, name: str, rank: int) -> InputSpec:
    for s in specs:
        if s.name == name and len(s.shape) == rank:
            return s
    have = ", ".join(f"{s.name} {list(s.shape)}" for s in specs)
    raise InputError(f"--dataset {dataset} needs an input {name!r} of {rank} dimensions; the model takes {have}",
                     f"use an MLPerf {dataset} model (modelport zoo)")


def required_file(folder: Path, name: str, dataset: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise InputError(f"--dataset {dataset}={folder}: {name} is missing",
                         "point at the folder the MLPerf reference reads (see the README's data sets)")
    return path


def stack(rows: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(rows, axis=0), dtype=dtype)


def first_output(outputs: dict[str, np.ndarray], name: str | None = None) -> np.ndarray:
    return outputs[name] if name and name in outputs else next(iter(outputs.values()))
