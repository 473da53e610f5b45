"""pypet's ``HDF5StorageService``, blocking, on aiostore's HDF5 thread.

It serves pypet's own ``Environment`` and ``Trajectory`` unchanged (give
``storage_service=HDF5StorageService`` from here) and aiostore's own items alike::

    from aiostore.compat.pypet import HDF5StorageService
    env = Environment(trajectory="sweep", filename="out.hdf5",
                      storage_service=HDF5StorageService)

Differences from pypet's own service, on purpose:

- Every call goes through the process's one HDF5 thread; calls may come from any thread, and
  from inside a running event loop (they hold that loop still until they return).
- The file is closed after each call (``durability="close"``), as pypet closes it, so other
  processes and tools can open it in between; but while the service is in one process only
  (pypet's Environment with ``multiproc=False``), a run's ``SINGLE_RUN`` store leaves it open
  for the next run (the store at the end of the sweep closes it). ``durability="flush"`` keeps
  it open between all calls.
- Files are in aiostore's layout (see docs/FORMAT.md), not pypet's: values keep their exact
  types (pypet strips trailing NUL bytes, returns numpy scalars in dicts as python ones). Text
  is always UTF-8 and frames are written in aiostore's format, whatever ``encoding`` and
  ``pandas_format`` say; the overview-table options are recorded in ``config.hdf5`` and
  otherwise ignored (aiostore keeps the run table only); ``complevel``/``complib`` compress
  chunked data.
- pypet's shared data (``ACCESS_DATA``): each operation is a request on the HDF5 thread
  (:mod:`.shared` says what differs).
- ``FLUSH`` does nothing (each store is in the file when it returns); ``OPEN_FILE`` keeps the
  file open until ``CLOSE_FILE`` closes it, as pypet's own service does.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Literal

from ... import errors
from ..._core import worker
from ..._core.worker import Durability
from ...blocking import StorageService
from ...messages import Msg
from .. import pypetconstants
from . import loads, messages, shared, stores

__all__ = ["HDF5StorageService", "default_filename"]

FILE_MESSAGES = (pypetconstants.FLUSH, pypetconstants.OPEN_FILE, pypetconstants.CLOSE_FILE)
PYPET_ONLY_MESSAGES = frozenset({"DELETE_LINK", "ACCESS_DATA"})
AIOSTORE_MESSAGES = frozenset({*(msg.value for msg in Msg), "DELETE"})

# pypet's options besides the file: recorded in ``config.hdf5`` as pypet records them
_CONFIG_COMMENTS = {
    "purge_duplicate_comments": "Whether comments of results and derived parameters should only "
                                "be stored for the very first instance",
    "results_per_run": "Expected number of results per run",
    "derived_parameters_per_run": "Expected number of derived parameters per run",
    "complevel": "Compression Level (0 no compression to 9 highest compression)",
    "complib": "Compression Algorithm",
    "encoding": "Encoding for unicode characters",
    "fletcher32": "Whether to use fletcher 32 checksum",
    "shuffle": "Whether to use shuffle filtering.",
    "pandas_format": "How to store pandas data frames, either 'fixed' ('f') or 'table' ('t').",
}
_OVERVIEW_TABLES = {
    "config_overview": "small", "parameters_overview": "small",
    "explored_parameters_overview": "small", "derived_parameters_overview": "large",
    "results_overview": "large", "derived_parameters_summary": "summary",
    "results_summary": "summary",
}


def default_filename(filename: str | None, trajectory: Any = None) -> str:
    """pypet's choice of file: ``hdf5/<trajectory>.hdf5`` or ``Experiments.hdf5`` in the cwd."""
    name = getattr(trajectory, "v_name", None)
    if filename is None:
        return os.path.join(os.getcwd(), "hdf5", f"{name}.hdf5") if name else os.path.join(
            os.getcwd(), "Experiments.hdf5")
    head, tail = (filename, "") if os.path.isdir(filename) else os.path.split(filename)
    if not head:
        filename = os.path.join(os.getcwd(), filename)
    if not tail:
        filename = os.path.join(filename, f"{name}.hdf5" if name else "Experiments.hdf5")
    return filename


def _is_pypet(item: Any) -> bool:
    return type(item).__module__.partition(".")[0] == "pypet"


def _serves_pypet(msg: Any, item: Any) -> bool:
    """Whether the call comes from pypet's own classes (else aiostore's items are served)."""
    if msg in PYPET_ONLY_MESSAGES or (msg == "MERGE" and isinstance(item, str)):
        return True
    if msg not in AIOSTORE_MESSAGES:
        return True  # an unknown message: refused as pypet refuses it
    if msg == "LIST" and isinstance(item, (list, tuple)):
        return any(not isinstance(entry, (list, tuple)) or not 2 <= len(entry) <= 4
                   or _serves_pypet(entry[0], entry[1]) for entry in item)
    return _is_pypet(item)


# aiostore's errors that pypet's code catches as its own exceptions
_PYPET_EXCEPTIONS = {errors.DataNotFoundError: "DataNotInStorageError",
                     errors.NoSuchServiceError: "NoSuchServiceError"}


@functools.cache
def _as_pypet(error: type[errors.AiostoreError]) -> type[errors.AiostoreError]:
    """``error`` that pypet's code also catches as its own exception of the same meaning."""
    from pypet import pypetexceptions

    pypet_error = getattr(pypetexceptions, _PYPET_EXCEPTIONS[error])
    return type(error.__name__, (error, pypet_error), {"__module__": __name__,
                "__doc__": f"{error.__doc__} (also pypet's {pypet_error.__name__})"})


def _translated(exc: errors.AiostoreError) -> errors.AiostoreError:
    """``exc`` as an exception pypet's code catches too (itself if it is one already)."""
    for error in _PYPET_EXCEPTIONS:
        if isinstance(exc, error) and not isinstance(exc, _as_pypet(error)):
            return _as_pypet(error)(str(exc))
    return exc


class HDF5StorageService(StorageService):
    """pypet's ``HDF5StorageService(filename=None, file_title=None, overwrite_file=False, ...)``.

    Besides pypet's arguments: ``durability`` (``"close"``, as pypet, or ``"flush"``; a file in
    memory needs ``"flush"``, its default there), ``packed_runs``, ``journal``, ``in_memory`` and
    ``save_on_close``, as for :class:`~aiostore.AsyncStorageService`.
    """

    def __init__(self, filename: str | None = None, file_title: str | None = None,
                 overwrite_file: bool = False, encoding: str = "utf8",
                 complevel: int | None = None, complib: str | None = None,
                 shuffle: bool = True, fletcher32: bool = False, pandas_format: str = "fixed",
                 purge_duplicate_comments: bool = True, summary_tables: bool = True,
                 small_overview_tables: bool = True, large_overview_tables: bool = False,
                 results_per_run: int = 0, derived_parameters_per_run: int = 0,
                 display_time: int = 20, trajectory: Any = None, *,
                 durability: Durability | str | None = None, packed_runs: bool = False,
                 journal: bool = True, in_memory: bool = False,
                 save_on_close: bool = False) -> None:
        if purge_duplicate_comments and not summary_tables:
            raise errors.InvalidArgumentError(
                "purge_duplicate_comments needs summary_tables (as in pypet)")
        if pandas_format not in ("f", "fixed", "t", "table"):
            raise errors.InvalidArgumentError(
                f"pandas_format is 'fixed' ('f') or 'table' ('t'), not {pandas_format!r}")
        if in_memory and overwrite_file:
            raise errors.InvalidArgumentError(
                "overwrite_file would delete the file on disk that in_memory=True starts from: "
                "to start from an empty file, name one that does not exist")
        options = {"complevel": complevel if complevel is not None else 0,
                   "complib": complib or "zlib", "shuffle": shuffle,
                   "fletcher32": fletcher32, "pandas_format": pandas_format,
                   "encoding": encoding, "purge_duplicate_comments": purge_duplicate_comments,
                   "results_per_run": results_per_run,
                   "derived_parameters_per_run": derived_parameters_per_run}
        tables = {"small": small_overview_tables, "large": large_overview_tables,
                  "summary": summary_tables}
        self._pypet_options = {**options, **{f"overview.{name}": tables[kind]
                                             for name, kind in _OVERVIEW_TABLES.items()}}
        self._arguments = {"filename": filename, "file_title": file_title,
                           **options,
                           "complevel": complevel, "complib": complib,
                           "summary_tables": summary_tables,
                           "small_overview_tables": small_overview_tables,
                           "large_overview_tables": large_overview_tables,
                           "display_time": display_time, "durability": durability,
                           "packed_runs": packed_runs, "journal": journal,
                           "in_memory": in_memory, "save_on_close": save_on_close}
        filename = default_filename(filename, trajectory)
        self._arguments["filename"] = filename
        folder = os.path.dirname(filename)
        if folder and not (in_memory and not save_on_close):  # nothing on disk in memory
            os.makedirs(folder, exist_ok=True)
        compression = (complib or "zlib") if complevel else None
        title = file_title or str(getattr(trajectory, "v_name", "Experiments"))
        super().__init__(filename, title,
                         trajectory_name=getattr(trajectory, "v_name", None),
                         durability=durability or ("flush" if in_memory else "close"),
                         compression=compression, compression_level=complevel or 0,
                         packed_runs=packed_runs, journal=journal, in_memory=in_memory,
                         save_on_close=save_on_close)
        self._keep_open = False
        # durability not chosen: runs keep the file open while the service is this process's
        self._runs_keep_open = durability is None and not in_memory
        self._owner: tuple[int, int] | None = (os.getpid(), worker.forks())
        self._logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self._pypet = messages.Context(self._session.defaults, self._ask, self._logger)
        self.display_time = display_time
        if overwrite_file:
            self._close_file()
            if os.path.exists(filename):
                os.remove(filename)
        if _is_pypet(trajectory):
            self._set_config(trajectory)

    # -- pypet's attributes -----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True between pypet's OPEN_FILE and CLOSE_FILE (the HDF5 thread holds the file)."""
        return self._keep_open

    @property
    def multiproc_safe(self) -> bool:
        return False

    def _option(name: str) -> property:  # type: ignore[misc]
        def get(self: HDF5StorageService) -> Any:
            return self._pypet_options[name]

        def set_(self: HDF5StorageService, value: Any) -> None:
            self._pypet_options[name] = value

        return property(get, set_, doc=f"pypet's ``{name}`` (recorded in ``config.hdf5``)")

    complevel = _option("complevel")
    complib = _option("complib")
    encoding = _option("encoding")
    pandas_format = _option("pandas_format")
    shuffle = _option("shuffle")
    fletcher32 = _option("fletcher32")
    del _option

    def _set_config(self, trajectory: Any) -> None:
        """The service's settings as ``config.hdf5.*`` parameters (as pypet's service adds)."""
        from pypet.parameter import Parameter

        for name, value in self._pypet_options.items():
            if not trajectory.f_contains(f"config.hdf5.{name}", shortcuts=False):
                comment = _CONFIG_COMMENTS.get(name, "Whether or not to have an overview table "
                                                     "with that name")
                trajectory.f_add_config(Parameter, f"hdf5.{name}", value, comment=comment)
        if trajectory.config.hdf5.v_comment == "":
            trajectory.config.hdf5.v_comment = "Settings for the standard HDF5 storage service"
        trajectory.v_storage_service = self

    # -- calls ------------------------------------------------------------------------------

    def store(self, msg: Any, stuff_to_store: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Store as pypet's ``msg`` says (``DELETE``, ``FLUSH``, ``OPEN_FILE``, ``CLOSE_FILE`` too)."""
        return self._dispatch("store", msg, stuff_to_store, args, kwargs)

    def load(self, msg: Any, stuff_to_load: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Load as pypet's ``msg`` says."""
        return self._dispatch("load", msg, stuff_to_load, args, kwargs)

    def put(self, msg: Any, stuff_to_store: Any = None, *args: Any, **kwargs: Any) -> None:
        if not self._file_message(msg):
            super().put(msg, stuff_to_store, *args, **kwargs)

    def _durability_of(self, msg: Any) -> Durability | None:
        """A single run's store keeps the file open ("flush") while only this process has the
        service (pypet's Environment with ``multiproc=False``): the run after it reopens it
        otherwise. Every other call, and every call once the service was handed to another
        process or this process forked (pypet's LOCK, QUEUE, PIPE and LOCAL modes), closes it
        ("close") as pypet's own service does; so does pypet's store at the end of a sweep.
        Between pypet's OPEN_FILE and CLOSE_FILE (its queue writer, its StorageContextManager)
        the file stays open, as pypet's own service keeps it."""
        if self._keep_open:  # between pypet's OPEN_FILE and CLOSE_FILE, as pypet keeps it
            return Durability.FLUSH
        if not self._runs_keep_open or msg != pypetconstants.SINGLE_RUN:
            return None
        alone = self._owner == (os.getpid(), worker.forks())
        return Durability.FLUSH if alone else None

    def call(self, verb: Literal["store", "load"], msg: Any, item: Any, args: tuple[Any, ...],
             kwargs: dict[str, Any], durability: Durability | None = None) -> Any:
        """As :meth:`StorageService.call <aiostore.StorageService.call>`, pypet's items too."""
        return self._dispatch(verb, msg, item, args, kwargs, durability)

    def _dispatch(self, verb: str, msg: Any, item: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any], durability: Durability | None = None) -> Any:
        durability = durability or self._durability_of(msg)
        if not shared.asks_for_row(msg, args):
            self._pypet.pending.write()  # rows appended to shared tables go first
        if verb == "store" and self._file_message(msg):
            return None
        if not _serves_pypet(msg, item):
            if msg == pypetconstants.DELETE:
                msg = pypetconstants.REMOVE
            return self._call(verb, msg, item, args, kwargs, durability)
        self._session.check_open()
        planners = stores.STORE_PLANNERS if verb == "store" else loads.LOAD_PLANNERS
        try:
            job = ((verb == "load" and loads.pypet_written_load(self._pypet, msg, item, args,
                                                                   kwargs))
                   or messages.plan(self._pypet, planners, verb, msg, item, args, kwargs))
            if job.request is None:  # answered without the file
                return job.finish(None)
            return job.finish(self._ask(job.request, durability))
        except (errors.DataNotFoundError, errors.NoSuchServiceError) as exc:
            translated = _translated(exc)
            if translated is exc:
                raise
            raise translated from exc

    def _ask(self, request: Any, durability: Durability | None = None) -> Any:
        """The HDF5 thread's answer to ``request``."""
        return self._submit(messages.Job(request), durability).future.result()

    def _file_message(self, msg: Any) -> bool:
        """Carry out pypet's FLUSH, OPEN_FILE and CLOSE_FILE (True); False for other messages.

        FLUSH and OPEN_FILE have nothing to do: every store is in the file when it returns.
        """
        if msg not in FILE_MESSAGES:
            return False
        self._session.check_open()
        if msg == pypetconstants.OPEN_FILE:
            self._keep_open = True
        elif msg == pypetconstants.CLOSE_FILE:
            self._keep_open = False
            self._close_file()
        return True

    def _close_file(self) -> None:
        self._run(self._session.close_file_ticket())

    def __getstate__(self) -> dict[str, Any]:
        if self._owner is not None:  # a copy goes to another process: share the file
            self._owner = None
            self._close_file()
        return dict(self._arguments)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]
        self._owner = None  # a copy: the service is in more than one process

    def __del__(self) -> None:
        # pypet's services are never closed: a forgotten one is normal, not worth a warning.
        session = getattr(self, "_session", None)
        if session is not None:
            session.detach()
