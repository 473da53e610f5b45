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
import dataclasses
import errno
import io
import os
import pickle
import socket
import struct
import time
import typing
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

try:
    import fcntl
except ImportError:  # Windows: no flock, so no way to tell a live journal from a stale one
    fcntl = None  # type: ignore[assignment]

from ..._core.requests import WriteItems
from ...codec.pickling import pickled_by_fields
from ...errors import AiostoreError, FileLockedError
from .. import space
from ..merging import MergeMarks

SUFFIX = ".aiostore-journal"
WINDOW_BYTES = 64 * 2**20
WINDOW_SECONDS = 10.0
# Room kept on the disk ahead of the records: for the marks of failed stores, and a ballast
# handed back to the file system when the file itself finds none (see Journal).
MARK_BYTES = 64 * 2**10
BALLAST_BYTES = 2 * 2**20
ROOM_STEP = 64 * 2**10
# Arrays smaller than this travel inside a record's pickle, bigger ones beside it (no copy).
IN_BAND_BYTES = 2**14
_NO_PREALLOCATION = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)
# A record: this header, the length (and crc32) of each out-of-band buffer, the pickle, the
# buffers. The buffers' crc32s (flagged in the count) tell a record torn inside the room kept
# ahead of the records, which reads as zeros, from a whole one.
_HEADER = struct.Struct("<QII")  # pickle length, its crc32, number of buffers | _CHECKED
_LENGTH = struct.Struct("<Q")
_CHECKED_LENGTH = struct.Struct("<QI")
_CHECKED = 0x8000_0000


# -- the records -------------------------------------------------------------------------------
#
# The journal holds four kinds of record, each pickled as its class and field values (the
# class's name is its tag). Journals written before the records were typed hold tuples tagged
# by a string instead; :func:`_typed` reads them as the records they stand for.


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class StoreRecord:
    """A store about to be made: its request, and the HDF5 paths it is to create."""

    number: int
    request: WriteItems
    creates: tuple[str, ...]


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class MergeRecord:
    """A merge about to be made: the marks of how the file was before it."""

    number: int
    marks: MergeMarks


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class FailedRecord:
    """The stores ``numbers`` failed: a replay takes them back and never makes them again."""

    numbers: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled change: a store (the request, and the HDF5 paths it was to create), or a
    merge (the marks of how the file was before it). A store that ``failed`` is only taken back
    by a replay, never made again: its caller was told it was not written."""

    number: int
    request: WriteItems | MergeMarks
    creates: tuple[str, ...] = ()
    failed: bool = False


def journal_path(filename: str) -> str:
    return filename + SUFFIX


class Journal:
    """The open journal of one file, locked while this process may write the file.

    The journal keeps room on the disk ahead of its records (``posix_fallocate``): a store
    whose record finds no room is refused before anything is written (``DiskFullError``), the
    marks of failed stores always fit, and the last :data:`BALLAST_BYTES` are given back
    (:meth:`release_ballast`) when the file itself runs out of space, so that HDF5 can finish
    writing what it holds and close the file whole.
    """

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.path = journal_path(filename)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        self._synced = True  # nothing appended since the last fdatasync
        try:
            _lock(self._fd, filename, self.path)
            # a dead writer's records stay until they are replayed (then a checkpoint); its
            # torn tail and the room it kept go
            self._end = _valid_length(os.pread(self._fd, os.fstat(self._fd).st_size, 0))
            os.ftruncate(self._fd, self._end)
            self._allocated = self._end  # of the records; past it lies room kept (zeros)
            self._preallocates = True
            _record_owner(self)  # where flock cannot be used, this tells a live writer's journal
        except BaseException:
            os.close(self._fd)
            raise
        self._next = 0
        self._unsynced: list[int] = []  # stores journaled since the last sync: not acknowledged
        self._since = time.monotonic()

    def _keep_room(self, nbytes: int, spare: int = MARK_BYTES + BALLAST_BYTES) -> None:
        """Make sure the disk holds room for ``nbytes`` more and ``spare`` (the marks and the
        ballast, for a store); DiskFullError if it has none (the records stay as they were)."""
        wanted = self._end + nbytes + spare
        if not self._preallocates or wanted <= self._allocated:
            return
        if spare:
            wanted += -wanted % ROOM_STEP
        try:
            os.posix_fallocate(self._fd, self._allocated, wanted - self._allocated)
        except OSError as exc:
            if exc.errno in _NO_PREALLOCATION:
                self._preallocates = False  # this file system cannot: the records are written
                return                      # as they come, and taken back if one is torn
            self._allocated = os.fstat(self._fd).st_size
            raise space.disk_full(exc, self.path, self.filename) from None
        self._allocated = wanted

    def _append(self, record: Record, spare: int = MARK_BYTES + BALLAST_BYTES) -> None:
        # Arrays travel out of band, written from where they are: no copy of the data.
        buffers: list[pickle.PickleBuffer] = []

        def out_of_band(buffer: pickle.PickleBuffer) -> bool:
            if buffer.raw().nbytes < IN_BAND_BYTES:
                return True  # copied into the pickle: cheaper than a buffer of its own
            buffers.append(buffer)
            return False

        payload = pickle.dumps(record, protocol=5, buffer_callback=out_of_band)
        views = [buffer.raw() for buffer in buffers]
        head = _HEADER.pack(len(payload), zlib.crc32(payload), len(views) | _CHECKED) + b"".join(
            _CHECKED_LENGTH.pack(view.nbytes, zlib.crc32(view)) for view in views)
        size = len(head) + len(payload) + sum(view.nbytes for view in views)
        self._keep_room(size, spare)
        try:
            os.lseek(self._fd, self._end, os.SEEK_SET)
            self._synced = False
            _write_all(self._fd, [head, payload, *views])
        except OSError as exc:
            # a torn record would hide every record after it: back to the last whole one
            os.ftruncate(self._fd, self._end)
            self._allocated = self._end
            raise space.disk_full(exc, self.path, self.filename) from exc
        # A kill leaves the record whole or torn at the end, and a torn tail is ignored.
        self._end += size

    def begin(self, request: WriteItems, creates: tuple[str, ...]) -> int:
        """Journal a store about to be made; returns its number (for :meth:`failed`).
        Raises DiskFullError, having journaled nothing, if the disk has no room for it."""
        number = self._next
        self._append(StoreRecord(number, request, creates))
        self._next += 1
        self._unsynced.append(number)
        return number

    def begin_merge(self, marks: MergeMarks) -> None:
        """Journal a merge about to be made (cleared by a checkpoint once it is done)."""
        self._append(MergeRecord(self._next, marks))
        self._next += 1

    def failed(self, *numbers: int) -> None:
        """The stores ``numbers`` failed: a replay takes back whatever of them reached the file
        and never makes them again."""
        if numbers:
            self._append(FailedRecord(numbers), spare=0)  # in the room kept for marks
            self._unsynced = [number for number in self._unsynced if number not in numbers]

    def fail_unsynced(self) -> None:
        """Mark every store journaled since the last sync failed, and sync: none of them was
        acknowledged, and none may come back with a replay."""
        self.failed(*self._unsynced)
        self.sync()

    def due(self) -> bool:
        """Whether the journal has grown enough to be cleared at the next flush."""
        return self._end > WINDOW_BYTES or time.monotonic() - self._since > WINDOW_SECONDS

    def sync(self) -> None:
        """Make the records written so far survive a power cut (before they are acknowledged)."""
        if not self._synced:  # a batch that journaled nothing costs no fdatasync
            os.fdatasync(self._fd)
            self._synced = True
        self._unsynced.clear()

    def release_ballast(self) -> None:
        """Give the ballast back to the file system (the file needs the room to close whole)."""
        keep = self._end + MARK_BYTES
        if self._allocated > keep:
            os.ftruncate(self._fd, keep)
            self._allocated = keep

    def checkpoint(self) -> None:
        """Forget every record: the file is flushed and holds all of them."""
        os.ftruncate(self._fd, 0)
        self._end = self._allocated = 0
        self._unsynced.clear()
        self._since = time.monotonic()
        with contextlib.suppress(AiostoreError):
            # the owner goes first again (it keeps room as any record): a lock-less second
            # writer must still see who writes; no room now: the next store is refused
            _record_owner(self)

    def close(self) -> None:
        """Remove the journal: the file is closed and holds everything."""
        os.unlink(self.path)
        os.close(self._fd)

    def abandon(self) -> None:
        """Let the descriptor (and its lock) go, leaving the journal for a replay: in a forked
        child, or when the file could not be written whole."""
        os.close(self._fd)


def _lock(fd: int, filename: str, path: str) -> None:
    """Lock the journal open in ``fd`` for this writer: FileLockedError if a live writer has it.

    Where flock cannot be used (:func:`_try_flock`), the journal's owner record tells whether
    its writer lives (:func:`_owner_is_live`): it is all that keeps a second writer out."""
    state = _try_flock(fd, fcntl.LOCK_EX if fcntl else 0, filename, path)
    if state == "busy":
        owner = _owner(fd)
        who = f"process {owner.pid} on {owner.host}; " if owner else ""
        raise FileLockedError(f"cannot write {filename!r}: another process is writing it "
                              f"({who}it holds {path!r}); let it finish, or close the file "
                              "there first", filename)
    owner = _owner(fd) if state == "unlocked" else None
    if owner is not None and _owner_is_live(owner, filename, path):
        raise FileLockedError(
            f"cannot write {filename!r}: process {owner.pid} on this host ({owner.host}) is "
            f"writing it, as its journal {path!r} records (file locks are off, so that record "
            "is all that keeps a second writer out). Let it finish, or stop it first", filename)


# -- whether a journal's writer lives -----------------------------------------------------------
#
# A live writer holds a lock on its journal (flock), and a journal nobody holds is a dead
# writer's. Where locks cannot be used (HDF5_USE_FILE_LOCKING=FALSE, needed on file systems
# without locks), each journal records its owner instead, as its first record after those kept
# for a replay: the host, the process id, what tells that process from a later one given the
# same id (the boot and its start time), and the pid namespace its id belongs to. A process of
# this host (and namespace) that still runs is a live writer; one of another host, or of another
# container of this host, cannot be checked from here.

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Owner:
    """The process that writes a journal (its record in the journal: see the section's
    comment)."""

    host: str
    pid: int
    started: str  # its boot and start time, "" where unknown (see _start_of)
    namespace: str = ""  # the pid namespace its id belongs to, "" where unknown


def _try_flock(fd: int, operation: int, filename: str,
               path: str) -> Literal["locked", "busy", "unlocked"]:
    """Lock ``fd`` (flock ``operation``, without waiting): ``"locked"``; ``"busy"`` if another
    process holds it; ``"unlocked"`` if no lock can be taken and the owner record must decide:
    locks off (``HDF5_USE_FILE_LOCKING=FALSE``), or with ``BEST_EFFORT`` a file system without
    them. With locks on, LocksUnsupportedError on such a file system (never "busy": nobody
    holds it). On Windows (no flock) always ``"locked"``: nothing can be told there."""
    if fcntl is None:
        return "locked"
    mode = space.locking_mode()
    if mode == "off":
        return "unlocked"
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _BUSY:
            return "busy"
        if mode == "best-effort" and exc.errno in space.LOCK_ERRNOS:
            return "unlocked"
        raise space.locks_unsupported(exc, filename, path) from None
    return "locked"


def this_process() -> Owner:
    return Owner(socket.gethostname(), os.getpid(), _start_of(os.getpid()), _pid_namespace())


def _record_owner(journal: Journal) -> None:
    """Append the owner record of this process to ``journal`` (see the section's comment)."""
    journal._append(this_process())


def owner_of(filename: str) -> Owner | None:
    """The owner that the journal of ``filename`` records last (None without either)."""
    try:
        fd = os.open(journal_path(filename), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _owner(fd)
    finally:
        os.close(fd)


def _owner(fd: int) -> Owner | None:
    """The owner the journal open in ``fd`` records last (None if it records none)."""
    size = os.fstat(fd).st_size
    found = None
    for record in _records(os.pread(fd, size, 0) if size else b""):
        if isinstance(record, Owner):
            found = record
    return found


def _owner_is_live(owner: Owner, filename: str, path: str) -> bool:
    """Whether ``owner`` is a process of this host that still runs (this process is not: the
    engine holds one journal per file, so a journal of its own it meets was let go). Raises
    FileLockedError for a process of another host or container, which cannot be checked from
    here."""
    elsewhere = _elsewhere(owner)
    if elsewhere:
        raise FileLockedError(
            f"cannot open {filename!r}: process {owner.pid} {elsewhere} writes it, or did and "
            f"was stopped before it closed it (its journal {path!r} says so); file locks are "
            "off, and aiostore cannot tell from here whether that process still runs. Open the "
            "file there (the journal is replayed if its writer is dead), or wait until its "
            "writer has closed it", filename)
    if owner.pid <= 0 or owner.pid == os.getpid():
        return False
    try:
        os.kill(owner.pid, 0)  # no signal: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's process
    started = _start_of(owner.pid)
    if started == _ZOMBIE:
        return False  # killed, not yet reaped by its parent
    return not (owner.started and started and started != owner.started)  # or its id reused


def _elsewhere(owner: Owner) -> str:
    """Where ``owner`` runs if not on this host and in its pid namespace ("" if here)."""
    if owner.host != socket.gethostname():
        return f"on {owner.host}"
    here = _pid_namespace()
    if owner.namespace and here and owner.namespace != here:
        return f"on {owner.host} in another container (pid namespace {owner.namespace})"
    return ""


def _pid_namespace() -> str:
    """The pid namespace of this process (``"pid:[4026531836]"``), "" where unknown."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


_ZOMBIE = "zombie"


def _start_of(pid: int) -> str:
    """What tells process ``pid`` from any other given the same id later: the boot and its
    start time (``"<boot id>:<ticks>"``), ``"zombie"`` for a dead process not yet reaped, ""
    where the system does not tell (no /proc)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot_file:
            boot = boot_file.read().strip()
        with open(f"/proc/{pid}/stat") as stat_file:
            fields = stat_file.read().rsplit(")", 1)[1].split()  # the name may hold anything
        state, ticks = fields[0], fields[19]  # fields 3 and 22 of proc(5)
    except (OSError, IndexError):
        return ""
    return _ZOMBIE if state in ("Z", "X") else f"{boot}:{ticks}"


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


def _valid_length(data: bytes) -> int:
    """Where the last whole record of ``data`` ends."""
    return max((end for end, _ in _frames(data)), default=0)


Record = StoreRecord | MergeRecord | FailedRecord | Owner


def _records(data: bytes) -> Iterator[Record]:
    for _, (payload, buffers) in _frames(data):
        # written by this engine, not by a user
        yield _typed(_Unpickler(io.BytesIO(payload), buffers=buffers).load())


def _typed(record: Any) -> Record:
    """``record`` as a typed record: journals written before the records were typed hold
    tuples tagged by a string (their replay must not be lost with an upgrade)."""
    match record:
        case ("store", number, request, creates):
            return StoreRecord(number, request, creates)
        case ("merge", number, marks, _):
            return MergeRecord(number, marks)
        case ("failed", *numbers):
            return FailedRecord(tuple(numbers))
        case ("owner", host, pid, started, namespace):
            return Owner(host, pid, started, namespace)
    return typing.cast(Record, record)


# Where the classes of records written before the package's layout changed (issue 20) live now.
_MOVED_MODULES = {"aiostore.requests": "aiostore._core.requests"}


class _Unpickler(pickle.Unpickler):
    """Unpickles records, finding classes at the module paths older records name."""

    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(_MOVED_MODULES.get(module, module), name)


def _frames(data: bytes) -> Iterator[tuple[int, tuple[memoryview, list[memoryview]]]]:
    """Each whole record of ``data``: where it ends, its pickle and its buffers."""
    view = memoryview(data)
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc, count = _HEADER.unpack_from(data, offset)
        if length == 0:
            return  # the room kept ahead of the records (no pickle is empty)
        offset += _HEADER.size
        lengths = _CHECKED_LENGTH if count & _CHECKED else _LENGTH
        count &= ~_CHECKED
        if offset + count * lengths.size > len(data):
            return
        sizes = [lengths.unpack_from(data, offset + i * lengths.size) for i in range(count)]
        offset += count * lengths.size
        payload = view[offset:offset + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return  # the torn tail of a killed writer: that store was never acknowledged
        offset += length
        buffers = []
        for size, *buffer_crc in sizes:
            buffer = view[offset:offset + size]
            if len(buffer) < size or (buffer_crc and zlib.crc32(buffer) != buffer_crc[0]):
                return
            buffers.append(buffer)
            offset += size
        yield offset, (payload, buffers)


def unfinished(filename: str) -> list[Entry] | None:
    """The stores a dead writer journaled for ``filename`` (None if there is no stale journal).

    A journal in use by a live writer in another process is left alone: None. Its lock tells;
    where no lock can be taken (see :func:`_try_flock`), its owner record does: a live process
    of this host is its writer, and a process of another host raises FileLockedError (nobody
    here can tell whether it runs). With locks on, a file system without them raises
    LocksUnsupportedError. The journal of a file that no longer exists is removed (its stores
    went with the file).
    """
    path = journal_path(filename)
    if not os.path.exists(filename):
        with contextlib.suppress(OSError):  # missing, or no folder at all
            os.unlink(path)
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _in_use(fd, filename, path):
            return None
        size = os.fstat(fd).st_size
        data = os.pread(fd, size, 0) if size else b""
    finally:
        os.close(fd)
    return _entries(data)


def _in_use(fd: int, filename: str, path: str) -> bool:
    """Whether a live writer holds the journal open in ``fd`` (see :func:`unfinished`)."""
    state = _try_flock(fd, fcntl.LOCK_SH if fcntl else 0, filename, path)
    if state != "unlocked":
        return state == "busy"
    owner = _owner(fd)
    return owner is not None and _owner_is_live(owner, filename, path)


def _entries(data: bytes) -> list[Entry]:
    """The journaled changes of ``data`` in order, each marked if it failed."""
    stores: dict[int, Entry] = {}
    for record in _records(data):
        if isinstance(record, StoreRecord):
            stores[record.number] = Entry(record.number, record.request, record.creates)
        elif isinstance(record, MergeRecord):
            stores[record.number] = Entry(record.number, record.marks)
        elif isinstance(record, FailedRecord):
            for number in record.numbers:
                if number in stores:
                    stores[number] = dataclasses.replace(stores[number], failed=True)
    return [stores[number] for number in sorted(stores)]
