"""The inputs every comparison runs on: one builder of seeded input sets with named profiles, the user's own
arrays from an ``.npz`` file, and the samples of the agreement gate.

``generated_sets(specs, seed, profile=...)`` is the only place that decides which inputs an artifact is
judged on (docs/decisions.md, "Validation: input sets that differ"). The full profile (``modelport validate``)
is, in order:

- ``example``: the example batch (seed);
- ``negated``: another seed, float inputs negated, so a branch traced on the example's side shows up;
- ``batch-N`` for each other batch size when axis 0 is dynamic: 1 and 2 x example + 1 (the smallest batch,
  and one larger and odd, which no reshape that folds the example batch survives), alternately negated;
- ``other-dims``: every dynamic non-batch axis (sequence length, image size) shrunk to about half.

The quick profile (the gate inside ``convert``, ``opsets convert``) keeps one set per way an export goes wrong:
``example``, ``negated``, the largest other batch, ``other-dims``. A set of either profile is the very same
arrays as the full profile's set of that name, so results computed under one serve the other (convert passes
its gate's results on to the full validation, which then runs only the rest).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelport.errors import InputError
from modelport.npzfile import read_npz
from modelport.spec import InputSpec, make_inputs

#: Seeds of the generated sets are offsets from the run's seed, so every set differs and is reproducible.
GATE_SEED_OFFSET = 1000
QUICK = "quick"
FULL = "full"
PROFILES = (QUICK, FULL)


@dataclass
class InputSet:
    name: str
    feed: dict[str, np.ndarray]
    seed: int | None  # None for the user's arrays
    sign: int
    batch: int | None  # axis 0 when every input has a batch axis of the same size
    source: str = "generated"  # generated | npz
    kind: str = "example"  # example | negated | batch | other-dims | user: what the set is there to expose
    quick: bool = False  # part of the quick profile

    @property
    def shapes(self) -> dict[str, list[int]]:
        return {k: [int(d) for d in v.shape] for k, v in self.feed.items()}

    @property
    def other_shapes(self) -> bool:
        """Generated at shapes other than the example's (a dynamic axis at another size)."""
        return self.kind in ("batch", "other-dims")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "seed": self.seed, "sign": self.sign,
                "batch": self.batch, "shapes": self.shapes,
                "dtypes": {k: v.dtype.name for k, v in self.feed.items()}}


def example_batch(specs: list[InputSpec]) -> int | None:
    dims = {s.shape[0] for s in specs if s.shape}
    return dims.pop() if len(dims) == 1 else None


def other_batch_sizes(specs: list[InputSpec]) -> list[int]:
    """For a dynamic batch axis: 1 and a size larger than the example's (2 x example + 1), both unlike it."""
    b = example_batch(specs)
    if b is None or not any(s.batch_dynamic for s in specs):
        return []
    return [n for n in (1, 2 * b + 1) if n != b]


def other_dims(specs: list[InputSpec]) -> dict[str, tuple[int, ...]]:
    """Shapes with every dynamic non-batch axis (sequence length, image size) shrunk to about half.

    Axes that share a symbol get the same size, so ``input_ids`` and ``attention_mask`` stay consistent.
    Shrinking, not growing, keeps sequence models inside their position-embedding table.
    """
    sizes: dict[str, int] = {}
    for s in specs:
        for axis, sym in s.dynamic_axes.items():
            if axis != 0:
                sizes.setdefault(sym, max(1, s.shape[axis] // 2))
    if not sizes:
        return {}
    shapes = {}
    for s in specs:
        shape = list(s.shape)
        for axis, sym in s.dynamic_axes.items():
            if axis != 0:
                shape[axis] = sizes[sym]
        shapes[s.name] = tuple(shape)
    return shapes


def generated_sets(specs: list[InputSpec], seed: int, batch_sizes: list[int] | None = None,
                   profile: str = FULL) -> list[InputSet]:
    """The seeded input sets of ``profile`` (see the module docstring), in order.

    ``batch_sizes`` replaces the automatic other batch sizes (it is ignored when the batch axis is static).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown input-set profile {profile!r}; known: {', '.join(PROFILES)}")
    b = example_batch(specs)
    sets = [InputSet("example", make_inputs(specs, seed), seed, 1, b, quick=True),
            InputSet("negated", make_inputs(specs, seed + 1, sign=-1), seed + 1, -1, b, kind="negated", quick=True)]
    others = other_batch_sizes(specs) if batch_sizes is None else [n for n in batch_sizes if n != b]
    if any(s.batch_dynamic for s in specs):
        largest = max(others, default=None)
        for i, n in enumerate(others):
            sign = 1 if i % 2 == 0 else -1
            sets.append(InputSet(f"batch-{n}", make_inputs(specs, seed + 2 + i, batch=n, sign=sign),
                                 seed + 2 + i, sign, n, kind="batch", quick=n == largest))
    shapes = other_dims(specs)
    if shapes:
        s = seed + 2 + len(others)
        sets.append(InputSet("other-dims", make_inputs(specs, s, shapes=shapes), s, 1, b, kind="other-dims",
                             quick=True))
    return sets if profile == FULL else [s for s in sets if s.quick]


def load_npz(path: str | Path, specs: list[InputSpec], flag: str = "--inputs") -> InputSet:
    """The user's arrays, keyed by input name; names, ranks, static dimensions and dtypes must fit the spec.
    ``flag`` names the option in messages."""
    p = Path(path)
    feed = read_npz(p, flag)
    expected = [s.name for s in specs]
    missing = [n for n in expected if n not in feed]
    extra = [n for n in feed if n not in expected]
    if missing or extra:
        raise InputError(f"{flag} {p.name}: arrays {sorted(feed)} do not match the model's inputs {expected}"
                         + (f" (missing {missing})" if missing else "") + (f" (unexpected {extra})" if extra else ""))
    batches = set()
    for s in specs:
        a = feed[s.name]
        if a.dtype != s.np_dtype:
            raise InputError(f"{flag} {p.name}: array {s.name!r} has dtype {a.dtype.name}, the input needs "
                             f"{s.dtype}", f"convert it with .astype(numpy.{s.dtype})")
        if a.ndim != len(s.shape):
            raise InputError(f"{flag} {p.name}: array {s.name!r} has shape {list(a.shape)}, the input needs "
                             f"{len(s.shape)} dimensions like [{_shape_text(s)}]")
        for axis, (got, want) in enumerate(zip(a.shape, s.shape, strict=True)):
            if axis not in s.dynamic_axes and got != want:
                raise InputError(f"{flag} {p.name}: array {s.name!r} has shape {list(a.shape)}, but axis {axis} "
                                 f"is static at {want} (expected shape [{_shape_text(s)}])")
        if a.ndim and a.shape[0] == 0:
            raise InputError(f"{flag} {p.name}: array {s.name!r} has no rows (shape {list(a.shape)})",
                             "give at least one sample")
        if a.ndim:
            batches.add(a.shape[0])
        feed[s.name] = np.ascontiguousarray(a)
    return InputSet("user", {n: feed[n] for n in expected}, None, 1, batches.pop() if len(batches) == 1 else None,
                    source="npz", kind="user")


def _shape_text(spec: InputSpec) -> str:
    """The spec's shape with each dynamic axis as its symbol (``N, 3, 16, 16``), not its example size."""
    return ", ".join(spec.dynamic_axes[i] if i in spec.dynamic_axes else str(d) for i, d in enumerate(spec.shape))


def gate_batches(specs: list[InputSpec], seed: int, samples: int) -> Iterator[dict[str, np.ndarray]]:
    """``samples`` seeded rows for the agreement gate, in batches: up to 16 rows when the batch axis is
    dynamic, else the example batch (the last batch is then trimmed after running)."""
    b = example_batch(specs) or 1
    dynamic = any(s.batch_dynamic for s in specs)
    step = min(16, samples) if dynamic else b
    done, i = 0, 0
    while done < samples:
        n = min(step, samples - done) if dynamic else step
        yield make_inputs(specs, seed + GATE_SEED_OFFSET + i, batch=n if dynamic else None)
        done += n
        i += 1
