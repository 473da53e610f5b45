"""A full disk, and a file-size limit: every writer hears DiskFullError, nothing acknowledged is
lost, a refused store leaves the file as it was, and the file recovers once there is room.

Real faults: each test mounts a small tmpfs of its own (tests run as root here; skipped with the
reason elsewhere), or sets ``RLIMIT_FSIZE`` in a writer process. The trials of
:mod:`filling` run twice per way by default; ``pytest -m slow tests/robustness/test_disk_full.py`` runs 50.
"""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import anyio
import numpy as np
import pytest
import seccomp
import sweeping
from filling import KINDS, FillReport, fill, grow, run_trial

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    DiskFullError,
    FailedStoresError,
    Msg,
    ProcessRunner,
    Result,
    StorageService,
    SweepReport,
    Trajectory,
    run_sweep,
)
from aiostore.engine import space
from aiostore.engine.durability import journal

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _skip_without_seccomp(kind: str) -> None:
    if kind == "quota" and not seccomp.available():
        pytest.skip("no seccomp filter here to make writes fail with EDQUOT")


def _assert_ok(report: FillReport) -> None:
    assert not report.error, report.error
    assert not report.lost, f"acknowledged runs lost: {report.lost[:20]}"
    assert not report.wrong, report.wrong[:5]
    assert not report.refused_present, f"refused runs in the file: {report.refused_present}"
    assert not report.foreign_errors, report.foreign_errors[:5]


# ------------------------------------------------------------------------------------ trials


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_writer_out_of_space_loses_nothing_it_acknowledged(tmp_path: Path, mountable: None,
                                                            kind: str, seed: int) -> None:
    _skip_without_seccomp(kind)
    report = run_trial(tmp_path, kind, seed)
    _assert_ok(report)
    assert report.acknowledged > 0
    assert report.refused > 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(100, 150))
def test_many_writers_out_of_space_lose_nothing(tmp_path: Path, mountable: None, kind: str,
                                                seed: int) -> None:
    _skip_without_seccomp(kind)
    _assert_ok(run_trial(tmp_path, kind, seed))


# ------------------------------------------------------------------- what a writer hears


def _store_until_refused(svc: StorageService, floats: int) -> int:
    """Store ``results.r<i>`` until one is refused; its index (those before were stored)."""
    for index in range(1000):
        try:
            svc.store(Msg.LEAF, Result(f"results.r{index}", v=np.full(floats, index)))
        except DiskFullError:
            return index
    raise AssertionError("the disk never filled")


def test_a_refused_store_leaves_the_file_as_it_was(disk: Path) -> None:
    filename = str(disk / "f.h5")
    with StorageService(filename, trajectory_name="t", durability="close") as svc:
        svc.store(Msg.LEAF, Result("results.small", v=np.arange(10.0)))
        before = Path(filename).read_bytes()
        fill(disk, 2 * 2**20)
        with pytest.raises(DiskFullError) as refused:
            svc.store(Msg.LEAF, Result("results.big", v=np.zeros(2**19)))
        assert Path(filename).read_bytes() == before
        assert not os.path.exists(journal.journal_path(filename))
    error = refused.value
    assert isinstance(error, OSError)
    assert error.errno == errno.ENOSPC
    assert error.filename == filename
    assert filename in str(error)


def test_after_space_is_freed_the_same_service_goes_on(disk: Path) -> None:
    filename = str(disk / "f.h5")
    with StorageService(filename, trajectory_name="t") as svc:
        filler = fill(disk, 3 * 2**20)
        stored = _store_until_refused(svc, 50_000)
        with pytest.raises(DiskFullError):  # still full: refused again, quickly
            svc.store(Msg.LEAF, Result("results.again", v=np.zeros(10)))
        filler.unlink()
        grow(disk, 32 * 2**20)
        svc.store(Msg.LEAF, Result("results.after", v=np.arange(3)))
        for index in range(stored):
            loaded = svc.load(Msg.LEAF, Result(f"results.r{index}"))
            np.testing.assert_array_equal(loaded["v"], np.full(50_000, index))
        assert list(svc.load(Msg.LEAF, Result("results.after"))["v"]) == [0, 1, 2]
    assert not os.path.exists(journal.journal_path(filename))


def _guard_looks_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if another process filled the disk just after the guard looked: HDF5 itself fails."""
    monkeypatch.setattr(space.SpaceGuard, "claim", lambda *args: None)


def test_a_flush_that_fails_keeps_the_journal_with_the_failed_stores_marked(
        disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filename = str(disk / "f.h5")
    with StorageService(filename, trajectory_name="t") as svc:
        svc.store(Msg.LEAF, Result("results.first", v=np.arange(5.0)))
        _guard_looks_away(monkeypatch)
        fill(disk, 2 * 2**20 + 300_000)  # the journal's ballast, and a little: HDF5 fails
        stored = _store_until_refused(svc, 40_000)
        entries = journal.unfinished(filename)  # not locked: the file was let go
        assert entries is not None
        assert entries[-1].failed
        assert not any(entry.failed for entry in entries[:-1])
        with pytest.raises(DiskFullError, match="recovering it"):  # no room to recover yet
            svc.load(Msg.LEAF, Result("results.first"))
        (disk / "filler").unlink()
        for index in range(stored):
            loaded = svc.load(Msg.LEAF, Result(f"results.r{index}"))
            np.testing.assert_array_equal(loaded["v"], np.full(40_000, index))
        with pytest.raises(DataNotFoundError):  # the failed store was taken back
            svc.load(Msg.LEAF, Result(f"results.r{stored}"))
    assert not os.path.exists(journal.journal_path(filename))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_puts_on_a_full_disk_are_reported_by_join(disk: Path, backend: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    filename = str(disk / "f.h5")
    traj = Trajectory("sweep")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(200))})

    async def sweep() -> list[str]:
        async with AsyncStorageService(filename) as svc:
            await svc.store(Msg.TRAJECTORY, traj)
            fill(disk, 3 * 2**20)
            for index in range(len(traj)):
                run = traj.run(index)
                run.add_result("z", trace=np.full(20_000, float(index)))
                await svc.put(Msg.SINGLE_RUN, run)
            with pytest.raises(FailedStoresError) as failed:
                await svc.join()
        assert all(isinstance(error, DiskFullError) for error in failed.value.exceptions)
        return [note for error in failed.value.exceptions for note in error.__notes__]

    notes = anyio.run(sweep, backend=backend)
    (disk / "filler").unlink()
    with StorageService(filename) as svc:
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="sweep", load_parameters=2,
                          load_results=2)
        completed = [info.idx for info in loaded.runs if info.completed]
        for index in completed:
            z = svc.load(Msg.LEAF, Result(f"results.runs.run_{index:08d}.z"),
                         trajectory_name="sweep")
            np.testing.assert_array_equal(z["trace"], np.full(20_000, float(index)))
    assert 0 < len(completed) < 200
    assert len(notes) == 200 - len(completed)
    assert not any(f"run_{index:08d}" in note for note in notes for index in completed)


def test_a_sweep_stops_when_the_disk_is_full_and_resumes_once_there_is_room(
        disk: Path, tmp_path: Path) -> None:
    filename = str(disk / "sweep.h5")
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    traj = sweeping.build(60, str(log_dir))
    fill(disk, 4 * 2**20)

    async def sweep() -> SweepReport:
        async with AsyncStorageService(filename) as service:
            return await run_sweep(service, traj, sweeping.simulate_big,
                                   runner=ProcessRunner(1))

    with pytest.raises(DiskFullError):
        anyio.run(sweep)
    first = {info.idx for info in _load(filename).runs if info.completed}
    assert 0 < len(first) < 60
    (disk / "filler").unlink()
    grow(disk, 64 * 2**20)
    report = anyio.run(sweep)
    assert report.completed
    assert report.already_completed == first
    loaded = _load(filename)
    for info in loaded.runs:
        np.testing.assert_array_equal(
            loaded.get(f"results.runs.{info.name}.result").data["big"],
            np.full(12_500, 0.5 * info.idx))


def _load(filename: str) -> Trajectory:
    with StorageService(filename) as svc:
        return svc.load(Msg.TRAJECTORY, None, trajectory_name=sweeping.TRAJECTORY,
                        load_parameters=2, load_results=2)


_LIMITED_WRITER = """
import sys, numpy as np
from aiostore import StorageService, Msg, Result, DiskFullError
with StorageService(sys.argv[1], trajectory_name="t") as svc:
    for index in range(1000):
        try:
            svc.store(Msg.LEAF, Result(f"results.r{index}", v=np.full(50_000, index)))
        except DiskFullError as exc:
            print(index, exc.errno, str(exc))
            break
"""


def test_a_file_size_limit_refuses_with_efbig(tmp_path: Path) -> None:
    filename = str(tmp_path / "f.h5")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 2**20, 4 * 2**20))

    done = subprocess.run([sys.executable, "-c", _LIMITED_WRITER, filename], text=True,
                          capture_output=True, preexec_fn=limited, check=True)
    refused_at, number, message = done.stdout.split(" ", 2)
    assert int(number) == errno.EFBIG
    assert "ulimit -f" in message
    assert filename in message
    assert "HDF5-DIAG" not in done.stderr
    with StorageService(filename, trajectory_name="t") as svc:
        for index in range(int(refused_at)):
            loaded = svc.load(Msg.LEAF, Result(f"results.r{index}"))
            np.testing.assert_array_equal(loaded["v"], np.full(50_000, index))
