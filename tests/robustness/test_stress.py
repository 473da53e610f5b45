"""Everything at once on one file: asyncio tasks, trio tasks, blocking threads and worker
processes, in a random order and pace; every item is checked afterwards."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import trio
from exactness import assert_exact

from aiostore import AsyncStorageService, Msg, Result, StorageService, Trajectory
from aiostore.compat.pypet import QueueStorageServiceSender
from aiostore.wrappers import ProcessQueueWriter


def _values(source: str, index: int) -> dict[str, Any]:
    seed = sum(map(ord, source)) * 10_000 + index
    rng = np.random.default_rng(seed)
    values: dict[str, Any] = {"z": float(seed), "who": source,
                              "trace": rng.normal(size=int(rng.integers(1, 200)))}
    if index % 3 == 0:
        values["meta"] = {"index": index, "odd": bool(index % 2)}
    if index % 17 == 0:
        values["big"] = rng.integers(0, 100, size=2**17)
    return values


def _result(source: str, index: int) -> Result:
    return Result(f"results.{source}.r{index}", **_values(source, index))


async def _async_producer(path: str, source: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    async with AsyncStorageService(path, trajectory_name="t") as service:
        async def one(first: int) -> None:
            for index in range(first, count, 5):
                if rng.random() < 0.5:
                    await service.store(Msg.LEAF, _result(source, index))
                else:
                    await service.put(Msg.LEAF, _result(source, index))
                await anyio.sleep(rng.random() * 0.002)

        async with anyio.create_task_group() as group:
            for first in range(5):
                group.start_soon(one, first)


def _thread_producer(path: str, source: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with StorageService(path, trajectory_name="t", durability=rng.choice(["flush", "close"])) \
            as service:
        for index in range(count):
            service.store(Msg.LEAF, _result(source, index))


def _process_producer(queue: Any, source: str, count: int) -> None:
    sender = QueueStorageServiceSender(queue)
    for index in range(count):
        sender.store(Msg.LEAF, _result(source, index), trajectory_name="t")


async def _queue_writer(path: str, queue: Any, children: list[Any]) -> None:
    async with AsyncStorageService(path, trajectory_name="t") as service:
        writer = ProcessQueueWriter(service, queue, poll_interval=0.02)
        async with anyio.create_task_group() as group:
            group.start_soon(writer.run)
            await anyio.to_thread.run_sync(lambda: [child.join(120) for child in children])
            QueueStorageServiceSender(queue).send_done()


@pytest.mark.parametrize("seed", [1, 2])
def test_every_kind_of_producer_at_once_on_one_file(tmp_path: Path, seed: int) -> None:
    path = str(tmp_path / "f.h5")
    with StorageService(path) as service:
        service.store(Msg.TRAJECTORY, Trajectory("t"))
    rng = random.Random(seed)
    counts = {name: rng.randint(20, 60) for name in
              ("asyncio", "trio", "thread0", "thread1", "proc0", "proc1")}
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue(maxsize=20)
        children = [context.Process(target=_process_producer, args=(queue, name, counts[name]))
                    for name in ("proc0", "proc1")]
        errors: list[BaseException] = []

        def guarded(target: Any, *args: Any) -> threading.Thread:
            def run() -> None:
                try:
                    target(*args)
                except BaseException as exc:
                    errors.append(exc)
            return threading.Thread(target=run)

        threads = [
            guarded(asyncio.run, _async_producer(path, "asyncio", counts["asyncio"], seed)),
            guarded(trio.run, _async_producer, path, "trio", counts["trio"], seed + 1),
            guarded(_thread_producer, path, "thread0", counts["thread0"], seed + 2),
            guarded(_thread_producer, path, "thread1", counts["thread1"], seed + 3),
            guarded(asyncio.run, _queue_writer(path, queue, children)),
        ]
        rng.shuffle(threads)
        for child in children:
            child.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not errors, errors
    with StorageService(path) as service:
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    for source, count in counts.items():
        stored = traj["results"].children[source].children
        assert sorted(stored) == sorted(f"r{index}" for index in range(count)), source
        for index in range(count):
            assert_exact(dict(stored[f"r{index}"].data), _values(source, index), source)
