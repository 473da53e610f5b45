"""The HDF5 thread itself, without an event loop: batching, bounds, durability, lifecycle."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiostore import Msg, Result, StorageService, Trajectory
from aiostore.errors import FailedStoresError, ItemExistsError
from aiostore.planning import Defaults, plan_store
from aiostore.requests import ListTrajectories
from aiostore.worker import JOIN_AT_MOST, Durability, RunStream, Ticket, current_worker


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "f.h5")


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


# ------------------------------------------------------------------------- streams of runs


def _sweep(runs: int) -> Trajectory:
    traj = Trajectory("t")
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(i) for i in range(runs)]})
    return traj


def _busy(path: str) -> Ticket:
    """A ticket the (held) thread has taken: what is queued next stays queued."""
    worker = current_worker()
    blocker = worker.submit(ticket(path, "results.blocker", v=0))
    while worker._queue:
        time.sleep(0.001)
    return blocker


def _put_run(svc: StorageService, traj: Trajectory, index: int) -> None:
    run = traj.run(index)
    run.add_result("r", z=float(index), arr=np.arange(3.0) + index)
    svc.put(Msg.SINGLE_RUN, run)


def test_runs_put_one_after_another_share_tickets(path: str, held_worker: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    worker = current_worker()
    executed: list[int] = []  # the runs of each stream the thread took
    execute = worker._execute

    def counting(batch: list[Ticket]) -> None:
        executed.extend(each.jobs for each in batch if isinstance(each.request, RunStream))
        execute(batch)

    traj = _sweep(250)
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        monkeypatch.setattr(worker, "_execute", counting)
        with held_worker() as gate:
            blocker = _busy(path)
            for index in range(250):
                _put_run(svc, traj, index)
            gate.set()
            svc.join()
            blocker.future.result(30)
    # streams of at most JOIN_AT_MOST runs, not a ticket each
    assert executed == [JOIN_AT_MOST, JOIN_AT_MOST, 250 - 2 * JOIN_AT_MOST]
    assert all(run.completed for run in traj.runs)
    with StorageService(path) as svc:
        frame = svc.load_frame("t", "r")
    assert list(frame["z"]) == [float(i) for i in range(250)]


def test_a_run_joins_no_stream_queued_before_other_work(path: str, held_worker: Any) -> None:
    """The queue's order is the order of the calls: a run put after another ticket of the
    session does not join the stream queued before that ticket."""
    worker = current_worker()
    traj = _sweep(3)
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        with held_worker() as gate:
            blocker = _busy(path)
            _put_run(svc, traj, 0)
            _put_run(svc, traj, 1)
            leaf = worker.submit(ticket(path, "results.between", v=1))
            _put_run(svc, traj, 2)
            queued = [(type(each.request).__name__, each.jobs) for each in worker._queue]
            gate.set()
            svc.join()
            leaf.future.result(30)
            blocker.future.result(30)
    assert queued == [("RunStream", 2), ("WriteItems", 1), ("RunStream", 1)]
    assert all(run.completed for run in traj.runs)


def test_a_run_that_cannot_be_written_fails_alone_in_its_stream(path: str,
                                                                held_worker: Any) -> None:
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, _sweep(10))
        _put_run(svc, _sweep(10), 5)  # in the file before the others come
        svc.join()
        again = _sweep(10)  # the same sweep, as another driver holds it
        with held_worker() as gate:
            for index in range(10):
                _put_run(svc, again, index)
            gate.set()
            with pytest.raises(FailedStoresError) as failed:
                svc.join()
    [error] = failed.value.exceptions
    assert isinstance(error, ItemExistsError)
    assert any("run_00000005" in note for note in error.__notes__)
    assert [run.completed for run in again.runs] == [index != 5 for index in range(10)]
    with StorageService(path) as svc:
        assert list(svc.load_frame("t", "r")["z"]) == [float(i) for i in range(10)]


def test_aborting_reports_every_run_of_a_withdrawn_stream(path: str, held_worker: Any) -> None:
    worker = current_worker()
    traj = _sweep(20)
    svc = StorageService(path)
    svc.store(Msg.TRAJECTORY, traj)
    reports: list[list[str]] = []
    with held_worker() as gate:
        blocker = _busy(path)
        for index in range(20):
            _put_run(svc, traj, index)
        waiting = sum(each.jobs for each in worker._queue)
        aborting = threading.Thread(target=lambda: reports.append(svc.abort()))
        aborting.start()  # withdraws the queued streams, then waits for the file's close
        while any(isinstance(each.request, RunStream) for each in list(worker._queue)):
            time.sleep(0.001)
        gate.set()
        aborting.join(30)
        blocker.future.result(30)
    [unwritten] = reports
    assert waiting == 20
    assert sorted(unwritten) == [f"store SINGLE_RUN run_{index:08d}" for index in range(20)]
    assert not any(run.completed for run in traj.runs)
