"""How far a trajectory's runs are, from its run table's columns (aiostore's and pypet's).

The run table is read once, a block of rows at a time, keeping three columns: its rows are
~345 bytes (713 in older files), so this costs about a millisecond per 2,000-3,000 runs, the
writer's HDF5 thread's time when a live writer answers (``aiostore watch`` spaces its polls
by that cost).
"""

from __future__ import annotations

import numpy as np

from .._core.live.requests import Progress, ReadProgress, progress_of
from . import runs
from .files import OpenFile
from .reading import trajectory_group

__all__ = ["read_progress"]

BLOCK_ROWS = 65_536
COLUMNS = ("completed", "timestamp", "finish_timestamp")


def read_progress(file: OpenFile, request: ReadProgress) -> Progress:
    """The progress of ``request``'s trajectory, from its run table."""
    table = runs.run_table(trajectory_group(file, request.target))
    rows = table.nrows if table is not None else 0
    completed, starts, finishes = np.zeros(rows, dtype=bool), np.zeros(rows), np.zeros(rows)
    for start in range(0, rows, BLOCK_ROWS):
        block = table.read(start, min(start + BLOCK_ROWS, rows))  # type: ignore[union-attr]
        for column, name in zip((completed, starts, finishes), COLUMNS, strict=True):
            column[start:start + len(block)] = block[name]
    return progress_of(request.target.trajectory, completed, starts, finishes)
