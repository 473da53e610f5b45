"""Ctrl-C, as real SIGINTs: never a close waiting for ever, nor a sweep's workers in the way.

On trio, Ctrl-C raises KeyboardInterrupt in whatever code runs when SIGINT comes. Raised inside
a hand-off to the HDF5 thread (a store tracked without its done callback, a ticket queued with
the thread not woken), it once left the service's close waiting for ever; the programs of
tests/interrupting.py send themselves SIGINT at those very steps, and at random moments. A
terminal's Ctrl-C reaches a sweep's whole process group: ProcessRunner's workers ignore it, and
the sweep ends with the driver's one KeyboardInterrupt.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import interrupting
import pytest
import sweeping
from exactness import assert_exact

from aiostore import (
    AsyncStorageService,
    Msg,
    ProcessRunner,
    StorageService,
    SweepReport,
    run_sweep,
)

INTERRUPTING = Path(interrupting.__file__)
HANG = 60  # seconds: a program still running this long after Ctrl-C waits for ever


def start(*args: str) -> subprocess.Popen[str]:
    """The program in a process group of its own, which Ctrl-C in a terminal signals whole."""
    return subprocess.Popen([sys.executable, str(INTERRUPTING), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def ended(process: subprocess.Popen[str]) -> str:
    """The program's stderr once it ends; fails if it does not (killing its group)."""
    try:
        _, err = process.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        pytest.fail(f"still running {HANG} s after Ctrl-C (a close waiting for ever?): "
                    f"{err[-3000:]}")
    return err


def acknowledged(acks: Path) -> set[int]:
    return {int(line) for line in acks.read_text().split()} if acks.exists() else set()


def assert_whole(path: Path, acks: set[int]) -> None:
    """Every acknowledged run is in the file, completed, with its values; nothing half written."""
    with StorageService(str(path)) as service:
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name=interrupting.TRAJECTORY,
                            load_results=2)
    completed = {info.idx for info in traj.runs if info.completed}
    assert acks <= completed
    try:
        runs = traj["results.runs"].children
    except KeyError:  # no run stored yet
        runs = {}
    for name, group in runs.items():
        index = int(name.removeprefix("run_"))
        assert index in completed, f"{name} is half written"
        assert_exact(dict(group.children["r"].data), interrupting.value(index), name)


# ------------------------------------------------------------- 1. trio: no close waits for ever


@pytest.mark.parametrize("step", ["track", "offer"])
def test_ctrl_c_inside_a_hand_off_leaves_no_close_waiting(tmp_path: Path, step: str) -> None:
    path, acks = tmp_path / "f.h5", tmp_path / "acks"
    process = start("store", str(path), str(acks), "--signal-in", step)
    err = ended(process)
    assert process.returncode != 0
    assert "KeyboardInterrupt" in [line.strip(" |") for line in err.splitlines()], err[-3000:]
    assert acknowledged(acks), "the signal came before any store"
    assert_whole(path, acknowledged(acks))


def ctrl_c_trial(tmp_path: Path, seed: int) -> None:
    """A sweep on trio (run_sweep, its runs computed in the driver's thread) SIGINTed at a
    random moment while it stores (or closes)."""
    path = tmp_path / f"f{seed}.h5"
    process = start("inline-sweep", str(path))
    assert process.stdout is not None
    assert process.stdout.readline() == "storing\n", ended(process)
    time.sleep(random.Random(seed).uniform(0, 1))
    os.killpg(process.pid, signal.SIGINT)
    err = ended(process)
    assert "KeyboardInterrupt" in err, err[-3000:]
    assert_whole(path, set())


# Before the fix, about one trial in 100 to 200 hung: the long variant is `pytest -m slow`
@pytest.mark.parametrize("trials", [3, pytest.param(100, marks=pytest.mark.slow)])
def test_ctrl_c_at_random_moments_never_leaves_a_close_waiting(tmp_path: Path,
                                                               trials: int) -> None:
    for seed in range(trials):
        ctrl_c_trial(tmp_path, seed)


# ------------------------------------------------ 2. ProcessRunner: the driver's Ctrl-C alone


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def ignores_sigint(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:"))
                  .split()[1], 16)
    return bool(ignored & (1 << (signal.SIGINT - 1)))


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def workers_starting(process: subprocess.Popen[str], log_dir: str) -> None:
    """Until the worker processes exist, none has computed a run yet, and each has begun (it
    ignores SIGINT, or a third of a second passed: the driver's main module still imports)."""
    assert wait_until(lambda: len(children(process.pid)) >= 2 or process.poll() is not None, 60)
    workers = children(process.pid)
    wait_until(lambda: all(map(ignores_sigint, workers)), 0.3)
    assert not sweeping.computed(log_dir), "the workers started too fast to test"


def workers_computing(process: subprocess.Popen[str], log_dir: str) -> None:
    assert wait_until(lambda: len(sweeping.computed(log_dir)) >= 10
                      or process.poll() is not None, 60)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("moment", [workers_starting, workers_computing],
                         ids=["workers-starting", "workers-computing"])
def test_ctrl_c_to_a_sweeps_process_group_ends_it_once_and_it_resumes(
        tmp_path: Path, backend: str, moment: Callable[..., None]) -> None:
    path, log_dir = tmp_path / "sweep.h5", tmp_path / "computed"
    log_dir.mkdir()
    process = start("sweep", str(path), str(log_dir), backend)
    moment(process, str(log_dir))
    assert process.poll() is None, ended(process)
    workers = children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: the workers get it too
    err = ended(process)
    lines = err.strip().splitlines()
    # the driver's own KeyboardInterrupt, once: no worker's, no RunnerError made of one
    assert [line for line in lines if line.strip(" |") == "KeyboardInterrupt"] == \
        ["KeyboardInterrupt"], err[-3000:]
    assert lines[-1] == "KeyboardInterrupt", err[-3000:]
    assert "RunnerError" not in err
    assert "BrokenWorkerProcess" not in err
    assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)

    runs = interrupting.SWEEP_RUNS

    async def resume() -> SweepReport:
        async with AsyncStorageService(str(path)) as service:
            return await run_sweep(service, sweeping.build(runs, str(log_dir),
                                                           interrupting.SWEEP_SECONDS),
                                   sweeping.simulate, runner=ProcessRunner(2))

    report = anyio.run(resume, backend=backend)
    assert report.completed
    with StorageService(str(path)) as service:
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name=sweeping.TRAJECTORY,
                            load_results=2)
    stored = traj["results.runs"].children
    assert sorted(stored) == [info.name for info in traj.runs]
    for info in traj.runs:
        assert info.completed
        assert_exact(stored[info.name].children["result"].data,
                     sweeping.expected(0.5 * info.idx, info.idx), info.name)
