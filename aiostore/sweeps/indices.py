"""Run indices of a sweep's report, held in one buffer of 64-bit integers.

A million-run sweep's report names a million runs. As a tuple or a frozenset of Python ints,
making it and freeing it are single calls that touch every int, with the GIL held: freeing a
report of a million stored runs stopped the event loop for 24 ms here, and making it for 17 ms.
In one ``array`` buffer both cost a copy of 8 MB at most, and each index read back is an ``int``.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from array import array
from collections import abc
from typing import Any, SupportsIndex, overload

import numpy as np

__all__ = ["RunIndexSet", "RunIndices"]


def _buffer(indices: abc.Iterable[int]) -> array[int]:
    if isinstance(indices, array) and indices.typecode == "q":
        return indices
    if isinstance(indices, np.ndarray):  # no int made per index
        buffer = array("q")
        buffer.frombytes(indices.astype(np.int64, copy=False).tobytes())
        return buffer
    return array("q", indices)


class RunIndices(abc.Sequence[int]):
    """Run indices in the order they came (:attr:`SweepReport.stored`, in the order stored).

    A sequence of ints: it equals a tuple or list of the same indices in the same order.
    """

    __slots__ = ("_indices",)

    def __init__(self, indices: abc.Iterable[int] = ()) -> None:
        self._indices = _buffer(indices)

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> RunIndices: ...

    def __getitem__(self, index: int | slice) -> int | RunIndices:
        if isinstance(index, slice):
            return RunIndices(self._indices[index])
        return self._indices[index]

    def __iter__(self) -> abc.Iterator[int]:
        return iter(self._indices)

    def __contains__(self, index: object) -> bool:
        return index in self._indices

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunIndices):
            return self._indices == other._indices
        if isinstance(other, (tuple, list)):
            return self._indices.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunIndices({_shown(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return RunIndices, (self._indices,)


class RunIndexSet(abc.Set[int]):
    """A set of run indices, kept sorted (:attr:`SweepReport.already_completed`).

    A set of ints: it equals a ``set`` or ``frozenset`` of the same indices; ``in`` is a binary
    search.
    """

    __slots__ = ("_indices",)

    def __init__(self, indices: abc.Iterable[int] = ()) -> None:
        buffer = _buffer(indices)
        values = np.frombuffer(buffer, dtype=np.int64)
        if not np.all(values[1:] > values[:-1]):  # not strictly increasing
            buffer = _buffer(np.unique(values))
        self._indices = buffer

    @classmethod
    def sorted_unique(cls, indices: array[int]) -> RunIndexSet:
        """The set of ``indices``, known strictly increasing (not checked)."""
        made = cls.__new__(cls)
        made._indices = indices
        return made

    def __len__(self) -> int:
        return len(self._indices)

    def __iter__(self) -> abc.Iterator[int]:
        return iter(self._indices)

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, SupportsIndex):
            return False
        number = operator.index(index)  # numpy's ints too, as a frozenset finds them
        at = bisect.bisect_left(self._indices, number)
        return at < len(self._indices) and self._indices[at] == number

    __hash__ = abc.Set._hash

    def __repr__(self) -> str:
        return f"RunIndexSet({_shown(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return RunIndexSet.sorted_unique, (self._indices,)


def _shown(indices: abc.Collection[int]) -> str:
    if len(indices) <= 10:
        return repr(list(indices))
    head = ", ".join(map(str, itertools.islice(indices, 5)))
    return f"[{head}, ... {len(indices)} in all]"
