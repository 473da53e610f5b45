"""Repairing what a writer killed mid-write leaves: a superblock whose end-of-file address lags.

HDF5 writes the file's end-of-file address (EOA) into the superblock only when it flushes or
closes the file, while it writes other metadata (a group's symbol table naming new children)
whenever its cache evicts it. A process killed between the two leaves a file whose newest
objects lie past the recorded end: HDF5 refuses to read them, and PyTables, which ignores the
error while listing a group, shows a group with its newest children missing (measured with
tests/crashing.py: 7 acknowledged runs lost in 100 killed writers). The bytes are all there; the
address is stale. :func:`repair_end_of_file` moves it to the file's real end, as HDF5's own
``h5clear --increment`` does, before the file is opened.

A cleanly closed HDF5 file always ends exactly at its EOA (HDF5 truncates it on close), so a
file longer than its EOA was not closed. A file *shorter* than its EOA is what a flush that ran
out of space (or past ``ulimit -f``) leaves: HDF5 refuses to open it at all ("truncated
file"). :func:`repair_end_of_file` mends it by extending it to its EOA with zeros (a sparse
extension, which takes no space): what the missing tail held is lost, and the journal or a
salvage brings back what was acknowledged. Only superblocks of versions 0 and 1 (what PyTables
writes) are changed; versions 2 and 3 carry a checksum and are left alone.
"""

from __future__ import annotations

import logging
import os
import struct

try:
    import fcntl
except ImportError:  # Windows: no flock, so no way to know the file is not open elsewhere
    fcntl = None  # type: ignore[assignment]

from .. import space

log = logging.getLogger("aiostore.repair")

SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Where the superblock's addresses start (after signature, versions, sizes, K values and
# flags), by superblock version; the EOA is the third address: base, free space, end of file.
_ADDRESSES_AT = {0: 24, 1: 28}
_FORMATS = {4: "<I", 8: "<Q"}


def _stale_end(head: bytes, size: int) -> tuple[int, str, int] | None:
    """(offset of the EOA field, its struct format, its value) if it differs from ``size``."""
    if len(head) < 64 or not head.startswith(SIGNATURE):
        return None
    addresses_at = _ADDRESSES_AT.get(head[8])
    offset_size = head[13]
    fmt = _FORMATS.get(offset_size)
    if addresses_at is None or fmt is None:
        return None
    base = struct.unpack_from(fmt, head, addresses_at)[0]
    field = addresses_at + 2 * offset_size
    end = struct.unpack_from(fmt, head, field)[0]
    if base != 0 or end == size:
        return None
    return field, fmt, end


def repair_end_of_file(filename: str, mend: bool = True) -> bool:
    """Move a lagging end-of-file address of ``filename`` to the file's end, or (if ``mend``)
    extend a file cut short of it; True if it did.

    Does nothing (False) if the file is open in any process that locks it (HDF5 does), if it
    cannot be written, or if it has no such damage (and always on Windows).
    """
    if fcntl is None:
        return False
    try:
        fd = os.open(filename, os.O_RDWR)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # open elsewhere: its writer will set the address itself
        size = os.fstat(fd).st_size
        stale = _stale_end(os.pread(fd, 64, 0), size)
        if stale is None:
            return False
        if stale[2] > size and not mend:
            return False
        try:
            return _repair(fd, filename, size, stale)
        except OSError as exc:
            if exc.errno in space.SPACE_ERRNOS:
                raise space.disk_full(exc, filename, None, "; it needs repairing before it "
                                      "can be used, which writes to it") from None
            raise
    finally:
        os.close(fd)  # releases the lock


def _repair(fd: int, filename: str, size: int, stale: tuple[int, str, int]) -> bool:
    field, fmt, end = stale
    if end > size:
        os.ftruncate(fd, end)
        os.fsync(fd)
        log.warning("mended %s: it ended at byte %d, short of the %d its superblock "
                    "records (a write ran out of space, or a copy was cut short); "
                    "extended with zeros so that HDF5 opens it", filename, size, end)
        return True
    os.pwrite(fd, struct.pack(fmt, size), field)
    os.fsync(fd)
    log.warning("repaired %s: its last writer did not close it, and its end-of-file "
                "address (%d) lagged behind its %d bytes; moved to the end, as "
                "h5clear --increment does, so what was written past it can be read",
                filename, end, size)
    return True
