"""Where a sweep's simulations run: the runner protocol and the local process pool.

A runner takes a picklable function and a list of tasks and hands back each task's answer as
it finishes, keeping a bounded number in flight. The sweep driver (:mod:`aiostore.sweeps`)
stores the answers; the runner only computes. :class:`ProcessRunner` runs on this machine's
cores through anyio's worker processes (asyncio and trio); :class:`aiostore.dask.DaskRunner`
runs on a Dask cluster.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import anyio.to_process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aiostore.errors import RunnerError

__all__ = ["Finished", "ProcessRunner", "Runner"]

@dataclass(frozen=True)
class Finished:
    """One task's end: its answer, or the exception that ended it after all retries."""

    task: Any
    answer: Any = None
    error: BaseException | None = None


class Runner(Protocol):
    """Computes ``function(task)`` for every task, handing back each end as it comes."""

    def finished(self, function: Callable[[Any], Any],
                 tasks: Iterable[Any]) -> AbstractAsyncContextManager[AsyncIterator[Finished]]:
        """An async context whose iterator yields a :class:`Finished` for every task, in the
        order they end; leaving the context early cancels what is still running."""
        ...


class ProcessRunner:
    """Runs tasks in local worker processes (anyio's process pool), ``workers`` at a time.

    A worker process that dies (killed, out of memory) fails only the task it ran; that task is
    started again on a fresh worker up to ``retries`` times, as Dask does, before it counts as
    failed. Workers import the main module as multiprocessing's spawn does, so a script must
    keep its work under ``if __name__ == "__main__":`` (else :class:`RunnerError`). Leaving the
    iteration early (an error, Ctrl-C, a cancelled scope) kills the workers still running.
    """

    def __init__(self, workers: int | None = None, *, retries: int = 3) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.retries = retries

    def __repr__(self) -> str:
        return f"ProcessRunner(workers={self.workers})"

    @asynccontextmanager
    async def finished(self, function: Callable[[Any], Any],
                       tasks: Iterable[Any]) -> AsyncIterator[AsyncIterator[Finished]]:
        send, receive = anyio.create_memory_object_stream[Finished](math.inf)
        async with anyio.create_task_group() as group:
            group.start_soon(self._run_all, function, tasks, send)
            try:
                yield _iterate(receive)
            finally:
                group.cancel_scope.cancel()

    async def _run_all(self, function: Callable[[Any], Any], tasks: Iterable[Any],
                       send: MemoryObjectSendStream[Finished]) -> None:
        # The semaphore keeps the tasks not yet started out of memory-hungry task objects; the
        # limiter sizes anyio's pool of worker processes (its default is the core count).
        slots, limiter = anyio.Semaphore(self.workers), anyio.CapacityLimiter(self.workers)
        async with send, anyio.create_task_group() as group:
            for task in tasks:
                await slots.acquire()
                group.start_soon(self._run_one, function, task, slots, limiter, send.clone())

    async def _run_one(self, function: Callable[[Any], Any], task: Any, slots: anyio.Semaphore,
                       limiter: anyio.CapacityLimiter,
                       send: MemoryObjectSendStream[Finished]) -> None:
        async with send:
            try:
                end = await self._attempts(function, task, limiter)
            finally:
                slots.release()
            await send.send(end)

    async def _attempts(self, function: Callable[[Any], Any], task: Any,
                        limiter: anyio.CapacityLimiter) -> Finished:
        for attempt in range(self.retries + 1):
            try:
                answer = await anyio.to_process.run_sync(function, task, cancellable=True,
                                                         limiter=limiter)
            except anyio.BrokenWorkerProcess as error:
                if "initialization" in str(error):  # every worker would fail the same way
                    raise RunnerError(
                        "worker processes cannot start: the main module must import without "
                        "side effects (keep its work under `if __name__ == '__main__':`)"
                    ) from error
                if attempt == self.retries:
                    return Finished(task, error=error)
            except Exception as error:
                return Finished(task, error=error)
            else:
                return Finished(task, answer)
        raise AssertionError("unreachable")


async def _iterate(receive: MemoryObjectReceiveStream[Finished]) -> AsyncIterator[Finished]:
    async with receive:
        async for end in receive:
            yield end
