"""What the blocking and the async service share: planning calls into tickets for the HDF5 thread.

A :class:`Session` is one service's link to the process's :class:`~aiostore.worker.Worker`: its
defaults (file, title, trajectory, compression), its durability, and the stores it queued without
waiting (``put``), whose errors it keeps until someone asks for them. It blocks on nothing and
knows no event loop; the two faces decide how to wait.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import Future
from typing import Any

from .engine.nodes import filters_for
from .errors import FailedStoresError, InvalidArgumentError, ServiceClosedError
from .messages import to_msg
from .planning import Defaults, Job, describe, list_trajectories, plan_load, plan_store
from .requests import CloseFile
from .tracking import Tracker
from .worker import Durability, Ticket, Worker, current_worker

__all__ = ["Session"]


class Session:
    """One service's defaults, durability and unawaited stores; see the module docstring."""

    def __init__(self, filename: str | None, file_title: str, trajectory_name: str | None,
                 durability: Durability | str, compression: str | None,
                 compression_level: int, packed_runs: bool = False, journal: bool = True) -> None:
        codec = (compression, compression_level) if compression else None
        filters_for(codec)  # a bad library or level fails here, before any job
        self.defaults = Defaults(filename, file_title, trajectory_name, codec, packed_runs,
                                 journal)
        self.durability = Durability(durability)
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
        return list_trajectories(self.defaults.filename)

    def plan_describe(self, trajectory_name: str | None, path: str | None, recursive: bool,
                      max_depth: int | None) -> Job:
        self.check_open()
        return describe(self.defaults, trajectory_name, path, recursive, max_depth)

    def ticket(self, job: Job, durability: Durability | None = None) -> Ticket:
        ticket = Ticket(job.request, durability or self.durability)
        self._tickets.add(ticket)
        return ticket

    def worker(self) -> Worker:
        """The worker of this process; a session used in a forked child attaches to the child's."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self.tracker.forget()
            if self._attached:
                current_worker().attach()
        return current_worker()

    def check_open(self) -> None:
        if self.closed:
            raise ServiceClosedError("the storage service is closed")

    # -- stores nobody awaits ----------------------------------------------------------------

    def track(self, ticket: Ticket, job: Job, label: str) -> None:
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
        return self.close_file_ticket()

    def close_file_ticket(self) -> Ticket | None:
        """The ticket (to submit) that closes this session's file once its queued work is done."""
        if self.defaults.filename is None:
            return None
        return Ticket(CloseFile(self.defaults.filename))

    def detach(self) -> None:
        """Stop counting as a user of the worker (once); the thread may then stop when idle."""
        self.closed = True
        if self._attached:
            self._attached = False
            if self._pid == os.getpid():
                current_worker().detach()


def label(verb: str, msg: object, item: Any) -> str:
    """How an error note names a call: ``store LEAF results.z``, ``store SINGLE_RUN run_00000007``."""
    name = (getattr(item, "v_full_name", None) or getattr(item, "v_name", None)
            or type(item).__name__)
    try:
        message: object = to_msg(msg).value
    except Exception:
        message = msg
    return f"{verb} {message} {name}"
