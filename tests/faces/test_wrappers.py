"""The awaitable wrappers: lock wrapper, in-process queue pair, process queue writer."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import anyio
import numpy as np
import pytest

from aiostore import (
    AsyncLockWrapper,
    AsyncStorageService,
    FailedStoresError,
    ItemExistsError,
    Msg,
    ProcessQueueWriter,
    Result,
    UnsupportedTypeError,
    open_queue,
)
from aiostore._core.worker import current_worker
from aiostore.compat.pypet import QueueStorageServiceSender

pytestmark = pytest.mark.anyio


async def load_all(path: str) -> Any:
    async with AsyncStorageService(path) as svc:
        return await svc.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)


async def tick(ticks: list[int]) -> None:
    """Count the event loop's turns every 10 ms, until cancelled: proof the loop is not blocked."""
    while True:
        await anyio.sleep(0.01)
        ticks.append(1)


# ------------------------------------------------------------------------------ lock wrapper


async def test_lock_wrapper_stores_and_leaves_the_file_closed(path: str) -> None:
    async with AsyncStorageService(path, trajectory_name="t") as svc:
        locked = AsyncLockWrapper(svc)
        async with anyio.create_task_group() as group:
            for i in range(30):
                group.start_soon(locked.store, Msg.LEAF, Result(f"results.r{i}", v=i))
        assert current_worker()._engine.open_files == []
        loaded = await locked.load(Msg.LEAF, Result("results.r7"), trajectory_name="t")
    assert loaded["v"] == 7


async def test_waiting_for_a_thread_lock_does_not_block_the_loop(path: str) -> None:
    lock = threading.Lock()
    lock.acquire()
    ticks: list[int] = []
    threading.Timer(0.5, lock.release).start()
    async with AsyncStorageService(path) as svc, anyio.create_task_group() as group:
        group.start_soon(tick, ticks)
        await AsyncLockWrapper(svc, lock).store(Msg.LEAF, Result("results.r", v=1),
                                                trajectory_name="t")
        group.cancel_scope.cancel()
    assert len(ticks) >= 10  # the loop kept running while the lock was held elsewhere
    assert not lock.locked()


async def test_cancelling_a_wait_for_a_thread_lock_leaves_the_lock_alone(path: str) -> None:
    lock = threading.Lock()
    lock.acquire()
    async with AsyncStorageService(path) as svc:
        with anyio.move_on_after(0.2) as scope:
            await AsyncLockWrapper(svc, lock).store(Msg.LEAF, Result("results.r", v=1),
                                                    trajectory_name="t")
        assert scope.cancelled_caught
        lock.release()
        assert not lock.locked()
        await AsyncLockWrapper(svc, lock).store(Msg.LEAF, Result("results.s", v=2),
                                                trajectory_name="t")
    assert "results.r" not in await load_all(path)


def _locked_child(path: str, lock: Any, index: int, count: int) -> None:
    async def main() -> None:
        async with AsyncStorageService(path) as svc:
            wrapper = AsyncLockWrapper(svc, lock)
            for j in range(count):
                await wrapper.store(Msg.LEAF, Result(f"results.p{index}.r{j}", v=index * 100 + j),
                                    trajectory_name="t")

    anyio.run(main)


async def test_processes_take_turns_on_one_file_through_a_process_lock(path: str) -> None:
    context = multiprocessing.get_context("spawn")
    lock = context.Lock()
    children = [context.Process(target=_locked_child, args=(path, lock, k, 15)) for k in range(3)]
    for child in children:
        child.start()
    await anyio.to_thread.run_sync(lambda: [child.join(120) for child in children])
    assert [child.exitcode for child in children] == [0, 0, 0]
    traj = await load_all(path)
    for k in range(3):
        assert [traj[f"results.p{k}.r{j}"]["v"] for j in range(15)] == [k * 100 + j
                                                                         for j in range(15)]


# ------------------------------------------------------------------------ in-process queue


async def test_queue_pair_stores_what_many_producers_send(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        sender, writer = open_queue(svc, max_buffer_size=8)

        async def produce(producer: Any, k: int) -> None:
            async with producer:
                for j in range(25):
                    result = Result(f"results.q{k}.r{j}", a=np.full(4, j))
                    await producer.store(Msg.LEAF, result, trajectory_name="t")
                    result["a"][:] = -1  # a snapshot was sent: this changes nothing

        async with anyio.create_task_group() as group:
            group.start_soon(writer.run)
            async with sender:
                for k in range(4):
                    group.start_soon(produce, sender.clone(), k)
    assert writer.count == 100
    traj = await load_all(path)
    for k in range(4):
        for j in range(25):
            np.testing.assert_array_equal(traj[f"results.q{k}.r{j}"]["a"], np.full(4, j))


async def test_queue_sender_refuses_bad_input_and_loads(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        sender, writer = open_queue(svc)
        with pytest.raises(UnsupportedTypeError):
            await sender.store(Msg.LEAF, Result("results.r", v=object()), trajectory_name="t")
        with pytest.raises(NotImplementedError, match="lock"):
            await sender.load(Msg.LEAF, Result("results.r"), trajectory_name="t")
        await sender.send_done()
        await writer.run()
        assert writer.count == 0


async def test_queue_writer_raises_every_failed_store_at_the_end(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        sender, writer = open_queue(svc)
        async with sender:
            for value in (1, 2, 3):
                await sender.store(Msg.LEAF, Result("results.r", v=value), trajectory_name="t")
            await sender.store(Msg.LEAF, Result("results.s", v=4), trajectory_name="t")
        with pytest.raises(FailedStoresError) as info:
            await writer.run()
    assert len(info.value.exceptions) == 2
    assert info.group_contains(ItemExistsError)
    traj = await load_all(path)
    assert (traj["results.r"]["v"], traj["results.s"]["v"]) == (1, 4)


# ------------------------------------------------------------------- process queue writer


def _queue_child(queue: Any, index: int, count: int, crash_after: int | None) -> None:
    sender = QueueStorageServiceSender(queue)
    for j in range(count):
        sender.store(Msg.LEAF, Result(f"results.w{index}.r{j}", v=index * 1000 + j,
                                      a=np.arange(j + 1)), trajectory_name="t")
        if crash_after is not None and j + 1 == crash_after:
            os.kill(os.getpid(), signal.SIGKILL)


async def test_worker_processes_store_through_the_queue_while_the_loop_runs(path: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue(maxsize=50)
        children = [context.Process(target=_queue_child, args=(queue, k, 40, None))
                    for k in range(3)]
        for child in children:
            child.start()
        ticks: list[int] = []

        async def finish() -> None:
            await anyio.to_thread.run_sync(lambda: [child.join(120) for child in children])
            QueueStorageServiceSender(queue).send_done()

        async with AsyncStorageService(path) as svc:
            writer = ProcessQueueWriter(svc, queue)
            async with anyio.create_task_group() as group:
                group.start_soon(tick, ticks)
                group.start_soon(finish)
                await writer.run()
                group.cancel_scope.cancel()
    assert writer.count == 120
    assert ticks
    traj = await load_all(path)
    for k in range(3):
        for j in range(40):
            assert traj[f"results.w{k}.r{j}"]["v"] == k * 1000 + j
            np.testing.assert_array_equal(traj[f"results.w{k}.r{j}"]["a"], np.arange(j + 1))


async def test_a_crashed_worker_loses_only_its_unsent_work(path: str) -> None:
    """A manager queue's put returns once the item is queued: a worker killed after its 7th put
    leaves exactly 7 results; the other workers' results are all stored."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        crash = {1: 7}
        children = [context.Process(target=_queue_child, args=(queue, k, 20, crash.get(k)))
                    for k in range(3)]
        for child in children:
            child.start()
        async with AsyncStorageService(path) as svc:
            writer = ProcessQueueWriter(svc, queue)
            async with anyio.create_task_group() as group:
                group.start_soon(writer.run)
                await anyio.to_thread.run_sync(lambda: [child.join(120) for child in children])
                QueueStorageServiceSender(queue).send_done()
    assert [child.exitcode for child in children] == [0, -signal.SIGKILL, 0]
    traj = await load_all(path)
    for k in (0, 2):
        for j in range(20):
            assert traj[f"results.w{k}.r{j}"]["v"] == k * 1000 + j
    for j in range(20):
        assert (f"results.w1.r{j}" in traj) == (j < 7)


async def test_cancelling_the_process_queue_writer_stops_reading(path: str) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    async with AsyncStorageService(path) as svc:
        writer = ProcessQueueWriter(svc, queue, poll_interval=0.02)
        started = time.monotonic()
        with anyio.move_on_after(0.2):
            await writer.run()
        assert time.monotonic() - started < 5
    queue.close()
    queue.join_thread()
