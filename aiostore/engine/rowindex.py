"""Which row of a packed table holds which run.

A packed table gains a row per run; a dict from run index to row grew with it, and each of its
resizes (at 87,000, 175,000, 350,000, 700,000 runs...) rehashed every entry in one call that holds
the GIL: tens of milliseconds through which an event loop waited. :class:`RunRows` keeps a row
position per run index in a numpy array that grows by doubling (a copy of plain memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

__all__ = ["RunRows"]

_NONE = -1


class RunRows(Mapping[int, int]):
    """Run index -> row of the table, for the runs the table holds."""

    def __init__(self, column: Iterable[int] = ()) -> None:
        indices = np.asarray(list(column) if not isinstance(column, np.ndarray) else column,
                             dtype=np.int64)
        self._positions = np.full(max(int(indices.max()) + 1 if len(indices) else 0, 64), _NONE,
                                  dtype=np.int64)
        self._positions[indices] = np.arange(len(indices))
        self._count = int(np.count_nonzero(self._positions != _NONE))

    def __contains__(self, idx: object) -> bool:
        if not isinstance(idx, int | np.integer) or not 0 <= idx < len(self._positions):
            return False
        return bool(self._positions[idx] != _NONE)

    def __getitem__(self, idx: int) -> int:
        if idx not in self:
            raise KeyError(idx)
        return int(self._positions[idx])

    def __iter__(self) -> Iterator[int]:
        return iter(np.flatnonzero(self._positions != _NONE).tolist())

    def __len__(self) -> int:
        return self._count

    def items(self) -> list[tuple[int, int]]:  # type: ignore[override]
        """(run index, row) of every run held, by run index."""
        held = np.flatnonzero(self._positions != _NONE)
        return list(zip(held.tolist(), self._positions[held].tolist(), strict=True))

    def add(self, indices: list[int], first_row: int) -> None:
        """Runs ``indices`` are held in the rows from ``first_row`` on, in order."""
        if not indices:
            return
        wanted = max(indices) + 1
        if wanted > len(self._positions):
            grown = np.full(max(wanted, 2 * len(self._positions)), _NONE, dtype=np.int64)
            grown[:len(self._positions)] = self._positions
            self._positions = grown
        self._count += int(np.count_nonzero(self._positions[indices] == _NONE))
        self._positions[indices] = np.arange(first_row, first_row + len(indices))

    def keep_below(self, row: int) -> None:
        """Forget the runs held at ``row`` and after (the table was cut there)."""
        self._positions[self._positions >= row] = _NONE
        self._count = int(np.count_nonzero(self._positions != _NONE))
