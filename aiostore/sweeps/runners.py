"""Where a sweep's simulations run: the runner protocol and the local process pool.

A runner takes a picklable function and a list of tasks and hands back each task's answer as
it finishes, keeping a bounded number in flight. The sweep driver (:mod:`aiostore.sweeps`)
stores the answers; the runner only computes. :class:`ProcessRunner` runs on this machine's
cores in worker processes of its own (asyncio and trio); :class:`aiostore.dask.DaskRunner`
runs on a Dask cluster.
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import runpy
import subprocess
import sys
import types
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from aiostore._core.handoff import ki_protected_coroutines
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


@ki_protected_coroutines  # on trio, Ctrl-C comes out of an await of the driver's, as itself
class ProcessRunner:
    """Runs tasks in local worker processes, ``workers`` at a time.

    A worker process that dies (killed, out of memory) fails only the task it ran; that task is
    started again on a fresh worker up to ``retries`` times, as Dask does, before it counts as
    failed. Workers import the main module as multiprocessing's spawn does, so a script must
    keep its work under ``if __name__ == "__main__":`` (else :class:`RunnerError`). Leaving the
    iteration early (an error, Ctrl-C, a cancelled scope) kills the workers still running.

    Workers ignore SIGINT: a terminal's Ctrl-C, which reaches the whole process group, is the
    driver's to handle (it ends the workers). They start with each sweep and end with it; inside
    ``async with ProcessRunner(...) as runner:`` every sweep run with ``runner`` shares them.
    """

    def __init__(self, workers: int | None = None, *, retries: int = 3) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.retries = retries
        self._shared: _Pool | None = None

    def __repr__(self) -> str:
        return f"ProcessRunner(workers={self.workers})"

    async def __aenter__(self) -> ProcessRunner:
        self._shared = _Pool()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pool, self._shared = self._shared, None
        if pool is not None:
            await pool.aclose()

    @asynccontextmanager
    async def finished(self, function: Callable[[Any], Any],
                       tasks: Iterable[Any]) -> AsyncIterator[AsyncIterator[Finished]]:
        send, receive = anyio.create_memory_object_stream[Finished](math.inf)
        with _lone_interrupt():
            async with self._pool() as pool, anyio.create_task_group() as group:
                group.start_soon(self._run_all, function, tasks, send, pool)
                try:
                    yield _iterate(receive)
                finally:
                    group.cancel_scope.cancel()

    @asynccontextmanager
    async def _pool(self) -> AsyncIterator[_Pool]:
        if self._shared is not None:
            yield self._shared
            return
        pool = _Pool()
        try:
            yield pool
        finally:
            await pool.aclose()

    async def _run_all(self, function: Callable[[Any], Any], tasks: Iterable[Any],
                       send: MemoryObjectSendStream[Finished], pool: _Pool) -> None:
        # The semaphore keeps the tasks not yet started out of memory-hungry task objects, and
        # bounds the worker processes this sweep keeps busy.
        slots = anyio.Semaphore(self.workers)
        async with send, anyio.create_task_group() as group:
            for task in tasks:
                await slots.acquire()
                group.start_soon(self._run_one, function, task, slots, pool, send.clone())

    async def _run_one(self, function: Callable[[Any], Any], task: Any, slots: anyio.Semaphore,
                       pool: _Pool, send: MemoryObjectSendStream[Finished]) -> None:
        async with send:
            try:
                end = await self._attempts(function, task, pool)
            finally:
                slots.release()
            await send.send(end)

    async def _attempts(self, function: Callable[[Any], Any], task: Any, pool: _Pool) -> Finished:
        for attempt in range(self.retries + 1):
            try:
                return await pool.run(function, task)
            except anyio.BrokenWorkerProcess as error:
                if attempt == self.retries:
                    return Finished(task, error=error)
            except RunnerError:
                raise  # no worker can start: the sweep cannot go on
            except Exception as error:  # the task, or its answer, cannot be pickled
                return Finished(task, error=error)
        raise AssertionError("unreachable")


# The worker processes' program. SIGINT is ignored before anything else (a terminal's Ctrl-C
# reaches the whole process group; the driver, which gets it too, ends the workers); then the
# driver's import path and main module come as the first message.
_WORKER_PROGRAM = """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
import pickle, sys
sys.path[:], main_path = pickle.loads(sys.stdin.buffer.read(int(sys.stdin.buffer.readline())))
from aiostore.sweeps.runners import _serve
_serve(main_path)
"""


@ki_protected_coroutines  # on trio, Ctrl-C comes at an await: no worker is left unkilled
class _Pool:
    """Worker processes started as tasks need them, each reused once its task is done."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()

    async def run(self, function: Callable[[Any], Any], task: Any) -> Finished:
        """``function(task)`` in an idle worker, or a new one; raises
        :class:`anyio.BrokenWorkerProcess` if that worker dies meanwhile."""
        request = _frame((function, task))
        worker = await self._worker()
        try:
            reply = await worker.ask(request)
        except BaseException:
            await self._end(worker)  # cancelled mid-task (or dead): killed, not reused
            raise
        self._idle.append(worker)
        ok, value = pickle.loads(reply)
        return Finished(task, value) if ok else Finished(task, error=value)

    async def _worker(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.process.returncode is None:
                return worker
            await self._end(worker)  # killed while idle
        return await self._start()

    async def _start(self) -> _Worker:
        process = await anyio.open_process([sys.executable, "-c", _WORKER_PROGRAM],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=None)
        worker = _Worker(process)
        self._all.add(worker)
        main_path = getattr(sys.modules["__main__"], "__file__", None)
        try:
            ok, error = pickle.loads(await worker.ask(_frame((sys.path, main_path))))
        except BaseException:
            await self._end(worker)
            raise
        if not ok:
            await self._end(worker)
            raise RunnerError("worker processes cannot start: the main module must import "
                              "without side effects (keep its work under "
                              "`if __name__ == '__main__':`)") from error
        return worker

    async def _end(self, worker: _Worker) -> None:
        self._all.discard(worker)
        with anyio.CancelScope(shield=True):
            await worker.kill()

    async def aclose(self) -> None:
        """Kill every worker (an idle one has nothing to lose) and wait for its end."""
        self._idle.clear()
        while self._all:
            await self._end(self._all.pop())


class _Worker:
    """One worker process, asked a framed message at a time (see :func:`_frame`)."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.requests = cast(anyio.abc.ByteSendStream, process.stdin)
        self.replies = BufferedByteReceiveStream(cast(anyio.abc.ByteReceiveStream,
                                                      process.stdout))

    async def ask(self, request: bytes) -> bytes:
        """The reply, pickled: (True, the answer) or (False, the exception the worker raised)."""
        try:
            await self.requests.send(request)
            size = int(await self.replies.receive_until(b"\n", 20))
            return await self.replies.receive_exactly(size)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
                anyio.IncompleteRead, anyio.DelimiterNotFound, OSError, ValueError) as error:
            raise anyio.BrokenWorkerProcess("the worker process died") from error

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.aclose()


def _frame(message: object) -> bytes:
    """``message`` pickled, after its length on a line: a message that cannot be unpickled at
    the other end is skipped whole, and the next one read from its start."""
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return b"%d\n" % len(data) + data


def _serve(main_path: str | None) -> None:
    """A worker process's loop (see ``_WORKER_PROGRAM``): import the main module, then answer
    each task, until the driver closes the pipe."""
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    with open(os.devnull, "r+") as nowhere:
        # what the tasks print must not mix with the replies (nor show: anyio's workers hid it)
        sys.stdin = sys.stdout = sys.stderr = nowhere
        replies.write(_reply(_outcome(_import_main, main_path)))
        replies.flush()
        while size := requests.readline():
            replies.write(_reply(_task_outcome(requests.read(int(size)))))
            replies.flush()


def _import_main(path: str | None) -> None:
    # As multiprocessing's spawn: the driver's main module under another name, so that its
    # functions unpickle here and its `if __name__ == "__main__":` part does not run.
    if path and os.path.isfile(path):
        main = types.ModuleType("__mp_main__")
        main.__dict__.update(runpy.run_path(path, run_name="__mp_main__"))
        sys.modules["__main__"] = sys.modules["__mp_main__"] = main


def _task_outcome(request: bytes) -> tuple[bool, Any]:
    try:
        function, task = pickle.loads(request)
    except BaseException as error:  # a task that cannot be unpickled here
        return False, error
    return _outcome(function, task)


def _outcome(function: Callable[[Any], Any], argument: Any) -> tuple[bool, Any]:
    try:
        return True, function(argument)
    except BaseException as error:  # the task's own failure: the driver's to report
        return False, error


def _reply(outcome: tuple[bool, Any]) -> bytes:
    try:
        return _frame(outcome)
    except Exception as error:  # an answer or error that cannot be pickled
        return _frame((False, RuntimeError(f"cannot send back {outcome[1]!r}: {error!r}")))


@contextlib.contextmanager
def _lone_interrupt() -> Iterator[None]:
    """Ctrl-C out of the task groups as itself: trio raises its KeyboardInterrupt in one task,
    and each group it passes would wrap it again."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1 and isinstance(leaves[0], KeyboardInterrupt):
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    return [leaf for error in group.exceptions
            for leaf in (_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])]


async def _iterate(receive: MemoryObjectReceiveStream[Finished]) -> AsyncIterator[Finished]:
    async with receive:
        async for end in receive:
            yield end
