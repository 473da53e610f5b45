"""The blocking storage service: the same calls as the async one, waiting in the calling thread.

It submits to the same HDF5 thread as every other service of the process, so it may be used
from any thread, while an event loop runs in another, and from inside a running event loop too:
the HDF5 thread never waits for a loop, so a blocking call there cannot deadlock; it only holds
that loop still until it returns (as any blocking call does), so async code should prefer
:class:`~aiostore.AsyncStorageService`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ._core.answers import NodeInfo
from ._core.datasets import dataset_job
from ._core.draining import QueueDrainer
from ._core.live.requests import Progress
from ._core.live.status import progress_job
from ._core.options import Options
from ._core.planning import Job
from ._core.session import Session, label
from ._core.tracking import closing_note
from ._core.worker import Durability, Ticket
from .errors import FailedStoresError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = ["StorageService"]


class StorageService:
    """Store and load items in an HDF5 file, blocking until each call is done.

    The arguments are those of :class:`~aiostore.AsyncStorageService`.
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

    def store(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> Any:
        """Store as ``msg`` says; returns once it is in the file."""
        return self._call("store", msg, stuff_to_store, args, kwargs)

    def load(self, msg: Any, stuff_to_load: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Load as ``msg`` says; returns the loaded item (or trajectory, or list)."""
        return self._call("load", msg, stuff_to_load, args, kwargs)

    def put(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> None:
        """Queue a store without waiting for it (blocks only while the queue is full).

        Bad input raises here; errors of the write itself are kept for :meth:`join`.
        """
        job = self._session.plan("store", msg, stuff_to_store, args, kwargs)
        what = label("store", msg, stuff_to_store)
        if self._session.streams(job):  # a run: it joins the runs queued before it
            while (space := self._session.offer_run(job, what)) is not None:
                space.result()
            return
        self._session.track(self._submit(job), job, what)

    def join(self) -> None:
        """Wait until every :meth:`put` so far is written; raise their errors as one group."""
        self._session.drained().result()
        errors = self._session.take_errors()
        if errors is not None:
            raise errors

    @property
    def has_failed_stores(self) -> bool:
        """Whether a store queued by :meth:`put` failed whose error :meth:`join` has not raised
        yet."""
        return self._session.tracker.has_errors

    def list_trajectories(self) -> list[str]:
        """The names of the trajectories in the file."""
        job = self._session.plan_listing()
        result: list[str] = job.finish(self._submit(job).future.result())
        return result

    def describe(self, trajectory_name: str | None = None, path: str | None = None, *,
                 recursive: bool = True, max_depth: int | None = None) -> list[NodeInfo]:
        """Describe a trajectory's items from the file's metadata, without reading their data
        (see :meth:`AsyncStorageService.describe <aiostore.AsyncStorageService.describe>`)."""
        job = self._session.plan_describe(trajectory_name, path, recursive, max_depth)
        result: list[NodeInfo] = job.finish(self._submit(job).future.result())
        return result

    def load_frame(self, trajectory_name: str | None, result: str, *,
                   keys: str | Iterable[str] | None = None,
                   where: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One result of every completed run as a DataFrame, a row per run (see
        :meth:`AsyncStorageService.load_frame <aiostore.AsyncStorageService.load_frame>`)."""
        first = self._session.plan_frame(trajectory_name, result, keys, where)
        second: Job = first.finish(self._submit(first).future.result())
        frame: pd.DataFrame = second.finish(self._submit(second).future.result())
        return frame

    def load_dataset(self, trajectory_name: str | None,
                     results: str | Iterable[str] | None = None, *,
                     where: Mapping[str, Any] | None = None) -> xr.Dataset:
        """Results of the completed runs as an xarray Dataset (see
        :meth:`AsyncStorageService.load_dataset <aiostore.AsyncStorageService.load_dataset>`)."""
        first = dataset_job(self._session, trajectory_name, results, where)
        second: Job = first.finish(self._submit(first).future.result())
        dataset: xr.Dataset = second.finish(self._submit(second).future.result())
        return dataset

    def progress(self, trajectory_name: str | None = None) -> Progress:
        """How far the trajectory's runs are (see :meth:`AsyncStorageService.progress
        <aiostore.AsyncStorageService.progress>`)."""
        job = progress_job(self._session, trajectory_name)
        result: Progress = job.finish(self._submit(job).future.result())
        return result

    def close(self) -> None:
        """Finish the queued work, close the file, and raise the errors of unawaited stores."""
        try:
            self._run(self._session.close_ticket())
            self.join()
        finally:
            self._session.detach()

    def abort(self) -> list[str]:
        """Close without finishing the queued work: returns what was not written (see
        :meth:`AsyncStorageService.abort <aiostore.AsyncStorageService.abort>`)."""
        try:
            if not self._session.withdraw():
                return []
            self._run(self._session.last_close_ticket())
            self._session.drained().result()
            return self._session.take_unwritten()
        finally:
            self._session.detach()

    def __enter__(self) -> StorageService:
        self._session.check_open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except FailedStoresError as failed:  # told with the error that ends the block
            exc.add_note(closing_note(failed))

    def __del__(self) -> None:
        session = getattr(self, "_session", None)
        if session is not None and not session.closed:
            warnings.warn(f"unclosed {self!r}: use 'with' or call close()", ResourceWarning,
                          stacklevel=2)
            session.detach()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<{type(self).__name__} {self.filename!r} ({state})>"

    # -- hooks: what the wrappers (aiostore.compat.pypet) build on ----------------------------

    def call(self, verb: Literal["store", "load"], msg: Any, item: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any], durability: Durability | None = None) -> Any:
        """``store`` or ``load`` (``verb``), made durable as ``durability`` says instead of as
        the service does (a lock wrapper closes the file after each call)."""
        return self._call(verb, msg, item, args, kwargs, durability)

    def queue_drainer(self, queue: Any, poll_interval: float = 0.1) -> QueueDrainer:
        """What stores the calls other processes put on ``queue`` through this service."""
        return QueueDrainer(self._session, queue, poll_interval)

    def _call(self, verb: str, msg: object, item: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any], durability: Durability | None = None) -> Any:
        job = self._session.plan(verb, msg, item, args, kwargs)
        return job.finish(self._submit(job, durability).future.result())

    def _run(self, ticket: Ticket | None) -> Any:
        """Submit ``ticket`` (if any) and wait for its answer."""
        if ticket is None:
            return None
        return self._session.worker().submit(ticket).future.result()

    def _submit(self, job: Job, durability: Durability | None = None) -> Ticket:
        return self._session.worker().submit(self._session.ticket(job, durability))
