"""Reading a file a live writer holds, from other processes (aiostore._core.live), and ``watch``.

The writer is a process of its own (tests/watching.py); the readers are this test's process
(the services, on asyncio and trio) and the command line. Values are checked against what the
writer said it had acknowledged.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from holding import held_by_another_process
from watching import TRAJECTORY, expected

from aiostore import (
    AsyncStorageService,
    FileLockedError,
    Msg,
    Progress,
    Result,
    StorageService,
    Trajectory,
    WriterGoneError,
)
from aiostore._core.live import sockets
from aiostore.cli import ExitCode

TESTS = Path(__file__).parents[1]  # the helpers' folder (watching.py)

WRITER = str(TESTS / "watching.py")
TABLES_HOLDER = "import tables\nh5 = tables.open_file(sys.argv[1], 'a')"  # not aiostore

class Writer:
    """A writer process (tests/watching.py) and what it said so far."""

    def __init__(self, path: Path, runs: int, *options: str) -> None:
        self.path = str(path)
        self.process = subprocess.Popen(
            [sys.executable, WRITER, self.path, str(runs), *options], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.acked = -1  # the highest run index acknowledged
        self.lines: list[str] = []

    def wait_for(self, wanted: str) -> None:
        """Read the writer's lines until one starts with ``wanted``."""
        while not self._line().startswith(wanted):
            pass

    def wait_acked(self, index: int) -> None:
        """Read the writer's lines until it has acknowledged run ``index``."""
        while self.acked < index:
            self._line()

    def _line(self) -> str:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline().strip()
        if not line:
            raise AssertionError(f"the writer ended: {self.stderr()}")
        self.lines.append(line)
        if line.startswith("acked "):
            self.acked = int(line.split()[1])
        return line

    def release(self) -> None:
        """Let a ``--hold`` writer close its file and end."""
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self.wait_for("closed")
        assert self.process.wait(timeout=60) == 0, self.stderr()

    def stderr(self) -> str:
        assert self.process.stderr is not None
        if self.process.poll() is None:
            return "(still running)"
        return self.process.stderr.read()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def writing(path: Path, runs: int, *options: str) -> Iterator[Writer]:
    writer = Writer(path, runs, *options)
    try:
        writer.wait_for("holding")
        yield writer
    finally:
        if writer.process.poll() is None:
            writer.kill()


def aiostore(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiostore", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def check_runs(frame: Any, at_least: int) -> None:
    """``frame`` (load_frame of result r) holds runs 0..at_least at least, each as stored."""
    runs = frame.index.to_numpy()
    assert list(runs) == list(range(len(runs)))  # acknowledged in order: no gap
    assert len(runs) > at_least
    for index in runs:
        want = expected(int(index))
        assert frame.loc[index, "z"] == want["z"]
        np.testing.assert_array_equal(frame.loc[index, "arr"], want["arr"])


# -------------------------------------------------------------------------- the services


@pytest.mark.anyio
async def test_an_async_reader_sees_every_acknowledged_run(tmp_path: Path) -> None:
    with writing(tmp_path / "live.h5", 40, "--pace", "0.05", "--hold") as writer:
        writer.wait_acked(5)
        async with AsyncStorageService(writer.path) as svc:
            for _ in range(3):
                acked = writer.acked  # asked after: it sees this run, maybe later ones
                frame = await svc.load_frame(TRAJECTORY, "r")
                check_runs(frame, acked)
                progress = await svc.progress(TRAJECTORY)
                assert progress.from_writer
                assert progress.total == 40
                assert progress.completed >= len(frame)
                writer.wait_acked(min(writer.acked + 3, 39))
            assert await svc.list_trajectories() == [TRAJECTORY]
            infos = await svc.describe(TRAJECTORY, "results.runs.run_00000002.r")
            assert {key.name for key in infos[0].keys} == {"z", "arr"}
            leaf = await svc.load(Msg.LEAF, Result("results.runs.run_00000003.r"),
                                  trajectory_name=TRAJECTORY)
            assert leaf["z"] == expected(3)["z"]
            writer.wait_for("stored")
            dataset = await svc.load_dataset(TRAJECTORY, "r")
            assert dataset.sizes["x"] == 40
        writer.release()
    with StorageService(writer.path) as svc:  # the file itself, once its writer has gone
        check_runs(svc.load_frame(TRAJECTORY, "r"), 39)
        assert not svc.progress(TRAJECTORY).from_writer


def test_a_blocking_reader_and_a_trajectory_load(tmp_path: Path) -> None:
    with writing(tmp_path / "live.h5", 200, "--pace", "0.01", "--hold") as writer:
        writer.wait_acked(10)
        with StorageService(writer.path) as svc:
            acked = writer.acked
            traj = svc.load(Msg.TRAJECTORY, None, trajectory_name=TRAJECTORY, load_results=2)
            completed = [run.idx for run in traj.runs if run.completed]
            assert completed == list(range(len(completed)))
            assert len(completed) > acked
            for index in completed:
                assert traj[f"results.runs.{traj.runs[index].name}.r"]["z"] == expected(index)["z"]
            with pytest.raises(FileLockedError):  # writes are still the writer's own
                svc.store(Msg.LEAF, Result("results.mine", v=1), trajectory_name=TRAJECTORY)
        writer.kill()


def test_a_reader_by_another_path_and_a_long_one(tmp_path: Path) -> None:
    folder = tmp_path / ("d" * 70) / ("e" * 70)
    folder.mkdir(parents=True)
    path = folder / "live.h5"
    assert len(sockets.socket_path(str(path))) > 107  # reached through /proc/self/fd
    (tmp_path / "link").symlink_to(folder)
    with writing(path, 5, "--hold") as writer:
        writer.wait_for("stored")
        socket_file = sockets.socket_path(str(path))
        assert stat.S_IMODE(os.stat(socket_file).st_mode) == 0o600
        with StorageService(str(tmp_path / "link" / "live.h5")) as svc:
            check_runs(svc.load_frame(TRAJECTORY, "r"), 4)
        writer.release()
    assert not os.path.exists(socket_file)  # the writer took it away with the file


# ----------------------------------------------------------------------------- the CLI


def test_the_commands_read_a_live_file(tmp_path: Path) -> None:
    with writing(tmp_path / "live.h5", 6, "--hold") as writer:
        writer.wait_for("stored")
        listing = aiostore("ls", writer.path)
        assert listing.returncode == 0, listing.stderr
        assert "run_00000005" in listing.stdout
        shown = aiostore("show", writer.path, f"{TRAJECTORY}.r")
        assert shown.returncode == 0, shown.stderr
        assert "1.0" in shown.stdout  # run 5's z
        exported = aiostore("export", writer.path, f"{TRAJECTORY}.r", "-")
        assert exported.returncode == 0, exported.stderr
        assert len(exported.stdout.splitlines()) == 7  # the header and every run
        checked = aiostore("check", writer.path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        writer.release()


def test_a_file_held_by_another_program_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "held.h5"
    with StorageService(str(path)) as svc:
        svc.store(Msg.TRAJECTORY, Trajectory("t"))
    stale = socket.socket(socket.AF_UNIX)  # as a killed writer leaves it
    stale.bind(sockets.socket_path(str(path)))
    stale.close()
    with held_by_another_process(TABLES_HOLDER, path), StorageService(str(path)) as svc, \
            pytest.raises(FileLockedError, match="no aiostore writer answers"):
        svc.list_trajectories()
    with StorageService(str(path)) as svc:  # free again: the stale socket confuses nobody
        assert svc.list_trajectories() == ["t"]


def test_a_read_the_writer_no_longer_serves_is_read_here(tmp_path: Path) -> None:
    """A writer that closed the file between the reader's try and its question says so: the
    reader reads the file itself."""
    path = tmp_path / "closing.h5"
    with StorageService(str(path)) as svc:
        svc.store(Msg.TRAJECTORY, Trajectory("t"))
    holder = subprocess.Popen([sys.executable, "-c", f"import sys, time\n{TABLES_HOLDER}\n"
                               "print('held', flush=True)\ntime.sleep(60)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    listener = sockets.listen(sockets.socket_path(str(path)))  # a writer about to close

    def closing_writer() -> None:
        connection, _ = listener.accept()
        with connection:
            sockets.receive(connection)
            holder.kill()  # the file is free...
            holder.wait()
            sockets.send(connection, ("unserved", None, None))  # ... and no longer served

    thread = threading.Thread(target=closing_writer)
    thread.start()
    try:
        with StorageService(str(path)) as svc:
            assert svc.list_trajectories() == ["t"]
    finally:
        thread.join(timeout=30)
        listener.close()
        holder.kill()
        holder.wait()


# ------------------------------------------------------------------------------- watch


def test_watch_follows_a_sweep_to_its_end(tmp_path: Path) -> None:
    with writing(tmp_path / "sweep.h5", 30, "--mode", "sweep", "--pace", "0.1",
                 "--fail-at", "4") as writer:
        watched = aiostore("watch", writer.path, "--every", "0.2")
        writer.wait_for("closed")
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert len(lines) >= 3, lines  # refreshed while the sweep ran
    assert lines[-1].startswith(f"{TRAJECTORY}: 29/30 runs (96.7%), 1 failed")
    assert "(done" in lines[-1]
    assert any("runs/s" in line and "to go" in line for line in lines[:-1])


def test_watch_of_a_finished_file_and_the_api(tmp_path: Path) -> None:
    path = str(tmp_path / "done.h5")
    with writing(Path(path), 3) as writer:
        writer.wait_for("closed")
    watched = aiostore("watch", path)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines()[-1].startswith(f"{TRAJECTORY}: 3/3 runs (100.0%)")
    with StorageService(path) as svc:
        progress = svc.progress(TRAJECTORY)
    assert isinstance(progress, Progress)
    assert (progress.total, progress.completed, progress.done, progress.eta) == (3, 3, True, 0.0)
    assert progress.started <= progress.last_completed <= progress.read_at


# --------------------------------------------------------------- writers and readers gone


def test_a_writer_killed_mid_read_is_a_clear_error(tmp_path: Path) -> None:
    with writing(tmp_path / "killed.h5", 10, "--slow-reads", "3", "--hold") as writer:
        writer.wait_for("stored")
        outcome: list[BaseException] = []

        def read() -> None:
            with StorageService(writer.path) as svc:
                try:
                    svc.load_frame(TRAJECTORY, "r")
                except BaseException as exc:
                    outcome.append(exc)

        reader = threading.Thread(target=read)
        started = time.monotonic()
        reader.start()
        time.sleep(1)  # the read is under way in the writer
        os.kill(writer.process.pid, signal.SIGKILL)
        reader.join(timeout=30)
        assert not reader.is_alive()
        assert time.monotonic() - started < 10
    assert len(outcome) == 1, outcome
    assert isinstance(outcome[0], WriterGoneError), outcome
    assert "went away" in str(outcome[0])
    with StorageService(writer.path) as svc:  # recovered: every acknowledged run
        check_runs(svc.load_frame(TRAJECTORY, "r"), 9)


def test_a_command_whose_writer_is_killed_mid_read(tmp_path: Path) -> None:
    with writing(tmp_path / "killed.h5", 4, "--slow-reads", "3", "--hold") as writer:
        writer.wait_for("stored")
        command = subprocess.Popen([sys.executable, "-m", "aiostore", "show", writer.path,
                                    f"{TRAJECTORY}.r"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(2)  # started, and its first read is under way in the writer
        os.kill(writer.process.pid, signal.SIGKILL)
        out, err = command.communicate(timeout=30)
    assert command.returncode == ExitCode.REFUSED, (out, err)
    assert err.startswith(f"aiostore: error: the process writing {writer.path!r} went away"), err
    assert len(err.splitlines()) == 1
    shown = aiostore("show", writer.path, f"{TRAJECTORY}.r")  # the file itself, recovered
    assert shown.returncode == 0, shown.stderr


def test_readers_killed_mid_read_leave_the_writer_be(tmp_path: Path) -> None:
    script = ("import sys, aiostore\n"
              "svc = aiostore.StorageService(sys.argv[1])\n"
              "print('reading', flush=True)\n"
              "svc.load_frame('w', 'r')\n")
    with writing(tmp_path / "busy.h5", 60, "--pace", "0.05", "--slow-reads", "1",
                 "--hold") as writer:
        for _ in range(3):
            reader = subprocess.Popen([sys.executable, "-c", script, writer.path],
                                      stdout=subprocess.PIPE, text=True)
            assert reader.stdout is not None
            assert reader.stdout.readline().strip() == "reading"
            time.sleep(0.5)
            reader.kill()
            reader.wait()
        writer.wait_for("stored")  # it went on storing
        assert writer.acked == 59
        with StorageService(writer.path) as svc:
            check_runs(svc.load_frame(TRAJECTORY, "r"), 59)
        writer.release()
    assert "Traceback" not in writer.stderr()


# --------------------------------------------------------------------------- the benchmark


def run_benchmark(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(TESTS.parent / "benchmarks" / "watching.py"),
         *args, "--dir", str(folder)],
        capture_output=True, text=True, timeout=1800, check=False, cwd=folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_watching_benchmark(tmp_path: Path) -> None:
    stdout = run_benchmark(tmp_path, "--runs", "2000", "--repeat", "1", "--every", "0.1")
    for line in ("writer alone", "with 2 readers, load_frame every 0.1 s",
                 "ratio (readers / alone)", "acknowledgement -> seen by a reader",
                 "a read answered by the writer", "a snapshot instead"):
        assert line in stdout, stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_the_watching_must_holds(tmp_path: Path) -> None:
    """Issue 21's must-holds, at the benchmark's default size (a few minutes)."""
    stdout = run_benchmark(tmp_path)
    ratio = next(line for line in stdout.splitlines() if "ratio" in line)
    latency = next(line for line in stdout.splitlines() if "acknowledgement ->" in line)
    assert ratio.endswith("PASS"), stdout
    assert latency.endswith("PASS"), stdout


# ---------------------------------------------------------------- a reader's kept columns


def test_kept_columns_are_joined_with_the_new_runs_only() -> None:
    from aiostore._core.answers import FrameColumns
    from aiostore._core.live import framecache
    from aiostore._core.requests import FramePart, ReadFrame, Target

    asked: list[list[int]] = []
    generation = ["g1"]

    def ask(request: ReadFrame) -> tuple[str, Any, Any]:
        runs = np.asarray(request.runs)
        asked.append(runs.tolist())
        held = runs[runs % 5 != 4]  # run 4, 9... do not hold the result
        columns = [("z", None, held * 2.0), ("arr", None, np.stack([held] * 3, axis=1))]
        return "answer", [FrameColumns(held, columns)], generation[0]

    def read(runs: list[int]) -> FrameColumns:
        request = ReadFrame(Target("/nowhere/f.h5", "t"), np.array(runs, dtype=np.int64),
                            (FramePart("results", ("z",), ("z", "arr")),))
        kind, answer = framecache.read("/nowhere/f.h5.aiostore-sock", request, ask)
        assert kind == "answer"
        return answer[0]

    framecache.forget("/nowhere/f.h5.aiostore-sock")
    read([0, 1, 2, 3])
    read([0, 1, 2, 3, 7])
    got = read([0, 1, 2, 3, 5, 6, 7, 9, 10])  # 5 and 6 completed after 7: joined in run order
    assert asked == [[0, 1, 2, 3], [7], [5, 6, 9, 10]]
    assert got.runs.tolist() == [0, 1, 2, 3, 5, 6, 7, 10]
    np.testing.assert_array_equal(got.columns[0][2], got.runs * 2.0)
    np.testing.assert_array_equal(got.columns[1][2][:, 1], got.runs)
    got.columns[0][2][:] = -1  # the caller's own copy
    assert read([0, 1, 2, 3]).columns[0][2].tolist() == [0.0, 2.0, 4.0, 6.0]  # fewer: whole
    generation[0] = "g2"  # the writer changed something in place: read everything again
    read([0, 1, 2, 3, 8])
    assert asked[-2:] == [[8], [0, 1, 2, 3, 8]]
    framecache.forget("/nowhere/f.h5.aiostore-sock")
