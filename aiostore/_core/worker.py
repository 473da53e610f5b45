"""The HDF5 thread: one per process, running every HDF5 call for every file, one job at a time.

libhdf5 and PyTables' registry of open files are not safe to use from several threads, so all
services of a process (async, blocking, wrappers) hand their requests to the one
:class:`Worker` as :class:`Ticket` s. The thread takes what is queued as a batch, executes it
over the open files, makes the batch durable once (a flush, or a close: :class:`Durability`),
and only then completes the tickets of its writes: a write is acknowledged when it is in the file.

Results go back through ``concurrent.futures.Future``: the thread never waits for anyone, so a
caller blocked on a future (even inside a running event loop) cannot stall it. The queue is
bounded by jobs and by bytes; a producer that finds it full waits for space.

The thread starts with the first ticket and stops once it is idle and no service is attached;
at interpreter exit it finishes what is queued and closes every file. After ``fork()`` the child
gets a fresh worker (the parent's thread does not exist there).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import functools
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..engine import Engine, adds_runs, joined
from ..errors import AiostoreError, FileLockedError, ServiceClosedError, StoreAbortedError
from .heapfreezing import THAW_AFTER, HeapFreezer
from .live import client
from .live.server import Servers
from .requests import (
    Backup,
    CloseFile,
    ForeignRead,
    ListTrajectories,
    MergeTrajectories,
    PutObject,
    ReadObjects,
    RemoveIncompleteRuns,
    RemoveItems,
    Sequence,
    Target,
    WriteItems,
)

__all__ = ["Durability", "RunStream", "Ticket", "Worker", "current_worker", "streams",
           "THREAD_NAME"]

log = logging.getLogger("aiostore.worker")

THREAD_NAME = "aiostore-hdf5"

# The HDF5 thread lets other threads run at least this often (seconds) while it works.
YIELD_EVERY = 0.002

# At most this many stores of runs are written as one request: it holds the GIL throughout,
# and the event loop waits for it.
JOIN_AT_MOST = 100

# While jobs stream in, the thread waits up to GATHER_SECONDS for a batch of GATHER_JOBS,
# as long as each GATHER_SLICE brings more (a lone store is never kept waiting).
GATHER_JOBS = 100
GATHER_SECONDS = 0.005
GATHER_SLICE = 0.0005

# Answered once the batch is durable; reads are answered as soon as they are executed.
_ACKNOWLEDGED_AFTER_BATCH = (WriteItems, RemoveItems, RemoveIncompleteRuns, MergeTrajectories,
                             CloseFile)


class Durability(enum.StrEnum):
    """What the HDF5 thread does with the files a batch touched before acknowledging its writes.

    ``FLUSH``: flush them and keep them open (fast; another process cannot open the file while
    it is open here). ``CLOSE``: close them (slower; the file is complete on disk and free for
    other processes and tools between batches, as pypet leaves it after every call).
    """

    FLUSH = "flush"
    CLOSE = "close"


@dataclass(eq=False)
class RunStream:
    """Stores of runs that one owner queued without waiting (``put``), one after another: while
    its ticket waits at the tail of the queue, each next store of the owner joins it. The queue
    then holds one ticket, one future and one tracking for up to :data:`JOIN_AT_MOST` runs; a
    ticket each cost the caller's thread more than planning the run. Written as one request,
    or (if that fails) each alone; its answer maps the positions of failed stores to their
    errors. ``members`` is what the owner keeps of each store (to finish it, or name it)."""

    target: Target
    owner: object
    requests: list[WriteItems]
    members: list[Any]


def streams(request: Any) -> bool:
    """Whether a store of ``request`` nobody waits for may join a :class:`RunStream`."""
    return type(request) is WriteItems and adds_runs(request)


@dataclass(eq=False)
class Ticket:
    """One request on its way through the queue, and the future that carries its answer.

    ``jobs`` is how many jobs it counts for in the queue's bound (a stream's runs)."""

    request: Any
    durability: Durability = Durability.FLUSH
    future: Future[Any] = field(default_factory=Future)
    jobs: int = 1

    def __post_init__(self) -> None:
        request = self.request
        if type(request) is WriteItems or type(request) is RunStream:  # most: said at once
            writes = request.requests if isinstance(request, RunStream) else [request]
            self.filenames = _absolute_names((request.target.filename,))
            self.acknowledged_after_batch = True
            self.nbytes = sum([write_nbytes(write) for write in writes])
            self.jobs = len(writes)
            return
        self.filenames = _absolute_names(tuple(_filenames(request)))
        # A write is acknowledged once durable; anything under CLOSE once its file is closed
        # (a lock wrapper releases its lock then, and another process opens the file).
        self.acknowledged_after_batch = self.durability is Durability.CLOSE or any(
            isinstance(part, _ACKNOWLEDGED_AFTER_BATCH) for part in _parts(self.request))
        self.nbytes = sum(_queued_nbytes(part) for part in _parts(self.request))


def write_nbytes(request: WriteItems) -> int:
    """The bytes of a write's encoded values (what it holds in the queue)."""
    return (sum([leaf.nbytes for leaf in request.leaves])
            + sum([len(row.row) for row in request.rows]))


def _absolute_names(names: tuple[str, ...]) -> frozenset[str]:
    return _absolute(names, os.getcwd() if not all(map(os.path.isabs, names)) else "")


@functools.lru_cache(maxsize=256)
def _absolute(names: tuple[str, ...], folder: str) -> frozenset[str]:
    """``names`` made absolute (relative names are relative to ``folder``): the same few
    names, store after store, are worth remembering (and their set shared)."""
    return frozenset(os.path.normpath(os.path.join(folder, name)) for name in names)


def _parts(request: Any) -> Iterator[Any]:
    if isinstance(request, Sequence):
        for part in request.requests:
            yield from _parts(part)
    else:
        yield request


def _filenames(request: Any) -> Iterator[str]:
    for part in _parts(request):
        if isinstance(part, ListTrajectories | CloseFile | ForeignRead):
            yield part.filename
        elif isinstance(part, PutObject | ReadObjects):
            continue  # the engine closes an object cache's files before answering
        elif isinstance(part, Backup):
            yield part.target.filename  # the backup file is opened and closed by the engine
        else:
            yield part.target.filename


def _queued_nbytes(request: Any) -> int:
    if isinstance(request, WriteItems):
        return write_nbytes(request)
    if isinstance(request, PutObject):
        return request.tree.nbytes
    return 0


class Worker:
    """The job queue and the HDF5 thread that drains it.

    ``max_jobs`` and ``max_bytes`` bound the queue (a job bigger than ``max_bytes`` is let in
    alone); ``batch_jobs`` caps how many jobs share one flush, which bounds how long an early
    write of a busy batch waits for its acknowledgement.
    """

    def __init__(self, max_jobs: int = 1000, max_bytes: int = 256 * 2**20,
                 batch_jobs: int = 500) -> None:
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self.batch_jobs = batch_jobs
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._queue: collections.deque[Ticket] = collections.deque()
        self._queued_bytes = 0
        self._running = 0  # jobs taken from the queue whose memory is not released yet
        self._space: Future[None] | None = None
        self._users = 0
        self._shutting_down = False
        self._thread: threading.Thread | None = None
        self._streaming = False  # the last batch held several jobs
        self._heap = HeapFreezer()
        self._engine = Engine()
        self._servers = Servers(self)  # reads of the files it writes, for other processes

    # -- producers ----------------------------------------------------------------------------

    def attach(self) -> None:
        """Count a service as a user: the thread stays up while any service is attached."""
        with self._lock:
            self._users += 1

    def detach(self) -> None:
        with self._lock:
            self._users -= 1
            self._wakeup.notify()

    @contextlib.contextmanager
    def heap_held(self) -> Iterator[None]:
        """The garbage collector's heap frozen, and no collection, while a caller makes many
        objects at once (a big trajectory's run records; see :mod:`.heapfreezing`)."""
        with self._lock:
            holding = self._heap.held()
            holding.__enter__()
        try:
            yield
        finally:
            with self._lock:
                holding.__exit__(None, None, None)

    def offer(self, ticket: Ticket, first: bool = False) -> Future[None] | None:
        """Queue ``ticket`` if there is room and return None; else a future that completes on room.

        The caller waits on the returned future (blocking or awaiting) and offers again.
        ``first``: ahead of every queued ticket, room or not (another process's read, served
        by :mod:`aiostore._core.live`: it needs no write still queued, only those acknowledged).
        """
        self._check_caller()
        with self._lock:
            space = self._room_for(ticket.nbytes, needed=not first)
            if space is not None:
                return space
            if first:
                self._queue.appendleft(ticket)
            else:
                self._queue.append(ticket)
            self._count_in(ticket.nbytes, new_ticket=True)
            return None

    def offer_run(self, owner: object, request: WriteItems, member: Any
                  ) -> Ticket | Future[None] | None:
        """Queue a store of runs (:func:`streams`) in ``owner``'s :class:`RunStream` at the tail
        of the queue, if there is room: None; a new stream's ticket where there was none to join
        (the caller tracks it); or, while the queue is full, a future that completes on room
        (the caller waits on it and offers again)."""
        self._check_caller()
        nbytes = write_nbytes(request)
        with self._lock:
            space = self._room_for(nbytes)
            if space is not None:
                return space
            last = self._queue[-1] if self._queue else None
            stream = last.request if last is not None else None
            fresh = None
            if (type(stream) is RunStream and stream.owner is owner and last is not None
                    and len(stream.requests) < JOIN_AT_MOST
                    and _same_target(stream.target, request.target)):
                stream.requests.append(request)  # not taken yet: the thread takes under the lock
                stream.members.append(member)
                last.nbytes += nbytes
                last.jobs += 1
            else:
                fresh = Ticket(RunStream(request.target, owner, [request], [member]))
                self._queue.append(fresh)
            self._count_in(nbytes, new_ticket=fresh is not None)
            return fresh

    def _check_caller(self) -> None:
        if threading.current_thread() is self._thread:
            raise AiostoreError("a job submitted from the HDF5 thread itself would wait forever")

    def _room_for(self, nbytes: int, needed: bool = True) -> Future[None] | None:
        """With the lock held: None if a job of ``nbytes`` may be queued (or room is not
        ``needed``), else the future that completes on room; raises once shut down."""
        if self._shutting_down:
            raise ServiceClosedError("the HDF5 thread has shut down (interpreter exit)")
        if not needed or not self._running or self._has_room(nbytes):
            return None
        if self._space is None:
            self._space = Future()
        return self._space

    def _count_in(self, nbytes: int, new_ticket: bool) -> None:
        """With the lock held: count a job just queued (in a ``new_ticket`` or a stream's)."""
        self._queued_bytes += nbytes
        self._running += 1
        if self._thread is None:
            self._start()
        # what the thread waits for (no more): a first ticket, or enough jobs to gather
        if (new_ticket and len(self._queue) == 1) or self._running == GATHER_JOBS:
            self._wakeup.notify()

    def submit(self, ticket: Ticket) -> Ticket:
        """Queue ``ticket``, blocking the calling thread while the queue is full."""
        while (space := self.offer(ticket)) is not None:
            space.result()
        return ticket

    def withdraw(self, tickets: set[Ticket]) -> list[Ticket]:
        """Take those of ``tickets`` that are still queued off the queue, in queue order; each
        is answered with :class:`~aiostore.errors.StoreAbortedError`. The others (being
        executed or done) are left as they are."""
        with self._lock:
            taken = [ticket for ticket in self._queue if ticket in tickets]
            if taken:
                self._queue = collections.deque(t for t in self._queue if t not in tickets)
        for ticket in taken:
            self._release(ticket)
            ticket.future.set_exception(StoreAbortedError("the service was aborted before "
                                                          "this store was written"))
        return taken

    def _has_room(self, nbytes: int) -> bool:
        return self._running < self.max_jobs and self._queued_bytes + nbytes <= self.max_bytes

    @property
    def queued(self) -> int:
        """Jobs submitted and not yet executed."""
        with self._lock:
            return self._running

    # -- the thread ---------------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._execute(batch)

    def _next_batch(self) -> list[Ticket] | None:
        """Wait for work; None (and the thread ends) once idle with no user attached."""
        while True:
            with self._lock:
                while not self._queue and self._users > 0 and not self._shutting_down:
                    if not self._wakeup.wait(THAW_AFTER if self._heap.frozen else None):
                        self._heap.thaw()  # idle a while: the collector gets everything back
                if self._queue and self._streaming:
                    self._gather()
                if self._queue:
                    return self._take_batch()
            self._close_all()  # idle and unused: close every file before deciding to stop
            with self._lock:
                if not self._queue:
                    self._heap.thaw()
                    self._thread = None
                    return None

    def _take_batch(self) -> list[Ticket]:
        """The queue's first tickets, up to ``batch_jobs`` jobs (at least one ticket)."""
        batch = [self._queue.popleft()]
        jobs = batch[0].jobs
        while self._queue and jobs + self._queue[0].jobs <= self.batch_jobs:
            batch.append(self._queue.popleft())
            jobs += batch[-1].jobs
        return batch

    def _gather(self) -> None:
        """While stores keep coming (the queued jobs grow), wait a little for more of them: a
        batch pays one flush and one journal sync, however many stores it holds. Called with
        the lock held; it is let go while waiting."""
        deadline = time.monotonic() + GATHER_SECONDS
        seen = self._running  # all queued: the last batch is released
        while seen < GATHER_JOBS and not self._shutting_down:
            self._wakeup.wait(GATHER_SLICE)
            if self._running == seen or time.monotonic() >= deadline:
                return
            seen = self._running

    def _close_all(self) -> None:
        try:
            self._engine.close()
        except Exception:  # its writes were acknowledged: the journal keeps them (see engine)
            log.exception("closing the files of the HDF5 thread failed")
        self._servers.serve(())

    def _execute(self, batch: list[Ticket]) -> None:
        written: list[tuple[Ticket, Any]] = []
        refused: list[tuple[Ticket, Exception]] = []
        next_yield = 0.0
        for tickets in _joinable_runs(batch):
            if len(tickets) == 1 or not self._execute_joined(tickets, written):
                for ticket in tickets:
                    self._execute_one(ticket, written, refused)
            if time.perf_counter() >= next_yield:
                # Let other threads (an event loop) take the GIL: every job would cost each
                # a thread switch; every couple of milliseconds bounds what they wait.
                time.sleep(0)
                next_yield = time.perf_counter() + YIELD_EVERY
        failure = self._make_durable(batch)
        self._servers.serve(self._engine.written_files)
        jobs = sum([ticket.jobs for ticket in batch])
        with self._lock:
            self._heap.after_batch(jobs)
        # a batch of several stores, and more queued meanwhile: a stream, worth gathering
        self._streaming = jobs > 1
        for ticket, answer in written:
            if failure is None:
                ticket.future.set_result(answer)
            else:
                ticket.future.set_exception(failure)
        for ticket, error in refused:
            ticket.future.set_exception(error)

    def _execute_one(self, ticket: Ticket, written: list[tuple[Ticket, Any]],
                     refused: list[tuple[Ticket, Exception]]) -> None:
        if type(ticket.request) is RunStream:
            written.append((ticket, self._execute_stream(ticket.request)))
            self._release(ticket)
            return
        if client.forward_first(ticket):  # a read of a file another process writes, lately
            self._release(ticket)
            return
        try:
            answer = self._engine.execute(ticket.request)
        except Exception as exc:
            if isinstance(exc, FileLockedError) and client.forward(ticket):
                pass  # a read of a file another process writes: that writer answers it
            # under CLOSE a refusal too waits for the close: its caller may hand the file to
            # another process as soon as it hears
            elif ticket.durability is Durability.CLOSE:
                refused.append((ticket, exc))
            else:
                ticket.future.set_exception(exc)
        else:
            if ticket.acknowledged_after_batch:
                written.append((ticket, answer))
            else:
                ticket.future.set_result(answer)
        self._release(ticket)

    def _execute_joined(self, tickets: list[Ticket], written: list[tuple[Ticket, Any]]) -> bool:
        """Write the runs of ``tickets`` as one request; False if it failed (having written
        nothing): then each is made alone, and fails or succeeds on its own."""
        try:
            self._engine.execute(joined([ticket.request for ticket in tickets]))
        except Exception as exc:
            log.debug("%d runs written together failed (%s): written one by one", len(tickets),
                      exc)
            return False
        for ticket in tickets:
            written.append((ticket, None))
            self._release(ticket)
        return True

    def _execute_stream(self, stream: RunStream) -> dict[int, Exception]:
        """Write a stream's runs as one request, or each alone if that fails (having written
        nothing); the errors of those that failed, by position."""
        failures: dict[int, Exception] = {}
        try:
            self._engine.execute(joined(stream.requests))
        except Exception as exc:
            log.debug("%d runs written together failed (%s): written one by one",
                      len(stream.requests), exc)
            for position, request in enumerate(stream.requests):
                try:
                    self._engine.execute(request)
                except Exception as error:
                    failures[position] = error
        stream.requests = []  # the encoded data is written: let it go
        return failures

    def _release(self, ticket: Ticket) -> None:
        with self._lock:
            self._queued_bytes -= ticket.nbytes
            self._running -= ticket.jobs
            space, self._space = self._space, None
        ticket.request = None  # the encoded data is written: let it go
        if space is not None:
            space.set_result(None)

    def _make_durable(self, batch: list[Ticket]) -> Exception | None:
        closing = {name for ticket in batch if ticket.durability is Durability.CLOSE
                   for name in ticket.filenames}
        try:
            for name in closing:
                self._engine.close(name)
            self._engine.flush()
        except Exception as exc:
            return exc
        return None

    # -- shutdown -----------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Refuse new jobs, finish the queued ones, close every file and end the thread."""
        with self._lock:
            self._shutting_down = True
            thread = self._thread
            self._wakeup.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def abandon(self) -> None:
        """In a forked child: drop the parent's queue and open files without touching them."""
        self._queue.clear()
        self._engine.abandon()
        self._servers.abandon()
        self._heap.thaw()  # the parent's thread froze them; none is left here to thaw them


def _same_target(target: Any, other: Any) -> bool:
    return target is other or target == other  # planning hands out one object per target


def _joinable_runs(batch: list[Ticket]) -> Iterator[list[Ticket]]:
    """The batch in order, in runs of tickets that may be written as one request (stores of
    runs to one trajectory, acknowledged after the flush), at most :data:`JOIN_AT_MOST` each;
    any other ticket alone."""
    group: list[Ticket] = []
    for ticket in batch:
        joinable = ticket.durability is Durability.FLUSH and adds_runs(ticket.request)
        if (joinable and group and len(group) < JOIN_AT_MOST
                and _same_target(ticket.request.target, group[0].request.target)):
            group.append(ticket)
            continue
        if group:
            yield group
        group = [ticket] if joinable else []
        if not joinable:
            yield [ticket]
    if group:
        yield group


class _ProcessWorker:
    """The worker of this process, made on first use."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self.lock = threading.Lock()
        self.forks = 0  # how often this process forked: services that share files look

    def close_before_fork(self) -> None:
        """Before this process forks: close the files the HDF5 thread holds open, so that the
        child may open them (HDF5 locks a file open for writing), and count the fork."""
        self.forks += 1
        worker = self.worker
        if worker is not None and worker._thread is not None:
            worker.submit(Ticket(CloseFile(""))).future.result()

    def get(self) -> Worker:
        worker = self.worker  # every call asks: no lock once it is made
        if worker is not None:
            return worker
        with self.lock:
            if self.worker is None:
                self.worker = Worker()
            return self.worker

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.shutdown()

    def forget_after_fork(self) -> None:
        # The parent's HDF5 thread does not exist in the child, and the locks may be held:
        # start afresh, leaving the parent's open files alone (closing them writes to them).
        if self.worker is not None:
            self.worker.abandon()
        self.worker = None
        self.lock = threading.Lock()


_process_worker = _ProcessWorker()


def current_worker() -> Worker:
    """This process's worker, made on first use (its thread starts with its first job)."""
    return _process_worker.get()


# atexit hooks run only after non-daemon threads end; threading's own hook runs before that.
threading._register_atexit(_process_worker.shutdown)  # type: ignore[attr-defined]
os.register_at_fork(before=_process_worker.close_before_fork,
                    after_in_child=_process_worker.forget_after_fork)


def forks() -> int:
    """How often this process has forked (a file a service keeps open may be shared since)."""
    return _process_worker.forks
