"""Run a sweep's simulations on Dask distributed, while this process alone writes the file.

:class:`DaskRunner` is a runner for :func:`aiostore.run_sweep`: it submits tasks through an
asynchronous ``distributed.Client`` and hands back each answer as it finishes, keeping a bounded
number of tasks in flight. With no address it starts a ``LocalCluster`` of worker processes on
this machine; with a scheduler address (``"tcp://host:8786"``) or a ``Client`` it runs on that
cluster, e.g. one started by dask-jobqueue on SLURM (see the README). Needs
``pip install aiostore[dask]``; Dask's client runs on asyncio only.

Dask computes a task at least once: the tasks of a worker that dies are run again elsewhere,
and a task may finish twice. :func:`aiostore.run_sweep` stores each run index once. Each future
is released as soon as its answer is handed back, so a dead worker costs the tasks it was
running, not everything it still held.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import sniffio

from aiostore.errors import RunnerError
from aiostore.sweeps.runners import Finished

try:
    import dask
    import distributed
except ImportError as missing:  # pragma: no cover - the dask extra is in the test dependencies
    raise ImportError("aiostore.dask needs Dask distributed: pip install aiostore[dask]") from missing

__all__ = ["DaskRunner"]

# Run by each worker of a LocalCluster started here as it starts (Dask's preload): a terminal's
# Ctrl-C reaches the whole process group, and this process, which gets it too, ends the sweep
# and the cluster (a worker's KeyboardInterrupt would only kill it, and print its traceback).
IGNORE_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"


class DaskRunner:
    """Runs tasks on a Dask cluster: a local one of ``workers`` processes, or the one at
    ``address`` (a scheduler address or a ``distributed.Client``, left open at the end).

    ``in_flight`` bounds the tasks submitted and not yet handed back (default: four per worker
    thread); the rest wait here, so a sweep of a million runs costs the scheduler no more than
    that. ``cluster_options`` go to ``distributed.LocalCluster``; its workers ignore SIGINT.
    """

    def __init__(self, address: str | distributed.Client | None = None, *, workers: int = 2,
                 threads_per_worker: int = 1, in_flight: int | None = None,
                 **cluster_options: Any) -> None:
        self.address = address
        self.in_flight = in_flight
        self.cluster_options = {"n_workers": workers, "threads_per_worker": threads_per_worker,
                                "processes": True, "dashboard_address": None, **cluster_options}

    def __repr__(self) -> str:
        where = self.address or f"LocalCluster({self.cluster_options['n_workers']} workers)"
        return f"DaskRunner({where!r})"

    @asynccontextmanager
    async def finished(self, function: Callable[[Any], Any],
                       tasks: Iterable[Any]) -> AsyncIterator[AsyncIterator[Finished]]:
        if sniffio.current_async_library() != "asyncio":
            raise RunnerError("Dask's client runs on asyncio: run the sweep with asyncio, or use "
                              "ProcessRunner on trio")
        stack = AsyncExitStack()
        try:
            client = await self._client(stack)
            limit = self.in_flight or 4 * max(sum((await _nthreads(client)).values()), 1)
            submitted = _Submitted(client, function, iter(tasks))
            stack.push_async_callback(submitted.cancel)
            yield submitted.ends(limit)
        finally:
            # an interrupted sweep (Ctrl-C, a cancelled scope) still closes what it started
            # whole: a cluster closed halfway leaves its worker processes running
            with anyio.CancelScope(shield=True):
                await stack.aclose()

    async def _client(self, stack: AsyncExitStack) -> distributed.Client:
        if isinstance(self.address, distributed.Client):
            return self.address
        try:
            if self.address is None:
                cluster = await stack.enter_async_context(
                    distributed.LocalCluster(asynchronous=True, **self._local_options()))
                return await stack.enter_async_context(
                    distributed.Client(cluster, asynchronous=True))
            return await stack.enter_async_context(
                distributed.Client(self.address, asynchronous=True))
        except OSError as error:  # no scheduler there, or the local one cannot start
            raise RunnerError(f"no Dask cluster at {self.address or 'a LocalCluster'}: "
                              f"{error}") from error

    def _local_options(self) -> dict[str, Any]:
        """``cluster_options``, their preloads (or Dask's configured ones) and IGNORE_SIGINT."""
        options = dict(self.cluster_options)
        preload = options.get("preload") or dask.config.get("distributed.worker.preload")
        options["preload"] = [*([preload] if isinstance(preload, str) else preload),
                              IGNORE_SIGINT]
        argv = options.get("preload_argv") or dask.config.get("distributed.worker.preload-argv")
        if argv and not isinstance(argv[0], str):  # one list per preload
            options["preload_argv"] = [*argv, []]
        return options


async def _nthreads(client: distributed.Client) -> dict[str, int]:
    threads: dict[str, int] = await client.nthreads()
    return threads


class _Submitted:
    """The futures in flight, each with its task; a new one submitted as each ends."""

    def __init__(self, client: distributed.Client, function: Callable[[Any], Any],
                 waiting: Iterator[Any]) -> None:
        self.client, self.function, self.waiting = client, function, waiting
        self.tasks: dict[distributed.Future, Any] = {}
        self.ended = distributed.as_completed()

    def submit(self, count: int) -> None:
        for task in itertools.islice(self.waiting, count):
            # pure=False: a fresh key per task, so a task is never merged with another's
            future = self.client.submit(self.function, task, pure=False)
            self.tasks[future] = task
            self.ended.add(future)

    async def ends(self, limit: int) -> AsyncIterator[Finished]:
        self.submit(limit)
        async for future in self.ended:
            task = self.tasks.pop(future)
            try:
                end = Finished(task, await future)
            except Exception as error:  # the task raised, or its workers kept dying
                end = Finished(task, error=error)
            future.release()
            self.submit(1)
            yield end

    async def cancel(self) -> None:
        if self.tasks:
            await self.client.cancel(list(self.tasks))
