"""AsyncStorageService on asyncio and trio: results, concurrency, snapshots, cancellation, errors."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import tables

from aiostore import (
    AsyncServiceClosedError,
    AsyncStorageService,
    DataNotFoundError,
    FailedStoresError,
    InvalidArgumentError,
    ItemExistsError,
    Msg,
    Parameter,
    Result,
    ServiceClosedError,
    StorageService,
    Trajectory,
    UnsupportedTypeError,
)
from aiostore._core.worker import current_worker

pytestmark = pytest.mark.anyio


async def load_value(svc: AsyncStorageService, name: str, key: str) -> Any:
    return (await svc.load(Msg.LEAF, Result(name), trajectory_name="t"))[key]


# ------------------------------------------------------------------------------ round trips


async def test_store_then_load_returns_the_data(aiostore_service: AsyncStorageService) -> None:
    async with aiostore_service as svc:
        await svc.store(Msg.LEAF, Result("results.z", z=1.5, arr=np.arange(3)), trajectory_name="t")
        loaded = await svc.load(Msg.LEAF, Result("results.z"), trajectory_name="t")
        assert await svc.list_trajectories() == ["t"]
    assert loaded["z"] == 1.5
    assert type(loaded["z"]) is float
    np.testing.assert_array_equal(loaded["arr"], np.arange(3))


async def test_trajectory_round_trip(aiostore_service: AsyncStorageService) -> None:
    traj = Trajectory("sweep")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    traj.add_result("z", 3)
    async with aiostore_service as svc:
        await svc.store(Msg.TRAJECTORY, traj)
        back = await svc.load(Msg.TRAJECTORY, None, trajectory_name="sweep",
                              load_parameters=2, load_results=2)
    assert back["parameters.x"].range == [1.0, 2.0]
    assert back["results.z"]["z"] == 3
    assert len(back) == 2


async def test_many_tasks_and_sync_threads_on_one_file(
        aiostore_service: AsyncStorageService, aiostore_path: Path,
        aiostore_in_memory: bool) -> None:
    """500 tasks x 20 stores, and 4 threads storing through the blocking service meanwhile."""
    tasks, per_task, threads, per_thread = 500, 20, 4, 50

    def thread_body(index: int) -> None:
        with StorageService(str(aiostore_path), in_memory=aiostore_in_memory) as svc:
            for j in range(per_thread):
                svc.store(Msg.LEAF, Result(f"results.th{index}.r{j}", v=index * 1000 + j,
                                           s=f"{index}-{j}"), trajectory_name="t")

    async with aiostore_service as svc:

        async def task_body(i: int) -> None:
            for j in range(per_task):
                await svc.store(Msg.LEAF, Result(f"results.task{i}.r{j}", v=float(i * per_task + j),
                                                 a=np.full(3, i, dtype=np.int16)),
                                trajectory_name="t")

        workers = [threading.Thread(target=thread_body, args=(k,)) for k in range(threads)]
        for worker in workers:
            worker.start()
        async with anyio.create_task_group() as group:
            for i in range(tasks):
                group.start_soon(task_body, i)
        await anyio.to_thread.run_sync(lambda: [worker.join() for worker in workers])
        traj = await svc.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)

    for i in range(tasks):
        for j in range(per_task):
            result = traj[f"results.task{i}.r{j}"]
            assert result["v"] == float(i * per_task + j)
            assert result["a"].dtype == np.int16
            np.testing.assert_array_equal(result["a"], np.full(3, i, dtype=np.int16))
    for k in range(threads):
        for j in range(per_thread):
            result = traj[f"results.th{k}.r{j}"]
            assert (result["v"], result["s"]) == (k * 1000 + j, f"{k}-{j}")
            assert type(result["v"]) is int


# --------------------------------------------------------------------------------- snapshots


async def test_mutating_an_item_after_put_changes_nothing(
        aiostore_service: AsyncStorageService, held_worker: Any) -> None:
    result = Result("results.r", arr=np.zeros(3), items=[1, 2])
    async with aiostore_service as svc:
        with held_worker() as gate:
            await svc.put(Msg.LEAF, result, trajectory_name="t")
            result["arr"][:] = 7.0
            result["items"].append(3)
            gate.set()
        await svc.join()
        loaded = await svc.load(Msg.LEAF, Result("results.r"), trajectory_name="t")
    np.testing.assert_array_equal(loaded["arr"], np.zeros(3))
    assert loaded["items"] == [1, 2]


# ------------------------------------------------------------------------------ cancellation


async def test_a_cancelled_store_that_was_queued_is_written_completely(
        aiostore_service: AsyncStorageService, held_worker: Any) -> None:
    async with aiostore_service as svc:
        with held_worker() as gate:
            with anyio.move_on_after(0.05) as scope:
                await svc.store(Msg.LEAF, Result("results.r", a=np.arange(5), b="x"),
                                trajectory_name="t")
            assert scope.cancelled_caught
            gate.set()
        await svc.join()
        loaded = await svc.load(Msg.LEAF, Result("results.r"), trajectory_name="t")
    assert loaded["b"] == "x"
    np.testing.assert_array_equal(loaded["a"], np.arange(5))


async def test_a_store_cancelled_while_waiting_for_room_is_never_written(
        path: str, small_queue: int, held_worker: Any) -> None:
    async with AsyncStorageService(path) as svc:
        with held_worker() as gate:
            for i in range(small_queue):
                await svc.put(Msg.LEAF, Result(f"results.r{i}", v=i), trajectory_name="t")
            with anyio.move_on_after(0.05) as scope:
                await svc.store(Msg.LEAF, Result("results.late", v=-1), trajectory_name="t")
            assert scope.cancelled_caught
            gate.set()
        await svc.join()
        traj = await svc.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    assert "results.late" not in traj
    assert [traj[f"results.r{i}"]["v"] for i in range(small_queue)] == list(range(small_queue))


async def test_the_error_of_a_cancelled_store_is_raised_by_aclose(path: str, held_worker: Any) -> None:
    svc = AsyncStorageService(path)
    await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
    with held_worker() as gate:
        with anyio.move_on_after(0.05):
            await svc.store(Msg.LEAF, Result("results.r", v=2), trajectory_name="t")
        gate.set()
    with pytest.raises(FailedStoresError) as info:
        await svc.aclose()
    assert info.group_contains(ItemExistsError)
    assert svc.closed


async def test_service_keeps_working_after_many_cancellations(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        for i in range(50):
            with anyio.move_on_after(0):
                await svc.store(Msg.LEAF, Result(f"results.c{i}", v=i), trajectory_name="t")
        await svc.join()
        await svc.store(Msg.LEAF, Result("results.after", v=1), trajectory_name="t")
        traj = await svc.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    assert traj["results.after"]["v"] == 1
    for i in range(50):  # each is absent or complete, never partial
        if f"results.c{i}" in traj:
            assert traj[f"results.c{i}"].data == {"v": i}


# --------------------------------------------------------------------------- put and errors


async def test_put_errors_are_reported_once_by_join(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        await svc.put(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
        await svc.put(Msg.LEAF, Result("results.r", v=2), trajectory_name="t")
        await svc.put(Msg.LEAF, Result("results.s", v=3), trajectory_name="t")
        with pytest.raises(FailedStoresError) as info:
            await svc.join()
        await svc.join()  # reported once
        assert await load_value(svc, "results.s", "v") == 3
    (error,) = info.value.exceptions
    assert isinstance(error, ItemExistsError)
    assert "store LEAF results.r" in error.__notes__[0]


async def test_a_failed_put_is_told_by_has_failed_stores_until_join_raises_it(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        await svc.put(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
        await svc.put(Msg.LEAF, Result("results.r", v=2), trajectory_name="t")
        with anyio.fail_after(10):
            while not svc.has_failed_stores:  # told without waiting for the queue
                await anyio.sleep(0.01)
        with pytest.raises(FailedStoresError):
            await svc.join()
        assert not svc.has_failed_stores
    with StorageService(path) as blocking:
        blocking.put(Msg.LEAF, Result("results.r", v=3), trajectory_name="t")
        deadline = time.monotonic() + 10
        while not blocking.has_failed_stores and time.monotonic() < deadline:
            time.sleep(0.01)
        assert blocking.has_failed_stores
        with pytest.raises(FailedStoresError):
            blocking.join()
        assert not blocking.has_failed_stores


def readme_sweep() -> Trajectory:
    """The trajectory of the README's first snippet, made anew as each run of it does."""
    traj = Trajectory("sweep", comment="a first sweep")
    traj.add_parameter("x", 1.0)
    traj.add_parameter("y", 10)
    traj.explore({"x": [1.0, 2.0, 3.0], "y": [10, 20, 30]})
    return traj


def assert_says_where_and_what_to_do(error: ItemExistsError, path: str) -> None:
    message = str(error)
    assert error.filename == str(Path(path).resolve())
    assert f"trajectory 'sweep' of {error.filename!r}" in message
    assert "'parameters.x' is already stored" in message
    assert "store into another file or under another trajectory name" in message
    assert "delete the file first" in message


async def test_storing_the_readme_sweep_again_says_where_and_what_to_do(path: str) -> None:
    # the README's first snippet run twice: a new trajectory of the same name, the same file
    async with AsyncStorageService(path) as svc:
        await svc.store(Msg.TRAJECTORY, readme_sweep())
    async with AsyncStorageService(path) as svc:
        with pytest.raises(ItemExistsError) as info:
            await svc.store(Msg.TRAJECTORY, readme_sweep())
    assert_says_where_and_what_to_do(info.value, path)
    with StorageService(path) as sync_svc, pytest.raises(ItemExistsError) as info:
        sync_svc.store(Msg.TRAJECTORY, readme_sweep())
    assert_says_where_and_what_to_do(info.value, path)


async def test_a_stored_result_names_its_file_and_the_ways_to_replace_it(path: str) -> None:
    async with AsyncStorageService(path, trajectory_name="t") as svc:
        await svc.store(Msg.LEAF, Result("results.r", v=1))
        with pytest.raises(ItemExistsError) as info:
            await svc.store(Msg.LEAF, Result("results.r", v=2))
        await svc.store(Msg.UPDATE_LEAF, Result("results.r", v=2))  # one of the ways it names
        assert await load_value(svc, "results.r", "v") == 2
    assert str(info.value) == (
        f"'results.r' is already stored in trajectory 't' of {str(Path(path).resolve())!r} "
        "(keys v); stored data is not overwritten: store into another file or under another "
        "trajectory name, remove it first (Msg.REMOVE), or rewrite its values (Msg.UPDATE_LEAF)")
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value)
    assert (copy.item, copy.keys, copy.trajectory) == ("results.r", ("v",), "t")


async def test_a_trajectory_not_in_the_file_is_refused_with_those_there(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="b")
        await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="a")
        with pytest.raises(DataNotFoundError) as info:
            await svc.load(Msg.TRAJECTORY, None, trajectory_name="x")
        with pytest.raises(DataNotFoundError) as leaf_info:
            await svc.load(Msg.LEAF, Result("results.r"), trajectory_name="x")
        with pytest.raises(DataNotFoundError) as item_info:
            await svc.load(Msg.LEAF, Result("results.nothere"), trajectory_name="a")
    filename = str(Path(path).resolve())
    assert str(info.value) == f"no trajectory 'x' in {filename!r}; it holds: a, b"
    assert str(leaf_info.value) == str(info.value)
    assert str(item_info.value) == (f"no item 'results.nothere' in trajectory 'a' of "
                                    f"{filename!r} (aiostore ls lists the items there)")


async def test_a_file_without_trajectories_says_so(path: str) -> None:
    with StorageService(path) as svc, pytest.raises(DataNotFoundError) as info:
        svc.load(Msg.TRAJECTORY, None, trajectory_name="x")
    assert str(info.value) == (f"no such file {str(Path(path).resolve())!r}: check the path (a "
                               "store makes the file; a load needs one)")
    with tables.open_file(path, "w"):
        pass
    with StorageService(path) as svc, pytest.raises(DataNotFoundError) as info:
        svc.load(Msg.TRAJECTORY, None, trajectory_name="x")
    assert str(info.value).endswith("; it holds no trajectory")


async def test_bad_input_raises_at_the_call_before_anything_is_queued(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        with pytest.raises(UnsupportedTypeError, match="bad"):
            await svc.put(Msg.LEAF, Result("results.r", bad=object()), trajectory_name="t")
        with pytest.raises(UnsupportedTypeError):
            await svc.store(Msg.LEAF, Result("results.r", bad={1, 2}), trajectory_name="t")
        assert current_worker().queued == 0
        await svc.join()
    assert not Path(path).exists()


async def test_a_failing_job_reports_to_its_caller_only(path: str, tmp_path: Path) -> None:
    not_hdf5 = tmp_path / "text.h5"
    not_hdf5.write_text("hello")
    async with AsyncStorageService(path) as svc, AsyncStorageService(str(not_hdf5)) as bad:

        async def good() -> None:
            for i in range(20):
                await svc.store(Msg.LEAF, Result(f"results.r{i}", v=i), trajectory_name="t")

        async def failing() -> None:
            for i in range(20):
                with pytest.raises(OSError, match="not an HDF5 file"):
                    await bad.store(Msg.LEAF, Result(f"results.r{i}", v=i), trajectory_name="t")

        async with anyio.create_task_group() as group:
            group.start_soon(good)
            group.start_soon(failing)
        assert await load_value(svc, "results.r19", "v") == 19
    assert not_hdf5.read_text() == "hello"


async def test_the_hdf5_thread_survives_an_unexpected_exception(path: str) -> None:
    engine = current_worker()._engine
    original = engine.execute
    calls = []

    def execute(request: Any) -> Any:
        calls.append(request)
        if len(calls) == 1:
            raise ZeroDivisionError("boom")
        return original(request)

    engine.execute = execute  # type: ignore[method-assign]
    try:
        async with AsyncStorageService(path) as svc:
            with pytest.raises(ZeroDivisionError):
                await svc.store(Msg.LEAF, Result("results.a", v=1), trajectory_name="t")
            await svc.store(Msg.LEAF, Result("results.b", v=2), trajectory_name="t")
            assert await load_value(svc, "results.b", "v") == 2
    finally:
        del engine.execute


# ------------------------------------------------------------------------------- lifecycle


async def test_listing_without_a_file_is_an_argument_error() -> None:
    async with AsyncStorageService() as svc:
        with pytest.raises(InvalidArgumentError, match="no filename"):
            await svc.list_trajectories()


async def test_a_closed_service_refuses_calls(path: str) -> None:
    svc = AsyncStorageService(path)
    await svc.aclose()
    await svc.aclose()  # twice is fine
    with pytest.raises(AsyncServiceClosedError) as info:
        await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
    assert isinstance(info.value, anyio.ClosedResourceError)
    assert isinstance(info.value, ServiceClosedError)
    with pytest.raises(anyio.ClosedResourceError):
        await svc.load(Msg.LEAF, Result("results.r"), trajectory_name="t")


async def test_aclose_drains_puts_and_closes_the_file(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        for i in range(200):
            await svc.put(Msg.LEAF, Result(f"results.r{i}", v=i), trajectory_name="t")
    code = ("import tables, sys\n"
            f"with tables.open_file({path!r}, 'r') as f:\n"
            "    print(len(f.root.t.results._v_children))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "200"


async def test_close_durability_frees_the_file_after_each_store(path: str) -> None:
    async with AsyncStorageService(path, durability="close") as svc:
        await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
        assert current_worker()._engine.open_files == []
        code = ("import tables\n"
                f"with tables.open_file({path!r}, 'r') as f:\n"
                "    print(f.root.t.results.r.v.read())\n")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True)
        assert out.stdout.strip() == "1"
        await svc.store(Msg.LEAF, Result("results.s", v=2), trajectory_name="t")
        assert await load_value(svc, "results.s", "v") == 2


async def test_a_file_another_process_holds_is_refused_clearly_and_left_alone(path: str) -> None:
    async with AsyncStorageService(path) as svc:  # "flush": the file stays open here
        await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
        code = ("import aiostore\n"
                f"with aiostore.StorageService({path!r}, trajectory_name='t') as svc:\n"
                "    try:\n"
                "        svc.store('LEAF', aiostore.Result('results.s', v=2))\n"
                "    except aiostore.FileLockedError as exc:\n"
                "        print('refused:', exc)\n")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True, timeout=120)
        assert out.stdout.startswith("refused: cannot open")
        assert "another process has it open" in out.stdout
        await svc.store(Msg.LEAF, Result("results.s2", v=3), trajectory_name="t")
    async with AsyncStorageService(path) as svc:
        assert await load_value(svc, "results.r", "v") == 1
        assert await load_value(svc, "results.s2", "v") == 3


async def test_a_leaked_service_warns(path: str) -> None:
    svc = AsyncStorageService(path)
    await svc.store(Msg.LEAF, Result("results.r", v=1), trajectory_name="t")
    with pytest.warns(ResourceWarning, match="unclosed"):  # noqa: PT031
        del svc
        gc.collect()


async def test_the_thread_stops_after_the_last_close_and_starts_again(path: str) -> None:
    for round_ in range(3):
        async with AsyncStorageService(path) as svc:
            await svc.store(Msg.LEAF, Result(f"results.r{round_}", v=round_), trajectory_name="t")
        thread = current_worker().thread
        if thread is not None:
            await anyio.to_thread.run_sync(thread.join, 10)
        assert current_worker().thread is None


async def test_a_blocking_call_inside_the_running_loop_does_not_deadlock(path: str, held_worker: Any) -> None:
    """The HDF5 thread never waits for the loop, so a blocking call there only holds it still."""
    async with AsyncStorageService(path) as svc:
        with held_worker() as gate:
            for i in range(20):
                await svc.put(Msg.LEAF, Result(f"results.a{i}", v=i), trajectory_name="t")
            gate.set()
            with StorageService(path) as blocking:
                blocking.store(Msg.LEAF, Result("results.sync", v=-1), trajectory_name="t")
                assert blocking.load(Msg.LEAF, Result("results.a19"), trajectory_name="t")["v"] == 19
        await svc.join()
        assert await load_value(svc, "results.sync", "v") == -1


async def test_stores_are_executed_in_the_order_they_were_made(path: str) -> None:
    async with AsyncStorageService(path) as svc:
        await svc.put(Msg.LEAF, Parameter("parameters.p", 1), trajectory_name="t")
        await svc.put(Msg.UPDATE_LEAF, Parameter("parameters.p", 2), trajectory_name="t")
        loaded = await svc.load(Msg.LEAF, Parameter("parameters.p"), trajectory_name="t")
    assert loaded.value == 2
