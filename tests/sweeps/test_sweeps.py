"""run_sweep on the local process pool: every run stored once, exactly; resumed after
interruptions (in process, SIGKILL, Ctrl-C) computing only what was missing."""

from __future__ import annotations

import collections
import hashlib
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import sweeping
from exactness import assert_exact

from aiostore import (
    AsyncStorageService,
    InvalidArgumentError,
    InvalidNameError,
    Msg,
    ProcessRunner,
    Result,
    ServiceClosedError,
    StorageService,
    SweepMismatchError,
    Trajectory,
    run_sweep,
)
from aiostore.sweeps import simulate_runs

pytestmark = pytest.mark.anyio
SWEEPING = Path(sweeping.__file__)


def load(path: Path, level: int = 2) -> Trajectory:
    with StorageService(str(path)) as service:
        traj: Trajectory = service.load(Msg.TRAJECTORY, None, trajectory_name=sweeping.TRAJECTORY,
                                        load_parameters=level, load_results=level)
    return traj


def assert_every_run_exact(path: Path, runs: int) -> None:
    traj = load(path)
    assert len(traj) == runs
    assert all(info.completed for info in traj.runs)
    stored = traj["results.runs"].children
    assert sorted(stored) == [info.name for info in traj.runs]
    for info in traj.runs:
        result = stored[info.name].children["result"]
        assert_exact(result.data, sweeping.expected(0.5 * info.idx, info.idx))


def completed_in(path: Path) -> set[int]:
    return {info.idx for info in load(path, level=0).runs if info.completed}


async def test_every_run_is_stored_once_exactly_and_marked_completed(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    async with AsyncStorageService(str(path)) as service:
        report = await run_sweep(service, sweeping.build(30, log_dir), sweeping.simulate,
                                 runner=ProcessRunner(2), runs_per_task=4)
    assert report.completed
    assert sorted(report.stored) == list(range(30))
    assert not report.failed
    assert not report.already_completed
    assert sorted(index for index, _ in sweeping.computed(log_dir)) == list(range(30))
    assert_every_run_exact(path, 30)
    runs = load(path).runs
    assert all(info.finish_timestamp >= info.timestamp > 0 for info in runs)
    assert runs[3].parameter_summary == "n: 3, x: 1.5"


async def test_a_second_sweep_of_a_complete_file_computes_nothing(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    async with AsyncStorageService(str(path)) as service:
        await run_sweep(service, sweeping.build(6, log_dir), sweeping.simulate,
                        runner=ProcessRunner(2))
        again = await run_sweep(service, sweeping.build(6, log_dir), sweeping.simulate,
                                runner=ProcessRunner(2))
    assert again.completed
    assert again.stored == ()
    assert again.already_completed == set(range(6))
    assert len(sweeping.computed(log_dir)) == 6


@pytest.mark.parametrize("progress", [True, False])
async def test_a_progress_bar_on_stderr_only_when_asked(
        tmp_path: Path, log_dir: str, capsys: pytest.CaptureFixture[str], progress: bool) -> None:
    async with AsyncStorageService(str(tmp_path / "sweep.h5")) as service:
        report = await run_sweep(service, sweeping.build(6, log_dir), sweeping.simulate,
                                 runner=ProcessRunner(2), progress=progress)
    assert report.completed
    err = capsys.readouterr().err
    if progress:
        assert f"{sweeping.TRAJECTORY}: 100%" in err
        assert "6/6" in err
    else:
        assert err == ""


async def test_resuming_removes_leftovers_and_computes_only_the_missing_runs(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    traj = sweeping.build(12, log_dir)
    async with AsyncStorageService(str(path)) as service:
        await service.store(Msg.TRAJECTORY, traj)
        for index in (0, 1, 5):
            run = traj.run(index)
            run.add_result("result", **sweeping.expected(0.5 * index, index))
            await service.store(Msg.SINGLE_RUN, run)
        # a run that died half way: a result in the file, the run not marked completed
        leftover = Result("results.runs.run_00000007.partial", 1.0)
        await service.store(Msg.LEAF, leftover, trajectory_name=sweeping.TRAJECTORY)

        report = await run_sweep(service, sweeping.build(12, log_dir), sweeping.simulate,
                                 runner=ProcessRunner(2))
    assert report.already_completed == {0, 1, 5}
    assert 5 in report.already_completed
    assert 7 not in report.already_completed
    assert all(type(index) is int for index in report.stored)
    assert report.removed_incomplete == (7,)
    assert sorted(report.stored) == sorted(set(range(12)) - {0, 1, 5})
    assert sorted(index for index, _ in sweeping.computed(log_dir)) == sorted(report.stored)
    assert "partial" not in load(path)["results.runs.run_00000007"].children
    assert_every_run_exact(path, 12)


async def test_a_file_of_another_sweep_is_refused_and_left_as_it_was(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    async with AsyncStorageService(str(path)) as service:
        await service.store(Msg.TRAJECTORY, sweeping.build(5, log_dir))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    other_values = sweeping.build(5, log_dir)
    other_values["parameters.seconds"].value = 1.0
    for other in (sweeping.build(6, log_dir), other_values):
        async with AsyncStorageService(str(path)) as service:
            with pytest.raises(SweepMismatchError, match="another sweep"):
                await run_sweep(service, other, sweeping.simulate, runner=ProcessRunner(1))
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sweeping.computed(log_dir) == []


async def test_a_run_that_raises_fails_alone_and_is_retried_by_the_next_sweep(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    async with AsyncStorageService(str(path)) as service:
        report = await run_sweep(service, sweeping.build(10, log_dir), sweeping.fail_on_three,
                                 runner=ProcessRunner(2), runs_per_task=3)
        assert sorted(report.failed) == [0, 3, 6, 9]
        assert "ValueError: no answer for n=6" in report.failed[6]
        assert not report.completed
        assert sorted(report.stored) == [1, 2, 4, 5, 7, 8]
        retried = await run_sweep(service, sweeping.build(10, log_dir), sweeping.simulate,
                                  runner=ProcessRunner(2))
    assert sorted(retried.stored) == [0, 3, 6, 9]
    assert retried.completed
    assert_every_run_exact(path, 10)


def unstorable(x: float, n: int, log_dir: str, seconds: float) -> Any:
    return {"fine": x} if n != 2 else {"bad": {1, 2}}  # a set has no exact round trip


async def test_a_result_the_codec_refuses_fails_that_run_only(tmp_path: Path, log_dir: str) -> None:
    async with AsyncStorageService(str(tmp_path / "sweep.h5")) as service:
        report = await run_sweep(service, sweeping.build(4, log_dir), unstorable,
                                 runner=ProcessRunner(1))
    assert list(report.failed) == [2]
    assert "UnsupportedTypeError" in report.failed[2]
    assert sorted(report.stored) == [0, 1, 3]


def odd_keys(x: float, n: int, log_dir: str, seconds: float) -> Any:
    return {"comment": f"run {n}"} if n != 1 else {"not a key": 1}


async def test_any_key_name_is_a_key_and_a_bad_one_fails_its_run(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    async with AsyncStorageService(str(path)) as service:
        report = await run_sweep(service, sweeping.build(3, log_dir), odd_keys,
                                 runner=ProcessRunner(1))
    assert list(report.failed) == [1]
    assert "InvalidNameError" in report.failed[1]
    assert load(path)["results.runs.run_00000002.result"].data == {"comment": "run 2"}


async def test_a_service_closed_under_the_sweep_ends_it(tmp_path: Path, log_dir: str) -> None:
    async with AsyncStorageService(str(tmp_path / "sweep.h5")) as service:

        async def close_soon() -> None:
            while len(sweeping.computed(log_dir)) < 3:
                await anyio.sleep(0.01)
            await service.aclose()

        with pytest.RaisesGroup(ServiceClosedError):  # the sweep's own error, not a group
            async with anyio.create_task_group() as group:
                group.start_soon(close_soon)
                await run_sweep(service, sweeping.build(40, log_dir, seconds=0.02),
                                sweeping.simulate, runner=ProcessRunner(1))
    assert len(sweeping.computed(log_dir)) < 40


async def test_arguments_are_checked_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "sweep.h5"
    clash = Trajectory("clash")
    clash.add_parameter("a.x", 1.0)
    clash.add_parameter("b.x", 2.0)
    async with AsyncStorageService(str(path)) as service:
        for kwargs in ({"runs_per_task": 0}, {"result": "not a name"}):
            with pytest.raises((InvalidArgumentError, InvalidNameError)):
                await run_sweep(service, sweeping.build(2, str(tmp_path)), sweeping.simulate,
                                **kwargs)
        with pytest.raises(InvalidArgumentError, match="short names"):
            await run_sweep(service, clash, sweeping.simulate)
    assert not path.exists()


def test_simulate_runs_returns_each_failure_as_text() -> None:
    answers = simulate_runs(sweeping.fail_on_three,
                            [(3, {"x": 1.0, "n": 3, "log_dir": "/nonexistent", "seconds": 0}),
                             (4, {"x": 1.0, "n": 4, "log_dir": "/nonexistent", "seconds": 0})])
    assert "no answer for n=3" in str(answers[0].failure)
    assert "FileNotFoundError" in str(answers[1].failure)
    assert answers[0].started > 0


async def test_a_killed_worker_process_loses_and_duplicates_no_run(
        tmp_path: Path, log_dir: str) -> None:
    path = tmp_path / "sweep.h5"
    runs = 40
    async with AsyncStorageService(str(path)) as service, anyio.create_task_group() as group:
        group.start_soon(sweeping.kill_a_worker, log_dir, 8)
        report = await run_sweep(service, sweeping.build(runs, log_dir, seconds=0.05),
                                 sweeping.simulate, runner=ProcessRunner(2))
    assert report.completed
    assert not report.failed
    assert sorted(report.stored) == list(range(runs))
    assert len({pid for _, pid in sweeping.computed(log_dir)}) >= 3  # a fresh worker took over
    assert_every_run_exact(path, runs)


# ----------------------------------------------------------------- interrupted sweep processes


def start_sweep(path: Path, runs: int, log_dir: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(SWEEPING), str(path), str(runs), log_dir,
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_computations(log_dir: str, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(sweeping.computed(log_dir)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def resume_and_check(path: Path, runs: int, log_dir: str, runner: Any) -> None:
    """Resume the interrupted sweep; only the runs the file lacks may be computed again."""
    done_before = completed_in(path)
    assert 0 < len(done_before) < runs, "the interruption came too early or too late to test"
    for entry in Path(log_dir).iterdir():
        entry.unlink()

    async def resume() -> Any:
        async with AsyncStorageService(str(path)) as service:
            return await run_sweep(service, sweeping.build(runs, log_dir, seconds=0.05),
                                   sweeping.simulate, runner=runner)

    report = anyio.run(resume)
    assert report.already_completed == done_before
    assert sorted(report.stored) == sorted(set(range(runs)) - done_before)
    computed = collections.Counter(index for index, _ in sweeping.computed(log_dir))
    assert set(computed) == set(range(runs)) - done_before
    assert_every_run_exact(path, runs)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_an_interrupted_sweep_process_resumes_with_the_missing_runs_only(
        tmp_path: Path, log_dir: str, how: signal.Signals) -> None:
    path, runs = tmp_path / "sweep.h5", 60
    process = start_sweep(path, runs, log_dir, "--seconds", "0.05")
    wait_for_computations(log_dir, 20, process)
    process.send_signal(how)
    out, err = process.communicate(timeout=60)
    if how == signal.SIGINT:
        assert "KeyboardInterrupt" in err, (process.returncode, out[-2000:], err[-2000:])
    resume_and_check(path, runs, log_dir, ProcessRunner(2))


SCRIPT_WITHOUT_GUARD = """
    import sys
    sys.path.insert(0, {tests!r})
    import anyio, sweeping
    from aiostore import AsyncStorageService, ProcessRunner, run_sweep

    async def main():
        async with AsyncStorageService({path!r}) as service:
            await run_sweep(service, sweeping.build(4, {log!r}), sweeping.simulate,
                            runner=ProcessRunner(1))

    anyio.run(main)
"""


def test_a_script_that_sweeps_on_import_gets_a_clear_error(tmp_path: Path, log_dir: str) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(SCRIPT_WITHOUT_GUARD).format(
        tests=str(SWEEPING.parent), path=str(tmp_path / "s.h5"), log=log_dir))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0
    assert "RunnerError: worker processes cannot start" in done.stderr
    assert "if __name__ == '__main__'" in done.stderr


def test_runs_per_task_groups_runs_into_tasks(tmp_path: Path, log_dir: str) -> None:
    seen: list[int] = []

    class Recording(ProcessRunner):
        def finished(self, function: Any, tasks: Any) -> Any:
            def recorded() -> Any:
                for task in tasks:
                    seen.append(len(task))
                    yield task
            return super().finished(function, recorded())

    async def sweep() -> None:
        async with AsyncStorageService(str(tmp_path / "s.h5")) as service:
            await run_sweep(service, sweeping.build(10, log_dir), sweeping.simulate,
                            runner=Recording(1), runs_per_task=4)

    anyio.run(sweep)
    assert seen == [4, 4, 2]
    assert np.array_equal(sorted(index for index, _ in sweeping.computed(log_dir)), range(10))
