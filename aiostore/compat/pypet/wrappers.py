"""pypet's do-nothing service, lock wrapper and queue sender/writer, for aiostore's services."""

from __future__ import annotations

import threading
from typing import Any, Literal

from ..._core.draining import read_message
from ..._core.worker import Durability
from ...blocking import StorageService

__all__ = ["LazyStorageService", "LockWrapper", "QueueStorageServiceSender",
           "QueueStorageServiceWriter"]

QUEUE_LOAD_REFUSED = ("Queue wrapping cannot load: the sender only sends stores to the writer. "
                      "To load while other processes store, wrap the service with a lock.")


class LazyStorageService:
    """pypet's do-nothing service, for debugging: every call is ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.is_open = False
        self.multiproc_safe = False

    def store(self, *args: Any, **kwargs: Any) -> None:
        """Ignore the store."""

    def load(self, *args: Any, **kwargs: Any) -> None:
        """Ignore the load."""


class LockWrapper:
    """pypet's lock wrapper: each call holds ``lock`` (a thread or process lock).

    A wrapped aiostore service closes the file before the lock is released, so processes that
    take turns on one file each find it complete.
    """

    def __init__(self, storage_service: Any, lock: Any = None) -> None:
        self._storage_service = storage_service
        self.lock = threading.Lock() if lock is None else lock
        self.pickle_lock = True

    @property
    def is_open(self) -> bool:
        return bool(getattr(self._storage_service, "is_open", False))

    @property
    def multiproc_safe(self) -> bool:
        return True

    def store(self, *args: Any, **kwargs: Any) -> Any:
        """Store under the lock."""
        with self.lock:
            return self._call("store", args, kwargs)

    def load(self, *args: Any, **kwargs: Any) -> Any:
        """Load under the lock."""
        with self.lock:
            return self._call("load", args, kwargs)

    def _call(self, verb: Literal["store", "load"], args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
        service = self._storage_service
        if isinstance(service, StorageService) and args:
            msg, item, *rest = (*args, None) if len(args) == 1 else args
            return service.call(verb, msg, item, tuple(rest), kwargs, Durability.CLOSE)
        return getattr(service, verb)(*args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if not self.pickle_lock:
            state["lock"] = None
        return state

    def __repr__(self) -> str:
        return f"<LockWrapper wrapping {self._storage_service!r}>"


class QueueStorageServiceSender:
    """pypet's queue sender: ``store`` puts the call on ``storage_queue`` for the writer."""

    def __init__(self, storage_queue: Any = None) -> None:
        self.queue = storage_queue
        self.pickle_queue = True

    @property
    def is_open(self) -> bool:
        return False

    @property
    def multiproc_safe(self) -> bool:
        return True

    def store(self, *args: Any, **kwargs: Any) -> None:
        """Put the store call on the queue (checked by the writer, which stores it)."""
        message = ("STORE", args, kwargs)
        read_message(message)  # a malformed call fails here, in the sender
        self.queue.put(message, block=True)

    def load(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(QUEUE_LOAD_REFUSED)

    def send_done(self) -> None:
        """Tell the writer to stop once it has stored everything sent before."""
        self.queue.put(("DONE", [], {}), block=True)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if not self.pickle_queue:
            state["queue"] = None
        return state


class QueueStorageServiceWriter:
    """pypet's queue writer: ``run()`` stores what the senders put on the queue, until DONE.

    With an aiostore service the stores are queued for the HDF5 thread as they are read (one
    flush or close per batch); any other service gets one ``store`` call per message.
    ``run`` raises the failed stores at the end, as one ``FailedStoresError``.
    """

    def __init__(self, storage_service: Any, storage_queue: Any,
                 gc_interval: int | None = None) -> None:
        self._storage_service = storage_service
        self.queue = storage_queue
        self.gc_interval = gc_interval

    def run(self) -> None:
        service = self._storage_service
        if isinstance(service, StorageService):
            service.queue_drainer(self.queue).run()
            return
        while (call := read_message(self.queue.get(block=True))) is not None:
            service.store(call.msg, call.item, *call.args, **call.kwargs)

    def __repr__(self) -> str:
        return f"<QueueStorageServiceWriter wrapping {self._storage_service!r}>"
