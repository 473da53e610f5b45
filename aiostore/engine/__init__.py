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

from ..requests import (
    Backup,
    ListTrajectories,
    MergeTrajectories,
    ReadLeaf,
    ReadTrajectory,
    ReadTree,
    RemoveIncompleteRuns,
    RemoveItems,
    Sequence,
    Target,
    WriteItems,
)
from . import merging, reading, removal, writing
from .files import OpenFile, open_file

__all__ = ["Engine"]

_WRITES = (WriteItems, RemoveItems, RemoveIncompleteRuns, MergeTrajectories)


class Engine:
    """Executes requests; keeps the files it touched open until :meth:`close`.

    ``compression`` names a PyTables compression library for chunked data (CARRAY, tables), e.g.
    ``"blosc2:lz4"`` or ``"zlib"``; the default writes uncompressed, which is fastest.
    """

    def __init__(self, compression: str | None = None, compression_level: int = 5) -> None:
        self._files: dict[str, OpenFile] = {}
        self.filters = (
            tables.Filters(complevel=compression_level, complib=compression, shuffle=True)
            if compression else None
        )
        self._handlers: dict[type, Callable[[Any], Any]] = {
            WriteItems: self._write_items,
            RemoveItems: self._writer(removal.remove_items),
            RemoveIncompleteRuns: self._writer(removal.remove_incomplete_runs),
            MergeTrajectories: self._writer(merging.merge_trajectories),
            Backup: self._reader(merging.backup),
            ReadLeaf: self._reader(reading.read_leaf),
            ReadTree: self._reader(reading.read_tree),
            ReadTrajectory: self._reader(reading.read_trajectory),
            ListTrajectories: self._list_trajectories,
            Sequence: self._sequence,
        }

    # -- requests -----------------------------------------------------------------------------

    def execute(self, request: Any) -> Any:
        """Execute one request and return its answer (None for most stores)."""
        try:
            handler = self._handlers[type(request)]
        except KeyError:
            raise TypeError(f"the engine has no handler for {type(request).__name__}") from None
        return handler(request)

    def _writer(self, function: Callable[[OpenFile, Any], Any]) -> Callable[[Any], Any]:
        return lambda request: function(self.file(request.target, writable=True), request)

    def _reader(self, function: Callable[[OpenFile, Any], Any]) -> Callable[[Any], Any]:
        return lambda request: function(self.file(request.target, writable=False), request)

    def _write_items(self, request: WriteItems) -> None:
        writing.write_items(self.file(request.target, writable=True), request, self.filters)

    def _list_trajectories(self, request: ListTrajectories) -> list[str]:
        target = Target(request.filename, "")
        return reading.list_trajectories(self.file(target, writable=False), request)

    def _sequence(self, request: Sequence) -> list[Any]:
        return [self.execute(part) for part in request.requests]

    # -- files --------------------------------------------------------------------------------

    def file(self, target: Target, writable: bool) -> OpenFile:
        """The open file of ``target``, opened (or reopened for writing) as needed."""
        filename = os.path.abspath(target.filename)
        opened = self._files.get(filename)
        if opened is not None and (opened.writable or not writable):
            return opened
        if opened is not None:
            self.close(filename)
        opened = self._files[filename] = open_file(filename, writable, target.file_title)
        return opened

    @property
    def open_files(self) -> list[str]:
        return list(self._files)

    def flush(self) -> None:
        """Hand everything written so far to the operating system."""
        for opened in self._files.values():
            opened.flush()

    def close(self, filename: str | None = None) -> None:
        """Close one file, or all of them."""
        names = [os.path.abspath(filename)] if filename else list(self._files)
        for name in names:
            opened = self._files.pop(name, None)
            if opened is not None:
                opened.close()
