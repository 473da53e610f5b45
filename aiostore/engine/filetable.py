"""The files the engine holds open, their journals, and how each is made whole or let go.

A file is opened on first use (recovered first if a dead writer left its journal), flushed at
the end of each batch, and closed when its service is done or the HDF5 thread idles. The
rule that keeps acknowledged stores safe: a journal is cleared or removed only once its file
provably holds everything it records, that is once the flush (or the close) reported no error
from libhdf5 (:mod:`.diagnostics`; PyTables does not check) and the file's ``fsync`` succeeded.

When a write fails (most often for want of space), the file is let go (:meth:`FileTable.fail`):
the stores journaled since the last acknowledgement are marked failed, the journal's ballast is
handed back so that HDF5 can close the file in one piece, HDF5 is made to forget the file, and
the journal's lock is released, so that the next use of the file recovers it (end mended,
journal replayed, or salvaged) once there is room. A failed flush is never retried on the same
handle: libhdf5 may have dropped data it held, and a retry then succeeds without it.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator

import tables

from .._core.requests import Target, WriteItems
from ..errors import AiostoreError, FileAccessError, InvalidArgumentError
from . import diagnostics, runs, space
from .durability import journal, recovery
from .files import OpenFile, fsync_path, open_file, open_memory_file

log = logging.getLogger("aiostore.engine")


class FileTable:
    """The open files by absolute name, and the journals of those open for writing."""

    def __init__(self) -> None:
        self._files: dict[str, OpenFile] = {}
        self._journals: dict[str, journal.Journal] = {}
        self._space = space.SpaceGuard()
        # files let go since the last flush: what was written to them unacknowledged is lost
        self._lost: dict[str, OSError] = {}
        # completed runs' rows written again (a run stored twice): changes in place, a live
        # writer's readers' kept rows are stale (aiostore._core.live.framecache)
        self.rewritten = 0

    def __iter__(self) -> Iterator[OpenFile]:
        return iter(list(self._files.values()))

    @property
    def names(self) -> list[str]:
        return list(self._files)

    # -- opening ------------------------------------------------------------------------------

    def get(self, target: Target, writable: bool) -> OpenFile:
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
        if unfinished is None:
            opened = self._files[filename] = open_file(filename, writable, target.file_title)
            return opened
        return self._recover(filename, unfinished, target.file_title)

    def _recover(self, filename: str, unfinished: list[journal.Entry], title: str) -> OpenFile:
        """Open ``filename`` for writing and make its dead writer's journaled stores again."""
        need = os.path.getsize(journal.journal_path(filename)) + space.HEADROOM_BYTES
        if space.free_bytes(os.path.dirname(filename)) < need:
            raise space.disk_full(errno.ENOSPC, filename, None,
                                  f"; recovering it (its last writer's journal holds stores "
                                  f"to make again) needs {need} bytes free")
        opened = self._files[filename] = open_file(filename, True, title)
        try:
            journal_ = self.journal(filename)  # locked first: nobody else replays it too
            try:
                recovery.replay(opened, unfinished)
            except recovery.FileDamagedError:
                recovery.forget(opened)
                self._files[filename] = opened = recovery.salvage(
                    filename, lambda: open_file(filename, True, title))
                recovery.replay(opened, unfinished)
            self._make_whole(opened, sync=True)
        except BaseException:
            self._let_go(filename)  # the journal stays for the next try
            raise
        journal_.checkpoint()
        return opened

    def journal(self, filename: str) -> journal.Journal:
        """The journal of ``filename``, opened (and locked) on first use."""
        journal_ = self._journals.get(filename)
        if journal_ is None:
            try:
                journal_ = self._journals[filename] = journal.Journal(filename)
            except AiostoreError:
                raise
            except OSError as exc:
                raise space.file_access(exc, filename, journal.journal_path(filename)) from None
        return journal_

    # -- space --------------------------------------------------------------------------------

    def claim(self, opened: OpenFile, request: WriteItems) -> None:
        """Refuse ``request`` (DiskFullError) before it starts if the disk has no room for it."""
        if opened.in_memory:
            return
        nbytes = sum(leaf.nbytes for leaf in request.all_leaves)
        overhead = space.overhead(len(request.leaves) + len(request.groups), len(request.runs))
        self._space.claim(opened.filename, nbytes, overhead, opened.h5.get_filesize(),
                          request.target.journal)

    def fail(self, opened: OpenFile, error: OSError, later: bool = False) -> None:
        """A write to ``opened`` failed (most often for want of space): let the file go.

        A flush that fails may drop data it held and a retry then succeeds without it
        (measured: a chunk of zeros in a store acknowledged after such a retry), so HDF5's
        handle is never trusted again: the stores since the last acknowledgement are marked
        failed in the journal, the journal's ballast handed back so that HDF5 can close the
        file in one piece, and the next opening replays the journal. ``later``: see
        :meth:`_let_go`."""
        filename = opened.filename
        log.error("%s could not be written (%s): it is closed, and recovered from its journal "
                  "when it is next opened", filename, error)
        self._space.forget(filename)
        self._let_go(filename, error, later)

    def refusal(self, filename: str) -> OSError | None:
        """The error that refuses stores to ``filename`` until the next flush (it was let go)."""
        return self._lost.get(filename)

    # -- flushing and closing -----------------------------------------------------------------

    def write_deferred(self, opened: OpenFile) -> None:
        """Write the run table rows queued for ``opened`` (:func:`~.runs.write_deferred`)."""
        if opened.deferred_rows:
            self.rewritten += runs.write_deferred(opened)

    def _make_whole(self, opened: OpenFile, sync: bool = False) -> None:
        """Hand what HDF5 holds of ``opened`` to the operating system (and to the disk, with
        ``sync``); raise if libhdf5 reports a failure (DiskFullError for want of space)."""
        with diagnostics.watching() as watch:
            self.write_deferred(opened)
            opened.flush()
        if watch.errno is not None:  # a write failed: PyTables does not check its flush
            raise _write_failure(opened.filename, watch)
        if sync and not opened.in_memory and opened.writable:
            fsync_path(opened.filename)

    def flush(self, checkpoint: bool = False) -> None:
        """Hand everything written so far to the operating system; clear the journals that
        are due (all of them with ``checkpoint``). Raises if a file could not be written."""
        for opened in list(self._files.values()):
            try:
                self._flush_one(opened, checkpoint)
            except OSError as exc:
                self.fail(opened, exc)
                raise
        lost, self._lost = self._lost, {}
        if lost:
            raise next(iter(lost.values()))

    def _flush_one(self, opened: OpenFile, checkpoint: bool) -> None:
        self._make_whole(opened)
        self._space.settled(opened.filename)
        journal_ = self._journals.get(opened.filename)
        if journal_ is None:
            return
        if checkpoint or journal_.due():
            fsync_path(opened.filename)  # the file holds it all, even after a power cut
            journal_.checkpoint()
        else:
            journal_.sync()

    def close(self, filename: str | None = None) -> None:
        """Close one file, or all of them; remove each journal once its file is whole."""
        names = [os.path.abspath(filename)] if filename else list(self._files)
        failure: BaseException | None = None
        for name in names:
            try:
                self._close_one(name)
            except BaseException as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _close_one(self, name: str) -> None:
        opened = self._files.get(name)
        journal_ = self._journals.get(name)
        if opened is not None:
            try:
                self._make_whole(opened)
            except OSError as exc:
                self.fail(opened, exc)
                raise
            with diagnostics.watching() as watch:
                try:
                    opened.close()
                finally:
                    self._files.pop(name, None)
            if watch.errno is not None:
                error = _write_failure(name, watch)
                self._let_go(name, error)
                raise error
        self._journals.pop(name, None)
        self._space.forget(name)
        if journal_ is not None:
            if os.path.exists(name):
                fsync_path(name)  # before the journal goes: the file holds it all
            journal_.close()

    def _let_go(self, name: str, error: OSError | None = None, later: bool = False) -> None:
        """Forget ``name`` without writing it again. With ``error`` (a write failed), the
        stores journaled since the last acknowledgement are marked failed: their callers must
        not hear they were written. With ``later`` too, the next flush raises ``error`` for
        them, and until then stores to the file are refused with it. The journal stays
        (unlocked) for the next opening to replay."""
        opened = self._files.pop(name, None)
        journal_ = self._journals.pop(name, None)
        if error is not None and later:
            self._lost.setdefault(name, error)
        if journal_ is not None and error is not None:
            try:
                journal_.fail_unsynced()
                journal_.release_ballast()  # room for HDF5 to close the file in one piece
            except OSError as exc:  # DiskFullError too
                log.error("marking the failed stores of %s in its journal failed: %s",
                          name, exc)
        if opened is not None:
            with diagnostics.watching():
                recovery.forget(opened)
        if journal_ is not None:
            journal_.abandon()

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


def _write_failure(filename: str, watch: diagnostics.Watch) -> OSError:
    number = watch.errno
    if number in space.SPACE_ERRNOS:
        return space.disk_full(number or errno.ENOSPC, filename, filename)
    detail = "; ".join(str(failure) for failure in watch.failures if failure.errno)
    return FileAccessError(number or errno.EIO, filename,
                           f"cannot write {filename!r}: HDF5 failed to write it ({detail})")
