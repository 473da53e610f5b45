"""Awaiting, in an event loop, a ``concurrent.futures.Future`` completed by another thread.

The HDF5 thread completes futures and must never wait for an event loop (a loop blocked in a
synchronous call would then stall it: anyio's ``from_thread.run_sync`` has that hazard). So a
completion is handed to the loop with its own non-blocking, thread-safe scheduling call:
``loop.call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel

if TYPE_CHECKING:
    from .worker import Ticket, Worker

__all__ = ["loop_notifier", "queue_ticket", "wait_future"]

T = TypeVar("T")


def loop_notifier(callback: Callable[[], object]) -> Callable[[], None]:
    """A function that any thread may call to run ``callback`` soon in the current event loop."""
    token: Any = anyio.lowlevel.current_token().native_token
    schedule = getattr(token, "call_soon_threadsafe", None) or token.run_sync_soon

    def notify() -> None:
        with contextlib.suppress(RuntimeError):  # the loop has ended: nobody waits any more
            schedule(callback)

    return notify


async def wait_future(future: Future[T]) -> T:
    """The future's result (or exception), awaited without blocking the event loop.

    Cancelling the wait leaves the future (and the work behind it) alone.
    """
    if future.done():
        await anyio.lowlevel.checkpoint()
    else:
        event = anyio.Event()
        notify = loop_notifier(event.set)
        future.add_done_callback(lambda _: notify())
        await event.wait()
    return future.result()


async def queue_ticket(worker: Worker, ticket: Ticket) -> None:
    """Queue ``ticket`` on ``worker``, waiting (without blocking the loop) while it is full."""
    space = worker.offer(ticket)
    if space is None:
        # A checkpoint even when there is room: a producer looping over puts must let the
        # other tasks run (and be cancellable), as every anyio call does.
        await anyio.lowlevel.cancel_shielded_checkpoint()
    while space is not None:
        await wait_future(space)
        space = worker.offer(ticket)
