"""Fixtures shared by the test modules."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiostore._core.worker import THREAD_NAME, current_worker


@pytest.fixture
def path(tmp_path: Path) -> str:
    """A file for the test, not yet made (a module may override it with a name of its own)."""
    return str(tmp_path / "f.h5")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test on asyncio and on trio."""
    return str(request.param)


def _hdf5_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


@pytest.fixture(autouse=True)
def no_hdf5_thread_outlives_a_test() -> Iterator[None]:
    """Every service a test opens is closed by its end, and the HDF5 thread stops with the last."""
    yield
    for thread in _hdf5_threads():
        thread.join(timeout=10)
    assert not _hdf5_threads(), "a service was left open: the HDF5 thread is still running"


@pytest.fixture
def small_queue() -> Iterator[int]:
    """Shrink the HDF5 thread's queue to a few jobs for the duration of a test."""
    worker = current_worker()
    saved = worker.max_jobs
    worker.max_jobs = 4
    yield worker.max_jobs
    worker.max_jobs = saved


@contextlib.contextmanager
def _held_worker() -> Iterator[threading.Event]:
    engine = current_worker()._engine
    gate = threading.Event()
    original = engine.execute

    def execute(request: Any) -> Any:
        gate.wait(30)
        return original(request)

    engine.execute = execute  # type: ignore[method-assign]
    try:
        yield gate
    finally:
        gate.set()
        del engine.execute


@pytest.fixture
def held_worker() -> Callable[[], contextlib.AbstractContextManager[threading.Event]]:
    """``with held_worker() as gate``: the HDF5 thread waits before each job until gate is set."""
    return _held_worker


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """The HDF5 thread waits before each job until this event is set (for the whole test)."""
    with _held_worker() as event:
        yield event


@pytest.fixture(scope="session")
def mountable(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless a tmpfs can be mounted here (a real full disk needs root)."""
    from filling import can_mount

    if not can_mount(tmp_path_factory.mktemp("probe")):
        pytest.skip("cannot mount a tmpfs here (mounting needs root)")
