"""The awaitable storage service: pypet's ``store``/``load`` as coroutines, on asyncio or trio.

Each call is checked and snapshotted when it is made (bad input raises at once, and mutating an
item afterwards changes nothing), queued for the process's HDF5 thread, and awaited without
blocking the event loop. ``store`` returns once the item is durably in the file (flushed or
closed, as ``durability`` says).

Cancellation: a store that was queued runs completely (or fails atomically, writing nothing);
cancelling the ``await`` only stops the waiting. A store cancelled while it waited for room in a
full queue was never queued. Either way no item is ever half written, and the error of a store
whose waiter was cancelled is not lost: :meth:`AsyncStorageService.join` and
:meth:`~AsyncStorageService.aclose` raise it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.lowlevel

from ._core.answers import NodeInfo
from ._core.datasets import dataset_job
from ._core.draining import QueueDrainer
from ._core.handoff import ki_protected_coroutines, queue_ticket, queue_with, wait_future
from ._core.live.requests import Progress
from ._core.live.status import progress_job
from ._core.options import Options
from ._core.planning import Job
from ._core.session import Session, label
from ._core.tracking import closing_note
from ._core.worker import Durability, Ticket
from .codec import value_nbytes
from .errors import FailedStoresError, ServiceClosedError
from .model import Result, SingleRun, Trajectory

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["AsyncServiceClosedError", "AsyncStorageService"]


# Items whose values are bigger than this are snapshotted in a worker thread, not in the loop.
OFFLOAD_BYTES = 2**20
# ... and trajectories of more runs than this.
OFFLOAD_RUNS = 5_000


def _snapshot_bytes(item: Any) -> int:
    """About how many bytes snapshotting a leaf, or a run's new items, copies (0 otherwise)."""
    if isinstance(item, SingleRun):
        total = 0
        for new in item.new_items:  # asked of every run a sweep puts: the usual case inline
            values = new.data if type(new) is Result else None
            if type(values) is dict:
                total += sum([value_nbytes(value) for value in values.values()])
            else:
                total += _snapshot_bytes(new)
        return total
    if isinstance(item, Trajectory) or not hasattr(item, "_store"):
        return 0
    values = getattr(item, "data", None)  # the native items' values, without a copy
    if type(values) is not dict:
        try:
            values = item._store()
        except Exception:
            return 0  # planning raises the real error
    if not isinstance(values, dict):
        return 0
    return sum(value_nbytes(value) for value in values.values())


class AsyncServiceClosedError(ServiceClosedError, anyio.ClosedResourceError):
    """A call on a closed :class:`AsyncStorageService` (also an ``anyio.ClosedResourceError``)."""


# On trio, Ctrl-C is raised at an await of these coroutines, never between two steps of their
# bookkeeping (a store tracked without its done callback left a close waiting for ever)
@ki_protected_coroutines
class AsyncStorageService:
    """Store and load items in an HDF5 file from async code, through the HDF5 thread.

    ``filename`` and ``trajectory_name`` are defaults that each call may override with the
    keyword arguments of the same names. ``durability`` is ``"flush"`` (flush after each batch,
    keep the file open until :meth:`aclose`) or ``"close"`` (close it after each batch).
    ``compression`` is a PyTables library such as ``"blosc2:lz4"`` or ``"zlib"`` (default none).
    ``packed_runs=True`` (the default) stores each result a run adds
    (``results.runs.run_XXXXXXXX.<name>``) as a row of one table per result name, when its
    values are fixed-size (numbers, fixed-width bytes, arrays, dicts of those): many times
    faster to store and load than a group and nodes per run, and compact at a million runs.
    ``packed_runs=False`` gives each result a group and a node per value (pypet's layout).
    Loads find results in either layout. ``journal=True`` (the default) appends each
    store to a journal beside the file before making it, so that a process killed at any moment
    loses no acknowledged store and leaves no half-written one: the next open makes them again.
    It survives a power cut too (a batch's records reach the disk before it is acknowledged).
    ``journal=False`` is faster and, after a kill, may leave half-written items and lose some
    acknowledged ones (figures in the README's *Durability*).

    ``in_memory=True`` holds the file in memory (HDF5's core driver) with the same semantics as
    a file on disk, and nothing touches the disk: ``filename`` (optional) names it, and if an
    HDF5 file of that name exists, the file in memory starts as a copy of it. Services of this
    process that name the same file share it; it lives until the last of them closes, and then
    it is gone, or, with ``save_on_close=True``, written whole to ``filename``. Fast, and for
    tests: no journal, no flushes, and a crash loses it all.
    """

    def __init__(self, filename: str | None = None, file_title: str = "Experiment", *,
                 trajectory_name: str | None = None, durability: Durability | str = "flush",
                 compression: str | None = None, compression_level: int = 5,
                 packed_runs: bool = True, journal: bool = True, in_memory: bool = False,
                 save_on_close: bool = False) -> None:
        self._session = Session(Options(filename, file_title, trajectory_name, durability,
                                        compression, compression_level, packed_runs, journal,
                                        in_memory, save_on_close))

    @property
    def filename(self) -> str | None:
        return self._session.defaults.filename

    @property
    def closed(self) -> bool:
        return self._session.closed

    # -- calls --------------------------------------------------------------------------------

    async def store(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> Any:
        """Store as ``msg`` says; returns once it is in the file."""
        return await self._call("store", msg, stuff_to_store, args, kwargs)

    async def load(self, msg: Any, stuff_to_load: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Load as ``msg`` says; returns the loaded item (or trajectory, or list)."""
        return await self._call("load", msg, stuff_to_load, args, kwargs)

    async def put(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> None:
        """Queue a store without waiting for it; waits only while the queue is full.

        Bad input still raises here. Errors of the write itself are kept for :meth:`join`.
        """
        job = await self._plan("store", msg, stuff_to_store, args, kwargs)
        what = label("store", msg, stuff_to_store)
        if self._session.streams(job):  # a run: it joins the runs queued before it
            try:
                await queue_with(self._session.offer_run, job, what)
            except ServiceClosedError as exc:
                raise AsyncServiceClosedError(*exc.args) from None
            return
        ticket = await self._submit(job)
        self._session.track(ticket, job, what)

    async def join(self) -> None:
        """Wait until every :meth:`put` so far is written; raise their errors if any failed.

        Raises :class:`~aiostore.errors.FailedStoresError` (an ``ExceptionGroup``) holding each
        failed store's exception, noted with its message and item; each is reported once.
        """
        await wait_future(self._session.drained())
        errors = self._session.take_errors()
        if errors is not None:
            raise errors

    @property
    def has_failed_stores(self) -> bool:
        """Whether a store queued by :meth:`put` failed whose error :meth:`join` has not raised
        yet (a driver that puts many stores asks this instead of joining after each)."""
        return self._session.tracker.has_errors

    async def list_trajectories(self) -> list[str]:
        """The names of the trajectories in the file."""
        job = self._guard(self._session.plan_listing)
        ticket = await self._submit(job)
        result: list[str] = job.finish(await wait_future(ticket.future))
        return result

    async def describe(self, trajectory_name: str | None = None, path: str | None = None, *,
                       recursive: bool = True, max_depth: int | None = None) -> list[NodeInfo]:
        """Describe a trajectory's items from the file's metadata, without reading their data.

        Returns a :class:`~aiostore.NodeInfo` for the item at ``path`` (a full name such as
        ``"results.runs.run_00000003"``; None or ``""`` for the whole trajectory) and, if
        ``recursive``, for every group and leaf below it down to ``max_depth`` levels, parents
        before children, sorted by name: each leaf's kind, class, comment and, per value, its
        codec type name, shape, dtype and size in bytes (:class:`~aiostore.KeyInfo`).
        Results of the packed layout (``packed_runs``) are described as if stored with nodes.
        Raises :class:`~aiostore.DataNotFoundError` for a missing trajectory or item.
        """
        job = self._guard(lambda: self._session.plan_describe(trajectory_name, path, recursive,
                                                              max_depth))
        ticket = await self._submit(job)
        result: list[NodeInfo] = job.finish(await wait_future(ticket.future))
        return result

    async def load_frame(self, trajectory_name: str | None, result: str, *,
                         keys: str | Iterable[str] | None = None,
                         where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One result of every completed run as a DataFrame, a row per run.

        ``result`` is the result's name below each run's group (``"z"`` for
        ``results.runs.run_XXXXXXXX.z``; the written-out ``"results.runs.*.z"`` works too).
        The frame is indexed by run index (named ``run``); its columns are the explored
        parameters (named below ``parameters``, e.g. ``"x"``), then each key of the result:
        a scalar key is a column of its exact dtype, a dict a column per field (``d.a``),
        anything else an object column holding each run's value (an array with its dtype and
        shape). A key named like a parameter is prefixed with the result's name (``z.x``).
        ``keys`` chooses keys; ``where`` keeps the runs whose explored parameters match each
        condition: a value (``{"x": 0.5}``) or a callable of the value (``{"x": lambda v: v > 1}``),
        evaluated here, before the runs' results are read. Only completed runs holding the
        result have rows. A packed table (``packed_runs``) is read a whole column at a time.

        Raises :class:`~aiostore.DataNotFoundError` for a missing trajectory or a result no
        completed run holds, :class:`~aiostore.InvalidArgumentError` for unknown keys or
        parameters, before reading any result.
        """
        first = self._guard(lambda: self._session.plan_frame(trajectory_name, result, keys,
                                                             where))
        second: Job = first.finish(await wait_future((await self._submit(first)).future))
        answer = await wait_future((await self._submit(second)).future)
        frame: pd.DataFrame = second.finish(answer)
        return frame

    async def load_dataset(self, trajectory_name: str | None,
                           results: str | Iterable[str] | None = None, *,
                           where: Mapping[str, Any] | None = None) -> xr.Dataset:
        """Results of the completed runs as an xarray Dataset (``pip install aiostore[xarray]``).

        ``results`` names a result as ``load_frame``'s ``result`` does, or lists several; None
        takes every result the completed runs hold. When the selected runs' explored parameters
        form a full grid (each combination once), the Dataset has a dimension per parameter
        (coordinates: the sorted distinct values); otherwise a ``run`` dimension with the
        parameters as coordinates. Variables are named ``<result>.<key>`` (a dict's fields
        ``<result>.<key>.<field>``), keep their dtypes, and an array gets dimensions of its own
        (``<result>.<key>_dim0``...). ``where`` as in :meth:`load_frame`. Every result is read
        a whole column at a time, in one request. Raises
        :class:`~aiostore.errors.MissingDependencyError` without xarray, and what
        :meth:`load_frame` raises, before reading any result.
        """
        first = self._guard(lambda: dataset_job(self._session, trajectory_name, results, where))
        second: Job = first.finish(await wait_future((await self._submit(first)).future))
        dataset: xr.Dataset = second.finish(await wait_future((await self._submit(second)).future))
        return dataset

    async def progress(self, trajectory_name: str | None = None) -> Progress:
        """How far the trajectory's runs are (:class:`~aiostore.Progress`): runs completed of
        the total, the rate over the last minute, the time to go, and the failures a
        ``run_sweep`` of the writer's process reported. Reads three columns of the run table
        (about a millisecond per 2,000-3,000 runs); polled from another process while a live
        writer holds the file (it answers; see :mod:`aiostore._core.live`), the reader keeps
        the rows and the writer reads only those written since the last poll and the few
        not completed before the last run known completed. A file opened only for this is
        closed again."""
        job = self._guard(lambda: progress_job(self._session, trajectory_name))
        ticket = await self._submit(job)
        result: Progress = job.finish(await wait_future(ticket.future))
        return result

    # -- hooks: what the wrappers (aiostore.wrappers) build on --------------------------------

    async def call(self, verb: Literal["store", "load"], msg: Any, item: Any,
                   args: tuple[Any, ...], kwargs: dict[str, Any],
                   durability: Durability | None = None) -> Any:
        """``store`` or ``load`` (``verb``), made durable as ``durability`` says instead of as
        the service does (a lock wrapper closes the file after each call)."""
        return await self._call(verb, msg, item, args, kwargs, durability)

    async def plan_store(self, msg: Any, item: Any, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Job:
        """A store checked and snapshotted now, to be submitted later (:meth:`submit`)."""
        return await self._plan("store", msg, item, args, kwargs)

    async def submit(self, job: Job, durability: Durability | None = None) -> Ticket:
        """Queue a planned ``job`` for the HDF5 thread (waiting for room); its ticket's future
        completes when it is done."""
        return await self._submit(job, durability)

    def queue_drainer(self, queue: Any, poll_interval: float = 0.1) -> QueueDrainer:
        """What stores the calls other processes put on ``queue`` through this service."""
        return QueueDrainer(self._session, queue, poll_interval)

    # -- closing ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Finish the queued work, close the file, and raise the errors of unawaited stores."""
        try:
            ticket = self._session.close_ticket()
            if ticket is not None:
                with anyio.CancelScope(shield=True):
                    await self._offer(ticket)
                    await wait_future(ticket.future)
            await self.join()
        finally:
            self._session.detach()

    async def abort(self) -> list[str]:
        """Close without finishing the queued work: returns what was not written.

        Stores still queued are withdrawn (an awaited one raises
        :class:`~aiostore.errors.StoreAbortedError` in its caller); the batch being written
        finishes, and the file is closed. Returns the labels (``"store SINGLE_RUN
        run_00000007"``) of every :meth:`put` that was withdrawn or failed; their errors are
        not raised. Nothing else is lost: what is not listed was written.
        """
        try:
            if not self._session.withdraw():
                return []
            ticket = self._session.last_close_ticket()
            with anyio.CancelScope(shield=True):
                if ticket is not None:
                    await self._offer(ticket)
                    await wait_future(ticket.future)
                await wait_future(self._session.drained())
            return self._session.take_unwritten()
        finally:
            self._session.detach()

    async def __aenter__(self) -> AsyncStorageService:
        self._guard(self._session.check_open)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc is None:
            await self.aclose()
            return
        try:
            await self.aclose()
        except FailedStoresError as failed:  # told with the error that ends the block
            exc.add_note(closing_note(failed))

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None and not session.closed:
            warnings.warn(f"unclosed {self!r}: use 'async with' or await aclose()",
                          ResourceWarning, stacklevel=2)
            session.detach()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<AsyncStorageService {self.filename!r} ({state})>"

    # -- helpers ------------------------------------------------------------------------------

    async def _call(self, verb: str, msg: object, item: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any], durability: Durability | None = None) -> Any:
        job = await self._plan(verb, msg, item, args, kwargs)
        ticket = await self._submit(job, durability)
        return job.finish(await self._wait(ticket, job, label(verb, msg, item)))

    async def _plan(self, verb: str, msg: object, item: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Job:
        plan = functools.partial(self._session.plan, verb, msg, item, args, kwargs)
        try:
            if verb != "store":
                return plan()
            if isinstance(item, Trajectory) and len(item) > OFFLOAD_RUNS:
                # A trajectory's run records take a second per 200,000 runs: in a worker thread
                # the loop keeps running meanwhile, and with the heap held (frozen, no
                # collections) their making stops no thread for a full collection.
                with self._session.worker().heap_held():
                    return await anyio.to_thread.run_sync(plan)
            if _snapshot_bytes(item) > OFFLOAD_BYTES:
                # Copying fresh memory costs page faults (~3 ms per MB measured here), and
                # numpy copies without holding the GIL: in a thread, the loop runs meanwhile.
                return await anyio.to_thread.run_sync(plan)
            return plan()
        except ServiceClosedError as exc:
            raise AsyncServiceClosedError(*exc.args) from None

    def _guard(self, call: Any) -> Any:
        try:
            return call()
        except ServiceClosedError as exc:
            raise AsyncServiceClosedError(*exc.args) from None

    async def _submit(self, job: Job, durability: Durability | None = None) -> Ticket:
        ticket = self._session.ticket(job, durability)
        await self._offer(ticket)
        return ticket

    async def _offer(self, ticket: Ticket) -> None:
        try:
            await queue_ticket(self._session.worker(), ticket)
        except ServiceClosedError as exc:
            raise AsyncServiceClosedError(*exc.args) from None

    async def _wait(self, ticket: Ticket, job: Job, what: object) -> Any:
        try:
            return await wait_future(ticket.future)
        except (anyio.get_cancelled_exc_class(), KeyboardInterrupt):  # Ctrl-C on trio
            self._session.track(ticket, job, what)  # it still runs: keep its error
            raise
