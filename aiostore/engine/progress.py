"""How far a trajectory's runs are, from its run table's columns (aiostore's and pypet's).

Three columns of the run table are read (whole rows, a block at a time: a row is ~345 bytes,
713 in older files), which costs about a millisecond per 2,000-3,000 runs. A live writer's
reader asks only for the rows it does not know (:mod:`aiostore._core.live.framecache`): the
few not completed before the last run it knew completed, and those after it up to the last
row written since its last answer (:mod:`.written`: in a sweep the rows after it are mostly
of runs not started, written once with the trajectory). The writer's HDF5 thread reads just
those (about the runs completed since), and the reader joins them to the rows it kept and
works out the progress itself."""

from __future__ import annotations

import time

import numpy as np

from .._core.live.requests import Progress, ProgressRows, ReadProgress
from . import nodes, runs
from .files import OpenFile
from .reading import trajectory_group
from .written import latest_stamp

__all__ = ["read_progress"]

COLUMNS = ("completed", "timestamp", "finish_timestamp")
_EMPTY = np.zeros(0, dtype=np.int64)


def read_progress(file: OpenFile, request: ReadProgress) -> Progress | ProgressRows:
    """The progress of ``request``'s trajectory, from its run table; its rows, if asked."""
    rows = _rows(file, request)
    return rows if request.rows else rows.progress()


def _rows(file: OpenFile, request: ReadProgress) -> ProgressRows:
    """The rows ``request`` asks for: those of ``pending`` and from row ``since`` on, up to the
    last one written after its ``stamp``, if the table has ``since`` rows; else every row
    (``since`` 0)."""
    table = runs.run_table(trajectory_group(file, request.target))
    trajectory, stamp = request.target.trajectory, latest_stamp()
    if table is None:
        return ProgressRows(trajectory, 0, np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0),
                            time.time(), pending=_EMPTY, stamp=stamp)
    total = table.nrows
    since = request.since if 0 < request.since <= total else 0
    until = total
    if since:
        end = file.written.until(table._v_pathname, since, request.stamp)
        until = total if end is None else min(end, total)
    pending = np.asarray(request.pending, dtype=np.int64) if since else _EMPTY
    pending = np.unique(pending[(pending >= 0) & (pending < since)])
    with nodes.damaged_data(table._v_pathname):
        columns = nodes.read_columns(table, COLUMNS, since, until)
        if len(pending):  # a few rows of their own (at most framecache.MAX_PENDING)
            rows = table.read_coordinates(pending)
            columns = [np.concatenate([rows[name], column])
                       for name, column in zip(COLUMNS, columns, strict=True)]
    completed, starts, finishes = columns
    return ProgressRows(trajectory, total, completed != 0, starts, finishes, time.time(),
                        since, until, pending, stamp)
