"""libhdf5's error reports, kept from the user's stderr and read for what the system said.

libhdf5 prints a 25-line ``HDF5-DIAG`` trace to stderr whenever one of its calls fails, before
PyTables has even raised; and where PyTables ignores a failure (it does not check what
``H5Fflush`` returns, so a flush that ran out of space passes silently) the trace is all that
tells of it. This module replaces the printing with a handler that records each failed call as
a :class:`Failure`: the API function, and the ``errno`` of the system call under it, which
libhdf5 writes into its description (``errno = 28, error message = 'No space left...'``).

The engine watches the calls that matter (:func:`watching`) and turns what it sees into
aiostore's errors: a flush that failed for want of space into ``DiskFullError``, a lock that
failed because the file system has none into ``LocksUnsupportedError``. The traces go to the
``aiostore.hdf5`` logger at DEBUG level.

The handler is installed through ctypes, from the libhdf5 that PyTables' own extension is
linked to. Where that fails, PyTables is asked to silence libhdf5 instead, and flushes that fail
are then not seen (logged once).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import tables

log = logging.getLogger("aiostore.hdf5")

_ERRNO = re.compile(r"errno = (\d+)")


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed libhdf5 call: its API function, the OS error under it (if a system call
    failed), and the descriptions of its trace, outermost first."""

    function: str
    errno: int | None
    trace: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.function}: {' / '.join(self.trace[-2:])}"


@dataclass(eq=False)  # told apart by identity: nested watches see the same failures
class Watch:
    """The failures seen while a :func:`watching` block ran."""

    failures: list[Failure] = field(default_factory=list)

    @property
    def errno(self) -> int | None:
        """The first OS error number among the failures (None if no system call failed)."""
        return next((failure.errno for failure in self.failures if failure.errno), None)


class _ErrorRecord(ctypes.Structure):  # H5E_error2_t
    _fields_ = [("cls_id", ctypes.c_int64), ("maj_num", ctypes.c_int64),
                ("min_num", ctypes.c_int64), ("line", ctypes.c_uint),
                ("func_name", ctypes.c_char_p), ("file_name", ctypes.c_char_p),
                ("desc", ctypes.c_char_p)]


_AUTO = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)
_WALK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ErrorRecord),
                         ctypes.c_void_p)
_H5E_DEFAULT = 0
_H5E_WALK_UPWARD = 0
_API_FUNCTION = re.compile(r"^H5[A-Z]{1,2}[a-z]")  # H5Fflush, H5Dwrite; not H5FD_write

class _Handler:
    """The libhdf5 the handler is installed in, and the threads it is installed for (a
    thread-safe libhdf5 keeps an error stack, and its handler, per thread)."""

    library: ctypes.CDLL | None = None
    failed = False
    threads = threading.local()


_watches: list[Watch] = []
_lock = threading.Lock()


def _on_failure(stack: int, _data: int | None) -> int:
    records: list[tuple[str, str]] = []

    def collect(_n: int, record: ctypes._Pointer[_ErrorRecord], _d: int | None) -> int:
        entry = record.contents
        records.append(((entry.func_name or b"").decode(errors="replace"),
                        (entry.desc or b"").decode(errors="replace")))
        return 0

    try:
        assert _Handler.library is not None
        _Handler.library.H5Ewalk2(ctypes.c_int64(stack), _H5E_WALK_UPWARD, _WALK(collect), None)
        function = next((name for name, _ in reversed(records) if _API_FUNCTION.match(name)),
                        records[-1][0] if records else "?")
        numbers = [int(match.group(1)) for _, text in records
                   if (match := _ERRNO.search(text))]
        failure = Failure(function, numbers[0] if numbers else None,
                          tuple(text for _, text in records))
        log.debug("libhdf5: %s failed: %s", function, " / ".join(failure.trace))
        with _lock:
            for watch in _watches:
                watch.failures.append(failure)
    except Exception:  # a handler called from C must never raise
        log.debug("reading libhdf5's error stack failed", exc_info=True)
    return 0


_HANDLER = _AUTO(_on_failure)


def install() -> None:
    """Keep libhdf5's traces off stderr and record its failures (in the calling thread)."""
    if getattr(_Handler.threads, "installed", False) or _Handler.failed:
        return
    _Handler.threads.installed = True
    try:
        if _Handler.library is None:
            from tables import hdf5extension
            # the extension's handle finds the symbols of the libhdf5 it is linked to
            library = ctypes.CDLL(hdf5extension.__file__)
            library.H5Eset_auto2.argtypes = [ctypes.c_int64, _AUTO, ctypes.c_void_p]
            library.H5Ewalk2.argtypes = [ctypes.c_int64, ctypes.c_int, _WALK, ctypes.c_void_p]
            _Handler.library = library
            atexit.register(_quiet_at_exit)
        if _Handler.library.H5Eset_auto2(_H5E_DEFAULT, _HANDLER, None) < 0:
            raise OSError("H5Eset_auto2 failed")
    except (OSError, AttributeError) as exc:
        _Handler.failed = True
        tables.silence_hdf5_messages(True)
        log.warning("cannot watch libhdf5's errors (%s): its messages are silenced, and a "
                    "flush that fails for want of space is not seen", exc)


def _quiet_at_exit() -> None:
    """Let libhdf5 end without a word. A failed call leaves blocks of its free lists
    allocated when the handler is ours (libhdf5 1.14.6), and at exit libhdf5 then prints
    "HDF5: infinite loop closing library" to stderr, unless nobody handles its errors."""
    if _Handler.library is not None:
        _Handler.library.H5Eset_auto2(_H5E_DEFAULT, _AUTO(), None)


@contextmanager
def watching() -> Iterator[Watch]:
    """Record the libhdf5 calls that fail inside the block (from any thread)."""
    install()
    watch = Watch()
    with _lock:
        _watches.append(watch)
    try:
        yield watch
    finally:
        with _lock:
            _watches.remove(watch)
