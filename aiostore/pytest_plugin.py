"""aiostore's pytest plugin: services on a fresh file for each test, in memory or on disk.

Installed with aiostore (a ``pytest11`` entry point), so its fixtures need no import:

- ``aiostore_path``: the test's file, ``<tmp_path>/aiostore.h5``.
- ``aiostore_in_memory``: False; override it (a fixture of that name in a conftest, or
  ``@pytest.mark.parametrize("aiostore_in_memory", [True])``) to hold the file in memory, where
  nothing touches the disk and stores cost no flush.
- ``aiostore_options``: more arguments for the services (``{"packed_runs": True}``...); override
  it the same way.
- ``aiostore_service``: an :class:`~aiostore.AsyncStorageService` on that file.
- ``aiostore_sync_service``: a blocking :class:`~aiostore.StorageService` on the same file.
- ``aiostore_pypet_service``: the pypet shim, :class:`aiostore.compat.pypet.HDF5StorageService`,
  on the same file (with ``durability="flush"``).

The fixtures are plain (not async), so they serve tests run by pytest-asyncio and by anyio's
plugin, on asyncio and on trio alike. Each service is closed after the test; a store queued with
``put`` that failed and that nobody awaited fails the test there.
For assertions, see :mod:`aiostore.testing`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from .blocking import StorageService
from .compat.pypet import HDF5StorageService
from .service import AsyncStorageService

__all__ = [
    "aiostore_in_memory",
    "aiostore_options",
    "aiostore_path",
    "aiostore_pypet_service",
    "aiostore_service",
    "aiostore_sync_service",
]


@pytest.fixture
def aiostore_path(tmp_path: Path) -> Path:
    """The test's HDF5 file (not created until something is stored; never, in memory)."""
    return tmp_path / "aiostore.h5"


@pytest.fixture
def aiostore_in_memory() -> bool:
    """Whether the services hold the file in memory; override to change."""
    return False


@pytest.fixture
def aiostore_options() -> dict[str, Any]:
    """More keyword arguments for every service of the fixtures; override to change."""
    return {}


def _arguments(in_memory: bool, options: dict[str, Any]) -> dict[str, Any]:
    return {"in_memory": in_memory, **options} if in_memory else dict(options)


@pytest.fixture
def aiostore_service(aiostore_path: Path, aiostore_in_memory: bool,
                     aiostore_options: dict[str, Any]) -> Iterator[AsyncStorageService]:
    """An async service on ``aiostore_path``, closed after the test."""
    service = AsyncStorageService(str(aiostore_path),
                                  **_arguments(aiostore_in_memory, aiostore_options))
    yield service
    if not service.closed:
        # a loop of its own: the test's loop (asyncio or trio, whoever ran it) is done here
        anyio.run(service.aclose)


@pytest.fixture
def aiostore_sync_service(aiostore_path: Path, aiostore_in_memory: bool,
                          aiostore_options: dict[str, Any]) -> Iterator[StorageService]:
    """A blocking service on the same file as ``aiostore_service``, closed after the test."""
    with StorageService(str(aiostore_path),
                        **_arguments(aiostore_in_memory, aiostore_options)) as service:
        yield service


@pytest.fixture
def aiostore_pypet_service(aiostore_path: Path, aiostore_in_memory: bool,
                           aiostore_options: dict[str, Any]) -> Iterator[HDF5StorageService]:
    """pypet's service (the shim) on the same file, for legacy code under test."""
    service = HDF5StorageService(str(aiostore_path), durability="flush",
                                 **_arguments(aiostore_in_memory, aiostore_options))
    yield service
    service.close()
