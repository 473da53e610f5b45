"""Opening HDF5 files: one pandas HDFStore per file, whose PyTables handle the engine uses.

pandas writes DataFrames only through its own HDFStore, and PyTables refuses a second writable
handle on a file, so the engine opens every file through an HDFStore and does everything else
through ``store._handle`` (pypet does the same).

Files are opened with ``pytables_sys_attrs=False``: PyTables then writes no CLASS/VERSION/TITLE
attributes on each node, which halves the cost of creating a node (measured in docs/FORMAT.md).
Plain PyTables, h5py and pandas read such files as any other HDF5 file.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import tables

from ..errors import DataNotFoundError, DiskFullError, FileFormatError, FileLockedError
from . import diagnostics, space
from .durability.repair import repair_end_of_file
from .written import WrittenRows

log = logging.getLogger("aiostore.engine")

TITLE_ATTR = "TITLE"


# -- what the engine keeps with an open file (OpenFile.caches), a key type per kind ----------------


@dataclass(frozen=True, slots=True)
class RunSetsKey:
    """The trajectory's group and its runs per run set (:func:`.layout.run_sets`)."""

    trajectory: str


@dataclass(frozen=True, slots=True)
class PackedRunsKey:
    """The trajectory's packed-run tables (:class:`.packing.PackedRuns`)."""

    trajectory: str


@dataclass(frozen=True, slots=True)
class PypetLayoutKey:
    """Whether pypet wrote the trajectory (:func:`.pypet.tree.either`)."""

    trajectory: str


@dataclass(frozen=True, slots=True)
class PypetReaderKey:
    """The reader of the data of the pypet trajectory at HDF5 path ``group``
    (:func:`.pypet.files.reader_for`)."""

    group: str


@dataclass(frozen=True, slots=True)
class PypetOverviewKey:
    """The rows of overview table ``table`` of the pypet trajectory at HDF5 path ``group``
    (:mod:`.pypet.overview`)."""

    group: str
    table: str


CacheKey = RunSetsKey | PackedRunsKey | PypetLayoutKey | PypetReaderKey | PypetOverviewKey


@dataclass
class OpenFile:
    """An open file: the pandas store (for frames) and its PyTables handle (for everything)."""

    filename: str
    store: pd.HDFStore
    writable: bool
    # Nodes used by many requests (run tables), held so PyTables does not evict and reopen them
    # from its node cache; a held node that was removed since is closed, and looked up again.
    held: dict[str, Any] = field(default_factory=dict)
    # Run-table rows stored since the file was last flushed, by table path: the table and its
    # runs.PendingRows (a trajectory's block, then records by run index). The engine writes
    # them in one go per table before the file is flushed, closed or used by any request but a
    # store (a row at a time cost a tenth of a run).
    deferred_rows: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # What the engine derived from the file and keeps while it is open (packed-run tables...),
    # by a key whose type says what it holds.
    caches: dict[CacheKey, Any] = field(default_factory=dict)
    # Plain groups (not leaves) by HDF5 path, so that stores need not look them up again, and
    # can tell a missing child from their children's names instead of a failed lookup (which
    # costs PyTables an exception); forgotten whenever anything but a store may have removed or
    # moved nodes.
    known_groups: dict[str, Any] = field(default_factory=dict)
    # When the run tables' rows were written since the file was opened (for live readers)
    written: WrittenRows = field(default_factory=WrittenRows)

    def known_group(self, where: str) -> Any | None:
        """The group at ``where`` if it is known (and still open), else None."""
        group = self.known_groups.get(where)
        if group is not None and not group._v_isopen:
            del self.known_groups[where]
            return None
        return group
    # Held in memory (HDF5's core driver): nothing reaches the disk, unless save_on_close.
    in_memory: bool = False
    save_on_close: bool = False

    def held_node(self, key: str, find: Callable[[], Any]) -> Any:
        node = self.held.get(key)
        if node is None or not node._v_isopen:
            node = find()
            if node is not None:
                self.held[key] = node
        return node

    @property
    def h5(self) -> tables.File:
        return self.store._handle

    def flush(self) -> None:
        # A file in memory has nothing to hand to the disk; its HDF5 caches are coherent.
        if self.writable and not self.in_memory:
            self.h5.flush()

    def close(self) -> None:
        self.held.clear()
        self.deferred_rows.clear()
        self.caches.clear()
        self.known_groups.clear()
        image = self._image() if self.save_on_close else None
        self.store.close()
        if image is not None:
            write_whole(self.filename, image)

    def _image(self) -> bytes:
        self.h5.flush()
        image: bytes = self.h5.get_file_image()
        return image


def _open_store(filename: str, mode: Literal["a", "r"], **driver: Any) -> pd.HDFStore:
    with diagnostics.watching() as watch:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", tables.NaturalNameWarning)
                return pd.HDFStore(filename, mode=mode, pytables_sys_attrs=False, **driver)
        except (tables.HDF5ExtError, OSError, ValueError) as exc:
            raise _opening_error(filename, exc, watch, writing=mode != "r") from exc


_TRUNCATED = re.compile(r"truncated file: eof = (?P<eof>\d+), sblock->base_addr = \d+, "
                        r"stored_eof = (?P<stored>\d+)")
# PyTables checks access itself and raises these without an errno
_ERRNO_OF: dict[type[Exception], int] = {FileNotFoundError: errno.ENOENT, NotADirectoryError: errno.ENOTDIR,
             IsADirectoryError: errno.EISDIR, PermissionError: errno.EACCES}


def _opening_error(filename: str, exc: Exception, watch: diagnostics.Watch,
                   writing: bool) -> Exception:
    number = watch.errno or getattr(exc, "errno", None) or _ERRNO_OF.get(type(exc))
    if "unable to lock file" in str(exc):
        if number in space.LOCK_ERRNOS:
            return space.locks_unsupported(OSError(number, os.strerror(number)), filename,
                                           filename)
        return FileLockedError(
            f"cannot open {filename!r}: another process has it open, and HDF5 locks an "
            "open file. Close it there first, or let one process own the file (the queue "
            "writers), or have every process use durability='close' under one lock "
            "(AsyncLockWrapper, LockWrapper)", filename)
    if number in space.SPACE_ERRNOS:
        return space.disk_full(number, filename)
    truncated = next((match for failure in watch.failures for text in failure.trace
                      if (match := _TRUNCATED.search(text))), None)
    if truncated is not None:
        return FileFormatError(
            f"{filename!r} is cut short: it ends at byte {truncated['eof']}, short of the "
            f"{truncated['stored']} its superblock records (a write ran out of space, or a copy "
            "was cut short). Opening it for writing extends it with zeros and recovers it from "
            "its journal if it has one; reading leaves it as it is")
    if number in space.ACCESS_ERRNOS:
        return space.file_access(number, filename, writing=writing)
    if os.path.exists(filename) and not is_hdf5(filename):
        return FileFormatError(f"{filename!r} is not an HDF5 file")
    return FileFormatError(f"cannot open {filename!r}: {exc}")


def open_file(filename: str, writable: bool, file_title: str = "Experiment") -> OpenFile:
    """Open ``filename``, creating it (with ``file_title``, and its folder) if it is missing and
    ``writable``."""
    exists = _usable(filename, writable)
    if exists:
        repair_end_of_file(filename, mend=writable)  # reading never changes a file
        if not is_hdf5(filename):
            raise FileFormatError(f"{filename!r} is not an HDF5 file")
    if writable and not exists:
        return _create_file(filename, file_title)
    return OpenFile(filename, _open_store(filename, "a" if writable else "r"), writable)


def _create_file(filename: str, file_title: str) -> OpenFile:
    """Create ``filename`` and its missing folders; a creation refused leaves none of them."""
    made = make_folder(filename)
    try:
        store = _open_store(filename, "a")
    except FileLockedError:
        raise  # another process created the file meanwhile and holds it: it is theirs
    except BaseException:
        _take_back(filename, made)
        raise
    opened = OpenFile(filename, store, True)
    opened.h5.root._v_attrs[TITLE_ATTR] = file_title
    return opened


def _take_back(filename: str, made: str | None) -> None:
    """Remove what a refused creation left: libhdf5 creates the file before it locks it (a file
    system without locks refuses only then), so an empty file; and the folders made for it, from
    the innermost up to ``made``, while they are empty."""
    try:
        if os.stat(filename).st_size == 0:
            os.remove(filename)
    except OSError:
        pass
    folder = os.path.dirname(os.path.abspath(filename))
    while made is not None:
        try:
            os.rmdir(folder)
        except OSError:
            return
        if folder == made:
            return
        folder = os.path.dirname(folder)


def _usable(filename: str, writable: bool) -> bool:
    """Whether ``filename`` exists, having made sure it can be opened as asked: a file that is
    missing (when reading), or cannot be opened, is refused here, in aiostore's words and before
    libhdf5 sees it (its refusals say "not an HDF5 file" of a file it could not even read)."""
    try:
        # opened for writing without O_TRUNC or O_CREAT: neither its bytes nor its times change
        descriptor = os.open(filename, os.O_RDWR if writable else os.O_RDONLY)
    except FileNotFoundError:
        if writable:
            return False
        raise DataNotFoundError(f"no such file {filename!r}: check the path (a store makes "
                                "the file; a load needs one)") from None
    except OSError as exc:
        raise space.file_access(exc, filename, writing=writable) from None
    try:
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):  # O_RDONLY opens a folder too
            raise space.file_access(errno.EISDIR, filename, writing=writable)
    finally:
        os.close(descriptor)
    return True


def open_memory_file(filename: str, file_title: str = "Experiment",
                     save_on_close: bool = False) -> OpenFile:
    """Hold ``filename`` in memory: its contents if it is an HDF5 file on disk, else a new file.

    Nothing is written to the disk while it is open; at its close it is written to
    ``filename`` (whole, or not at all) if ``save_on_close``, else it is gone.
    """
    exists = os.path.exists(filename) and _usable(filename, writable=False)
    if exists and not is_hdf5(filename):
        raise FileFormatError(f"{filename!r} is not an HDF5 file")
    store = _open_store(filename, "a", driver="H5FD_CORE", driver_core_backing_store=0)
    opened = OpenFile(filename, store, True, in_memory=True, save_on_close=save_on_close)
    if not exists:
        opened.h5.root._v_attrs[TITLE_ATTR] = file_title
    return opened


@contextmanager
def replacing(filename: str, partial: str | None = None,
              outcome: str | None = None) -> Iterator[str]:
    """A path beside ``filename`` to write its new contents to (``partial``, else one named for
    this process); on a clean exit it is synced and renamed over ``filename``, else removed. A
    process killed meanwhile leaves the old file or the new one, never a mix.

    A write that fails for want of space, whether Python saw it (an OSError) or only libhdf5
    did (PyTables ignores failed writes of raw data and of its flushes, see
    :mod:`.diagnostics`), raises DiskFullError naming ``filename``, once the partial file is
    removed; its message ends with ``outcome``, what the failure leaves as it was (by default:
    ``filename`` itself).
    """
    folder = os.path.dirname(os.path.abspath(filename))
    partial = partial or f"{filename}.partial-{os.getpid()}"
    existed = os.path.exists(filename)
    with diagnostics.watching() as watch:
        try:
            yield partial
            fsync_path(partial)
            _check_written(filename, partial, watch)
            os.replace(partial, filename)
        except BaseException as exc:
            written = _allocated_bytes(partial)
            with suppress(FileNotFoundError):
                os.remove(partial)
            number = _space_errno(exc, watch, (partial, filename))
            if number is None:
                raise
            if outcome is None:
                outcome = _left_as_it_was(existed)
            after = f" (after {_megabytes(written)} of it were written)" if written else ""
            raise space.disk_full(number, filename, detail=f"{after}; {outcome}") from exc
    fsync_path(folder)  # the rename itself reaches the disk


def _left_as_it_was(existed: bool) -> str:
    return "the file is left as it was" if existed else "nothing of it is left behind"


def _check_written(filename: str, partial: str, watch: diagnostics.Watch) -> None:
    """Raise if libhdf5 failed to write ``partial`` (for ``filename``) while nothing raised:
    PyTables closes files, and writes raw data, without checking."""
    number = _space_errno(None, watch, ())
    if number is not None:
        raise OSError(number, os.strerror(number), partial)
    if watch.errno is not None:
        raise FileFormatError(f"cannot write {filename!r}: {watch.failures[0]}")


def _space_errno(exc: BaseException | None, watch: diagnostics.Watch,
                 paths: tuple[str, ...]) -> int | None:
    """The errno that says ``exc`` (or a write libhdf5 saw fail) ran out of space, or None.
    A DiskFullError about a file other than ``paths`` is not ours to rename."""
    if isinstance(exc, DiskFullError):
        return exc.errno if exc.filename in paths else None
    if isinstance(exc, OSError) and exc.errno in space.SPACE_ERRNOS:
        return exc.errno
    if exc is None or isinstance(exc, Exception):  # not a KeyboardInterrupt
        return next((failure.errno for failure in watch.failures
                     if failure.errno in space.SPACE_ERRNOS), None)
    return None


def _allocated_bytes(path: str) -> int:
    try:
        return os.stat(path).st_blocks * 512
    except (OSError, AttributeError):  # gone, or Windows (no st_blocks)
        return 0


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / 1e6:.1f} MB"


def make_folder(filename: str) -> str | None:
    """Create the missing folders of ``filename`` (as pypet does: a sweep's output path often
    names a folder of its own), logged; the outermost folder made (None if none was missing).
    FileAccessError naming ``filename`` and the folder that could not be made if they cannot be."""
    folder = os.path.dirname(os.path.abspath(filename))
    if os.path.isdir(folder):
        return None
    outermost = folder
    while not os.path.lexists(os.path.dirname(outermost)):
        outermost = os.path.dirname(outermost)
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:  # the folder's own name is taken by a regular file
        raise space.file_access(errno.ENOTDIR, filename, folder) from None
    except OSError as exc:
        raise space.file_access(exc, filename, exc.filename or folder) from None
    log.info("created the folder %s for %s", folder, filename)
    return outermost


def write_whole(filename: str, data: bytes) -> None:
    """Replace ``filename`` by ``data``, whole or not at all (see :func:`replacing`)."""
    make_folder(filename)
    outcome = (f"{_left_as_it_was(os.path.exists(filename))}, and its new contents "
               f"({_megabytes(len(data))}) are not saved")
    with replacing(filename, outcome=outcome) as partial, open(partial, "wb") as written:
        written.write(data)


def is_hdf5(filename: str) -> bool:
    try:
        return bool(tables.is_hdf5_file(filename))
    except (tables.HDF5ExtError, OSError):
        return False


def fsync_path(path: str) -> None:
    """Write a file (or a folder's entries) to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
