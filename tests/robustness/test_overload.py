"""Producers far faster than the disk: memory stays bounded, closing drains, abort reports."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from aiostore import (
    AsyncStorageService,
    Msg,
    StorageService,
    StoreAbortedError,
    Trajectory,
)
from aiostore._core.worker import current_worker

pytestmark = pytest.mark.anyio


def _sweep(runs: int) -> Trajectory:
    traj = Trajectory("t")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(runs))})
    return traj


def _add(traj: Trajectory, index: int) -> Any:
    run = traj.run(index)
    run.add_result("r", z=float(index), trace=np.full(32, index, dtype=np.int32))
    return run


class QueueWatch:
    """The longest the HDF5 thread's queue grew, sampled at every put."""

    def __init__(self) -> None:
        self.worker = current_worker()
        self.longest = 0

    def sample(self) -> None:
        self.longest = max(self.longest, self.worker.queued)


async def _flood(path: Path, runs: int) -> QueueWatch:
    watch = QueueWatch()
    traj = _sweep(runs)
    async with AsyncStorageService(str(path), packed_runs=True) as service:
        await service.store(Msg.TRAJECTORY, traj)
        for index in range(runs):
            run = _add(traj, index)
            await service.put(Msg.SINGLE_RUN, run)
            for item in run.new_items:
                item.data.clear()  # the producer keeps nothing: only the queue holds data
            watch.sample()
    return watch  # the end of "async with" drained every put


def _wait_until_taken() -> None:
    """Until the HDF5 thread has taken what is queued (and is held in it by ``held_worker``)."""
    worker = current_worker()
    deadline = time.monotonic() + 10
    while worker._queue and time.monotonic() < deadline:
        time.sleep(0.001)


def _assert_all_stored(path: Path, runs: int) -> None:
    with StorageService(str(path)) as service:
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    assert all(info.completed for info in traj.runs)
    for index in range(0, runs, max(runs // 50, 1)):
        result = traj[f"results.runs.run_{index:08d}.r"]
        assert result["z"] == float(index)
        np.testing.assert_array_equal(result["trace"], np.full(32, index, dtype=np.int32))


async def test_a_flood_of_puts_stays_within_the_queue_bound_and_all_land(tmp_path: Path) -> None:
    runs = 10_000
    watch = await _flood(tmp_path / "f.h5", runs)
    assert 0 < watch.longest <= watch.worker.max_jobs
    _assert_all_stored(tmp_path / "f.h5", runs)


@pytest.mark.slow
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_hundred_thousand_queued_stores_finish(tmp_path: Path) -> None:
    runs = 100_000
    watch = await _flood(tmp_path / "f.h5", runs)
    assert watch.longest <= watch.worker.max_jobs
    _assert_all_stored(tmp_path / "f.h5", runs)


async def test_abort_reports_exactly_the_puts_not_written(tmp_path: Path,
                                                          held_worker: Any) -> None:
    path = tmp_path / "f.h5"
    traj = _sweep(400)
    service = AsyncStorageService(str(path))
    await service.store(Msg.TRAJECTORY, traj)
    awaited_errors: list[BaseException] = []

    async def awaited_store(index: int) -> None:
        try:
            await service.store(Msg.SINGLE_RUN, _add(traj, index))
        except StoreAbortedError as exc:
            awaited_errors.append(exc)

    with held_worker() as gate:
        await service.put(Msg.SINGLE_RUN, _add(traj, 0))
        _wait_until_taken()  # so that the other puts queue up behind the held batch
        for index in range(1, 300):
            await service.put(Msg.SINGLE_RUN, _add(traj, index))
        async with anyio.create_task_group() as group:
            group.start_soon(awaited_store, 300)
            await anyio.sleep(0.05)
            threading.Timer(0.05, gate.set).start()  # the held batch goes on while aborting
            unwritten = await service.abort()
    assert service.closed
    assert len(awaited_errors) <= 1
    with StorageService(str(path)) as reader:
        loaded = reader.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    stored = {int(name.removeprefix("run_")) for name in loaded["results.runs"].children}
    reported = {int(label.rsplit("_", 1)[1]) for label in unwritten}
    assert reported  # the queue held more than one batch: something was withdrawn
    assert not reported & stored
    assert reported | stored | ({300} if awaited_errors else set()) == set(range(301))
    assert all(label.startswith("store SINGLE_RUN run_") for label in unwritten)


def test_the_blocking_abort_reports_the_puts_not_written(tmp_path: Path,
                                                         held_worker: Any) -> None:
    path = tmp_path / "f.h5"
    traj = _sweep(50)
    service = StorageService(str(path))
    service.store(Msg.TRAJECTORY, traj)
    with held_worker() as gate:
        service.put(Msg.SINGLE_RUN, _add(traj, 0))
        _wait_until_taken()
        for index in range(1, 50):
            service.put(Msg.SINGLE_RUN, _add(traj, index))
        threading.Timer(0.05, gate.set).start()
        unwritten = service.abort()
    assert service.abort() == []  # once
    with StorageService(str(path)) as reader:
        loaded = reader.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    stored = {int(name.removeprefix("run_")) for name in loaded["results.runs"].children}
    reported = {int(label.rsplit("_", 1)[1]) for label in unwritten}
    assert not reported & stored
    assert reported | stored == set(range(50))
    assert len(reported) > 0


async def test_closing_drains_everything_queued(tmp_path: Path, held_worker: Any) -> None:
    path = tmp_path / "f.h5"
    traj = _sweep(200)
    with held_worker() as gate:
        service = AsyncStorageService(str(path))
        await service.put(Msg.TRAJECTORY, traj)
        for index in range(200):
            await service.put(Msg.SINGLE_RUN, _add(traj, index))
        threading.Timer(0.05, gate.set).start()
        await service.aclose()
    _assert_all_stored(path, 200)
