"""VectorQuerySample and VectorQuerySampleResponse: the typed sample lists of ``mlperf_loadgen``.

The official module binds them as C++ vectors (in 6.0.17 every method of them fails with a
RecursionError, so no harness can depend on more than the names and the list-like API). Here they
are Python lists that accept only their element type, so they also go wherever a list of samples or
responses goes: QuerySamplesComplete reads one exactly like a list, with no copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, SupportsIndex, TypeVar, overload

from modelport.loadgen._core import QuerySample, QuerySampleResponse

T = TypeVar("T")


class _TypedList(list[T], Generic[T]):
    """A list whose items must be instances of ``_item`` (checked on every way in)."""

    _item: ClassVar[type]

    def __init__(self, items: Iterable[T] = ()) -> None:
        super().__init__(self._checked(items))

    @classmethod
    def _check(cls, value: Any) -> T:
        if not isinstance(value, cls._item):
            raise TypeError(f"{cls.__name__} holds {cls._item.__name__} objects, not {type(value).__name__}")
        return value

    @classmethod
    def _checked(cls, items: Iterable[Any]) -> list[T]:
        return [cls._check(v) for v in items]

    def append(self, value: T) -> None:
        super().append(self._check(value))

    def extend(self, items: Iterable[T]) -> None:
        super().extend(self._checked(items))

    def insert(self, index: SupportsIndex, value: T) -> None:
        super().insert(index, self._check(value))

    @overload
    def __setitem__(self, index: SupportsIndex, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...
    def __setitem__(self, index, value):
        if isinstance(index, slice):
            super().__setitem__(index, self._checked(value))
        else:
            super().__setitem__(index, self._check(value))

    @overload
    def __getitem__(self, index: SupportsIndex) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> _TypedList[T]: ...
    def __getitem__(self, index):
        got = super().__getitem__(index)
        return type(self)(got) if isinstance(index, slice) else got

    def __iadd__(self, items: Iterable[T]) -> _TypedList[T]:  # type: ignore[override]
        self.extend(items)
        return self

    def __add__(self, items: Iterable[T]) -> _TypedList[T]:  # type: ignore[override]
        return type(self)([*self, *self._checked(items)])

    def copy(self) -> _TypedList[T]:
        return type(self)(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list.__repr__(self)})"


class VectorQuerySample(_TypedList[QuerySample]):
    """A list of QuerySample (``mlperf_loadgen.VectorQuerySample``)."""

    _item = QuerySample
    __module__ = "modelport.loadgen"


class VectorQuerySampleResponse(_TypedList[QuerySampleResponse]):
    """A list of QuerySampleResponse (``mlperf_loadgen.VectorQuerySampleResponse``); pass it to
    QuerySamplesComplete or FirstTokenComplete like any list of responses."""

    _item = QuerySampleResponse
    __module__ = "modelport.loadgen"
