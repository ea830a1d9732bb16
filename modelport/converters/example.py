"""The example inputs an exporter sees, and the data the post-export checks feed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from modelport.spec import InputSpec, make_inputs


def export_specs(specs: list[InputSpec]) -> list[InputSpec]:
    """Never export with a size-1 example on a dynamic axis: exporters specialise size 1 (converters.md §4.11)."""
    out = []
    for s in specs:
        shape = list(s.shape)
        for axis in s.dynamic_axes:
            if shape[axis] == 1:
                shape[axis] = 2
        out.append(replace(s, shape=tuple(shape)))
    return out


def example_args(specs: list[InputSpec], seed: int) -> tuple[torch.Tensor, ...]:
    feed = make_inputs(specs, seed)
    return tuple(torch.from_numpy(feed[s.name]) for s in specs)


def dynamic_symbols(specs: list[InputSpec]) -> dict[str, dict[str, str]]:
    """input name -> {axis: symbol}, as the manifest records it."""
    return {s.name: {str(a): sym for a, sym in sorted(s.dynamic_axes.items())} for s in specs if s.dynamic_axes}


def other_shapes(specs: list[InputSpec]) -> list[tuple[str, dict[str, tuple[int, ...]]]]:
    """Shapes other than the example's, one set per kind of dynamic axis, for the check that dynamic axes really are.

    Batch: 1 and 8 (whichever differ from the example); other dynamic axes: a smaller size (a larger one could
    exceed a model limit such as BERT's position table).
    """
    out: list[tuple[str, dict[str, tuple[int, ...]]]] = []
    if any(s.batch_dynamic for s in specs):
        example_batch = next(s.shape[0] for s in specs if s.batch_dynamic)
        for b in (1, 8):
            if b != example_batch:
                shapes = {s.name: (b, *s.shape[1:]) for s in specs if s.batch_dynamic}
                out.append((f"batch {b}", shapes))
    others = {s.name: [a for a in s.dynamic_axes if a != 0] for s in specs}
    if any(others.values()):
        shapes = {}
        desc = []
        for s in specs:
            shape = list(s.shape)
            for a in others[s.name]:
                shape[a] = max(2, shape[a] // 2) if shape[a] > 2 else shape[a] + 1
                desc.append(f"{s.name}[{a}]={shape[a]}")
            shapes[s.name] = tuple(shape)
        out.append((", ".join(dict.fromkeys(desc)), shapes))
    return out


def feed_for(specs: list[InputSpec], seed: int, shapes: dict[str, tuple[int, ...]] | None = None,
             sign: int = 1) -> dict[str, np.ndarray]:
    return make_inputs(specs, seed, sign=sign, shapes=shapes)
