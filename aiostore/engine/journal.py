"""The journal: each store made to a file since it was last known whole, replayed after a crash.

HDF5 changes a file in place, and a process killed while it writes leaves two kinds of damage
that the crash trials (tests/crashing.py) found: half-written items (a run's group made, its
result not yet), and, when the kill lands inside a flush, a group index torn so that runs
stored and acknowledged earlier drop out of it. The journal is a sidecar file,
``<file>.aiostore-journal``, to which the engine appends every store (the request, with its
data, and the nodes it is about to create) before making it. When a file is opened and its
journal holds records that nobody is writing (its writer holds a lock on it while it lives),
the engine replays them in order: it removes what each store was creating, whole or in part,
and makes the store again. Half-written items are thereby finished or taken away, and items
dropped from a torn index are written again.

The records of a batch are written to the disk (``fdatasync``) before the batch is
acknowledged, so that they survive a power cut too; the file itself is written to the disk
(``fsync``) before its journal is cleared or removed.

The journal is cleared (a *checkpoint*) once the file is flushed and the journal has grown
past :data:`WINDOW_BYTES` or :data:`WINDOW_SECONDS`, before any request other than a store
changes the file (a removal must never be undone by a replay), and when the file is closed.
A kill can therefore still lose stores acknowledged before the last checkpoint if a later
flush tears the index that holds them; the window bounds how far back that reaches.

A MERGE is journaled too, as marks of how the file was before it: a merge cut short by a
crash is taken back (:func:`~aiostore.engine.merging.take_back_merge`), and a checkpoint follows
every merge, so that a replay never meets a finished one.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock, so no way to tell a live journal from a stale one
    fcntl = None  # type: ignore[assignment]

from ..errors import FileLockedError
from ..requests import WriteItems
from .merging import MergeMarks

SUFFIX = ".aiostore-journal"
WINDOW_BYTES = 64 * 2**20
WINDOW_SECONDS = 10.0
# A record: this header, the length of each out-of-band buffer, the pickle, the buffers.
_HEADER = struct.Struct("<QII")  # pickle length, its crc32, number of buffers
_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled change: a store (the request, and the HDF5 paths it was to create), or a
    merge (the marks of how the file was before it)."""

    number: int
    request: WriteItems | MergeMarks
    creates: tuple[str, ...] = ()


def journal_path(filename: str) -> str:
    return filename + SUFFIX


class Journal:
    """The open journal of one file, locked while this process may write the file."""

    def __init__(self, filename: str) -> None:
        self.path = journal_path(filename)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._fd)
                raise FileLockedError(f"cannot write {filename!r}: another process is "
                                      f"writing it (it holds {self.path!r})") from None
        self._next = 0
        self._size = 0
        self._synced = True
        self._since = time.monotonic()

    def _append(self, record: tuple[Any, ...]) -> None:
        # Arrays travel out of band, written from where they are: no copy of the data.
        buffers: list[pickle.PickleBuffer] = []
        payload = pickle.dumps(record, protocol=5, buffer_callback=buffers.append)
        views = [buffer.raw() for buffer in buffers]
        head = _HEADER.pack(len(payload), zlib.crc32(payload), len(views)) + b"".join(
            _LENGTH.pack(view.nbytes) for view in views)
        # A kill leaves the record whole or torn at the end, and a torn tail is ignored.
        self._size += _write_all(self._fd, [head, payload, *views])
        self._synced = False

    def begin(self, request: WriteItems, creates: tuple[str, ...]) -> int:
        """Journal a store about to be made; returns its number (for :meth:`failed`)."""
        number = self._next
        self._next += 1
        self._append(("store", number, request, creates))
        return number

    def begin_merge(self, marks: MergeMarks) -> None:
        """Journal a merge about to be made (cleared by a checkpoint once it is done)."""
        self._append(("merge", self._next, marks, ()))
        self._next += 1

    def failed(self, number: int) -> None:
        """The store numbered ``number`` failed and took back its writes: never replay it."""
        self._append(("failed", number))

    def due(self) -> bool:
        """Whether the journal has grown enough to be cleared at the next flush."""
        return self._size > WINDOW_BYTES or time.monotonic() - self._since > WINDOW_SECONDS

    def sync(self) -> None:
        """Make the records written so far survive a power cut (before they are acknowledged)."""
        if not self._synced:
            os.fdatasync(self._fd)
            self._synced = True

    def checkpoint(self) -> None:
        """Forget every record: the file is flushed and holds all of them."""
        os.ftruncate(self._fd, 0)
        self._size = 0
        self._since = time.monotonic()

    def close(self) -> None:
        """Remove the journal: the file is closed and holds everything."""
        os.unlink(self.path)
        os.close(self._fd)

    def abandon(self) -> None:
        """Let the descriptor go without touching the journal (in a forked child)."""
        os.close(self._fd)


def _write_all(fd: int, parts: list[Any]) -> int:
    """Write ``parts`` one after another (writev takes at most IOV_MAX at once); their size."""
    pending = [view for part in parts if len(view := memoryview(part).cast("B"))]
    total = sum(len(view) for view in pending)
    while pending:
        done = os.writev(fd, pending[:512])
        while pending and done >= len(pending[0]):
            done -= len(pending.pop(0))
        if done:
            pending[0] = pending[0][done:]
    return total


def _records(data: bytes) -> Iterator[tuple[Any, ...]]:
    view = memoryview(data)
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc, count = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        if offset + count * _LENGTH.size > len(data):
            return
        sizes = [_LENGTH.unpack_from(data, offset + i * _LENGTH.size)[0] for i in range(count)]
        offset += count * _LENGTH.size
        payload = view[offset:offset + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return  # the torn tail of a killed writer: that store was never acknowledged
        offset += length
        buffers = []
        for size in sizes:
            buffers.append(view[offset:offset + size])
            offset += size
        if offset > len(data):
            return
        yield pickle.loads(payload, buffers=buffers)  # written by this engine, not by a user


def unfinished(filename: str) -> list[Entry] | None:
    """The stores a dead writer journaled for ``filename`` (None if there is no stale journal).

    A journal whose lock is held belongs to a live writer in another process: None. The
    journal of a file that no longer exists is removed (its stores went with the file).
    """
    path = journal_path(filename)
    if not os.path.exists(filename):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return None
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
    finally:
        os.close(fd)
    stores: dict[int, Entry] = {}
    for record in _records(data):
        if record[0] == "failed":
            stores.pop(record[1], None)
        else:
            stores[record[1]] = Entry(record[1], record[2], record[3])
    return [stores[number] for number in sorted(stores)]
