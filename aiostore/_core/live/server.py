"""The writer's side: a server thread per file the HDF5 thread holds open for writing.

:class:`Servers` is told after each batch which files are open for writing (by the HDF5 thread
itself, :meth:`aiostore.worker.Worker._execute`) and starts or stops a :class:`ReadServer` for
each. A server's thread accepts connections; each is answered in a thread of its own: the read
is checked (reads only), pointed at this process's name of the file, and queued for the HDF5
thread as a :class:`~aiostore._core.live.requests.ServedRead`, ahead of the stores queued: it runs
first in the next batch, after every store acknowledged (their batches are written and
flushed) and before any not yet acknowledged, and is answered as soon as it has run. A
reader that goes away (its connection closes, or breaks mid-answer) is logged and forgotten;
nothing of it reaches the HDF5 thread but its read.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import select
import socket
import threading
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...errors import AiostoreError, ServiceClosedError
from ..requests import (
    DescribeNodes,
    ListTrajectories,
    ReadFrame,
    ReadFrameIndex,
    ReadLeaf,
    ReadTrajectory,
    ReadTree,
    Sequence,
    Target,
    TrajectoryLayout,
)
from . import sockets, status
from .requests import Progress, ProgressRows, ReadProgress, ServedRead, Unserved

if TYPE_CHECKING:
    from ..worker import Worker

__all__ = ["ReadServer", "Servers", "is_read", "retarget", "served_here"]

log = logging.getLogger("aiostore.live")

# What a reader may ask a writer: reads of one file (a backup or a foreign read opens other
# files, or closes this one).
READS = (ReadLeaf, ReadTree, ReadTrajectory, DescribeNodes, ReadFrameIndex, ReadFrame,
         ListTrajectories, TrajectoryLayout, ReadProgress)
# The sockets this process serves (a read of its own file is never asked of itself)
served_here: set[str] = set()
STOP_SECONDS = 0.5  # what a stopping server waits at most for a reader already connected
REQUEST_SECONDS = 5.0  # a reader sends its request as it connects


def is_read(request: Any) -> bool:
    """Whether ``request`` only reads (a sequence of reads too)."""
    if isinstance(request, Sequence):
        return all(is_read(part) for part in request.requests)
    return isinstance(request, READS)


def retarget(request: Any, filename: str) -> Any:
    """``request`` pointed at ``filename`` (the reader may name the file by another path)."""
    if isinstance(request, Sequence):
        return Sequence(tuple(retarget(part, filename) for part in request.requests))
    if isinstance(request, ListTrajectories):
        return dataclasses.replace(request, filename=filename)
    return dataclasses.replace(request, target=dataclasses.replace(request.target,
                                                                   filename=filename))


class ReadServer:
    """Serves reads of ``filename`` on its socket until :meth:`stop`."""

    def __init__(self, worker: Worker, filename: str) -> None:
        self.worker = worker
        self.filename = filename
        self.path = sockets.socket_path(filename)
        self._listener = sockets.listen(self.path)
        self._identity = os.stat(self.path).st_ino
        self._token = uuid.uuid4().hex  # this server's, in the generations of its answers
        served_here.add(self.path)
        self._stopped = threading.Event()
        self._wake, self._woken = socket.socketpair()  # stop() wakes the accepting thread
        self._thread = threading.Thread(target=self._accept, daemon=True,
                                        name=f"aiostore-serve {os.path.basename(filename)}")
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting and remove the socket (if it is still this server's); the accepting
        thread ends at once (after answering the readers already connected: STOP_SECONDS at
        most), nothing of this server is left running."""
        self._stopped.set()
        served_here.discard(self.path)
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._identity:
                os.unlink(self.path)
        with contextlib.suppress(OSError):
            self._wake.send(b"x")
        self._thread.join(STOP_SECONDS)
        self._wake.close()

    def abandon(self) -> None:
        """In a forked child: let the parent's socket be (its thread does not exist here)."""
        self._stopped.set()
        served_here.discard(self.path)
        for end in (self._listener, self._wake, self._woken):
            end.close()

    def _accept(self) -> None:
        try:
            while True:
                select.select([self._listener, self._woken], [], [])
                if self._stopped.is_set():
                    return
                try:
                    connection, _ = self._listener.accept()
                except OSError as exc:
                    log.warning("serving reads of %s stopped: %s", self.filename, exc)
                    return
                # not a daemon: a process that ends lets it send its answer ("unserved" once
                # the file is closed) instead of leaving its reader with a broken connection
                threading.Thread(target=self._answer, args=(connection,), daemon=False,
                                 name="aiostore-serve-read").start()
        finally:
            self._refuse_pending()
            self._listener.close()
            self._woken.close()

    def _refuse_pending(self) -> None:
        """Tell the readers that connected before the socket went to read the file itself."""
        self._listener.setblocking(False)
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection, contextlib.suppress(OSError, EOFError):
                connection.settimeout(STOP_SECONDS)
                sockets.receive(connection)  # unread, closing would reset the connection
                sockets.send(connection, ("unserved", None, None))

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                if not sockets.same_user(connection):
                    log.warning("refused a read of %s by another user", self.filename)
                    return
                connection.settimeout(REQUEST_SECONDS)
                request = sockets.receive(connection)
                connection.settimeout(sockets.SILENCE_SECONDS)
                sockets.send(connection, self._reply(connection, request))
            except (OSError, EOFError) as exc:  # the reader went away: none of our business
                log.debug("a reader of %s went away: %r", self.filename, exc)
            except Exception:  # a request that does not unpickle here (another version?)
                log.exception("a read of %s could not be answered", self.filename)

    def _reply(self, connection: socket.socket, request: Any) -> tuple[str, Any, Any]:
        """``(kind, answer, generation)``: kind ``answer`` (with the generation of what it
        read: :mod:`.framecache`), ``error`` (the exception the read raised) or ``unserved``."""
        if not is_read(request):
            error = AiostoreError(f"a live writer serves reads only, not {type(request).__name__}")
            return "error", error, None
        served = ServedRead(Target(self.filename, ""), retarget(request, self.filename))
        try:
            reply = self._execute(connection, served)
        except ServiceClosedError:  # this process exits: its files are about to be free
            return "unserved", None, None
        except Exception as exc:
            return "error", _picklable(exc), None
        if isinstance(reply, Unserved):
            return "unserved", None, None
        answer = reply.answer
        if isinstance(answer, (Progress, ProgressRows)):
            answer = dataclasses.replace(status.merged(answer, self.filename), from_writer=True)
        return "answer", answer, (self._token, reply.changes)

    def _execute(self, connection: socket.socket, served: ServedRead) -> Any:
        """Queue ``served`` for the HDF5 thread's next batch and wait for its answer, sending
        heartbeats meanwhile."""
        from ..worker import Ticket

        # Ahead of the queued stores: it runs first in the next batch, so it sees the stores
        # acknowledged before it was asked (their batches are done: written and flushed) and
        # none of those still queued (up to run_sweep's 2,000 runs), and is answered as soon
        # as it has run (nothing it saw waits for a flush)
        ticket = Ticket(served)
        self.worker.offer(ticket, first=True)
        return _wait(connection, ticket.future)


def _wait(connection: socket.socket, future: concurrent.futures.Future[Any]) -> Any:
    while True:
        try:
            return future.result(timeout=sockets.HEARTBEAT_SECONDS)
        except concurrent.futures.TimeoutError:
            sockets.heartbeat(connection)


def _picklable(error: Exception) -> Exception:
    """``error``, or an AiostoreError saying it, if it does not pickle."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return AiostoreError(f"{type(error).__name__}: {error}")
    return error


class Servers:
    """The read servers of a worker's files, started and stopped by its HDF5 thread."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._servers: dict[str, ReadServer] = {}
        self._known: set[str] = set()  # the files served, or that could not be

    def serve(self, filenames: Iterable[str]) -> None:
        """Serve exactly ``filenames`` (the files open for writing now); one that cannot be
        served is not tried again until it is closed."""
        wanted = set(filenames)
        if wanted == self._known:
            return
        for name in list(self._servers):
            if name not in wanted:
                self._servers.pop(name).stop()
        for name in wanted - self._known:
            try:
                self._servers[name] = ReadServer(self.worker, name)
            except OSError as exc:  # the file is written all the same, only not served
                log.warning("cannot serve reads of %s to other processes: %s", name, exc)
        self._known = wanted

    def abandon(self) -> None:
        for server in self._servers.values():
            server.abandon()
        self._servers.clear()
        self._known = set()
