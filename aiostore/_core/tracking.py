"""Keeping track of queued work that nobody awaits, so that none of its errors is lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import FailedStoresError, StoreAbortedError
from .planning import Job
from .worker import RunStream, Ticket

__all__ = ["Tracker", "closing_note"]


class _Settle:
    """What a tracked future calls when done (one object, where a closure takes five)."""

    __slots__ = ("finish", "label", "tracker")

    def __init__(self, tracker: Tracker, finish: Callable[[Any], Any], label: object) -> None:
        self.tracker, self.finish, self.label = tracker, finish, label

    def __call__(self, future: Future[Any]) -> None:
        self.tracker._settle(future, self.finish, self.label)


class _SettleStream:
    """What a tracked stream's future calls when done."""

    __slots__ = ("stream", "tracker")

    def __init__(self, tracker: Tracker, stream: RunStream) -> None:
        self.tracker, self.stream = tracker, stream

    def __call__(self, future: Future[Any]) -> None:
        self.tracker._settle_stream(future, self.stream)


class Tracker:
    """Tickets in flight; when each is done its job is finished or its error kept for later.

    Thread-safe: tickets complete on the HDF5 thread while their owner waits elsewhere.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: set[Future[Any]] = set()
        self._errors: list[Exception] = []
        self._unwritten: list[str] = []  # labels of failed or withdrawn stores, as they settled
        self._drained: Future[None] | None = None

    def track(self, ticket: Ticket, job: Job, label: object) -> None:
        """Keep ``ticket`` until it is done; ``label`` names the call in an error's note."""
        with self._lock:
            self._pending.add(ticket.future)
        # not the job: its request holds the data, to be freed once written
        ticket.future.add_done_callback(_Settle(self, job.finish, label))

    def track_stream(self, ticket: Ticket) -> None:
        """Keep a :class:`~aiostore._core.worker.RunStream`'s ticket until it is done; then finish
        or fail each of its stores (its members are ``(finish, label)`` pairs)."""
        with self._lock:
            self._pending.add(ticket.future)
        ticket.future.add_done_callback(_SettleStream(self, ticket.request))

    def fail(self, error: Exception, label: object) -> None:
        """Keep an error of a call that never became a ticket (bad input read from a queue)."""
        error.add_note(f"in {label}")
        with self._lock:
            self._errors.append(error)
            self._unwritten.append(str(label))

    def _settle(self, future: Future[Any], finish: Callable[[Any], Any], label: object) -> None:
        error = _store_error(future)
        self._conclude(finish, label, error, None if error is not None else future.result())
        self._done(future)

    def _settle_stream(self, future: Future[Any], stream: RunStream) -> None:
        # the stream's own error (withdrawn, or its batch not made durable) is each store's
        error = _store_error(future)
        failures: dict[int, Exception] = {} if error is not None else future.result()
        for position, (finish, label) in enumerate(stream.members):
            self._conclude(finish, label, error or failures.get(position))
        stream.members = []
        self._done(future)

    def _conclude(self, finish: Callable[[Any], Any], label: object, error: Exception | None,
                  answer: Any = None) -> None:
        """Finish one store with its answer, or keep its error (a withdrawn one as unwritten:
        abort(), which withdrew it, reports it)."""
        if isinstance(error, StoreAbortedError):
            with self._lock:
                self._unwritten.append(str(label))
        elif error is not None:
            self.fail(error, label)
        else:
            try:
                finish(answer)
            except Exception as exc:
                self.fail(exc, label)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)
            drained = self._drained if not self._pending else None
            if drained is not None:
                self._drained = None
        if drained is not None:
            drained.set_result(None)

    @property
    def has_errors(self) -> bool:
        """Whether errors were kept since the last :meth:`take_errors`."""
        return bool(self._errors)

    def drained(self) -> Future[None]:
        """A future that completes once every tracked ticket is done."""
        with self._lock:
            if self._pending:
                if self._drained is None:
                    self._drained = Future()
                return self._drained
        done: Future[None] = Future()
        done.set_result(None)
        return done

    def take_unwritten(self) -> list[str]:
        """The labels of the tracked stores that failed or were withdrawn, forgetting their
        errors (they are reported by this, not by :meth:`take_errors`)."""
        with self._lock:
            unwritten, self._unwritten, self._errors = self._unwritten, [], []
        return unwritten

    def take_errors(self) -> FailedStoresError | None:
        """The errors kept since the last call, as one exception group (None if there were none)."""
        with self._lock:
            errors, self._errors, self._unwritten = self._errors, [], []
        if not errors:
            return None
        return FailedStoresError(f"{len(errors)} queued store(s) failed", errors)

    def forget(self) -> None:
        """Drop everything (in a forked child, where the parent's tickets never complete)."""
        self.__init__()  # type: ignore[misc]


def _store_error(future: Future[Any]) -> Exception | None:
    """A done future's error; one that is no store's failure (KeyboardInterrupt) is raised, as
    ``Future.result`` raises it."""
    error = future.exception()
    if error is not None and not isinstance(error, Exception):
        raise error
    return error


def closing_note(failed: FailedStoresError) -> str:
    """A line saying what else failed, for the error that ended a service's ``with`` block."""
    kinds: dict[str, int] = {}
    for error in failed.exceptions:
        kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
    told = ", ".join(f"{count} {name}" for name, count in kinds.items())
    return f"(and {len(failed.exceptions)} stores queued when the service closed failed: {told})"
