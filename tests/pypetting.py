"""What the tests that drive pypet's own Trajectory on the shim share: quiet pypet logging, and
every shim service closed at a test's end (pypet never closes its services; the autouse check
in conftest wants the HDF5 thread stopped)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from aiostore.compat.pypet import HDF5StorageService


def close_shim_services() -> None:
    """Close every shim service still alive (pypet's trajectories hold theirs in cycles)."""
    gc.unfreeze()  # objects the HDF5 thread froze are not listed by gc.get_objects()
    gc.collect()
    for service in [obj for obj in gc.get_objects() if isinstance(obj, HDF5StorageService)]:
        if not service.closed:
            service.close()


@pytest.fixture
def quiet_pypet_and_closed_services() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("pypet", "aiostore.compat.pypet")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)
    close_shim_services()
