"""A reader's last columns of each result read from a live writer: the next read of the same
result asks the writer only for the runs completed since.

A reader polling ``load_frame`` of a sweep asks for every run each time, and the writer would
read them all each time (its HDF5 thread's time, taken from the sweep). Instead the reader
keeps the last answer (:class:`~aiostore._core.answers.FrameColumns` per result) with the runs it
was asked for; when it is asked again for those runs and more, the writer reads only the new
ones and the reader joins the two. The writer's answers carry a generation (its server's
token, and the count of its changes in place: removals, updates, merges); a generation that
differs from the kept one means the kept columns may be stale, and everything is read again.
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

from ..answers import FrameColumns
from ..requests import ReadFrame

__all__ = ["forget", "read"]

KEPT = 4  # results kept (the most recently read)

Ask = Callable[[ReadFrame], tuple[str, Any, Any]]


@dataclass
class _Kept:
    runs: np.ndarray  # the runs asked for
    answer: list[FrameColumns]
    generation: Any


_lock = threading.Lock()
_kept: collections.OrderedDict[tuple[str, str, bytes], _Kept] = collections.OrderedDict()


def read(path: str, request: ReadFrame, ask: Ask) -> tuple[str, Any]:
    """The reply to ``request`` from the writer at ``path``, asking it as little as it can."""
    key = (path, request.target.trajectory, pickle.dumps(request.parts))
    with _lock:
        kept = _kept.get(key)
    if kept is not None and _within(kept.runs, request.runs):
        new = np.setdiff1d(request.runs, kept.runs, assume_unique=True)
        kind, answer, generation = ask(dataclasses.replace(request, runs=new))
        if kind != "answer":
            forget(path)
            return kind, answer
        merged = _merged(kept.answer, answer) if generation == kept.generation else None
        if merged is not None:
            return _keep(key, _Kept(request.runs, merged, generation))
    kind, answer, generation = ask(request)
    if kind != "answer":
        forget(path)
        return kind, answer
    return _keep(key, _Kept(request.runs, answer, generation))


def forget(path: str) -> None:
    """Drop what was kept of the writer at ``path`` (it went away, or refused)."""
    with _lock:
        for key in [key for key in _kept if key[0] == path]:
            del _kept[key]


def _keep(key: tuple[str, str, bytes], kept: _Kept) -> tuple[str, Any]:
    if not all(isinstance(array, np.ndarray) for part in kept.answer
               for array in (part.runs, *(column for _, _, column in part.columns))):
        return "answer", kept.answer  # not arrays all through: not kept
    with _lock:
        _kept[key] = kept
        _kept.move_to_end(key)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    # the caller's copy: what it does with its frame must not change what is kept
    return "answer", [FrameColumns(part.runs.copy(), [(name, label, column.copy())
                                                      for name, label, column in part.columns])
                      for part in kept.answer]


def _within(old: np.ndarray, new: np.ndarray) -> bool:
    """Whether every run of ``old`` is in ``new`` (both sorted)."""
    if len(old) > len(new):
        return False
    where = np.searchsorted(new, old)
    return bool((where < len(new)).all() and (new[np.minimum(where, len(new) - 1)] == old).all())


def _merged(old: list[FrameColumns], new: list[FrameColumns]) -> list[FrameColumns] | None:
    """``old`` and ``new`` joined in run order; None if their columns do not line up (a column
    of one dtype in one, of objects in the other: read everything again)."""
    if len(old) != len(new):
        return None
    merged = []
    for before, after in zip(old, new, strict=True):
        part = _merged_part(before, after)
        if part is None:
            return None
        merged.append(part)
    return merged


def _merged_part(old: FrameColumns, new: FrameColumns) -> FrameColumns | None:
    if not len(new.runs):
        return old
    if [column[:2] for column in old.columns] != [column[:2] for column in new.columns]:
        return None
    if any(a.dtype != b.dtype or a.shape[1:] != b.shape[1:]
           for (_, _, a), (_, _, b) in zip(old.columns, new.columns, strict=True)):
        return None
    runs = np.concatenate([old.runs, new.runs])
    in_order = not len(old.runs) or old.runs[-1] < new.runs[0]
    order = None if in_order else np.argsort(runs, kind="stable")
    columns = []
    for (name, label, before), (_, _, after) in zip(old.columns, new.columns, strict=True):
        joined = np.concatenate([before, after])
        columns.append((name, label, joined if order is None else joined[order]))
    return FrameColumns(runs if order is None else runs[order], columns)
