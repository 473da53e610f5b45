"""Draining a queue of store calls from other processes into the HDF5 thread.

The messages are pypet's: ``("STORE", args, kwargs)`` for a call ``store(*args, **kwargs)`` and
``("DONE", [], {})`` for the end, as :class:`~aiostore.compat.pypet.QueueStorageServiceSender`
puts them (``msg`` and ``stuff_to_store`` may come as keywords). A queue of any kind works: a
``multiprocessing`` queue, a manager's queue, a ``queue.Queue``.

Unlike pypet's writer, which logs a failed store and drops it, the drainer keeps going and
raises every failure at the end, as one :class:`~aiostore.errors.FailedStoresError`.
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgumentError
from .session import Session, label
from .tracking import Tracker

__all__ = ["STORE", "DONE", "QueueDrainer", "StoreCall", "read_message"]

STORE = "STORE"
DONE = "DONE"

logger = logging.getLogger("aiostore")


@dataclass(frozen=True)
class StoreCall:
    """One ``store(msg, stuff_to_store, *args, **kwargs)`` call read from a queue."""

    msg: Any
    item: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def read_message(message: Any) -> StoreCall | None:
    """The store call in a queue message; None for DONE. Anything else is an error."""
    try:
        kind, args, kwargs = message
        args, kwargs = list(args), dict(kwargs)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"not a queue message: {message!r}") from None
    if kind == DONE:
        return None
    if kind != STORE:
        raise InvalidArgumentError(f"queue message {kind!r}: expected {STORE!r} or {DONE!r}")
    msg = kwargs.pop("msg") if "msg" in kwargs else args.pop(0) if args else None
    item = kwargs.pop("stuff_to_store") if "stuff_to_store" in kwargs else (
        args.pop(0) if args else None)
    if msg is None:
        raise InvalidArgumentError(f"queue message without a message to store: {message!r}")
    return StoreCall(msg, item, tuple(args), kwargs)


class QueueDrainer:
    """Reads store calls from ``queue`` and queues them for the HDF5 thread, until DONE.

    Calls are planned with ``session``'s defaults. ``run`` returns once DONE was read and every
    store is written (or ``stop`` was set); it raises the failures of all of them at the end.
    """

    def __init__(self, session: Session, queue: Any, poll_interval: float = 0.1) -> None:
        self.session = session
        self.queue = queue
        self.poll_interval = poll_interval
        self.tracker = Tracker()
        self.count = 0

    def run(self, stop: threading.Event | None = None) -> None:
        while stop is None or not stop.is_set():
            message = self._receive()
            if message is not None and not self._handle(message):
                break
        self.tracker.drained().result()
        errors = self.tracker.take_errors()
        if errors is not None:
            raise errors

    def _receive(self) -> Any:
        try:
            message = self.queue.get(True, self.poll_interval)
        except queue_module.Empty:
            return None
        if hasattr(self.queue, "task_done"):
            self.queue.task_done()
        return message

    def _handle(self, message: Any) -> bool:
        """Queue one message's store; False once the message is DONE."""
        try:
            call = read_message(message)
        except InvalidArgumentError as exc:
            self._failed(exc, "a queue message")
            return True
        if call is None:
            return False
        what = label("store", call.msg, call.item)
        try:
            job = self.session.plan("store", call.msg, call.item, call.args, call.kwargs)
        except Exception as exc:
            self._failed(exc, what)
            return True
        ticket = self.session.worker().submit(self.session.ticket(job))
        self.tracker.track(ticket, job, what)
        self.count += 1
        return True

    def _failed(self, error: Exception, what: object) -> None:
        logger.error("queued %s failed: %s", what, error)
        self.tracker.fail(error, what)
