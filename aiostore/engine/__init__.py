"""The engine: plain synchronous PyTables code that executes typed requests on HDF5 files.

It knows nothing of threads or event loops; it must be used from one thread at a time (the
HDF5 thread, in the service). Each request is atomic: it is checked in full against the file
before its first write, and a failure part-way takes back what it wrote.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import tables

from ..errors import InvalidArgumentError
from ..requests import (
    AccessData,
    Backup,
    CloseFile,
    DescribeNodes,
    ForeignRead,
    ListTrajectories,
    MergeTrajectories,
    PutObject,
    ReadLeaf,
    ReadObjects,
    ReadTrajectory,
    ReadTree,
    RemoveIncompleteRuns,
    RemoveItems,
    Sequence,
    Target,
    TrajectoryLayout,
    WriteItems,
)
from . import (
    describing,
    journal,
    layout,
    merging,
    nodes,
    objectcache,
    pypettree,
    reading,
    recovery,
    removal,
    runs,
    shared,
    writing,
)
from .files import OpenFile, fsync_path, open_file, open_memory_file

__all__ = ["Engine"]

_CHANGES_IN_PLACE = (RemoveItems, RemoveIncompleteRuns, MergeTrajectories, Sequence, AccessData)
_CHANGES_TRAJECTORY = (WriteItems, RemoveItems, RemoveIncompleteRuns, MergeTrajectories,
                       AccessData)


class Engine:
    """Executes requests; keeps the files it touched open until :meth:`close`.

    Chunked data (CARRAY, tables) is compressed as each request's target says.
    """

    def __init__(self) -> None:
        self._files: dict[str, OpenFile] = {}
        self._journals: dict[str, journal.Journal] = {}  # of the files open for writing
        # (file, trajectory) known not to be pypet's while the file is open
        self._writable_trajectories: set[tuple[str, str]] = set()
        self._handlers: dict[type, Callable[[Any], Any]] = {
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
            ListTrajectories: self._list_trajectories,
            TrajectoryLayout: self._trajectory_layout,
            ForeignRead: self._foreign_read,
            Sequence: self._sequence,
            CloseFile: lambda request: self.close(request.filename),
            # object caches open and close their own files: they are never changed in place
            PutObject: objectcache.put_object,
            ReadObjects: objectcache.read_objects,
        }

    # -- requests -----------------------------------------------------------------------------

    def execute(self, request: Any) -> Any:
        """Execute one request and return its answer (None for most stores)."""
        try:
            handler = self._handlers[type(request)]
        except KeyError:
            raise TypeError(f"the engine has no handler for {type(request).__name__}") from None
        self._refuse_read_only(request)
        if isinstance(request, _CHANGES_IN_PLACE):
            # a replay of the journal must never undo what it removes or moves: the files
            # are flushed and their journals cleared first
            self.flush(checkpoint=True)
        elif not isinstance(request, WriteItems):
            self._write_deferred()  # whatever else it does may read the run tables
        if not isinstance(request, WriteItems):
            for opened in self._files.values():
                opened.known_groups.clear()  # it may remove or move groups
        return handler(request)

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

    def _write_deferred(self) -> None:
        for opened in self._files.values():
            if opened.deferred_rows:
                runs.write_deferred(opened)

    def _writer(self, function: Callable[[OpenFile, Any], Any]) -> Callable[[Any], Any]:
        return lambda request: function(self.file(request.target, writable=True), request)

    def _reader(self, function: Callable[[OpenFile, Any], Any]) -> Callable[[Any], Any]:
        return lambda request: function(self.file(request.target, writable=False), request)

    def _write_items(self, request: WriteItems) -> None:
        filters = nodes.filters_for(request.target.compression)
        opened = self.file(request.target, writable=True)
        if not request.target.journal:
            writing.write_items(opened, request, filters)
            return
        journal_ = self._journal(opened.filename)
        number = journal_.begin(request, writing.planned_creations(opened, request))
        try:
            writing.write_items(opened, request, filters)
        except BaseException:
            journal_.failed(number)
            raise

    def _merge(self, request: MergeTrajectories) -> None:
        opened = self.file(request.target, writable=True)
        plan = merging.plan_merge(opened, request)
        if request.target.journal:
            self._journal(opened.filename).begin_merge(plan.marks(opened))
        try:
            merging.apply_merge(opened, plan)
        finally:
            self.flush(checkpoint=True)  # done, or taken back: no replay may meet it

    def _journal(self, filename: str) -> journal.Journal:
        journal_ = self._journals.get(filename)
        if journal_ is None:
            journal_ = self._journals[filename] = journal.Journal(filename)
        return journal_

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

    def _sequence(self, request: Sequence) -> list[Any]:
        return [self.execute(part) for part in request.requests]

    # -- files --------------------------------------------------------------------------------

    def file(self, target: Target, writable: bool) -> OpenFile:
        """The open file of ``target``, opened (or reopened for writing) as needed."""
        filename = os.path.abspath(target.filename)
        opened = self._files.get(filename)
        if opened is not None and opened.in_memory != target.in_memory:
            where = "in memory" if opened.in_memory else "on disk"
            raise InvalidArgumentError(f"{filename!r} is open {where} by another service")
        if opened is not None and (opened.writable or not writable):
            return opened
        if opened is not None:
            self.close(filename)
        if target.in_memory:
            opened = self._files[filename] = open_memory_file(filename, target.file_title,
                                                             target.save_on_close)
            return opened
        unfinished = journal.unfinished(filename)
        if unfinished is not None:
            writable = True  # a dead writer's stores are made again first
        opened = self._files[filename] = open_file(filename, writable, target.file_title)
        if unfinished is not None:
            journal_ = self._journal(filename)  # locked first: nobody else replays it too
            try:
                recovery.replay(opened, unfinished)
            except recovery.FileDamagedError:
                recovery.forget(opened)
                opened = self._files[filename] = recovery.salvage(
                    filename, lambda: open_file(filename, True, target.file_title))
                recovery.replay(opened, unfinished)
            journal_.checkpoint()
        return opened

    @property
    def open_files(self) -> list[str]:
        return list(self._files)

    def flush(self, checkpoint: bool = False) -> None:
        """Hand everything written so far to the operating system; clear the journals that
        are due (all of them with ``checkpoint``)."""
        self._write_deferred()
        for opened in self._files.values():
            opened.flush()
            journal_ = self._journals.get(opened.filename)
            if journal_ is None:
                continue
            if checkpoint or journal_.due():
                fsync_path(opened.filename)  # the file holds it all, even after a power cut
                journal_.checkpoint()
            else:
                journal_.sync()

    def close(self, filename: str | None = None) -> None:
        """Close one file, or all of them."""
        names = [os.path.abspath(filename)] if filename else list(self._files)
        for name in names:
            opened = self._files.pop(name, None)
            journal_ = self._journals.pop(name, None)
            self._writable_trajectories = {known for known in self._writable_trajectories
                                           if known[0] != name}
            if opened is not None:
                try:
                    runs.write_deferred(opened)
                finally:
                    opened.close()
            if journal_ is not None:
                if os.path.exists(name):
                    fsync_path(name)  # before the journal goes: the file holds it all
                journal_.close()

    def abandon(self) -> None:
        """Forget every open file without closing it (in a forked child, where it is not ours).

        PyTables would otherwise close, and so write to, the parent's files at the child's exit.
        """
        for opened in self._files.values():
            tables.file._open_files.remove(opened.h5)
        self._files.clear()
        for journal_ in self._journals.values():
            journal_.abandon()
        self._journals.clear()
