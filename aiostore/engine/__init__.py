"""The engine: plain synchronous PyTables code that executes typed requests on HDF5 files.

It knows nothing of threads or event loops; it must be used from one thread at a time (the
HDF5 thread, in the service). Each request is atomic: it is checked in full against the file
before its first write, and a failure part-way takes back what it wrote.

Code above the engine uses it through this package only (``tests/test_package.py`` holds it to
that): the core runs :class:`Engine` on its HDF5 thread; the CLI writes its exports whole with
:func:`replacing` and words what the file system refused with :func:`file_access` and
:data:`SPACE_ERRNOS`, as the engine words its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import tables

from .._core.live.requests import (
    LiveRequest,
    ReadProgress,
    ServedAnswer,
    ServedRead,
    Unserved,
)
from .._core.requests import (
    AccessData,
    Backup,
    CloseFile,
    DescribeNodes,
    ForeignRead,
    ListTrajectories,
    MergeTrajectories,
    PutObject,
    ReadFrame,
    ReadFrameIndex,
    ReadLeaf,
    ReadObjects,
    ReadTrajectory,
    ReadTree,
    RemoveIncompleteRuns,
    RemoveItems,
    Request,
    Sequence,
    Target,
    TrajectoryLayout,
    WriteItems,
    all_completed,
)
from ..errors import DiskFullError, ItemExistsError
from . import (
    describing,
    diagnostics,
    frames,
    layout,
    merging,
    nodes,
    progress,
    reading,
    removal,
    shared,
    space,
    writing,
)
from .files import OpenFile, replacing
from .filetable import FileTable
from .objectcache import cache as objectcache
from .pypet import tree as pypettree
from .space import SPACE_ERRNOS, file_access
from .writing import adds_runs, joined

__all__ = ["SPACE_ERRNOS", "Engine", "adds_runs", "check_compression", "file_access", "joined",
           "replacing"]

_CHANGES_IN_PLACE = (RemoveItems, RemoveIncompleteRuns, MergeTrajectories, Sequence, AccessData)
# What only reads (a Sequence of these changes nothing: no checkpoint, nothing stale)
_READS = (ReadLeaf, ReadTree, ReadTrajectory, DescribeNodes, ReadFrameIndex, ReadFrame,
          ListTrajectories, TrajectoryLayout, ReadProgress)
_CHANGES_TRAJECTORY = (WriteItems, RemoveItems, RemoveIncompleteRuns, MergeTrajectories,
                       AccessData)


def check_compression(compression: tuple[str, int] | None) -> None:
    """:class:`~aiostore.errors.InvalidArgumentError` if PyTables has no such compression
    (library, level); checked by a service as it opens, before any job."""
    nodes.filters_for(compression)


class Engine:
    """Executes requests; keeps the files it touched open until :meth:`close`.

    Chunked data (CARRAY, tables) is compressed as each request's target says.
    """

    def __init__(self) -> None:
        diagnostics.install()
        self._files = FileTable()
        self._changes = 0  # requests that changed files in place (not adding to them)
        # (file, trajectory) known not to be pypet's while the file is open
        self._writable_trajectories: set[tuple[str, str]] = set()
        self._handlers: dict[type[Request | LiveRequest], Callable[[Any], Any]] = {
            WriteItems: self._write_items,
            RemoveItems: self._writer(removal.remove_items),
            AccessData: self._writer(shared.access),
            RemoveIncompleteRuns: self._writer(removal.remove_incomplete_runs),
            MergeTrajectories: self._merge,
            Backup: self._reader(merging.backup),
            ReadLeaf: self._reader(pypettree.either(reading.read_leaf, pypettree.read_leaf)),
            ReadTree: self._reader(pypettree.either(reading.read_tree, pypettree.read_tree)),
            ReadTrajectory: self._reader(pypettree.either(reading.read_trajectory,
                                                          pypettree.read_trajectory)),
            DescribeNodes: self._reader(pypettree.either(describing.describe_nodes,
                                                         pypettree.describe_nodes)),
            ReadFrameIndex: self._reader(pypettree.either(frames.frame_index,
                                                          frames.pypet_refused)),
            ReadFrame: self._reader(pypettree.either(frames.read_frame, frames.pypet_refused)),
            ListTrajectories: self._list_trajectories,
            ReadProgress: self._read_progress,
            ServedRead: self._served_read,
            TrajectoryLayout: self._trajectory_layout,
            ForeignRead: self._foreign_read,
            Sequence: self._sequence,
            CloseFile: lambda request: self.close(request.filename),
            # object caches open and close their own files: they are never changed in place
            PutObject: objectcache.put_object,
            ReadObjects: objectcache.read_objects,
        }

    # -- requests -----------------------------------------------------------------------------

    def execute(self, request: Request | LiveRequest) -> Any:
        """Execute one request and return its answer (None for most stores)."""
        try:
            handler = self._handlers[type(request)]
        except KeyError:
            raise TypeError(f"the engine has no handler for {type(request).__name__}") from None
        self._refuse_read_only(request)
        in_place = isinstance(request, _CHANGES_IN_PLACE) and not _reads_only(request)
        if in_place or (type(request) is WriteItems and _rewrites(request)):
            self._changes += 1  # what readers kept of the file may be stale (aiostore._core.live)
        if in_place:
            # a replay of the journal must never undo what it removes or moves: the files
            # are flushed and their journals cleared first
            self.flush(checkpoint=True)
        elif not isinstance(request, WriteItems):
            self._write_deferred()  # whatever else it does may read the run tables
        if not isinstance(request, WriteItems):
            for opened in self._files:
                opened.known_groups.clear()  # it may remove or move groups
        with diagnostics.watching() as watch:
            try:
                return handler(request)
            except ItemExistsError as exc:
                target = getattr(request, "target", None)
                if target is not None:
                    exc.locate(os.path.abspath(target.filename), target.trajectory)
                raise
            except tables.HDF5ExtError as exc:
                if watch.errno in space.SPACE_ERRNOS:
                    raise space.disk_full(watch.errno or 0, _filename(request)) from exc
                raise

    def _refuse_read_only(self, request: Any) -> None:
        """Raise before anything is written if the request would change a pypet trajectory."""
        if isinstance(request, Sequence):
            for part in request.requests:
                self._refuse_read_only(part)
            return
        if not isinstance(request, _CHANGES_TRAJECTORY):
            return
        filename = os.path.abspath(request.target.filename)
        names = [request.target.trajectory]
        if isinstance(request, MergeTrajectories):
            names.append(request.other)
        unknown = [name for name in names if (filename, name) not in self._writable_trajectories]
        if not unknown or not (request.target.in_memory or os.path.exists(filename)):
            return
        # opened as the request will open it: opening writes nothing (tested byte for byte)
        opened = self.file(request.target, writable=True)
        for name in unknown:
            pypettree.refuse_writes(opened, name)
            self._writable_trajectories.add((filename, name))

    @property
    def changes(self) -> int:
        """The changes in place of files so far: requests that removed, updated or merged, or
        wrote a run's row back to not completed, and completed runs' rows written again (what
        a live writer's readers kept of a file may be stale: :mod:`aiostore._core.live`)."""
        return self._changes + self._files.rewritten

    def _write_deferred(self) -> None:
        for opened in self._files:
            self._files.write_deferred(opened)

    def _writer(self, function: Callable[[OpenFile, Any], Any]) -> Callable[[Any], Any]:
        return lambda request: function(self.file(request.target, writable=True), request)

    def _reader(self, function: Callable[[OpenFile, Any], Any]) -> Callable[[Any], Any]:
        return lambda request: function(self.file(request.target, writable=False), request)

    def _write_items(self, request: WriteItems) -> None:
        filters = nodes.filters_for(request.target.compression)
        opened = self.file(request.target, writable=True)
        refusal = self._files.refusal(opened.filename)
        if refusal is not None:
            raise refusal  # an earlier store of this batch found the disk full
        self._files.claim(opened, request)
        journaled = request.target.journal and not opened.in_memory
        journal_ = self._files.journal(opened.filename) if journaled else None
        number = None
        if journal_ is not None:
            number = journal_.begin(request, writing.planned_creations(opened, request))
        try:
            with diagnostics.watching() as watch:
                writing.write_items(opened, request, filters)
        except BaseException as exc:
            if journal_ is not None and number is not None:
                journal_.failed(number)
            error = exc.errno if isinstance(exc, OSError) and exc.errno else watch.errno
            if error in space.SPACE_ERRNOS:
                assert error is not None
                failure = space.disk_full(error, opened.filename, opened.filename)
                self._files.fail(opened, failure, later=True)
                raise failure from exc
            raise

    def _merge(self, request: MergeTrajectories) -> None:
        opened = self.file(request.target, writable=True)
        plan = merging.plan_merge(opened, request)
        journal_ = self._files.journal(opened.filename) if request.target.journal else None
        if journal_ is not None:
            journal_.begin_merge(plan.marks(opened))
        try:
            merging.apply_merge(opened, plan, journal_.release_ballast if journal_ else None)
        except DiskFullError as exc:
            if journal_ is None:
                raise
            # taking back in place may have failed too: the journal's marks take the merge
            # back when the file is next opened
            self._files.fail(opened, exc)
            raise
        except BaseException:
            self.flush(checkpoint=True)  # taken back: no replay may meet it
            raise
        self.flush(checkpoint=True)  # done: no replay may meet it

    def _list_trajectories(self, request: ListTrajectories) -> list[str]:
        target = Target(request.filename, "", in_memory=request.in_memory)
        opened = self.file(target, writable=False)
        return sorted([*reading.list_trajectories(opened, request),
                       *pypettree.list_trajectories(opened)])

    def _trajectory_layout(self, request: TrajectoryLayout) -> str:
        if not (request.target.in_memory or os.path.exists(request.target.filename)):
            return ""
        opened = self.file(request.target, writable=False)
        group = layout.get_node(opened.h5, "/" + request.target.trajectory)
        if group is None:
            return ""
        return "pypet" if pypettree.is_pypet_trajectory(group) else "aiostore"

    def _foreign_read(self, request: ForeignRead) -> Any:
        self.close(request.filename)
        return request.function(request.filename)

    def _read_progress(self, request: ReadProgress) -> Any:
        name = os.path.abspath(request.target.filename)
        was_open = name in self._files.names
        try:
            return progress.read_progress(self.file(request.target, writable=False), request)
        finally:
            if not was_open:  # a reader polling must not keep its writer out
                self.close(name)

    def _served_read(self, request: ServedRead) -> Any:
        """Another process's read (:mod:`aiostore._core.live`), while this one writes its file."""
        if os.path.abspath(request.target.filename) not in self.written_files:
            return Unserved()  # closed meanwhile: not ours to open, the reader opens it
        return ServedAnswer(self.execute(request.request), self.changes)

    def _sequence(self, request: Sequence) -> list[Any]:
        return [self.execute(part) for part in request.requests]

    # -- files ------------------------------------------------------------------------------

    def file(self, target: Target, writable: bool) -> OpenFile:
        """The open file of ``target``, opened (or reopened for writing) as needed."""
        return self._files.get(target, writable)

    @property
    def open_files(self) -> list[str]:
        return self._files.names

    @property
    def written_files(self) -> list[str]:
        """The files on disk open for writing (their writer may serve reads of them)."""
        return [opened.filename for opened in self._files
                if opened.writable and not opened.in_memory]

    def flush(self, checkpoint: bool = False) -> None:
        """Hand everything written so far to the operating system; clear the journals that
        are due (all of them with ``checkpoint``)."""
        self._files.flush(checkpoint)

    def close(self, filename: str | None = None) -> None:
        """Close one file, or all of them."""
        if filename is None:
            self._writable_trajectories.clear()
        else:
            name = os.path.abspath(filename)
            self._writable_trajectories = {known for known in self._writable_trajectories
                                           if known[0] != name}
        self._files.close(filename)

    def abandon(self) -> None:
        """Forget every open file without closing it (in a forked child, where it is not ours)."""
        self._files.abandon()


def _reads_only(request: Any) -> bool:
    """Whether ``request`` is a Sequence of reads only (LIST loads: ``aiostore check``)."""
    return type(request) is Sequence and all(
        isinstance(part, _READS) or _reads_only(part) for part in request.requests)


def _rewrites(request: WriteItems) -> bool:
    """Whether a store may change what a reader read: it replaces, or it writes a run's row
    not completed (an index of completed runs kept by a reader relies on none going back)."""
    return request.replace or not all_completed(request.runs)


def _filename(request: Any) -> str:
    target = getattr(request, "target", None)
    return str(target.filename if target is not None else getattr(request, "filename", "?"))
