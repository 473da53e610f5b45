"""Typed answers: what the engine gives back for a request, as plain data.

The engine answers a read with these (and with the records of :mod:`aiostore._core.requests`
it reads back, such as :class:`~aiostore._core.requests.RunRecord`); ``Job.finish``, in the
caller's thread, turns them into the call's answer (see :mod:`aiostore._core.restoring`).
``NodeInfo`` and ``KeyInfo`` are public (``aiostore.NodeInfo``): ``describe`` answers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..codec.trees import Node
from .requests import Path, RunRecord, TrajectoryHeader

__all__ = ["NODE_KINDS", "CacheContents", "FrameColumns", "FrameIndex", "KeyInfo", "NodeData",
           "NodeInfo", "ObjectRecord", "SharedNode", "TrajectoryData"]


@dataclass(frozen=True, slots=True)
class SharedNode:
    """What a leaf read holds for shared data: the kind of node (``ARRAY``, ``CARRAY``,
    ``EARRAY``, ``VLARRAY``, ``TABLE``, ``FRAME``), whose data is accessed in place."""

    flag: str



@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One object read from an object cache: its tree, or why it was not loaded."""

    name: str
    tree: Node | None
    tag: str = ""
    refused: str = ""


@dataclass(frozen=True, slots=True)
class CacheContents:
    """What :class:`ReadObjects` found, and the damaged files it skipped."""

    records: list[ObjectRecord]
    problems: list[str]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One value of a leaf as the file describes it (see :class:`NodeInfo`).

    ``flag`` is the storage flag (ARRAY, CARRAY, DICT, TABLE, FRAME, SERIES); ``type_name`` the
    codec's name of the value's type (``float``, ``int64``, ``list[int]``, ``ndarray``, ``dict``,
    ``DataFrame``...); ``shape`` the value's shape (``()`` for a scalar, ``(n,)`` for a list, a
    dict's number of keys, a table's rows and columns); ``dtype`` the numpy dtype of an array (as
    restored, else as stored; empty for tables and frames); ``nbytes`` its data's size in memory.
    """

    name: str
    flag: str
    type_name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int


NODE_KINDS = ("group", "parameter", "derived_parameter", "config", "result", "leaf")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A group or leaf of a trajectory, described from the file's metadata without its data.

    ``path`` is the item's full name split at the dots (``("results", "runs", "run_00000003",
    "z")``); ``kind`` one of :data:`NODE_KINDS` (a leaf's kind follows its branch: ``leaf`` outside
    the standard ones). ``explored_length`` is the length of an explored parameter's range (None
    otherwise); ``packed`` says the leaf is a row of a packed-runs table; ``problem`` says what
    could not be read of its metadata (empty when all was well).
    """

    path: Path
    kind: str
    class_name: str = ""
    comment: str = ""
    keys: tuple[KeyInfo, ...] = ()
    explored_length: int | None = None
    packed: bool = False
    problem: str = ""

    @property
    def full_name(self) -> str:
        return ".".join(self.path)

    @property
    def is_leaf(self) -> bool:
        return self.kind != "group"

    @property
    def nbytes(self) -> int:
        """The size of the leaf's data in memory (0 for a group)."""
        return sum(key.nbytes for key in self.keys)


@dataclass(slots=True)
class NodeData:
    """A node read from the file: a group (``values`` None) or a leaf (values, maybe skeleton)."""

    path: Path
    is_leaf: bool
    class_name: str = ""
    comment: str = ""
    values: dict[str, Any] | None = None


@dataclass(slots=True)
class TrajectoryData:
    """A trajectory read from the file."""

    name: str
    header: TrajectoryHeader
    runs: list[RunRecord]
    nodes: list[NodeData]


@dataclass(slots=True)
class FrameIndex:
    """What :class:`ReadFrameIndex` found: the completed runs (a sorted int64 array), each
    explored parameter's values by run index (named below ``parameters``, as numpy columns)
    and, by ``(branch, relative)``, each result's keys with their codec specs, in the order
    they were stored. Asked ``since`` a run (by a live writer's reader), ``runs`` holds only the
    completed runs from ``since`` on and those of the ``pending`` ones, and ``parameters`` is
    empty if ``same_parameters`` (the ones the reader knows are as they were), and ``until``
    (if not 0) is where the rows read after ``since`` ended: the runs after it are as the
    reader knew them. ``stamp``: the writer's latest write when this was read
    (:mod:`aiostore.engine.written`)."""

    runs: Any
    parameters: dict[str, Any]
    results: dict[tuple[str, Path], dict[str, Any]]
    since: int = 0
    same_parameters: bool = False
    until: int = 0
    stamp: int = 0


@dataclass(slots=True)
class FrameColumns:
    """What :class:`ReadFrame` read of one result: the runs that hold it (sorted) and, per key,
    its column (``label`` None) or, for a dict, a column per field (``label`` the field's
    name). A column is a numpy array with a row per run: 1-d for scalars (of their exact dtype)
    and for an object column of values; ``(runs, *shape)`` for arrays of one dtype and shape.
    ``rows``: the row of the result's packed table after the last one read (0 without one)."""

    runs: Any
    columns: list[tuple[str, str | None, Any]]
    rows: int = 0
