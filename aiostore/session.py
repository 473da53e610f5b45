"""What the blocking and the async service share: planning calls into tickets for the HDF5 thread.

A :class:`Session` is one service's link to the process's :class:`~aiostore.worker.Worker`: its
defaults (file, title, trajectory, compression), its durability, and the stores it queued without
waiting (``put``), whose errors it keeps until someone asks for them. It blocks on nothing and
knows no event loop; the two faces decide how to wait.
"""

from __future__ import annotations

import collections
import os
import tempfile
import threading
import uuid
import weakref
from concurrent.futures import Future
from typing import Any

from .engine.nodes import filters_for
from .errors import FailedStoresError, InvalidArgumentError, ServiceClosedError
from .framing import Where, plan_frame
from .messages import to_msg
from .planning import Defaults, Job, describe, list_trajectories, plan_load, plan_store
from .requests import CloseFile
from .tracking import Tracker
from .worker import Durability, Ticket, Worker, current_worker, streams


class _Process:
    """This process's id, kept up to date across forks: asked at every store, and
    ``os.getpid()`` is a system call."""

    pid = os.getpid()

    @classmethod
    def forked(cls) -> None:
        cls.pid = os.getpid()


_process = _Process
os.register_at_fork(after_in_child=_Process.forked)

__all__ = ["Session"]


class _MemoryFiles:
    """How many open sessions use each file held in memory: the last one to close closes it."""

    def __init__(self) -> None:
        self._users: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def take(self, filename: str) -> None:
        with self._lock:
            self._users[os.path.abspath(filename)] += 1

    def release(self, filename: str) -> bool:
        """Whether that was the last user."""
        with self._lock:
            name = os.path.abspath(filename)
            self._users[name] -= 1
            if self._users[name] > 0:
                return False
            del self._users[name]
            return True


_memory_files = _MemoryFiles()


def _memory_filename() -> str:
    # a name no file on disk has, so the file starts empty; it is never created there
    return os.path.join(tempfile.gettempdir(), f"aiostore-memory-{uuid.uuid4().hex}.h5")


class Session:
    """One service's defaults, durability and unawaited stores; see the module docstring."""

    def __init__(self, filename: str | None, file_title: str, trajectory_name: str | None,
                 durability: Durability | str, compression: str | None,
                 compression_level: int, packed_runs: bool = False, journal: bool = True,
                 in_memory: bool = False, save_on_close: bool = False) -> None:
        codec = (compression, compression_level) if compression else None
        filters_for(codec)  # a bad library or level fails here, before any job
        self.durability = Durability(durability)
        _check_memory_options(self.durability, in_memory, save_on_close, filename)
        if in_memory:
            filename = filename or _memory_filename()
            journal = False  # nothing on disk to recover
            _memory_files.take(filename)
        self._holds_memory_file = in_memory
        self.defaults = Defaults(filename, file_title, trajectory_name, codec, packed_runs,
                                 journal, in_memory, save_on_close)
        self.closed = False
        self.tracker = Tracker()
        self._tickets: weakref.WeakSet[Ticket] = weakref.WeakSet()  # this session's, in flight
        self._pid = os.getpid()
        self._attached = True
        current_worker().attach()

    # -- planning and submitting -------------------------------------------------------------

    def plan(self, verb: str, msg: object, item: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Job:
        """Check and snapshot a call (in the caller's thread); raises on bad input."""
        self.check_open()
        if verb == "store":
            return plan_store(msg, item, args, kwargs, self.defaults)
        return plan_load(msg, item, args, kwargs, self.defaults)

    def plan_listing(self) -> Job:
        self.check_open()
        if self.defaults.filename is None:
            raise InvalidArgumentError("no filename: give the service one to list its trajectories")
        return list_trajectories(self.defaults.filename, self.defaults.in_memory)

    def plan_describe(self, trajectory_name: str | None, path: str | None, recursive: bool,
                      max_depth: int | None) -> Job:
        self.check_open()
        return describe(self.defaults, trajectory_name, path, recursive, max_depth)

    def plan_frame(self, trajectory_name: str | None, result: str, keys: Any,
                   where: Where | None) -> Job:
        """The first job of ``load_frame``: its finish returns the second."""
        self.check_open()
        return plan_frame(self.defaults, trajectory_name, result, keys, where)

    def ticket(self, job: Job, durability: Durability | None = None) -> Ticket:
        ticket = Ticket(job.request, durability or self.durability)
        self._tickets.add(ticket)
        return ticket

    def streams(self, job: Job) -> bool:
        """Whether ``job``, queued by ``put``, joins this session's stream of runs
        (:meth:`offer_run`) instead of a ticket of its own."""
        return self.durability is Durability.FLUSH and streams(job.request)

    def offer_run(self, job: Job, label: object) -> Future[None] | None:
        """Queue a store of runs nobody awaits (``put``) in this session's stream, tracked as
        :meth:`track` tracks a ticket: None once queued; while the queue is full, a future that
        completes on room (wait on it, then offer again)."""
        offered = self.worker().offer_run(self, job.request, (job.finish, label))
        if isinstance(offered, Ticket):  # a new stream: tracked (its later members with it)
            self._tickets.add(offered)
            self.tracker.track_stream(offered)
            return None
        return offered

    def worker(self) -> Worker:
        """The worker of this process; a session used in a forked child attaches to the child's."""
        if self._pid != _process.pid:
            self._pid = _process.pid
            self.tracker.forget()
            if self._attached:
                current_worker().attach()
        return current_worker()

    def check_open(self) -> None:
        if self.closed:
            raise ServiceClosedError("the storage service is closed")

    # -- stores nobody awaits ----------------------------------------------------------------

    def track(self, ticket: Ticket, job: Job, label: object) -> None:
        """Keep ``ticket`` until it is done; finish its job then, or keep its error for later."""
        self.tracker.track(ticket, job, label)

    def drained(self) -> Future[None]:
        """A future that completes once every tracked store is done."""
        return self.tracker.drained()

    def take_errors(self) -> FailedStoresError | None:
        """The errors of tracked stores since the last call, as one exception group."""
        return self.tracker.take_errors()

    # -- closing -----------------------------------------------------------------------------

    def withdraw(self) -> bool:
        """Mark the session closed and take its stores that are still queued off the queue
        (each answered with StoreAbortedError); False if it was closed already."""
        if self.closed:
            return False
        self.closed = True
        if self._pid == os.getpid():
            current_worker().withdraw(set(self._tickets))
        return True

    def take_unwritten(self) -> list[str]:
        """The labels of this session's unawaited stores that failed or were withdrawn."""
        return self.tracker.take_unwritten()

    def close_ticket(self) -> Ticket | None:
        """Mark the session closed; the ticket (to submit) that closes its file after its work.

        None if it was closed already or has no file of its own.
        """
        if self.closed:
            return None
        self.closed = True
        return self.last_close_ticket()

    def close_file_ticket(self) -> Ticket | None:
        """The ticket (to submit) that closes this session's file once its queued work is done;
        None for a file in memory, which lives as long as the sessions using it."""
        if self.defaults.filename is None or self.defaults.in_memory:
            return None
        return Ticket(CloseFile(self.defaults.filename))

    def last_close_ticket(self) -> Ticket | None:
        """As :meth:`close_file_ticket`, at the session's end: a file in memory is closed (and
        so gone, or saved) once no other session uses it."""
        if self._release_memory_file():
            return Ticket(CloseFile(str(self.defaults.filename)))
        return self.close_file_ticket()

    def _release_memory_file(self) -> bool:
        if not self._holds_memory_file:
            return False
        self._holds_memory_file = False
        return _memory_files.release(str(self.defaults.filename))

    def detach(self) -> None:
        """Stop counting as a user of the worker (once); the thread may then stop when idle.

        A file in memory whose last session is dropped unclosed stays open until the HDF5
        thread is idle with no session left; it then closes every file.
        """
        self.closed = True
        self._release_memory_file()
        if self._attached:
            self._attached = False
            if self._pid == os.getpid():
                current_worker().detach()


def _check_memory_options(durability: Durability, in_memory: bool, save_on_close: bool,
                          filename: str | None) -> None:
    if save_on_close and not (in_memory and filename):
        raise InvalidArgumentError("save_on_close writes a file held in memory to its filename: "
                                   "it needs in_memory=True and a filename")
    if in_memory and durability is Durability.CLOSE:
        raise InvalidArgumentError("durability='close' would drop a file held in memory after "
                                   "each batch: use the default, 'flush'")


class Label:
    """How an error note names a call: ``store LEAF results.z``, ``store SINGLE_RUN
    run_00000007``; the text is made only when a note needs it (most calls never fail)."""

    __slots__ = ("item", "msg", "verb")

    def __init__(self, verb: str, msg: object, item: Any) -> None:
        self.verb, self.msg, self.item = verb, msg, item

    def __str__(self) -> str:
        item = self.item
        name = (getattr(item, "v_full_name", None) or getattr(item, "v_name", None)
                or type(item).__name__)
        try:
            message: object = to_msg(self.msg).value
        except Exception:
            message = self.msg
        return f"{self.verb} {message} {name}"


def label(verb: str, msg: object, item: Any) -> Label:
    """The :class:`Label` of a call."""
    return Label(verb, msg, item)
