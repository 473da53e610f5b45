"""A reader's last answers of a live writer: the next read of the same result, of the same
index of runs, or of a trajectory's progress, asks the writer only for the runs completed
since.

A reader polling ``load_frame`` of a sweep asks for every run each time, and the writer would
read them all each time (its HDF5 thread's time, taken from the sweep). Instead the reader
keeps the last answer (:class:`~aiostore._core.answers.FrameColumns` per result) with the runs it
was asked for; when it is asked again for those runs and more, the writer reads only the new
ones (from the rows of the packed table the reader has not seen, ``FramePart.rows_from``) and
the reader joins the two. So with the index ``load_frame`` reads first
(:class:`~aiostore._core.answers.FrameIndex`: the completed runs and the explored parameters): the
reader says up to which run every run was completed (``since``; but the ``pending`` ones, if
few: runs that failed, or were still running) and which parameters it has, and the writer
reads those rows of the run table (after ``since`` only up to the last row it wrote since
the reader's last answer, whose ``stamp`` the reader sends: in a sweep the rows after the last
completed run are mostly of runs not started, written once with the trajectory), answers the
completed runs among them, and the parameters only if they grew. The writer's answers carry
a generation (its server's token, and the count of its changes in place: removals, updates,
merges, a run's row written back to not completed, a completed run's row written again); a
generation that differs from the kept one means the kept columns may be stale, and everything is read again.

``progress`` polls the same way (:func:`read_progress`): the reader keeps the run table's
three columns it needs (:class:`~.requests.ProgressRows`), asks for the rows since the last
run it knew completed and the pending ones, and of the rows after that only those up to the
last one the writer wrote since the reader's last answer (its ``stamp``: in a sweep the rows
after the last completed run are mostly of runs not started, which the reader has), and works
out the progress itself, as a read of every row would.
"""

from __future__ import annotations

import collections
import dataclasses
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..answers import FrameColumns, FrameIndex
from ..requests import ReadFrame, ReadFrameIndex
from .requests import ProgressRows, ReadProgress

__all__ = ["forget", "read", "read_index", "read_progress"]

KEPT = 8  # results and indexes kept (the most recently read)
MAX_CHUNKS = 16  # answers kept apart for a result before they are joined in one
MAX_PENDING = 256  # runs not completed below the last completed one that the writer rereads
_NONE = np.zeros(0, dtype=np.int64)

Ask = Callable[[Any], tuple[str, Any, Any]]
Key = tuple[str, str, bytes]


@dataclass
class _Kept:
    runs: np.ndarray  # the runs asked for
    parts: list[list[FrameColumns]]  # each result's answers, in run order (joined when asked)
    generation: Any


@dataclass
class _KeptWhole:
    answer: Any  # whole: a FrameIndex (every completed run, every parameter), ProgressRows
    generation: Any


_lock = threading.Lock()
_kept: collections.OrderedDict[Key, _Kept | _KeptWhole] = collections.OrderedDict()


def read(path: str, request: ReadFrame, ask: Ask) -> tuple[str, Any]:
    """The reply to ``request`` from the writer at ``path``, asking it as little as it can."""
    key = (path, request.target.trajectory, pickle.dumps(request.parts))
    with _lock:
        kept = _kept.get(key)
    if isinstance(kept, _Kept) and _within(kept.runs, request.runs):
        new = _difference(request.runs, kept.runs)
        parts = request.parts
        if len(parts) == len(kept.parts):  # each result's packed rows from where it read
            parts = tuple(dataclasses.replace(part, rows_from=chunks[-1].rows)
                          for part, chunks in zip(parts, kept.parts, strict=True))
        kind, answer, generation = ask(dataclasses.replace(request, runs=new, parts=parts))
        if kind != "answer":
            forget(path)
            return kind, answer
        joined = _joined(kept.parts, answer) if generation == kept.generation else None
        if joined is not None:
            return _keep(key, _Kept(request.runs, joined, generation))
    kind, answer, generation = ask(request)
    if kind != "answer":
        forget(path)
        return kind, answer
    return _keep(key, _Kept(request.runs, [[part] for part in answer], generation))


def read_index(path: str, request: ReadFrameIndex, ask: Ask) -> tuple[str, Any]:
    """The reply to ``request`` from the writer at ``path``: the runs completed since the
    index kept of it, joined to it."""
    def since(index: FrameIndex) -> ReadFrameIndex:
        known = tuple((name, len(column)) for name, column in index.parameters.items())
        since, pending = _since(index.runs)
        return dataclasses.replace(request, since=since, known=known, pending=pending,
                                   stamp=index.stamp)

    def joined(old: FrameIndex, new: FrameIndex, same: bool) -> FrameIndex | None:
        if not new.since and not new.same_parameters:  # whole, whatever was kept
            return new
        return _joined_index(old, new) if same else None

    key = (path, "\0index " + request.target.trajectory, pickle.dumps(request.results))
    kind, index = _read_whole(key, request, since, joined, ask, _index_arrays)
    if kind != "answer" or not _arrays(_index_arrays(index)):
        return kind, index  # not arrays all through: not kept
    return "answer", FrameIndex(index.runs.copy(), {name: column.copy() for name, column
                                                    in index.parameters.items()},
                                {name: dict(specs) for name, specs in index.results.items()})


def read_progress(path: str, request: ReadProgress, ask: Ask) -> tuple[str, Any]:
    """The reply to ``request`` from the writer at ``path``: the progress of the run table's
    rows kept of it, with those not completed and those after the last completed read
    again."""
    def since(rows: ProgressRows) -> ReadProgress:
        since, pending = _since(np.flatnonzero(rows.completed))
        return dataclasses.replace(request, since=since, pending=pending, stamp=rows.stamp,
                                   rows=True)

    key = (path, "\0progress " + request.target.trajectory, b"")
    kind, rows = _read_whole(key, dataclasses.replace(request, rows=True), since,
                             _joined_rows, ask, _rows_arrays)
    return (kind, rows.progress()) if kind == "answer" else (kind, rows)


def _read_whole(key: Key, request: Any, since: Callable[[Any], Any],
                joined: Callable[[Any, Any, bool], Any], ask: Ask,
                arrays: Callable[[Any], tuple[Any, ...]]) -> tuple[str, Any]:
    """The reply to ``request``, an answer whole; kept under ``key`` if ``arrays`` of it are
    numpy arrays. With one kept, the writer is asked ``since(kept)`` (what changed since) and
    ``joined(kept, new, same generation)`` makes the whole answer of it (None: it cannot, and
    ``request`` is asked)."""
    with _lock:
        kept = _kept.get(key)
    if isinstance(kept, _KeptWhole):
        kind, answer, generation = ask(since(kept.answer))
        if kind != "answer":
            forget(key[0])
            return kind, answer
        whole = joined(kept.answer, answer, generation == kept.generation)
        if whole is not None:
            return _keep_whole(key, _KeptWhole(whole, generation), arrays)
    kind, answer, generation = ask(request)
    if kind != "answer":
        forget(key[0])
        return kind, answer
    return _keep_whole(key, _KeptWhole(answer, generation), arrays)


def forget(path: str) -> None:
    """Drop what was kept of the writer at ``path`` (it went away, or refused)."""
    with _lock:
        for key in [key for key in _kept if key[0] == path]:
            del _kept[key]


def _keep(key: Key, kept: _Kept) -> tuple[str, Any]:
    if not all(isinstance(array, np.ndarray) for chunks in kept.parts for part in chunks
               for array in (part.runs, *(column for _, _, column in part.columns))):
        return "answer", [chunks[-1] for chunks in kept.parts]  # not arrays all through
    _store(key, kept)
    # the caller's own copy (one concatenation): what it does with its frame must not change
    # what is kept
    return "answer", [_concatenated(chunks) for chunks in kept.parts]


def _keep_whole(key: Key, kept: _KeptWhole, arrays: Callable[[Any], tuple[Any, ...]]
                ) -> tuple[str, Any]:
    if _arrays(arrays(kept.answer)):
        _store(key, kept)
    return "answer", kept.answer


def _arrays(values: tuple[Any, ...]) -> bool:
    return all(isinstance(value, np.ndarray) for value in values)


def _index_arrays(index: FrameIndex) -> tuple[Any, ...]:
    return index.runs, *index.parameters.values()


def _rows_arrays(rows: ProgressRows) -> tuple[Any, ...]:
    return rows.completed, rows.starts, rows.finishes


def _store(key: Key, kept: _Kept | _KeptWhole) -> None:
    with _lock:
        _kept[key] = kept
        _kept.move_to_end(key)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)


def _joined_index(old: FrameIndex, new: FrameIndex) -> FrameIndex:
    """The kept index ``old`` with what the writer answered since (``new``)."""
    runs = new.runs
    if new.since:
        kept = old.runs < new.since
        if new.until:  # the rows after it were not read: as they were
            kept |= old.runs >= new.until
        runs = _union(old.runs[kept], new.runs)
    return FrameIndex(runs, old.parameters if new.same_parameters else new.parameters,
                      new.results, stamp=new.stamp)


# Sets of runs by a mask over the run indices, where numpy's set operations sort them all
# (at every poll: a quarter of a polling reader's time).

def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The runs of ``a`` and of ``b``, sorted and distinct."""
    runs = np.zeros(max(_end(a), _end(b)), dtype=bool)
    runs[a] = True
    runs[b] = True
    return np.flatnonzero(runs)


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The runs of ``a`` not in ``b``, sorted and distinct."""
    runs = np.zeros(max(_end(a), _end(b)), dtype=bool)
    runs[a] = True
    runs[b] = False
    return np.flatnonzero(runs)


def _end(runs: np.ndarray) -> int:
    return int(runs.max()) + 1 if len(runs) else 0


def _joined_rows(old: ProgressRows, new: ProgressRows, same: bool) -> ProgressRows | None:
    """The kept rows ``old`` with those the writer answered since (``new``): its ``pending``
    rows in place, and the rows from ``since`` to ``until`` (the kept ones after those)."""
    if not new.since:  # whole, whatever was kept
        return new
    if not same or len(old.completed) < (new.total if new.until < new.total else new.since):
        return None
    pending = np.asarray(new.pending, dtype=np.int64)
    columns = []
    for before, after in zip(_rows_arrays(old), _rows_arrays(new), strict=True):
        column = np.concatenate([before[:new.since], after[len(pending):],
                                 before[new.until:new.total]])
        column[pending] = after[:len(pending)]
        columns.append(column)
    return dataclasses.replace(new, completed=columns[0], starts=columns[1],
                               finishes=columns[2], since=0, until=new.total, pending=_NONE)


def _since(runs: np.ndarray) -> tuple[int, tuple[int, ...]]:
    """What to ask the writer since, for an index of ``runs`` (completed; sorted, distinct):
    the run after the last, and the runs missing before it if they are few (runs that failed,
    or still run); else the first run missing, and none."""
    count = len(runs)
    if not count or int(runs[-1]) == count - 1:
        return count, ()
    end = int(runs[-1]) + 1
    if end - count <= MAX_PENDING:
        missing = _difference(np.arange(end, dtype=np.int64), runs)
        return end, tuple(missing.tolist())
    return int(np.flatnonzero(runs != np.arange(count))[0]), ()


def _within(old: np.ndarray, new: np.ndarray) -> bool:
    """Whether every run of ``old`` is in ``new`` (both sorted)."""
    if len(old) > len(new):
        return False
    where = np.searchsorted(new, old)
    return bool((where < len(new)).all() and (new[np.minimum(where, len(new) - 1)] == old).all())


def _joined(old: list[list[FrameColumns]], new: list[FrameColumns]
            ) -> list[list[FrameColumns]] | None:
    """Each result's kept answers and the new one, in run order; None if their columns do not
    line up (a column of one dtype in one, of objects in the other: read everything again)."""
    if len(old) != len(new):
        return None
    joined = []
    for chunks, after in zip(old, new, strict=True):
        part = _joined_part(chunks, after)
        if part is None:
            return None
        joined.append(part)
    return joined


def _joined_part(chunks: list[FrameColumns], new: FrameColumns) -> list[FrameColumns] | None:
    """The answers ``chunks`` of one result and ``new``: new at the end if its runs come after
    theirs (nothing copied: the caller's copy joins them all), else all joined and sorted."""
    if not len(new.runs):
        return [*chunks[:-1], FrameColumns(chunks[-1].runs, chunks[-1].columns, new.rows)]
    first = chunks[0]
    if [column[:2] for column in first.columns] != [column[:2] for column in new.columns]:
        return None
    if any(a.dtype != b.dtype or a.shape[1:] != b.shape[1:]
           for (_, _, a), (_, _, b) in zip(first.columns, new.columns, strict=True)):
        return None
    last = max((int(chunk.runs[-1]) for chunk in chunks if len(chunk.runs)), default=-1)
    if last < new.runs[0] and len(chunks) < MAX_CHUNKS:
        return [*chunks, new]
    whole = _concatenated([*chunks, new])
    if last < new.runs[0]:
        return [whole]
    order = np.argsort(whole.runs, kind="stable")
    return [FrameColumns(whole.runs[order], [(name, label, column[order])
                                             for name, label, column in whole.columns],
                         new.rows)]


def _concatenated(chunks: list[FrameColumns]) -> FrameColumns:
    """``chunks`` (answers of one result, in run order) as one, in new arrays."""
    columns = [(name, label, np.concatenate([chunk.columns[position][2] for chunk in chunks]))
               for position, (name, label, _) in enumerate(chunks[0].columns)]
    return FrameColumns(np.concatenate([chunk.runs for chunk in chunks]), columns,
                        chunks[-1].rows)
