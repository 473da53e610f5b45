"""pypet's storage service and multiprocessing wrappers, blocking, on aiostore's HDF5 thread.

Legacy code keeps its imports and calls::

    from aiostore.compat.pypet import HDF5StorageService, LockWrapper, pypetconstants
    svc = HDF5StorageService(filename="out.h5", file_title="Experiment")
    svc.store(pypetconstants.LEAF, result, trajectory_name="sweep")

Differences from pypet 0.6.1, on purpose:

- Every call goes through the process's one HDF5 thread; calls may come from any thread, and
  from inside a running event loop (they hold that loop still until they return).
- The file is closed after each batch of calls (``durability="close"``), as pypet closes it
  after each call, so other processes and tools can open it in between. ``durability="flush"``
  keeps it open, which is faster for a long series of blocking calls.
- Data is written uncompressed unless ``complevel`` is given (pypet's default, zlib level 9,
  writes large arrays at a few MB/s). ``encoding`` must be utf8 and ``pandas_format`` fixed; the
  overview-table options are accepted and ignored (aiostore keeps only the run table).
- pypet's ``DELETE`` message is aiostore's ``REMOVE`` (an alias everywhere); ``FLUSH`` and
  ``OPEN_FILE`` do nothing (each store is in the file when it returns); ``CLOSE_FILE`` closes
  the file.
- :class:`QueueStorageServiceWriter` does not drop failed stores after logging them: it keeps
  going and raises them all, as one ``FailedStoresError``, when it stops.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .. import errors
from ..blocking import StorageService
from ..draining import QueueDrainer, read_message
from ..worker import Durability
from . import pypetconstants

__all__ = [
    "HDF5StorageService",
    "LazyStorageService",
    "LockWrapper",
    "NoSuchServiceError",
    "QueueStorageServiceSender",
    "QueueStorageServiceWriter",
    "StorageService",
    "pypetconstants",
]

NoSuchServiceError = errors.NoSuchServiceError

_IGNORED_OPTIONS = ("shuffle", "fletcher32", "purge_duplicate_comments", "summary_tables",
                    "small_overview_tables", "large_overview_tables", "results_per_run",
                    "derived_parameters_per_run", "display_time")

QUEUE_LOAD_REFUSED = ("Queue wrapping cannot load: the sender only sends stores to the writer. "
                      "To load while other processes store, wrap the service with a lock.")


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


class HDF5StorageService(StorageService):
    """pypet's ``HDF5StorageService(filename=None, file_title='Experiment', ...)``, blocking.

    Besides pypet's arguments: ``durability`` (``"close"``, as pypet, or ``"flush"``; a file in
    memory needs ``"flush"``, its default there), ``packed_runs``, ``journal``, ``in_memory`` and
    ``save_on_close``, as for :class:`~aiostore.AsyncStorageService`.
    """

    def __init__(self, filename: str | None = None, file_title: str | None = "Experiment",
                 overwrite_file: bool = False, encoding: str = "utf8",
                 complevel: int | None = None, complib: str | None = None,
                 pandas_format: str = "fixed", trajectory: Any = None, *,
                 durability: Durability | str | None = None, packed_runs: bool = False,
                 journal: bool = True, in_memory: bool = False, save_on_close: bool = False,
                 **options: Any) -> None:
        unknown = set(options) - set(_IGNORED_OPTIONS)
        if unknown:
            raise TypeError(f"HDF5StorageService() got unexpected arguments {sorted(unknown)}")
        if options.get("purge_duplicate_comments", True) and not options.get(
                "summary_tables", True):
            raise errors.InvalidArgumentError(
                "purge_duplicate_comments needs summary_tables (as in pypet)")
        if encoding.replace("-", "").lower() != "utf8":
            raise errors.InvalidArgumentError(f"encoding {encoding!r}: aiostore writes UTF-8")
        if pandas_format != "fixed":
            raise errors.InvalidArgumentError(
                f"pandas_format {pandas_format!r}: aiostore writes frames in the fixed format")
        self._arguments = {"filename": filename, "file_title": file_title,
                           "complevel": complevel, "complib": complib, "trajectory": trajectory,
                           "durability": durability, "packed_runs": packed_runs,
                           "journal": journal, "in_memory": in_memory,
                           "save_on_close": save_on_close}
        filename = default_filename(filename, trajectory)
        if in_memory and overwrite_file:
            raise errors.InvalidArgumentError(
                "overwrite_file would delete the file on disk that in_memory=True starts from: "
                "to start from an empty file, name one that does not exist")
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
        if overwrite_file:
            self._close_file()
            if os.path.exists(filename):
                os.remove(filename)

    @property
    def is_open(self) -> bool:
        """Always False: the HDF5 thread opens and closes the file; callers never hold it."""
        return False

    @property
    def multiproc_safe(self) -> bool:
        return False

    def store(self, msg: Any, stuff_to_store: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Store as pypet's ``msg`` says (``DELETE``, ``FLUSH``, ``OPEN_FILE``, ``CLOSE_FILE`` too)."""
        if self._file_message(msg):
            return None
        return super().store(msg, stuff_to_store, *args, **kwargs)

    def put(self, msg: Any, stuff_to_store: Any = None, *args: Any, **kwargs: Any) -> None:
        if not self._file_message(msg):
            super().put(msg, stuff_to_store, *args, **kwargs)

    def _file_message(self, msg: Any) -> bool:
        """Carry out pypet's FLUSH, OPEN_FILE and CLOSE_FILE (True); False for other messages.

        FLUSH and OPEN_FILE have nothing to do: every store is in the file when it returns.
        """
        if msg not in (pypetconstants.FLUSH, pypetconstants.OPEN_FILE, pypetconstants.CLOSE_FILE):
            return False
        self._session.check_open()
        if msg == pypetconstants.CLOSE_FILE:
            self._close_file()
        return True

    def _close_file(self) -> None:
        self._run(self._session.close_file_ticket())

    def __getstate__(self) -> dict[str, Any]:
        return dict(self._arguments)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __del__(self) -> None:
        # pypet's services are never closed: a forgotten one is normal, not worth a warning.
        session = getattr(self, "_session", None)
        if session is not None:
            session.detach()


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

    def _call(self, verb: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        service = self._storage_service
        if isinstance(service, StorageService) and args:
            msg, item, *rest = (*args, None) if len(args) == 1 else args
            return service._call(verb, msg, item, tuple(rest), kwargs, Durability.CLOSE)
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
            QueueDrainer(service._session, self.queue).run()
            return
        while (call := read_message(self.queue.get(block=True))) is not None:
            service.store(call.msg, call.item, *call.args, **call.kwargs)

    def __repr__(self) -> str:
        return f"<QueueStorageServiceWriter wrapping {self._storage_service!r}>"
