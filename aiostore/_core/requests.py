"""Typed requests: what the engine is asked to do, as plain data.

A request is made in the caller's thread (from a message, an item and its arguments, see
:mod:`aiostore._core.planning`) and carries snapshots of the data: encoded values that share no memory
with the caller's objects. The engine executes requests; it never sees user items. What it
answers is in :mod:`aiostore._core.answers`.
Paths are tuples of names below the trajectory's group: ``("results", "runs", "run_00000003", "z")``.
"""

from __future__ import annotations

import datetime
import operator
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from ..codec import Encoded
from ..codec.pickling import pickled_by_fields
from ..codec.rows import PackedRow
from ..codec.trees import Node
from ..model import format_time
from .names import run_name

Path = tuple[str, ...]


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Target:
    """The file and trajectory a request works on, and how new chunked data is compressed.

    ``compression`` is a PyTables compression library and level, e.g. ``("blosc2:lz4", 5)``;
    None writes uncompressed, which is fastest. ``journal`` journals stores so that a crash
    loses none (see :mod:`aiostore.engine.durability.journal`). ``packed_runs`` stores runs'
    results as rows of one table per result name where they fit (see
    :mod:`aiostore.engine.packing`).
    ``in_memory`` holds the file in memory (HDF5's core driver) from its first use until it is
    closed, then writes it to ``filename`` if ``save_on_close``, else lets it go.
    """

    filename: str
    trajectory: str
    file_title: str = "Experiment"
    compression: tuple[str, int] | None = None
    packed_runs: bool = False
    journal: bool = True
    in_memory: bool = False
    save_on_close: bool = False


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class LeafRecord:
    """One leaf to write: its group, class name, comment and encoded values by key.

    ``replace_keys`` are keys rewritten if the file has them already, whatever the request's
    policy for existing data (pypet's ``overwrite=[...]``).
    """

    path: Path
    class_name: str
    comment: str
    values: Mapping[str, Encoded]
    replace_keys: frozenset[str] = frozenset()

    @property
    def nbytes(self) -> int:
        return sum(value.nbytes for value in self.values.values())


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class GroupRecord:
    """One group to create (or to comment, if it exists without a comment).

    ``class_name`` names the class of a group of the caller's own (pypet lets users subclass
    its groups); ``replace`` rewrites the comment and class name of a group that has them.
    """

    path: Path
    comment: str = ""
    class_name: str = ""
    replace: bool = False


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the run table."""

    idx: int
    completed: bool
    timestamp: float
    finish_timestamp: float
    parameter_summary: str = ""

    @property
    def name(self) -> str:
        return run_name(self.idx)

    @property
    def time(self) -> str:
        """When the run started, in pypet's format ('' before it did)."""
        return run_time(self.timestamp)

    @property
    def runtime(self) -> str:
        """How long the run took, as pypet writes it ('' until it completed)."""
        return run_runtime(self.completed, self.timestamp, self.finish_timestamp)


def run_time(timestamp: float) -> str:
    """A run's start in pypet's format ('' before it started)."""
    return format_time(timestamp) if timestamp else ""


def run_runtime(completed: bool, timestamp: float, finish: float) -> str:
    """How long a run took, as pypet writes it ('' until it completed)."""
    if not completed:
        return ""
    return str(datetime.timedelta(seconds=max(finish - timestamp, 0)))


class RunRecords(abc.Sequence[RunRecord]):
    """Many run records (a trajectory's, one per run) held as columns: a million
    :class:`RunRecord` objects took a second to make, and freeing them at once held the GIL
    (and the event loop waiting for it) for 50 ms. The engine writes them to the run table
    from the columns (:func:`aiostore.engine.runs.defer_rows`); the journal pickles the
    columns, each as one buffer. Read one at a time, they are records."""

    __slots__ = ("completed", "finish_timestamp", "idx", "summaries", "timestamp")

    def __init__(self, idx: Any, completed: Any, timestamp: Any, finish_timestamp: Any,
                 summaries: list[str]) -> None:
        self.idx = np.asarray(idx, dtype=np.int64)
        self.completed = np.asarray(completed, dtype=np.bool_)
        self.timestamp = np.asarray(timestamp, dtype=np.float64)
        self.finish_timestamp = np.asarray(finish_timestamp, dtype=np.float64)
        self.summaries = summaries
        if not len(self.idx) == len(self.completed) == len(self.timestamp) == len(
                self.finish_timestamp) == len(summaries):
            raise ValueError("run record columns of different lengths")

    @classmethod
    def of(cls, records: abc.Iterable[Any]) -> RunRecords:
        """``records`` (with a :class:`RunRecord`'s fields: records, a trajectory's
        ``RunInfo``) as columns."""
        if not isinstance(records, abc.Sequence):
            records = list(records)  # not a list's copy: one held the GIL 20 ms at a million
        return cls(_column(records, operator.attrgetter("idx"), np.int64),
                   _column(records, operator.attrgetter("completed"), np.bool_),
                   _column(records, operator.attrgetter("timestamp"), np.float64),
                   _column(records, operator.attrgetter("finish_timestamp"), np.float64),
                   [record.parameter_summary for record in records])

    def __len__(self) -> int:
        return len(self.summaries)

    @overload
    def __getitem__(self, index: int) -> RunRecord: ...

    @overload
    def __getitem__(self, index: slice) -> RunRecords: ...

    def __getitem__(self, index: int | slice) -> RunRecord | RunRecords:
        if isinstance(index, slice):
            return RunRecords(self.idx[index], self.completed[index], self.timestamp[index],
                              self.finish_timestamp[index], self.summaries[index])
        return RunRecord(int(self.idx[index]), bool(self.completed[index]),
                         float(self.timestamp[index]), float(self.finish_timestamp[index]),
                         self.summaries[index])

    def __iter__(self) -> abc.Iterator[RunRecord]:
        for start in range(0, len(self), _BLOCK):
            stop = start + _BLOCK
            yield from map(RunRecord, self.idx[start:stop].tolist(),
                           self.completed[start:stop].tolist(),
                           self.timestamp[start:stop].tolist(),
                           self.finish_timestamp[start:stop].tolist(), self.summaries[start:stop])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunRecords):
            return (self.summaries == other.summaries and all(
                np.array_equal(getattr(self, name), getattr(other, name))
                for name in ("idx", "completed", "timestamp", "finish_timestamp")))
        return isinstance(other, abc.Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RunRecords({len(self)} runs)"

    def __reduce__(self) -> tuple[Any, ...]:
        # the summaries as one string: each column pickles as one buffer
        return _run_records, (self.idx, self.completed, self.timestamp, self.finish_timestamp,
                              _column(self.summaries, len, np.int64), _joined(self.summaries))


def all_completed(runs: abc.Sequence[RunRecord]) -> bool:
    """Whether every run of ``runs`` is completed."""
    if isinstance(runs, RunRecords):
        return bool(runs.completed.all())
    return all(record.completed for record in runs)


def _column(records: abc.Sequence[Any], get: Callable[[Any], Any], dtype: Any) -> np.ndarray:
    """``get`` of every record as an array, got and converted a block at a time: numpy converts
    a list in one call that holds the GIL (25 ms for 500,000 numbers here, and an event loop
    waits as long), and so does ``list(map(get, records))`` (40 ms for a million records:
    unlike :func:`~aiostore.codec.arrays.array_in_blocks`, whose items are at hand)."""
    blocks = [np.array([get(record) for record in records[start:start + _BLOCK]], dtype=dtype)
              for start in range(0, len(records), _BLOCK)]
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=dtype)


_BLOCK = 8192


def _joined(texts: list[str]) -> str:
    """``"".join(texts)``, a block at a time: one join of a million summaries held the GIL for
    about 30 ms."""
    return "".join(["".join(texts[start:start + _BLOCK])
                    for start in range(0, len(texts), _BLOCK)])


def _run_records(idx: np.ndarray, completed: np.ndarray, timestamp: np.ndarray,
                 finish: np.ndarray, lengths: np.ndarray, summaries: str) -> RunRecords:
    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return RunRecords(idx, completed, timestamp, finish,
                      [summaries[first:last] for first, last in zip(starts, ends, strict=True)])


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class TrajectoryHeader:
    """What the trajectory's own group records: comment and creation time. A trajectory made
    with ``run_sets`` keeps its runs' groups in run sets (see :mod:`aiostore.engine.layout`);
    the pypet shim's do not (pypet's own names may hold ``run_set_XXXXX``)."""

    comment: str
    timestamp: float
    time: str
    run_sets: bool = True


# ------------------------------------------------------------------------------------ stores


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class WriteItems:
    """Write groups, leaves and run-table rows in one go; validated in full before any write.

    ``replace`` (UPDATE_LEAF) lets a leaf's existing keys be rewritten; ``skip_existing`` keeps
    them and writes only the new keys (pypet's ``STORE_DATA``); otherwise data already in the
    file makes the whole request fail. ``header`` creates the trajectory if it is missing;
    with ``new_trajectory`` a trajectory already in the file makes the request fail.
    ``rows`` are runs' results planned as packed rows (:mod:`aiostore._core.rowpacking`): leaves too,
    written as rows of their tables where they fit.
    """

    target: Target
    header: TrajectoryHeader | None = None
    groups: tuple[GroupRecord, ...] = ()
    leaves: tuple[LeafRecord, ...] = ()
    runs: abc.Sequence[RunRecord] = ()
    replace: bool = False
    skip_existing: bool = False
    new_trajectory: bool = False
    rows: tuple[PackedRow, ...] = ()

    @property
    def all_leaves(self) -> tuple[LeafRecord | PackedRow, ...]:
        """The leaves and the packed rows (a row reads as much as a leaf as checks need)."""
        return (*self.leaves, *self.rows)


def row_leaf(row: PackedRow) -> LeafRecord:
    """A packed row as the leaf record the general way makes of its result."""
    layout = row.layout
    return LeafRecord(row.path, layout.class_name, layout.comment, layout.encoded(row.row))


@dataclass(frozen=True, slots=True)
class RemoveItems:
    """Remove leaves or groups (REMOVE); ``delete_only`` removes only some keys of one leaf.

    ``missing_ok`` lets paths (or ``delete_only`` keys) that are not in the file pass; with
    ``keep_explored`` False an explored parameter may be removed (pypet re-stores a parameter
    whose range grew by removing it first).
    """

    target: Target
    paths: tuple[Path, ...]
    recursive: bool = False
    remove_empty_groups: bool = False
    delete_only: tuple[str, ...] | None = None
    missing_ok: bool = False
    keep_explored: bool = True


@dataclass(frozen=True, slots=True)
class RemoveIncompleteRuns:
    """Remove what incomplete runs left below ``results/runs`` and ``derived_parameters/runs``."""

    target: Target


@dataclass(frozen=True, slots=True)
class MergeTrajectories:
    """Copy (or move) the other trajectory's nodes into this one, renamed by ``rename``.

    ``rename`` maps the other's paths to paths here; when it is None the engine merges every
    run: runs of the other trajectory are appended to this one's run table and renamed to follow
    them, and explored parameters are extended.
    """

    target: Target
    other: str
    rename: Mapping[Path, Path] | None
    move_nodes: bool = False
    delete_trajectory: bool = False


@dataclass(frozen=True, slots=True)
class Backup:
    """Copy the trajectory into another file, which is written completely or not at all."""

    target: Target
    backup_filename: str


@dataclass(frozen=True, slots=True)
class AccessData:
    """One operation on a leaf's shared data: a node of the file that callers change in place
    (pypet's ``ACCESS_DATA``), by name, with arguments. See :mod:`aiostore.engine.shared`."""

    target: Target
    path: Path
    key: str
    operation: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sequence:
    """Several requests (LIST) executed in order within one call."""

    requests: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CloseFile:
    """Close a file once everything queued before this request is done (a service's close)."""

    filename: str


@dataclass(frozen=True, slots=True)
class PutObject:
    """Store one named object into the object cache whose main file is ``path``.

    ``tag`` is kept beside the object, for its owner (the colossus shim records the colossus
    version that computed it).
    """

    path: str
    name: str
    tree: Node
    tag: str = ""


# ------------------------------------------------------------------------------------- loads


@dataclass(frozen=True, slots=True)
class ReadLeaf:
    """Read one leaf; ``load_only`` names the keys to read (all if None)."""

    target: Target
    path: Path
    load_only: tuple[str, ...] | None = None
    load_except: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkeletonReads:
    """What a skeleton read (one without data) reads all the same: the leaves named in
    ``whole`` with all their values, and of other leaves the values whose keys start with one
    of ``key_prefixes`` (the pypet shim keeps links and annotations there)."""

    whole: frozenset[str] = frozenset()
    key_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadTree:
    """Read a node and (if ``recursive``) what lies below it; ``with_data`` False: skeleton only
    (but what ``skeleton`` says)."""

    target: Target
    path: Path
    recursive: bool = True
    with_data: bool = True
    max_depth: int | None = None
    skeleton: SkeletonReads = SkeletonReads()


@dataclass(frozen=True, slots=True)
class ReadTrajectory:
    """Read a trajectory: header, run table and the branches at the given load levels (a
    branch at level 1 as a skeleton, but what ``skeleton`` says)."""

    target: Target
    levels: Mapping[str, int] = field(default_factory=dict)
    skeleton: SkeletonReads = SkeletonReads()


@dataclass(frozen=True, slots=True)
class DescribeNodes:
    """Describe the node at ``path`` and (if ``recursive``) what lies below it, from the file's
    metadata only: no data is read. ``max_depth`` limits how far below ``path`` it goes."""

    target: Target
    path: Path = ()
    recursive: bool = True
    max_depth: int | None = None


@dataclass(frozen=True, slots=True)
class ReadFrameIndex:
    """What ``load_frame`` and ``load_dataset`` read before any result: the completed runs, the
    explored parameters' values and the keys of each result ``(branch, relative)``, named
    ``<branch>.runs.<run>.<relative>``; ``results`` None: every result below ``results.runs``
    that a completed run holds. A live writer's reader says what it holds already
    (:mod:`aiostore._core.live.framecache`): ``since``, every run below it completed but those
    of ``pending`` (sorted); ``known``, the explored parameters' names and lengths (see
    :class:`FrameIndex`); ``stamp``, that of its last answer (the writer reads the rows after
    ``since`` only up to the last one written after it; 0: to the end)."""

    target: Target
    results: tuple[tuple[str, Path], ...] | None
    since: int = 0
    known: tuple[tuple[str, int], ...] = ()
    pending: tuple[int, ...] = ()
    stamp: int = 0


@dataclass(frozen=True, slots=True)
class FramePart:
    """One result to read for :class:`ReadFrame`: its keys ``keys`` and the specs
    :class:`FrameIndex` found for them (the columns' types when no run chosen holds it).
    ``rows_from``: where to look first for the runs' rows in a packed table (after the rows of
    the runs a reader read before: :attr:`FrameColumns.rows`; a run not found from there is
    looked for in every row)."""

    branch: str
    relative: Path
    keys: tuple[str, ...]
    specs: Mapping[str, Any] = field(default_factory=dict)
    rows_from: int = 0


@dataclass(frozen=True, slots=True)
class ReadFrame:
    """Read the results ``parts`` of runs ``runs`` (a sorted int64 array of run indices) as
    columns: whole columns of a packed table at once, the runs' nodes otherwise. A run that
    does not hold a result has no row in its :class:`FrameColumns`."""

    target: Target
    runs: Any
    parts: tuple[FramePart, ...]


@dataclass(frozen=True, slots=True)
class TrajectoryLayout:
    """Who wrote a trajectory: ``"aiostore"``, ``"pypet"`` (pypet's own layout, read-only), or
    ``""`` if the file or the trajectory does not exist."""

    target: Target


@dataclass(frozen=True, slots=True)
class ForeignRead:
    """Let other code read a file on the HDF5 thread: the engine closes the file, then calls
    ``function(filename)`` there and answers what it returns. The pypet shim has pypet's own
    service read the trajectories pypet wrote this way: every HDF5 call of the process stays
    on the one thread."""

    filename: str
    function: Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class ListTrajectories:
    """The names of the trajectories in a file."""

    filename: str
    in_memory: bool = False


@dataclass(frozen=True, slots=True)
class ReadObjects:
    """Read every object of the object cache whose main file is ``path``.

    With ``allow_pickle`` False, objects that need unpickling are not loaded (their record says
    why): loading a pickle runs code chosen by whoever wrote the file.
    """

    path: str
    allow_pickle: bool = True


# Every request the engine executes, each by a handler of its own (the engine's table, which
# tests/engine/test_dispatch.py holds to this list).
Request = (WriteItems | RemoveItems | RemoveIncompleteRuns | MergeTrajectories | Backup
           | AccessData | Sequence | CloseFile | PutObject | ReadLeaf | ReadTree | ReadTrajectory
           | DescribeNodes | ReadFrameIndex | ReadFrame | TrajectoryLayout | ForeignRead
           | ListTrajectories | ReadObjects)
