"""Awaiting, in an event loop, a ``concurrent.futures.Future`` completed by another thread.

The HDF5 thread completes futures and must never wait for an event loop (a loop blocked in a
synchronous call would then stall it: anyio's ``from_thread.run_sync`` has that hazard). So a
completion is handed to the loop with its own non-blocking, thread-safe scheduling call:
``loop.call_soon_threadsafe`` on asyncio, ``TrioToken.run_sync_soon`` on trio.

Ctrl-C on trio: trio raises its ``KeyboardInterrupt`` in whatever code runs when SIGINT comes,
unless that code is KI-protected (then at the main task's next checkpoint). Raised between two
steps of a hand-off (a store tracked but its done callback not yet added, a ticket queued but
the HDF5 thread not woken, a completion posted but its delivery not scheduled), it leaves work
that completes unseen, and a close waits for it for ever. The coroutines that take those steps
are :func:`ki_protected`: there Ctrl-C comes out of an ``await``, as a cancellation does.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.lowlevel

if TYPE_CHECKING:
    from .worker import Ticket, Worker

__all__ = ["ki_protected", "ki_protected_coroutines", "loop_notifier", "queue_ticket",
           "queue_with", "wait_future"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

# Functions to mark KI-protected once trio is imported (trio stays optional: not imported here)
_unmarked: list[Callable[..., Any]] = []
_marking = threading.Lock()  # two event loops in two threads may mark at once


def ki_protected(function: F) -> F:
    """``function``, marked so that on trio Ctrl-C's ``KeyboardInterrupt`` never lands inside
    its own steps (nor in what it calls): it is raised at the next checkpoint instead."""
    _unmarked.append(function)
    _mark_on_trio()
    return function


def ki_protected_coroutines(cls: C) -> C:
    """``cls``, each of its coroutine methods :func:`ki_protected`."""
    for member in vars(cls).values():
        if inspect.iscoroutinefunction(member):
            ki_protected(member)
    return cls


def _mark_on_trio() -> None:
    # Marks are on the functions' code, read only by trio's SIGINT handler: harmless on asyncio.
    # Checked again on each hand-off, as trio may be imported after this module.
    if _unmarked and "trio" in sys.modules:
        from trio.lowlevel import enable_ki_protection

        with _marking:
            while _unmarked:
                enable_ki_protection(_unmarked.pop())  # trio >= 0.27 marks in place


# How often (seconds) a producer that finds room in the queue lets the loop's other tasks run.
CHECKPOINT_EVERY = 0.001
# (per thread: one event loop runs in a thread at a time, and a RunVar costs more to read)
_loop_thread = threading.local()

# How many completions an event loop is handed per turn of the loop.
DELIVER_AT_ONCE = 8


class _Inbox:
    """Callbacks other threads hand to one event loop, delivered in bursts.

    The HDF5 thread completes a batch of futures at once; waking the loop once for the burst
    (one thread-safe call, one write to its wake-up pipe) instead of once per future saves both
    threads work, and they share one GIL.
    """

    def __init__(self) -> None:
        token: Any = anyio.lowlevel.current_token().native_token
        self._schedule = getattr(token, "call_soon_threadsafe", None) or token.run_sync_soon
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []

    @ki_protected  # run by the loop's thread too: a future completed there posts at once
    def post(self, callback: Callable[[], object]) -> None:
        with self._lock:
            self._callbacks.append(callback)
            if len(self._callbacks) > 1:
                return  # a delivery is scheduled already
        with contextlib.suppress(RuntimeError):  # the loop has ended: nobody waits any more
            self._schedule(self._deliver)

    def _deliver(self) -> None:
        # A few at a time: each wakes a task whose next step may take a while (planning its
        # next store), and the loop's other tasks and timers get their turn between the bursts.
        with self._lock:
            callbacks = self._callbacks[:DELIVER_AT_ONCE]
            del self._callbacks[:DELIVER_AT_ONCE]
            more = bool(self._callbacks)
        if more:
            with contextlib.suppress(RuntimeError):
                self._schedule(self._deliver)
        for callback in callbacks:
            callback()

    @ki_protected
    def post_when_done(self, callback: Callable[[], object], _future: Future[Any]) -> None:
        """:meth:`post`, as a future's done callback."""
        self.post(callback)


_inbox: anyio.lowlevel.RunVar[_Inbox] = anyio.lowlevel.RunVar("aiostore_inbox")


def _current_inbox() -> _Inbox:
    try:
        return _inbox.get()
    except LookupError:
        inbox = _Inbox()
        _inbox.set(inbox)
        return inbox


def loop_notifier(callback: Callable[[], object]) -> Callable[[], None]:
    """A function that any thread may call to run ``callback`` soon in the current event loop."""
    return functools.partial(_current_inbox().post, callback)


@ki_protected
async def wait_future(future: Future[T]) -> T:
    """The future's result (or exception), awaited without blocking the event loop.

    Cancelling the wait leaves the future (and the work behind it) alone.
    """
    _mark_on_trio()
    if future.done():
        await anyio.lowlevel.checkpoint()
    else:
        event = anyio.Event()
        future.add_done_callback(functools.partial(_current_inbox().post_when_done, event.set))
        await event.wait()
    return future.result()


@ki_protected
async def queue_ticket(worker: Worker, ticket: Ticket) -> None:
    """Queue ``ticket`` on ``worker``, waiting (without blocking the loop) while it is full."""
    await queue_with(worker.offer, ticket)


@ki_protected
async def queue_with(offer: Callable[..., Future[None] | None], *args: Any) -> None:
    """Call ``offer(*args)`` until it queues (returns None), waiting (without blocking the
    loop) on the future it returns while the queue is full."""
    _mark_on_trio()
    if time.monotonic() >= getattr(_loop_thread, "next_checkpoint", 0.0):
        # A checkpoint even when there is room, every millisecond: a producer looping over
        # puts must let the other tasks run. Not at every put, which cost a turn of the event
        # loop each (as asyncio.Queue.put, which never yields while there is room). Before
        # the ticket is queued: a cancellation here (Ctrl-C's too) queues nothing, and is not
        # swallowed, as a shielded checkpoint after queueing could swallow it.
        await anyio.lowlevel.checkpoint()
        _loop_thread.next_checkpoint = time.monotonic() + CHECKPOINT_EVERY
    space = offer(*args)
    while space is not None:
        await wait_future(space)
        space = offer(*args)
