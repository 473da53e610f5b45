"""Stores cancelled at random moments (anyio scopes, asyncio.wait_for, trio) are whole or absent."""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from exactness import assert_exact

from aiostore import AsyncStorageService, FailedStoresError, Msg, Trajectory

pytestmark = pytest.mark.anyio

RUNS = 300


def _values(index: int) -> dict[str, Any]:
    return {"z": float(index), "trace": np.arange(64.0) + index,
            "big": np.full(2**16 if index % 25 == 0 else 4, index, dtype=np.int64),
            "meta": {"index": index, "tag": f"r{index}"}}


def _sweep() -> Trajectory:
    traj = Trajectory("t")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(RUNS))})
    return traj


async def _store_with_random_cancels(service: AsyncStorageService, traj: Trajectory,
                                     seed: int, wait_for: bool) -> set[int]:
    """Store every run from 8 tasks, each store cancelled after a random delay (or not);
    returns the runs whose store returned."""
    rng = random.Random(seed)
    returned: set[int] = set()
    indices = iter(range(RUNS))

    async def store(index: int) -> None:
        run = traj.run(index)
        run.add_result("r", **_values(index))
        await service.store(Msg.SINGLE_RUN, run)
        returned.add(index)

    async def producer() -> None:
        for index in indices:
            delay = rng.choice([0.0, rng.uniform(0, 0.003), None])  # None: never cancelled
            if delay is None:
                await store(index)
            elif wait_for:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(store(index), delay)
            else:
                with anyio.move_on_after(delay):
                    await store(index)
            if rng.random() < 0.1:
                await anyio.sleep(0)

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(producer)
    return returned


async def _check(path: Path, returned: set[int]) -> None:
    async with AsyncStorageService(str(path)) as service:
        traj = await service.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
        completed = {info.idx for info in traj.runs if info.completed}
        # the service still works after all that cancelling
        await service.store(Msg.LEAF, traj.add_result("after", ok=True))
    stored = set()
    try:
        runs = traj["results.runs"].children
    except KeyError:  # every store was cancelled before it was queued: none is in the file
        runs = {}
    for name, group in runs.items():
        index = int(name.removeprefix("run_"))
        assert list(group.children) == ["r"], f"{name} is half written"
        assert_exact(dict(group.children["r"].data), _values(index), name)
        stored.add(index)
    assert returned <= stored  # every store that returned is there
    assert stored == completed  # and each stored run is marked completed, no other
    assert len(returned) < RUNS  # the cancellations did cancel some waits


@pytest.mark.parametrize("seed", [1, 2])
async def test_stores_cancelled_by_scopes_are_whole_or_absent(tmp_path: Path, seed: int) -> None:
    path, traj = tmp_path / "f.h5", _sweep()
    async with AsyncStorageService(str(path)) as service:
        await service.store(Msg.TRAJECTORY, traj)
        returned = await _store_with_random_cancels(service, traj, seed, wait_for=False)
    await _check(path, returned)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_stores_cancelled_by_wait_for_are_whole_or_absent(tmp_path: Path) -> None:
    path, traj = tmp_path / "f.h5", _sweep()
    async with AsyncStorageService(str(path)) as service:
        await service.store(Msg.TRAJECTORY, traj)
        returned = await _store_with_random_cancels(service, traj, 3, wait_for=True)
    await _check(path, returned)


async def test_a_task_group_cancelled_mid_sweep_leaves_whole_runs(tmp_path: Path) -> None:
    """The whole sweep cancelled at once (Ctrl-C in a driver): queued runs still land whole."""
    path, traj = tmp_path / "f.h5", _sweep()
    returned: set[int] = set()
    async with AsyncStorageService(str(path)) as service:
        await service.store(Msg.TRAJECTORY, traj)

        async def store(index: int) -> None:
            run = traj.run(index)
            run.add_result("r", **_values(index))
            await service.store(Msg.SINGLE_RUN, run)
            returned.add(index)

        with anyio.move_on_after(0.05):
            async with anyio.create_task_group() as group:
                for index in range(RUNS):
                    group.start_soon(store, index)
        try:
            await service.join()
        except FailedStoresError:
            pytest.fail("a cancelled store failed")
    await _check(path, returned)
