"""The HDF5 thread itself, without an event loop: batching, bounds, durability, lifecycle."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from aiostore import Msg, Result, StorageService
from aiostore._core.planning import Defaults, plan_store
from aiostore._core.requests import ListTrajectories
from aiostore._core.worker import Durability, Ticket, current_worker


def ticket(path: str, name: str, durability: Durability = Durability.FLUSH,
           **values: Any) -> Ticket:
    job = plan_store(Msg.LEAF, Result(name, **values), (), {}, Defaults(path, trajectory_name="t"))
    return Ticket(job.request, durability)


def test_a_batch_of_writes_is_flushed_once(path: str, gate: threading.Event) -> None:
    worker = current_worker()
    engine = worker._engine
    flushes = 0
    original_flush = engine.flush

    def flush() -> None:
        nonlocal flushes
        flushes += 1
        original_flush()

    engine.flush = flush  # type: ignore[method-assign]
    try:
        with StorageService(path):  # keeps the thread up between the tickets
            tickets = [worker.submit(ticket(path, f"results.r{i}", v=i)) for i in range(40)]
            gate.set()
            for each in tickets:
                each.future.result(30)
    finally:
        del engine.flush
    assert 1 <= flushes <= 3  # the first ticket may be taken alone, before the others arrive


def test_a_full_queue_hands_out_a_future_for_room(path: str, gate: threading.Event,
                                                  small_queue: int) -> None:
    worker = current_worker()
    with StorageService(path):
        queued = [worker.submit(ticket(path, f"results.r{i}", v=i)) for i in range(small_queue)]
        late = ticket(path, "results.late", v=-1)
        room = worker.offer(late)
        assert room is not None
        assert not room.done()
        gate.set()
        room.result(30)
        assert worker.offer(late) is None
        for each in [*queued, late]:
            each.future.result(30)


def test_a_job_bigger_than_the_byte_bound_is_let_in_alone(path: str) -> None:
    worker = current_worker()
    saved = worker.max_bytes
    worker.max_bytes = 1000
    try:
        with StorageService(path):
            big = ticket(path, "results.big", a=np.zeros(10_000))
            assert big.nbytes > worker.max_bytes
            assert worker.offer(big) is None
            big.future.result(30)
    finally:
        worker.max_bytes = saved


def test_close_durability_closes_the_file_before_answering(path: str) -> None:
    worker = current_worker()
    with StorageService(path):
        done = worker.submit(ticket(path, "results.r", Durability.CLOSE, v=1))
        done.future.result(30)
        assert worker._engine.open_files == []
        read = worker.submit(Ticket(ListTrajectories(path), Durability.CLOSE))
        assert read.future.result(30) == ["t"]
        assert worker._engine.open_files == []


def test_the_thread_stops_when_idle_and_unused(path: str) -> None:
    worker = current_worker()
    done = worker.submit(ticket(path, "results.r", v=1))  # no service attached
    done.future.result(30)
    thread = worker.thread
    if thread is not None:
        thread.join(10)
    assert worker.thread is None
    assert worker._engine.open_files == []


def test_a_job_from_the_hdf5_thread_itself_is_refused(path: str) -> None:
    worker = current_worker()
    outcome: list[BaseException] = []
    engine = worker._engine
    original = engine.execute

    def execute(request: Any) -> Any:
        try:
            worker.offer(ticket(path, "results.inner", v=0))
        except Exception as exc:
            outcome.append(exc)
        return original(request)

    engine.execute = execute  # type: ignore[method-assign]
    try:
        worker.submit(ticket(path, "results.r", v=1)).future.result(30)
    finally:
        del engine.execute
    assert "would wait forever" in str(outcome[0])
