"""colossus's ``StorageUser`` and ``getCacheDir`` (``colossus.utils.storage``), on the HDF5 thread.

The calls, arguments and behaviour are colossus 1.4's: objects live in two dicts in memory
(persistent and temporary), gets are answered from memory, a change of the user's hash string
calls its callback and resets the storage, ``[2, n]`` tables and ``(x, y, z)`` tuples give
spline interpolators. What differs is the persistent cache:

- it is an HDF5 object cache per user and hash, ``<name>_<md5>.h5`` in colossus's cache directory
  (``~/.colossus/cache/<module>/``, or under ``colossus.settings.BASE_DIR``, or under
  :data:`BASE_DIR` of this module), written by the process's HDF5 thread;
- a store writes only the object stored, and is durable and atomic when it returns: a crash
  leaves the old object or the new one (colossus rewrites one pickle of every object each time);
- several processes may share the cache (colossus's pickle file can be torn by two writers);
- arrays, tuples, lists, dicts, scalars and strings are stored natively, readable with plain
  PyTables; other objects are pickled, and loading pickles can be switched off
  (:data:`LOAD_PICKLES`), since unpickling a file runs code chosen by whoever wrote it;
- objects computed by a colossus older than ``colossus.settings.PERSISTENCE_OLDEST_VERSION``
  (when colossus is installed) are ignored, as colossus ignores such files;
- errors are :mod:`aiostore.errors` exceptions (so still ``Exception``), with messages of our own.

Code running in an event loop uses the async twins: :meth:`StorageUser.acreate`,
:meth:`~StorageUser.astore_object`, :meth:`~StorageUser.aget_stored_object` and
:meth:`~StorageUser.areset_storage`, which never block the loop on disk.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np

from .._core.answers import CacheContents
from .._core.handoff import queue_ticket, wait_future
from .._core.requests import PutObject, ReadObjects
from .._core.worker import Ticket, current_worker
from ..codec import value_nbytes
from ..codec.trees import PickleRefusedError, decode_tree, encode_tree
from ..errors import DataNotFoundError, InvalidArgumentError
from .interpolators import make_interpolator

__all__ = ["BASE_DIR", "LOAD_PICKLES", "PersistenceFlagError", "StorageUser", "getCacheDir"]

BASE_DIR: str | None = None
"""The directory under which ``.colossus/cache`` lies; None: colossus's setting, or home."""

LOAD_PICKLES: bool = True
"""Whether storage users made from now on load pickled objects from their cache (see above)."""

# Objects bigger than this are encoded (copied) in a worker thread by the async twins.
_OFFLOAD_BYTES = 2**20


class PersistenceFlagError(InvalidArgumentError, DeprecationWarning):
    """A bool given as ``persistence`` (colossus raises a DeprecationWarning for that)."""


@functools.cache
def _colossus_module(module: str) -> Any:
    try:
        return importlib.import_module(f"colossus.{module}")
    except ImportError:
        return None


def _colossus_attribute(module: str, name: str) -> Any:
    """``colossus.<module>.<name>`` (read afresh: settings change) if colossus is installed."""
    return getattr(_colossus_module(module), name, None)


def _home_dir() -> str | None:
    home = os.path.expanduser("~")
    return None if home == "~" else home


def getCacheDir(module: str | None = None) -> str:
    """The cache directory (ending in ``/``) of ``module``, created if missing.

    It is ``<base>/.colossus/cache/<module>/``, where the base is :data:`BASE_DIR`, else
    ``colossus.settings.BASE_DIR``, else the home directory, else the directory of this package.
    """
    base = (BASE_DIR or _colossus_attribute("settings", "BASE_DIR") or _home_dir()
            or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cache_dir = base + "/.colossus/cache/"
    if module is not None:
        cache_dir += module + "/"
    os.makedirs(cache_dir, exist_ok=True)
    return cache_dir


@functools.cache
def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _outdated(tag: str) -> bool:
    """Whether an object computed by colossus ``tag`` must be recomputed (colossus's rule)."""
    oldest = _colossus_attribute("settings", "PERSISTENCE_OLDEST_VERSION")
    return bool(tag and oldest) and _version_key(tag) < _version_key(oldest)


class StorageUser:
    """Persistent and in-memory storage of one user (a class of colossus, or yours).

    ``module`` names the cache sub-directory; ``persistence`` combines ``'r'`` (load the cache)
    and ``'w'`` (write it); ``func_name``, ``func_hashstring`` and ``func_changed`` are called
    without arguments for the user's name, the string whose change resets the storage, and
    to report such a change (may be None).
    """

    def __init__(self, module: str, persistence: str, func_name: Callable[[], str],
                 func_hashstring: Callable[[], str], func_changed: Callable[[], object] | None
                 ) -> None:
        self._configure(module, persistence, func_name, func_hashstring, func_changed)
        self.resetStorage()

    @classmethod
    async def acreate(cls, module: str, persistence: str, func_name: Callable[[], str],
                      func_hashstring: Callable[[], str],
                      func_changed: Callable[[], object] | None) -> StorageUser:
        """A storage user made in an event loop: its cache is loaded without blocking it."""
        user = cls.__new__(cls)
        user._configure(module, persistence, func_name, func_hashstring, func_changed)
        await user.areset_storage()
        return user

    def _configure(self, module: str, persistence: str, func_name: Callable[[], str],
                   func_hashstring: Callable[[], str],
                   func_changed: Callable[[], object] | None) -> None:
        self.module = module
        self.func_name = func_name
        self.func_hashstring = func_hashstring
        self.func_changed = func_changed
        if isinstance(persistence, bool):
            raise PersistenceFlagError("persistence is a combination of 'r' and 'w', such as "
                                       f"'rw', not the bool {persistence}")
        for letter in persistence:
            if letter not in ("r", "w"):
                raise InvalidArgumentError(f"persistence {persistence!r} holds {letter!r}; use "
                                           "a combination of 'r' and 'w'")
        self.persistence_read = "r" in persistence
        self.persistence_write = "w" in persistence
        self.load_pickles = LOAD_PICKLES
        if self.persistence_read or self.persistence_write:
            self.cache_dir = getCacheDir(module=self.module)

    # -- identity -----------------------------------------------------------------------------

    def getHash(self) -> str:
        """The md5 hex digest of the user's hash string."""
        return hashlib.md5(self.func_hashstring().encode(), usedforsecurity=False).hexdigest()

    def getUniqueFilename(self) -> str:
        """The cache file of this user and hash: ``<cache_dir><name>_<hash>.h5``."""
        return self.cache_dir + self.func_name() + "_" + self.getHash() + ".h5"

    def checkForChangedHash(self) -> bool:
        """Whether the hash string changed since the storage was last reset."""
        return self.getHash() != self.hash_current

    # -- reset --------------------------------------------------------------------------------

    def resetStorage(self) -> None:
        """Empty both stores and load the persistent one from the cache (if reading)."""
        ticket = self._begin_reset()
        if ticket is not None:
            self._take_contents(current_worker().submit(ticket).future.result())

    async def areset_storage(self) -> None:
        """:meth:`resetStorage`, awaited: the cache is read without blocking the event loop."""
        ticket = self._begin_reset()
        if ticket is not None:
            self._take_contents(await _run(ticket))

    def _begin_reset(self) -> Ticket | None:
        self.hash_current = self.getHash()
        self.storage_pers: dict[str, Any] = {}
        self.storage_temp: dict[str, Any] = {}
        if not self.persistence_read:
            return None
        return Ticket(ReadObjects(self.getUniqueFilename(), allow_pickle=self.load_pickles))

    def _take_contents(self, contents: CacheContents) -> None:
        for problem in contents.problems:
            warnings.warn(problem, RuntimeWarning, stacklevel=3)
        for record in contents.records:
            if record.tree is None:
                warnings.warn(f"cached object {record.name!r} not loaded: {record.refused}",
                              RuntimeWarning, stacklevel=3)
            elif not _outdated(record.tag):
                self._take_object(record.name, record.tree)

    def _take_object(self, name: str, tree: Any) -> None:
        try:
            self.storage_pers[name] = decode_tree(name, tree, self.load_pickles)
        except PickleRefusedError as exc:
            warnings.warn(f"cached object {name!r} not loaded: {exc}", RuntimeWarning, stacklevel=4)

    # -- storing ------------------------------------------------------------------------------

    def storeObject(self, object_name: str, object_data: Any,
                    persistent: bool = True) -> None:
        """Keep ``object_data`` in memory; if ``persistent`` (and writing), in the cache too.

        Returns once the object is durably in the cache. An object that cannot be stored raises
        :class:`~aiostore.errors.UnsupportedTypeError` and changes nothing.
        """
        ticket = self._store_ticket(object_name, object_data, persistent)
        self._keep(object_name, object_data, persistent)
        if ticket is not None:
            self._warn_problems(current_worker().submit(ticket).future.result())

    async def astore_object(self, object_name: str, object_data: Any,
                            persistent: bool = True) -> None:
        """:meth:`storeObject`, awaited: returns once the object is durably in the cache.

        Cancelling the wait does not cancel the store.
        """
        if _object_nbytes(object_data) > _OFFLOAD_BYTES:
            ticket = await anyio.to_thread.run_sync(self._store_ticket, object_name, object_data,
                                                    persistent)
        else:
            ticket = self._store_ticket(object_name, object_data, persistent)
        self._keep(object_name, object_data, persistent)
        if ticket is not None:
            self._warn_problems(await _run(ticket))

    def _store_ticket(self, name: str, data: Any, persistent: bool) -> Ticket | None:
        if not (persistent and self.persistence_write):
            return None
        tag = _colossus_attribute("version", "__version__") or ""
        return Ticket(PutObject(self.getUniqueFilename(), name, encode_tree(name, data), tag))

    def _keep(self, name: str, data: Any, persistent: bool) -> None:
        (self.storage_pers if persistent else self.storage_temp)[name] = data

    @staticmethod
    def _warn_problems(problems: list[str]) -> None:
        for problem in problems:
            warnings.warn(problem, RuntimeWarning, stacklevel=3)

    # -- getting ------------------------------------------------------------------------------

    def getStoredObject(self, object_name: str, interpolator: bool = False,
                        inverse: bool = False, path: str | None = None,
                        store_interpolator: bool = True, store_path_data: bool = True,
                        linear_interp: bool = False) -> Any:
        """The object from memory (or the text file ``path``), or an interpolator of it.

        Returns None if there is no such object. ``interpolator`` asks for a spline of a
        ``[2, n]`` table (x, y) or an ``(x, y, z)`` tuple; ``inverse`` for x(y) of a 1-d table;
        ``linear_interp`` for linear instead of cubic splines. Interpolators and data read from
        ``path`` are kept in memory unless ``store_interpolator``/``store_path_data`` is False.
        """
        if self.checkForChangedHash():
            self._report_change()
            self.resetStorage()
        return self._lookup(object_name, interpolator, inverse, path, store_interpolator,
                            store_path_data, linear_interp, _read_table)

    async def aget_stored_object(self, object_name: str, interpolator: bool = False,
                                 inverse: bool = False, path: str | None = None,
                                 store_interpolator: bool = True, store_path_data: bool = True,
                                 linear_interp: bool = False) -> Any:
        """:meth:`getStoredObject`, awaited: a reset or a text file is read off the loop."""
        if self.checkForChangedHash():
            self._report_change()
            await self.areset_storage()
        read: Callable[[str | None], Any] = _read_table
        if path is not None and self._reads_text(object_name, interpolator, inverse):
            table = await anyio.to_thread.run_sync(_read_table, path)
            read = lambda _: table  # noqa: E731
        return self._lookup(object_name, interpolator, inverse, path, store_interpolator,
                            store_path_data, linear_interp, read)

    def _report_change(self) -> None:
        if self.func_changed is not None:
            self.func_changed()

    def _find(self, key: str) -> tuple[bool, Any]:
        for store in (self.storage_pers, self.storage_temp):
            if key in store:
                return True, store[key]
        return False, None

    def _reads_text(self, name: str, interpolator: bool, inverse: bool) -> bool:
        """Whether :meth:`_lookup` will read the text file (mirrors its order of lookups)."""
        if not self.persistence_read:
            return False
        found, data = self._find(_object_id(name, interpolator, inverse))
        if not interpolator:
            return not found
        return data is None and not self._find(name)[0]

    def _lookup(self, name: str, interpolator: bool, inverse: bool, path: str | None,
                store_interpolator: bool, store_path_data: bool, linear: bool,
                read: Callable[[str | None], Any]) -> Any:
        object_id = _object_id(name, interpolator, inverse)
        found, data = self._find(object_id)
        if not found and not interpolator:
            data = read(path) if self.persistence_read else None
            if data is not None and store_path_data:
                self.storage_temp[object_id] = data
        if not interpolator or data is not None:
            return data
        found, table = self._find(name)
        if not found:
            table = read(path) if self.persistence_read else None
        if table is None:
            return None
        data = make_interpolator(name, table, inverse, linear)
        if store_interpolator:
            self.storage_temp[object_id] = data
        return data


def _object_id(name: str, interpolator: bool, inverse: bool) -> str:
    return name + ("_interpolator" if interpolator else "") + ("_inverse" if inverse else "")


def _read_table(path: str | None) -> Any:
    """The first two columns of the text file ``path`` as a ``[2, n]`` table (None: no path)."""
    if path is None:
        return None
    if not os.path.exists(path):
        raise DataNotFoundError(f"no such file {path!r}")
    return np.loadtxt(path, usecols=(0, 1), skiprows=0, comments="#", unpack=True)


def _object_nbytes(value: Any) -> int:
    """The codec's measure (:func:`~aiostore.codec.value_nbytes`), summed over the items of
    tuples and lists (colossus's objects are often tuples of arrays)."""
    if isinstance(value, tuple | list):
        return sum(_object_nbytes(item) for item in value)
    return value_nbytes(value)


async def _run(ticket: Ticket) -> Any:
    """Queue ``ticket`` on the HDF5 thread and await its answer."""
    await queue_ticket(current_worker(), ticket)
    return await wait_future(ticket.future)
