"""Room on the disk: stores refused before they start when it lacks, and the system's errors
about files told in aiostore's words.

A write that fails half-way leaves HDF5's caches holding what it could not write, and a flush
that runs out of space can leave the file shorter than its superblock says; recovering costs a
replay (see :mod:`.recovery`). So the engine thinks ahead: :class:`SpaceGuard` refuses a store
with :class:`~aiostore.errors.DiskFullError` before anything is written when the file system
(``statvfs``) or the process's file-size limit (``RLIMIT_FSIZE``) has no room for it and
:data:`HEADROOM_BYTES` to spare. A quota (``EDQUOT``) does not show in ``statvfs``: there the
journal's preallocation is what refuses first (see :class:`~.journal.Journal`).
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
# What a store costs the file beyond its data, by item (a leaf, a group, a run): object
# headers, group indexes, chunk rounding. Rough on purpose: it only decides when to stop early.
ITEM_BYTES = 8 * 2**10
# How long a free-space reading is trusted while what was claimed since fits in it.
REFRESH_SECONDS = 0.5


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
        message += (f". Nothing of the failed store was written to {filename!r}; every store "
                    "acknowledged before is kept, in the file or its journal, and is there "
                    "when the file is next opened. Free some space and store again")
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


def file_access(error: OSError | int, filename: str, path: str | None = None) -> FileAccessError:
    """The FileAccessError for failing to open or create ``path`` (``filename`` or its journal)."""
    number = error if isinstance(error, int) else (error.errno or errno.EACCES)
    path = path or filename
    folder = os.path.dirname(os.path.abspath(filename))
    if number == errno.ENOTDIR:
        reason = f"a parent of it is not a folder ({_first_file(folder)!r} is a file)"
    elif number == errno.ENOENT:
        reason = f"its folder {folder!r} does not exist"
    elif number == errno.EROFS:
        reason = "its file system is mounted read-only"
    elif number == errno.EISDIR:
        reason = "it is a folder"
    elif number in (errno.EACCES, errno.EPERM) and _read_only(folder):
        reason = "its file system is mounted read-only"
    elif number in (errno.EACCES, errno.EPERM):
        what = "the file" if path == filename and os.path.exists(filename) else "its folder"
        reason = f"permission denied ({what} is not writable by this user)"
    else:
        reason = os.strerror(number)
    beside = f" (aiostore keeps {os.path.basename(path)!r} beside it)" if path != filename else ""
    return FileAccessError(number, filename, f"cannot write {filename!r}{beside}: {reason}")


def _read_only(folder: str) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _first_file(folder: str) -> str:
    """The first component of ``folder`` that exists and is not a folder."""
    probe = folder
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if os.path.isdir(probe):
        return folder
    return probe


@dataclass
class _Room:
    checked: float
    free: int
    claimed: int = 0


class SpaceGuard:
    """Refuses a write the disk has no room for, before it starts (see the module)."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def claim(self, filename: str, nbytes: int, items: int, file_end: int,
              journaled: bool) -> None:
        """Count a store of ``nbytes`` of data in ``items`` items about to be made in
        ``filename`` (whose HDF5 end is ``file_end``); DiskFullError if it cannot fit."""
        need = nbytes * (2 if journaled else 1) + items * ITEM_BYTES
        limit = size_limit()
        if limit is not None and file_end + nbytes + items * ITEM_BYTES + HEADROOM_BYTES > limit:
            raise disk_full(errno.EFBIG, filename, filename)
        room = self._rooms.get(filename)
        now = time.monotonic()
        if (room is None or now - room.checked > REFRESH_SECONDS
                or room.claimed + need + HEADROOM_BYTES > room.free):
            room = self._rooms[filename] = _Room(now, free_bytes(os.path.dirname(filename)))
        if room.claimed + need + HEADROOM_BYTES > room.free:
            raise disk_full(errno.ENOSPC, filename, filename,
                            f" (this store needs about {_size(need + HEADROOM_BYTES)})")
        room.claimed += need

    def forget(self, filename: str) -> None:
        """Read the free space afresh next time (space was found short, or freed)."""
        self._rooms.pop(filename, None)
