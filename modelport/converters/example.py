"""The example inputs an exporter sees (the data the checks feed comes from ``validators.inputs``)."""

from __future__ import annotations

from dataclasses import replace

import torch

from modelport.spec import InputSpec, make_inputs


def export_specs(specs: list[InputSpec]) -> list[InputSpec]:
    """Never export with a size-1 example on a dynamic axis: exporters specialise size 1 (docs/decisions.md,
    "Dynamic axes: example size 2")."""
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
