"""Reading JSON objects field by field, with the field's path in every error.

``results.json`` is read through dataclasses (``results``); each ``from_json`` pulls its fields through an
``Obj`` so a wrongly typed field (a metric that is a string, a cell that is a list) is one ``SchemaError``
naming it, e.g. ``cells.onnx.Offline.metrics.samples_per_second is a string, expected a number``, never a
``TypeError`` deep in the report or the regression check.
"""

from __future__ import annotations

from typing import Any

#: what a metric may hold: numbers, the validity string, flags such as perf_constraints_met, or null
MetricValue = float | int | str | bool | None


class SchemaError(ValueError):
    """A field of a JSON document is missing or has the wrong type; the message names the field."""


def kind(value: Any) -> str:
    """How JSON would call a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Obj:
    """A JSON object being read; every getter checks the type and returns ``default`` for a missing key."""

    def __init__(self, value: Any, where: str = "") -> None:
        if not isinstance(value, dict):
            raise SchemaError(f"{where or 'the document'} is {kind(value)}, expected an object")
        self.data: dict[str, Any] = value
        self.where = where

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, ok: bool, expected: str) -> Any:
        if not ok:
            raise SchemaError(f"{self.at(key)} is {kind(self.data[key])}, expected {expected}")
        return self.data[key]

    def number(self, key: str, default: float | None = None) -> float | None:
        v = self.data.get(key)
        if v is None:
            return default
        return self._get(key, is_number(v), "a number")

    def integer(self, key: str, default: int | None = None) -> int | None:
        v = self.data.get(key)
        if v is None:
            return default
        return self._get(key, isinstance(v, int) and not isinstance(v, bool), "an integer")

    def string(self, key: str, default: str | None = None) -> str | None:
        v = self.data.get(key)
        if v is None:
            return default
        return self._get(key, isinstance(v, str), "a string")

    def flag(self, key: str, default: bool | None = None) -> bool | None:
        v = self.data.get(key)
        if v is None:
            return default
        return self._get(key, isinstance(v, bool), "true or false")

    def obj(self, key: str) -> Obj | None:
        """A nested object to read further; None when absent or null."""
        v = self.data.get(key)
        return None if v is None else Obj(v, self.at(key))

    def mapping(self, key: str) -> dict[str, Any]:
        """A free-form nested object (settings, versions, ...), taken as it is; {} when absent."""
        v = self.data.get(key)
        if v is None:
            return {}
        return dict(self._get(key, isinstance(v, dict), "an object"))

    def items(self, key: str) -> list[Any]:
        v = self.data.get(key)
        if v is None:
            return []
        return list(self._get(key, isinstance(v, list), "a list"))

    def strings(self, key: str) -> list[str]:
        items = self.items(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise SchemaError(f"{self.at(key)}[{i}] is {kind(item)}, expected a string")
        return items

    def objects(self, key: str) -> list[Obj]:
        return [Obj(item, f"{self.at(key)}[{i}]") for i, item in enumerate(self.items(key))]

    def members(self) -> list[tuple[str, Obj]]:
        """Every member as an object (``cells``: backend -> scenario -> cell)."""
        return [(k, Obj(v, self.at(k))) for k, v in self.data.items()]

    def metrics(self, key: str) -> dict[str, MetricValue]:
        """An object of metric values (numbers, strings, flags or null), never lists or objects."""
        raw = self.obj(key)
        if raw is None:
            return {}
        for name, value in raw.data.items():
            if value is not None and not isinstance(value, (str, bool, int, float)):
                raise SchemaError(f"{raw.at(name)} is {kind(value)}, expected a number")
        return dict(raw.data)
