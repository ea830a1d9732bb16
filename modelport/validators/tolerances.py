"""Tolerances: defaults per dtype, the zoo model's own default, and the user's ``--atol``/``--rtol`` values
(docs/decisions.md, "Validation: tolerances").

Priority, highest first: the user's value for this output (``--atol logits:1e-3``), the user's value for every
output (``--atol 1e-4``), the model's default (``ZooEntry.atol``), the dtype's default. The last three apply to
floating-point outputs only: integer and bool outputs (indices, token ids, masks) have no rounding noise, so
they compare exactly unless the user names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelport.errors import InputError

if TYPE_CHECKING:  # the zoo imports torch; this module must stay light for `opsets convert`
    from modelport.zoo import ZooEntry

#: (atol, rtol) per dtype kind. fp32 matches Polygraphy's and Optimum's 1e-5.
DTYPE_DEFAULTS: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-7),
    "float32": (1e-5, 1e-5),
    "float16": (1e-3, 1e-3),
}
EXACT = (0.0, 0.0)


def dtype_default(dtype: np.dtype | str) -> tuple[float, float]:
    """(atol, rtol) for outputs of ``dtype`` when nobody chose one; exact for everything but floats."""
    return DTYPE_DEFAULTS.get(np.dtype(dtype).name, EXACT)


def parse_tolerances(values: tuple[str, ...] | list[str], flag: str) -> dict[str, float]:
    """Parse repeated ``--atol 1e-5`` / ``--atol NAME:1e-3`` into ``{"": 1e-5, "NAME": 1e-3}``."""
    out: dict[str, float] = {}
    for text in values:
        name, sep, number = text.rpartition(":")
        if not sep:
            name, number = "", text
        try:
            value = float(number)
        except ValueError:
            raise InputError(f"{flag} {text!r}: {number!r} is not a number",
                             f"use {flag} 1e-5 or {flag} OUTPUT:1e-3") from None
        if not math.isfinite(value) or value < 0:
            raise InputError(f"{flag} {text!r}: the tolerance must be a finite number >= 0")
        out[name] = value
    return out


@dataclass
class Tolerances:
    atol: dict[str, float] = field(default_factory=dict)  # "" = every floating-point output
    rtol: dict[str, float] = field(default_factory=dict)
    model_atol: float | None = None  # the zoo model's default, for float outputs
    model_name: str | None = None

    @classmethod
    def for_model(cls, entry: ZooEntry | None, atol: dict[str, float] | None = None,
                  rtol: dict[str, float] | None = None) -> Tolerances:
        """The user's values over the zoo entry's default (``entry`` None: any other source)."""
        return cls(dict(atol or {}), dict(rtol or {}), entry.atol if entry else None, entry.name if entry else None)

    def check_names(self, output_names: list[str]) -> None:
        """A tolerance for an output the model does not have is a typo the user must hear about."""
        for flag, table in (("--atol", self.atol), ("--rtol", self.rtol)):
            for name in table:
                if name and name not in output_names:
                    raise InputError(f"{flag} names output {name!r}, but the model's outputs are {output_names}")

    def for_output(self, name: str, dtype: np.dtype) -> tuple[float, float, str]:
        """(atol, rtol, where they came from) for one output of the given reference dtype."""
        atol, rtol = dtype_default(dtype)
        source = f"default for {np.dtype(dtype)}"
        is_float = np.issubdtype(np.dtype(dtype), np.floating)
        if is_float and self.model_atol is not None:
            atol, source = self.model_atol, f"zoo:{self.model_name} default"
        if is_float and ("" in self.atol or "" in self.rtol):
            atol, rtol = self.atol.get("", atol), self.rtol.get("", rtol)
            source = "user"
        if name in self.atol or name in self.rtol:
            atol, rtol = self.atol.get(name, atol), self.rtol.get(name, rtol)
            source = "user (per output)"
        return atol, rtol, source

    def to_json(self) -> dict[str, Any]:
        return {"user_atol": self.atol, "user_rtol": self.rtol, "model_atol": self.model_atol,
                "dtype_defaults": {k: {"atol": a, "rtol": r} for k, (a, r) in DTYPE_DEFAULTS.items()},
                "integers_and_bools": "exact unless named per output"}

