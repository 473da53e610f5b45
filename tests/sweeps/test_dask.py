"""run_sweep on Dask distributed: a LocalCluster of worker processes, a worker killed mid-sweep,
a sweep process killed and resumed, and the errors of a runner that cannot run."""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import dask
import distributed
import pytest
import sweeping
from test_sweeps import assert_every_run_exact, resume_and_check, start_sweep, wait_for_computations

from aiostore import AsyncStorageService, RunnerError, run_sweep
from aiostore.dask import DaskRunner
from aiostore.sweeps.runners import Finished

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Dask's client runs on asyncio only


async def test_a_local_cluster_computes_every_run_and_each_is_stored_once(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    async with AsyncStorageService(str(path)) as service:
        report = await run_sweep(service, sweeping.build(30, log_dir), sweeping.simulate,
                                 runner=DaskRunner(workers=2), runs_per_task=3)
    assert report.completed
    assert sorted(report.stored) == list(range(30))
    assert len({pid for _, pid in sweeping.computed(log_dir)} - {os.getpid()}) == 2
    assert_every_run_exact(path, 30)


async def test_a_killed_worker_loses_and_duplicates_no_run(tmp_path: Path, log_dir: str) -> None:
    path, runs = tmp_path / "sweep.h5", 60
    async with AsyncStorageService(str(path)) as service, anyio.create_task_group() as group:
        group.start_soon(sweeping.kill_a_worker, log_dir, 10)
        report = await run_sweep(service, sweeping.build(runs, log_dir, seconds=0.05),
                                 sweeping.simulate, runner=DaskRunner(workers=2, in_flight=4))
    assert report.completed
    assert not report.failed
    assert sorted(report.stored) == list(range(runs))  # each run index stored once
    computed = collections.Counter(index for index, _ in sweeping.computed(log_dir))
    assert set(computed) == set(range(runs))
    assert len({pid for _, pid in sweeping.computed(log_dir)}) >= 3  # the nanny's new worker
    assert_every_run_exact(path, runs)


def test_a_killed_dask_sweep_process_resumes_with_the_missing_runs_only(
        tmp_path: Path, log_dir: str) -> None:
    path, runs = tmp_path / "sweep.h5", 60
    process = start_sweep(path, runs, log_dir, "--dask", "--seconds", "0.05")
    wait_for_computations(log_dir, 20, process)
    process.kill()
    process.communicate(timeout=60)
    resume_and_check(path, runs, log_dir, DaskRunner(workers=2))


async def test_a_client_passed_in_is_used_and_left_open(tmp_path: Path, log_dir: str) -> None:
    async with distributed.LocalCluster(n_workers=1, processes=False, asynchronous=True,
                                        dashboard_address=None) as cluster, \
            distributed.Client(cluster, asynchronous=True) as client:
        async with AsyncStorageService(str(tmp_path / "s.h5")) as service:
            report = await run_sweep(service, sweeping.build(5, log_dir), sweeping.simulate,
                                     runner=DaskRunner(client))
        assert report.completed
        assert client.status == "running"
        assert {pid for _, pid in sweeping.computed(log_dir)} == {os.getpid()}  # threads here


async def test_no_scheduler_at_the_address_is_a_runner_error(tmp_path: Path, log_dir: str) -> None:
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        async with AsyncStorageService(str(tmp_path / "s.h5")) as service:
            with pytest.raises(RunnerError, match=r"no Dask cluster at tcp://127\.0\.0\.1:9"):
                await run_sweep(service, sweeping.build(3, log_dir), sweeping.simulate,
                                runner=DaskRunner("tcp://127.0.0.1:9"))
    assert sweeping.computed(log_dir) == []


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_gets_a_runner_error_naming_asyncio(tmp_path: Path, log_dir: str) -> None:
    async with AsyncStorageService(str(tmp_path / "s.h5")) as service:
        with pytest.raises(RunnerError, match="asyncio"):
            await run_sweep(service, sweeping.build(3, log_dir), sweeping.simulate,
                            runner=DaskRunner())


def test_the_runner_says_where_it_runs() -> None:
    assert repr(DaskRunner(workers=3)) == "DaskRunner('LocalCluster(3 workers)')"
    assert repr(DaskRunner("tcp://scheduler:8786")) == "DaskRunner('tcp://scheduler:8786')"
    runner: Any = DaskRunner(workers=1, memory_limit="1GiB")
    assert runner.cluster_options["memory_limit"] == "1GiB"


def worker_pid(seconds: float) -> int:
    """The worker process's id, after ``seconds`` of work."""
    time.sleep(seconds)
    return os.getpid()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_the_local_clusters_workers_take_no_sigint() -> None:
    """Ctrl-C in a terminal reaches the workers too: they ignore it, and the sweep goes on."""
    ends: list[Finished] = []
    signalled: set[int] = set()
    async with DaskRunner(workers=2, in_flight=2).finished(worker_pid, [0.1] * 12) as finished:
        async for end in finished:
            ends.append(end)
            if not signalled:
                signalled = {end.answer}
                os.kill(end.answer, signal.SIGINT)  # a real one, as Ctrl-C sends it
    assert [end.error for end in ends] == [None] * 12
    assert signalled <= {end.answer for end in ends[1:]}  # the same worker went on
    assert len({end.answer for end in ends}) == 2  # and none was started anew


async def test_a_cancelled_sweep_still_closes_its_local_cluster_whole() -> None:
    seen: set[int] = set()
    with anyio.CancelScope() as scope:
        async with DaskRunner(workers=2, in_flight=2).finished(worker_pid, [0.1] * 50) as ends:
            async for end in ends:
                seen.add(end.answer)
                if len(seen) == 2:
                    scope.cancel()  # as a sweep's Ctrl-C, or a sibling task's error, does
    assert scope.cancelled_caught
    deadline = time.monotonic() + 10
    while any(map(alive, seen)) and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    assert not any(map(alive, seen)), "the cluster's workers outlived the sweep"
