"""The awaitable equivalents of pypet's multiprocessing wrappers.

- :class:`AsyncLockWrapper`: every call holds a lock (an async lock, or a thread or process lock
  acquired without blocking the event loop) and closes the file before releasing it, so that
  processes taking turns on one file each find it complete.
- :func:`open_queue`: a :class:`AsyncQueueSender` / :class:`AsyncQueueWriter` pair over an anyio
  memory stream, for in-process producers that should not hold the service.
- :class:`ProcessQueueWriter`: drains a multiprocessing queue, filled by
  :class:`~aiostore.compat.pypet.QueueStorageServiceSender` in worker processes, into the HDF5
  thread, so that workers store results without touching the file.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._core.handoff import wait_future
from ._core.planning import Job
from ._core.session import label
from ._core.tracking import Tracker
from ._core.worker import Durability
from .service import AsyncStorageService

__all__ = ["AsyncLockWrapper", "AsyncQueueSender", "AsyncQueueWriter", "ProcessQueueWriter",
           "open_queue"]

LOAD_REFUSED = ("a queue sender cannot load: it only sends stores. To load while other "
                "processes store, use a lock wrapper.")


class AsyncLockWrapper:
    """Holds ``lock`` around each call of ``service``; the file is closed before the release.

    ``lock`` may be an async lock (``anyio.Lock``, ``asyncio.Lock``, ``trio.Lock``) or a
    ``threading``/``multiprocessing`` lock; a new ``anyio.Lock`` if None. A blocking lock is
    acquired in a worker thread in short waits, so the event loop runs and cancellation works.
    """

    def __init__(self, service: AsyncStorageService, lock: Any = None,
                 poll_interval: float = 0.05) -> None:
        self.service = service
        self.lock = anyio.Lock() if lock is None else lock
        self.poll_interval = poll_interval

    async def store(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> Any:
        """Store under the lock; returns once the item is in the file and the file is closed."""
        async with self._held():
            return await self.service.call("store", msg, stuff_to_store, args, kwargs,
                                           Durability.CLOSE)

    async def load(self, msg: Any, stuff_to_load: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Load under the lock."""
        async with self._held():
            return await self.service.call("load", msg, stuff_to_load, args, kwargs,
                                           Durability.CLOSE)

    @contextlib.asynccontextmanager
    async def _held(self) -> AsyncIterator[None]:
        if hasattr(self.lock, "__aenter__"):
            async with self.lock:
                yield
            return
        lock: Any = self.lock
        while not await anyio.to_thread.run_sync(lock.acquire, True, self.poll_interval):
            pass
        try:
            yield
        finally:
            self.lock.release()

    def __repr__(self) -> str:
        return f"<AsyncLockWrapper of {self.service!r}>"


class AsyncQueueSender:
    """Sends store calls to an :class:`AsyncQueueWriter`; made by :func:`open_queue`.

    A call is checked and snapshotted when it is sent (bad input raises here), so mutating the
    item afterwards changes nothing. Sending waits while the stream's buffer is full.
    """

    def __init__(self, stream: MemoryObjectSendStream[tuple[Job, object]],
                 service: AsyncStorageService) -> None:
        self._stream = stream
        self._service = service

    async def store(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> None:
        """Send a store to the writer."""
        job = await self._service.plan_store(msg, stuff_to_store, args, kwargs)
        await self._stream.send((job, label("store", msg, stuff_to_store)))

    async def load(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(LOAD_REFUSED)

    async def send_done(self) -> None:
        """Tell the writer this sender is done; it stops once every sender (clone) is done."""
        await self._stream.aclose()

    def clone(self) -> AsyncQueueSender:
        """Another sender on the same queue, for another producer task."""
        return AsyncQueueSender(self._stream.clone(), self._service)

    async def __aenter__(self) -> AsyncQueueSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.send_done()


class AsyncQueueWriter:
    """Receives store calls from :class:`AsyncQueueSender` s and queues them for the HDF5 thread."""

    def __init__(self, stream: MemoryObjectReceiveStream[tuple[Job, object]],
                 service: AsyncStorageService) -> None:
        self._stream = stream
        self._service = service
        self.count = 0

    async def run(self) -> None:
        """Store everything sent until every sender is done; then raise the failures, if any.

        Raises :class:`~aiostore.errors.FailedStoresError` with each failed store.
        """
        tracker = Tracker()
        async with self._stream:
            async for job, what in self._stream:
                ticket = await self._service.submit(job)
                tracker.track(ticket, job, what)
                self.count += 1
        await wait_future(tracker.drained())
        errors = tracker.take_errors()
        if errors is not None:
            raise errors


def open_queue(service: AsyncStorageService,
               max_buffer_size: float = 100) -> tuple[AsyncQueueSender, AsyncQueueWriter]:
    """A sender and the writer that stores what it sends through ``service``."""
    send, receive = anyio.create_memory_object_stream[tuple[Job, object]](max_buffer_size)
    return AsyncQueueSender(send, service), AsyncQueueWriter(receive, service)


class ProcessQueueWriter:
    """Drains ``queue`` (pypet's queue messages, from other processes) through ``service``.

    :meth:`run` returns when a DONE message arrives and everything read is written, and raises
    the failures of all of them at the end. The queue is read by a helper thread, so the event
    loop never blocks on it; cancelling ``run`` stops reading (what was read is still stored).
    """

    def __init__(self, service: AsyncStorageService, queue: Any,
                 poll_interval: float = 0.1) -> None:
        self.service = service
        self._drainer = service.queue_drainer(queue, poll_interval)

    @property
    def count(self) -> int:
        """How many stores were read from the queue so far."""
        return self._drainer.count

    async def run(self) -> None:
        stop = threading.Event()
        finished: Future[None] = Future()

        def drain() -> None:
            try:
                self._drainer.run(stop)
            except BaseException as exc:
                finished.set_exception(exc)
            else:
                finished.set_result(None)

        reader = threading.Thread(target=drain, name="aiostore-queue-reader", daemon=True)
        reader.start()
        try:
            await wait_future(finished)
        finally:
            stop.set()
