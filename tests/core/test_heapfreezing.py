"""The HDF5 thread freezes the heap while stores stream, and gives it back when idle."""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import pytest

from aiostore import AsyncStorageService, Msg, StorageService, Trajectory
from aiostore._core.heapfreezing import HeapFreezer
from aiostore.service import OFFLOAD_RUNS


class Cycle:
    def __init__(self) -> None:
        self.me = self


def store_runs(path: Path, runs: int = 300) -> None:
    traj = Trajectory("t")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(runs))})
    with StorageService(str(path)) as service:
        service.store(Msg.TRAJECTORY, traj)
        for index in range(runs):
            run = traj.run(index)
            run.add_result("r", z=float(index))
            service.put(Msg.SINGLE_RUN, run)  # a stream: batches of several runs
        service.join()
        assert gc.get_freeze_count() > 0  # frozen while the service works


@pytest.fixture(autouse=True)
def unfrozen() -> None:
    gc.unfreeze()


def test_the_heap_is_frozen_while_stores_stream_and_given_back_after(tmp_path: Path) -> None:
    garbage = Cycle()
    alive = weakref.ref(garbage)
    del garbage  # cyclic garbage made before the freeze
    store_runs(tmp_path / "f.h5")
    for _ in range(200):  # no service left attached: the thread ends, and thaws first
        if gc.get_freeze_count() == 0:
            break
        time.sleep(0.01)
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None


def test_a_program_that_freezes_objects_itself_keeps_its_policy(tmp_path: Path) -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    freezer = HeapFreezer()
    freezer.after_batch(5000)
    assert not freezer.enabled
    assert gc.get_freeze_count() == frozen
    freezer.thaw()
    assert gc.get_freeze_count() == frozen


def test_freezing_is_every_thousand_jobs_and_can_be_turned_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    freezer = HeapFreezer()
    freezer.after_batch(1)  # one at a time: nothing piles up
    assert not freezer.frozen
    freezer.after_batch(2)  # a stream
    assert freezer.frozen
    gc.unfreeze()
    freezer.after_batch(999)
    assert gc.get_freeze_count() == 0
    freezer.after_batch(1)  # the thousandth job since the last freeze
    assert gc.get_freeze_count() > 0
    freezer.thaw()
    assert gc.get_freeze_count() == 0
    monkeypatch.setenv("AIOSTORE_FREEZE_GC", "0")
    off = HeapFreezer()
    off.after_batch(5000)
    assert gc.get_freeze_count() == 0


@pytest.mark.anyio
async def test_a_big_trajectory_is_planned_on_a_frozen_heap(tmp_path: Path) -> None:
    traj = Trajectory("t")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(OFFLOAD_RUNS + 1))})
    planned_on: list[int] = []
    async with AsyncStorageService(str(tmp_path / "big.h5")) as service:
        session = service._session
        plan = session.plan

        def watched(*args: object) -> object:
            planned_on.append(gc.get_freeze_count())
            return plan(*args)  # type: ignore[arg-type]

        session.plan = watched  # type: ignore[method-assign]
        await service.store(Msg.TRAJECTORY, traj)
    assert planned_on[0] > 0  # the run records' full collection does not scan the heap
