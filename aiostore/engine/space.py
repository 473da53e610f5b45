"""Room on the disk: stores refused before they start when it lacks, and the system's errors
about files told in aiostore's words.

A write that fails half-way leaves HDF5's caches holding what it could not write, and a flush
that runs out of space can leave the file shorter than its superblock says; recovering costs a
replay (see :mod:`.durability.recovery`). So the engine thinks ahead: :class:`SpaceGuard` refuses a store
with :class:`~aiostore.errors.DiskFullError` before anything is written when the file system
(``statvfs``) or the process's file-size limit (``RLIMIT_FSIZE``) has no room for it and
:data:`HEADROOM_BYTES` to spare. A quota (``EDQUOT``) does not show in ``statvfs``: there the
journal's preallocation is what refuses first (see :class:`~.durability.journal.Journal`).
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from typing import Literal

from ..errors import DiskFullError, FileAccessError, LocksUnsupportedError

try:
    import resource
except ImportError:  # Windows: no file-size limit to honour
    resource = None  # type: ignore[assignment]

SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
LOCK_ERRNOS = frozenset({errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})
# libhdf5's switch for its file locks, which aiostore's journal follows (see locking_mode)
LOCKING_VARIABLE = "HDF5_USE_FILE_LOCKING"
ACCESS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                           errno.EISDIR, errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP})

# Left free beyond what a store needs: room for HDF5 to flush and close the file.
HEADROOM_BYTES = 2**20
# What a store costs the file beyond its data, by item (a leaf or a group: object headers,
# group indexes, chunk rounding) and by run (a row of the run table is 713 bytes, pypet's
# layout). Rough on purpose: it only decides when to stop early.
ITEM_BYTES = 8 * 2**10
RUN_BYTES = 1024
# How long a free-space reading is trusted (statvfs costs ~3 us here) while the disk has more
# than NEAR_FULL_BYTES to spare; nearer, every store reads it afresh.
REFRESH_SECONDS = 0.05
NEAR_FULL_BYTES = 64 * 2**20


def _size(nbytes: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError


def free_bytes(path: str) -> int:
    """Bytes an ordinary user may still write on the file system holding ``path``."""
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def size_limit() -> int | None:
    """This process's file-size limit (``ulimit -f``), or None if there is none."""
    if resource is None:
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def disk_full(error: OSError | int, path: str, filename: str | None = None,
              detail: str = "") -> DiskFullError:
    """The DiskFullError for failing to write ``path`` (the file itself or one beside
    ``filename``, the user's file) with ``error`` (an OSError or an errno)."""
    number = error if isinstance(error, int) else (error.errno or errno.ENOSPC)
    folder = os.path.dirname(os.path.abspath(path))
    if number == errno.EDQUOT:
        reason = "the disk quota of this user is exceeded"
    elif number == errno.EFBIG:
        limit = size_limit()
        reason = ("it would pass this process's file-size limit"
                  + (f" (ulimit -f: {_size(limit)})" if limit is not None else ""))
    else:
        try:
            left = f", {_size(free_bytes(folder))} left"
        except OSError:
            left = ""
        reason = f"no space left on its file system{left}"
    message = f"cannot write {path!r}: {reason}{detail}"
    if filename is not None:
        message += (f". What failed was not written to {filename!r}; every store acknowledged "
                    "before is kept, in the file or its journal, and is there when the file is "
                    "next opened. Free some space and try again")
    return DiskFullError(number, path, message)


def locking_mode() -> Literal["on", "off", "best-effort"]:
    """How files are to be locked, read from ``HDF5_USE_FILE_LOCKING`` as libhdf5 reads it:
    ``"off"`` for ``FALSE`` or ``0``, ``"best-effort"`` for ``BEST_EFFORT``, else ``"on"``.

    libhdf5 reads the variable once, when it starts (``import tables``); the journal reads it
    whenever it is opened, so that it locks as HDF5 does only if it was set before that."""
    value = os.environ.get(LOCKING_VARIABLE, "")
    if value in ("FALSE", "0"):
        return "off"
    return "best-effort" if value == "BEST_EFFORT" else "on"


def locks_unsupported(error: OSError, filename: str, path: str) -> LocksUnsupportedError:
    """The LocksUnsupportedError for failing to lock ``path`` (``filename`` itself, which
    libhdf5 locks when it opens it, or its journal) with ``error``: the file system has no
    locks. Its message names the file, the cause and the way forward."""
    number = error.errno or errno.ENOLCK
    what = "it" if path == filename else f"its journal {path!r}"
    message = (f"cannot open {filename!r}: its file system does not support file locks "
               f"(locking {what} failed with {errno.errorcode.get(number, number)}, "
               f"{os.strerror(number)}), as NFS or Lustre mounted without them do; no other "
               "process holds it. ")
    if locking_mode() == "off":  # then only libhdf5 locks: it read the variable before it was set
        message += (f"{LOCKING_VARIABLE}={os.environ[LOCKING_VARIABLE]} is set, but HDF5 read "
                    "its environment before that (once, when tables was first imported): set "
                    "it in the environment before Python starts")
    else:
        message += (f"Keep the file on a local disk, or set {LOCKING_VARIABLE}=FALSE in the "
                    "environment before Python starts: HDF5 and aiostore then write without "
                    "locks, and nothing but the journal of a writer on the same host keeps a "
                    "second process from writing the file at the same time and corrupting it "
                    "(see the README, Durability)")
    return LocksUnsupportedError(number, filename, message)


def file_access(error: OSError | int, filename: str, path: str | None = None,
                writing: bool = True) -> FileAccessError:
    """The FileAccessError for failing to open or create ``path``: ``filename`` itself (read
    or, if ``writing``, written), a file aiostore keeps beside it (its journal), or a folder
    made for it. Its errno is the system's, but EROFS where the system said "permission denied"
    on a read-only file system; its message names ``filename`` and says what stands in the way."""
    number = error if isinstance(error, int) else (error.errno or errno.EACCES)
    path = path or filename
    if number in (errno.EACCES, errno.EPERM) and _read_only(_existing_folder(path)):
        number = errno.EROFS
    reason = _access_reason(number, path, writing)
    if path == filename:
        message = f"cannot {'write' if writing else 'read'} {filename!r}: {reason}"
    elif _is_folder_of(path, filename):
        message = f"cannot write {filename!r}: cannot create its folder {path!r} ({reason})"
    else:
        verb = "open" if os.path.exists(path) else "create"
        message = (f"cannot write {filename!r}: cannot {verb} {os.path.basename(path)!r} "
                   f"beside it, which aiostore keeps while it writes the file ({reason})")
        if path.endswith(".aiostore-journal") and number != errno.EROFS:
            message += (f". Make {os.path.dirname(os.path.abspath(path))!r} writable, or "
                        "store with journal=False")
    return FileAccessError(number, filename, message)


def _access_reason(number: int, path: str, writing: bool) -> str:
    """Why ``path`` could not be opened (or created), in a user's words."""
    folder = os.path.dirname(os.path.abspath(path))
    if number == errno.ENOTDIR:
        blocking = _first_file(folder)
        return (f"{blocking!r} is a file, not a folder" if blocking is not None
                else "a part of its path is not a folder")
    if number == errno.ENOENT:
        return f"its folder {folder!r} does not exist"
    if number == errno.EROFS:
        return "its file system is mounted read-only"
    if number == errno.EISDIR:
        return "it is a folder, not a file"
    if number in (errno.EACCES, errno.EPERM):
        return f"permission denied: {_denial(path, writing)}"
    return os.strerror(number)


def _denial(path: str, writing: bool) -> str:
    """What keeps this user from ``path``: a folder on the way it may not enter, the file
    itself, or the folder it is to be made in."""
    closed = _closed_folder(os.path.dirname(os.path.abspath(path)))
    if closed is not None:
        return f"this user may not enter the folder {closed!r}"
    if os.path.exists(path):
        return f"the file is not {'writable' if writing else 'readable'} by this user"
    return f"the folder {_existing_folder(path)!r} is not writable by this user"


def _is_folder_of(path: str, filename: str) -> bool:
    folder = os.path.abspath(path)
    return os.path.abspath(filename).startswith(folder.rstrip(os.sep) + os.sep)


def _closed_folder(folder: str) -> str | None:
    """The outermost folder on the way to ``folder`` that this user may not enter (no x)."""
    probe = os.path.abspath(folder)
    ancestors = [probe]
    while os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
        ancestors.append(probe)
    for ancestor in reversed(ancestors):
        if not os.path.isdir(ancestor):
            return None
        if not os.access(ancestor, os.X_OK):
            return ancestor
    return None


def _existing_folder(path: str) -> str:
    """The innermost folder holding ``path`` that exists."""
    probe = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return probe


def _read_only(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _first_file(folder: str) -> str | None:
    """The innermost part of ``folder``'s path that exists and is not a folder (None if the
    part that exists is a folder)."""
    probe = os.path.abspath(folder)
    while not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return None if os.path.isdir(probe) else probe


def overhead(items: int, runs: int) -> int:
    """What ``items`` leaves and groups and ``runs`` rows cost a file beyond their data."""
    return items * ITEM_BYTES + runs * RUN_BYTES


@dataclass
class _Room:
    checked: float = -1.0  # when ``free`` was read (monotonic); never yet
    free: int = 0
    pending: int = 0  # claimed since the last flush: maybe not on the disk yet


class SpaceGuard:
    """Refuses a write the disk has no room for, before it starts (see the module)."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def claim(self, filename: str, nbytes: int, overhead: int, file_end: int,
              journaled: bool) -> None:
        """Count a store of ``nbytes`` of data (and ``overhead`` bytes of structure, see
        :func:`overhead`) about to be made in ``filename`` (whose HDF5 end is ``file_end``);
        DiskFullError if it cannot fit."""
        need = nbytes * (2 if journaled else 1) + overhead
        limit = size_limit()
        if limit is not None and file_end + nbytes + overhead + HEADROOM_BYTES > limit:
            raise disk_full(errno.EFBIG, filename, filename)
        room = self._rooms.setdefault(filename, _Room())
        now = time.monotonic()
        if now - room.checked > REFRESH_SECONDS or room.free - room.pending < NEAR_FULL_BYTES:
            room.free, room.checked = free_bytes(os.path.dirname(filename)), now
        # HDF5 writes much of a batch only when it is flushed: what was claimed since the
        # last flush counts against the space, whatever the disk says now
        if room.pending + need + HEADROOM_BYTES > room.free:
            raise disk_full(errno.ENOSPC, filename, filename,
                            f" (this store needs about {_size(need + HEADROOM_BYTES)})")
        room.pending += need

    def settled(self, filename: str) -> None:
        """``filename`` was flushed: what was claimed is on the disk, and in the next reading."""
        room = self._rooms.get(filename)
        if room is not None:
            room.pending, room.checked = 0, -1.0

    def forget(self, filename: str) -> None:
        """Read the free space afresh next time (space was found short, or freed)."""
        self._rooms.pop(filename, None)
