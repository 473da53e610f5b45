"""The socket a live writer serves reads on, and the messages on it.

The socket is ``<file>.aiostore-sock`` beside the file's real path (where its journal is, so the
folder is writable by the writer; and every process that sees the file by any path finds it).
A Unix socket's path is limited to about 107 bytes: a longer one is bound and reached through
``/proc/self/fd/<folder>/<name>`` (Linux), a name too long itself is hashed.

A message is a pickle (protocol 5) and its out-of-band buffers, so that big arrays are sent
without a copy: a header (the pickle's length, the number of buffers), each buffer's length,
the pickle, the buffers. A header of length 0 is a heartbeat: the writer is alive and working.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["SILENCE_SECONDS", "connect", "listen", "receive", "send", "socket_path"]

SUFFIX = ".aiostore-sock"
# A writer sends a heartbeat this often while a read is queued or executed...
HEARTBEAT_SECONDS = 1.0
# ... and a reader gives up on one that has sent nothing for this long.
SILENCE_SECONDS = 30.0
CONNECT_SECONDS = 5.0
_MAX_PATH = 100  # sun_path holds 108 bytes with its NUL; some systems fewer
_MAX_NAME = 80
_HEADER = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_NO_SIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # a reader gone: EPIPE, never SIGPIPE


def socket_path(filename: str) -> str:
    """Where the writer of ``filename`` serves reads: beside its real path."""
    real = os.path.realpath(filename)
    folder, name = os.path.split(real)
    name += SUFFIX
    if len(name.encode()) > _MAX_NAME:
        name = "." + hashlib.sha256(name.encode()).hexdigest()[:24] + SUFFIX
    return os.path.join(folder, name)


@contextlib.contextmanager
def _reachable(path: str) -> Iterator[str]:
    """``path``, or where a long one is reached (its folder's descriptor in /proc)."""
    if len(path.encode()) <= _MAX_PATH or not sys.platform.startswith("linux"):
        yield path
        return
    folder, name = os.path.split(path)
    descriptor = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{descriptor}/{name}"
    finally:
        os.close(descriptor)


def listen(path: str) -> socket.socket:
    """A listening socket at ``path`` that only this user may connect to (mode 0600, made so
    before it listens); a stale socket there (of a killed writer) is replaced."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _reachable(path) as where:
            listener.bind(where)
        os.chmod(path, 0o600)
        listener.listen(16)
    except BaseException:
        listener.close()
        raise
    return listener


def connect(path: str) -> socket.socket:
    """A connection to the writer serving at ``path``; OSError if none does (ENOENT: no
    socket; ECONNREFUSED: a stale one)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_SECONDS)
    try:
        with _reachable(path) as where:
            sock.connect(where)
    except BaseException:
        sock.close()
        raise
    return sock


def same_user(sock: socket.socket) -> bool:
    """Whether the peer of ``sock`` runs as this process's user (or as root); True where the
    system does not tell (the socket's mode, 0600, keeps others out there)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    credentials = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", credentials)
    return uid in (os.getuid(), 0)


class _Pickler(pickle.Pickler):
    """Pickles an array that is not one block of memory (a column of a table's rows: a view
    with strides) as a copy that is, out of band like the others: numpy would pickle it as
    bytes, copied twice into the pickle (6 ms a send of 8,000 W1 runs' columns; 1 ms so)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray and not obj.flags.forc and not obj.dtype.hasobject:
            return np.ascontiguousarray(obj).__reduce_ex__(5)
        return NotImplemented


def send(sock: socket.socket, message: Any) -> None:
    """Send ``message`` (pickled; big arrays out of band, not copied)."""
    buffers: list[pickle.PickleBuffer] = []
    pickled = io.BytesIO()
    _Pickler(pickled, protocol=5, buffer_callback=buffers.append).dump(message)
    data = pickled.getbuffer()
    views = [buffer.raw() for buffer in buffers]
    header = _HEADER.pack(len(data), len(views)) + b"".join(
        _LENGTH.pack(view.nbytes) for view in views)
    for part in (header, data, *views):
        _send_all(sock, part)


def heartbeat(sock: socket.socket) -> None:
    """Tell the reader this writer is alive, and working on its read."""
    _send_all(sock, _HEADER.pack(0, 0))


def _send_all(sock: socket.socket, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        sent = sock.send(view, _NO_SIGNAL)
        view = view[sent:]


def receive(sock: socket.socket) -> Any:
    """The next message, skipping heartbeats; EOFError if the peer closed its end first.

    The socket's timeout bounds the wait for each part (a heartbeat resets it)."""
    while True:
        length, count = _HEADER.unpack(_receive_exactly(sock, _HEADER.size))
        if length:
            break
    sizes = [_LENGTH.unpack(_receive_exactly(sock, _LENGTH.size))[0] for _ in range(count)]
    data = _receive_exactly(sock, length)
    buffers = [_receive_exactly(sock, size) for size in sizes]
    return pickle.loads(data, buffers=buffers)


def _receive_exactly(sock: socket.socket, size: int) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    while view:
        got = sock.recv_into(view)
        if not got:
            raise EOFError("the peer closed the connection")
        view = view[got:]
    return data
