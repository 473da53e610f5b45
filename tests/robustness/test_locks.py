"""File systems without locks (NFS or Lustre mounted without them): a clear refusal, and
``HDF5_USE_FILE_LOCKING=FALSE`` as the way to write anyway, with the journal's owner record
keeping a second writer of the same host out.

The faults are real: the subprocesses that meet them have ``flock`` fail with ``ENOLCK`` (or
``ENOSYS``) through a seccomp filter (tests/seccomp.py), so libhdf5 and aiostore's journal both
meet the failure a file system without locks gives. The functions above the tests run in those
subprocesses (they import this module); the journal's decisions about owners are also tested
here in-process, with the variable set and owners made up.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
import seccomp

from aiostore import (
    AsyncStorageService,
    FileLockedError,
    Msg,
    Result,
    StorageService,
    Trajectory,
)
from aiostore.engine.durability import journal
from aiostore.errors import LocksUnsupportedError
from aiostore.testing import assert_items_equal

# this module's folder, and the helpers' (seccomp, crashing)
TESTS = os.pathsep.join(str(folder) for folder in Path(__file__).parents[:2])
LOCKING = "HDF5_USE_FILE_LOCKING"
APIS = ["blocking", "asyncio", "trio"]


# ------------------------------------------------------------- run in the subprocesses (and here)


def sample(name: str = "sweep") -> Trajectory:
    """A trajectory of 3 runs, each with a result: what the subprocesses store."""
    traj = Trajectory(name, comment="stored without file locks")
    traj.add_parameter("x", 0.5)
    traj.explore({"x": [0.5, 1.5, 2.5]})
    return traj


def add_run(traj: Trajectory, index: int) -> Any:
    run = traj.run(index)
    run.add_result("r", z=index * 0.5, trace=np.arange(5.0) * index, label=f"run {index}")
    return run


def store_sample(api: str, filename: str | None, name: str = "sweep",
                 **options: Any) -> Trajectory:
    """Store :func:`sample` and its runs through the blocking service or the async one (on
    the backend ``api``), load it back through the same service, compare, and return it."""
    traj = sample(name)
    if api == "blocking":
        with StorageService(filename, **options) as service:
            service.store(Msg.TRAJECTORY, traj)
            for index in range(3):
                service.store(Msg.SINGLE_RUN, add_run(traj, index))
            loaded = service.load(Msg.TRAJECTORY, None, trajectory_name=name,
                                  load_parameters=2, load_results=2)
    else:
        loaded = anyio.run(_store_async, filename, traj, backend=api)
    assert_items_equal(traj, loaded)
    return loaded


async def _store_async(filename: str, traj: Trajectory) -> Trajectory:
    async with AsyncStorageService(filename) as service:
        await service.store(Msg.TRAJECTORY, traj)
        for index in range(3):
            await service.store(Msg.SINGLE_RUN, add_run(traj, index))
        loaded: Trajectory = await service.load(Msg.TRAJECTORY, None,
                                                trajectory_name=traj.v_name,
                                                load_parameters=2, load_results=2)
        return loaded


def outcome(action: Callable[[], Any]) -> None:
    """Run ``action`` and print what came of it, as the last line of stdout (JSON)."""
    try:
        action()
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc),
                          "locks_unsupported": isinstance(exc, LocksUnsupportedError),
                          "locked": isinstance(exc, FileLockedError)}))
    else:
        print(json.dumps({"error": None}))


def hold_open(filename: str, checkpoint: bool) -> None:
    """Store the sample's trajectory and 2 runs (and with ``checkpoint``, store a leaf and
    remove it: a removal clears the journal first), say "held", wait for a line on stdin, then
    store the third run and close the file."""
    traj = sample()
    with StorageService(filename, trajectory_name=traj.v_name) as service:
        service.store(Msg.TRAJECTORY, traj)
        for index in range(2):
            service.store(Msg.SINGLE_RUN, add_run(traj, index))
        if checkpoint:
            scratch = Result("results.scratch", v=1)
            service.store(Msg.LEAF, scratch)
            service.store(Msg.REMOVE, scratch)
        print("held", flush=True)
        sys.stdin.readline()
        service.store(Msg.SINGLE_RUN, add_run(traj, 2))
    print("done", flush=True)


def check_killed_writer(filename: str, acks: str) -> None:
    """Open what a killed crash-trial writer left and print the check's report (JSON)."""
    import dataclasses
    import logging

    import crashing

    logging.basicConfig(level=logging.WARNING)  # the recovery's account, on stderr
    report = crashing.check_file(filename, acks, crashing.TrialReport(killed_after=0.0))
    print(json.dumps(dataclasses.asdict(report)))


# ----------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _seccomp_filters() -> None:
    if not seccomp.available():
        pytest.skip("no seccomp filter can be installed here (Linux x86_64/aarch64 only)")


def _command(code: str, args: tuple[str, ...], denied: int, locking: str | None,
             ) -> tuple[list[str], dict[str, str]]:
    prelude = f"import seccomp\nseccomp.deny({{'flock': {denied}}})\n"
    env = {key: value for key, value in os.environ.items() if key != LOCKING}
    if locking is not None:
        env[LOCKING] = locking
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    return [sys.executable, "-c", prelude + code, *args], env


def without_locks(code: str, *args: str, locking: str | None = None,
                  denied: int = errno.ENOLCK) -> subprocess.CompletedProcess[str]:
    """Run python ``code`` (``sys.argv[1:]`` is ``args``) in a subprocess whose flock fails
    with ``denied``, ``HDF5_USE_FILE_LOCKING`` set to ``locking`` before it starts (or unset)."""
    command, env = _command(code, args, denied, locking)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def start_without_locks(code: str, *args: str, locking: str | None = None,
                        ) -> subprocess.Popen[str]:
    command, env = _command(code, args, errno.ENOLCK, locking)
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def last_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def stored_here() -> Trajectory:
    """The sample as it loads once stored (a file in memory, in this process)."""
    return store_sample("blocking", None, in_memory=True)


def load_here(filename: str, name: str = "sweep") -> Trajectory:
    with StorageService(filename) as service:
        loaded: Trajectory = service.load(Msg.TRAJECTORY, None, trajectory_name=name,
                                          load_parameters=2, load_results=2)
    return loaded


def assert_names_the_cause(message: str, filename: str) -> None:
    assert repr(filename) in message
    assert "does not support file locks" in message
    assert "HDF5_USE_FILE_LOCKING=FALSE" in message
    assert "another process is writing" not in message


STORE = "import sys\nfrom test_locks import outcome, store_sample\n" \
        "outcome(lambda: store_sample(sys.argv[1], sys.argv[2], sys.argv[3]))\n"


# --------------------------------------------------------------- flock fails: a clear refusal


@pytest.mark.parametrize("api", APIS)
def test_a_store_where_flock_fails_names_the_cause_and_changes_nothing(
        tmp_path: Path, api: str) -> None:
    filename = str(tmp_path / "nfs.h5")
    store_sample("blocking", filename)  # here, with locks
    before = Path(filename).read_bytes()
    result = last_json(without_locks(STORE, api, filename, "again"))
    assert result["locks_unsupported"], result
    assert_names_the_cause(result["message"], filename)
    assert Path(filename).read_bytes() == before
    assert not os.path.exists(journal.journal_path(filename))


def test_a_new_file_refused_for_want_of_locks_is_not_left_behind(tmp_path: Path) -> None:
    """libhdf5 creates the file before it fails to lock it: the empty file goes, so that the
    way forward the message names then works."""
    filename = str(tmp_path / "new" / "new.h5")
    result = last_json(without_locks(STORE, "blocking", filename, "sweep"))
    assert result["locks_unsupported"], result
    assert_names_the_cause(result["message"], filename)
    assert not os.path.exists(filename)
    result = last_json(without_locks(STORE, "blocking", filename, "sweep", locking="FALSE"))
    assert result["error"] is None, result


def test_a_journal_where_flock_fails_is_not_taken_for_a_live_writers(tmp_path: Path) -> None:
    """A journal left behind, then opened where flock fails with locks on: the cause, not
    "another process is writing it", whether to replay it or to write."""
    filename = str(tmp_path / "left.h5")
    Path(filename).touch()
    journal.Journal(filename).abandon()
    code = ("import sys\nfrom aiostore.engine.durability import journal\nfrom test_locks import outcome\n"
            "outcome(lambda: journal.unfinished(sys.argv[1]))\n"
            "outcome(lambda: journal.Journal(sys.argv[1]))\n")
    done = without_locks(code, filename)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.strip().splitlines():
        result = json.loads(line)
        assert result["locks_unsupported"], result
        assert_names_the_cause(result["message"], filename)
        assert repr(journal.journal_path(filename)) in result["message"]


def test_the_command_says_so_in_one_line(tmp_path: Path) -> None:
    filename = str(tmp_path / "listed.h5")
    store_sample("blocking", filename)
    code = ("import runpy, sys\nsys.argv = ['aiostore', 'ls', sys.argv[1]]\n"
            "runpy.run_module('aiostore', run_name='__main__', alter_sys=True)\n")
    done = without_locks(code, filename)
    assert done.returncode == 8, done.stderr  # the file system refused
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "HDF5-DIAG" not in done.stderr
    assert_names_the_cause(lines[0], filename)


# ------------------------------------------------------------ HDF5_USE_FILE_LOCKING=FALSE


@pytest.mark.parametrize("api", APIS)
def test_with_locks_off_stores_succeed_and_load_back_exactly(tmp_path: Path, api: str) -> None:
    filename = str(tmp_path / "off.h5")
    result = last_json(without_locks(STORE, api, filename, "sweep", locking="FALSE"))
    assert result["error"] is None, result  # loaded back there, without locks, and compared
    assert_items_equal(stored_here(), load_here(filename))
    assert not os.path.exists(journal.journal_path(filename))  # closed cleanly


def test_the_command_lists_a_file_with_locks_off(tmp_path: Path) -> None:
    filename = str(tmp_path / "listed.h5")
    store_sample("blocking", filename)
    code = ("import runpy, sys\nsys.argv = ['aiostore', 'ls', sys.argv[1]]\n"
            "runpy.run_module('aiostore', run_name='__main__', alter_sys=True)\n")
    done = without_locks(code, filename, locking="FALSE")
    assert done.returncode == 0, done.stderr
    assert "sweep" in done.stdout


def test_lustre_without_flock_best_effort(tmp_path: Path) -> None:
    """flock failing with ENOSYS (Lustre's ``noflock``): HDF5 goes on without its lock by
    default, aiostore's journal only with BEST_EFFORT (or FALSE) said."""
    refused = tmp_path / "refused.h5"
    store_sample("blocking", str(refused))
    result = last_json(without_locks(STORE, "blocking", str(refused), "again",
                                     denied=errno.ENOSYS))
    assert result["locks_unsupported"], result
    assert "ENOSYS" in result["message"]
    written = str(tmp_path / "written.h5")
    result = last_json(without_locks(STORE, "blocking", written, "sweep",
                                     locking="BEST_EFFORT", denied=errno.ENOSYS))
    assert result["error"] is None, result
    assert_items_equal(stored_here(), load_here(written))


def test_a_killed_lockless_writers_journal_is_replayed_by_the_next_opener(
        tmp_path: Path) -> None:
    """A real writer (tests/crashing.py) storing a sweep from 4 tasks and a thread, locks off,
    SIGKILLed mid-stream; the next opener, locks off too, finds its pid dead in the journal's
    owner record, replays the journal, and every run the writer acknowledged is there."""
    import crashing

    filename, acks = str(tmp_path / "killed.h5"), str(tmp_path / "killed.acks")
    code = ("import anyio, sys\nimport crashing\n"
            "anyio.run(crashing.write_until_killed, sys.argv[1], sys.argv[2], 'flush', 0)\n")
    writer = start_without_locks(code, filename, acks, locking="FALSE")
    try:
        deadline = time.monotonic() + 30
        while len(crashing.read_acks(acks)[1]) < 20 and writer.poll() is None:
            assert time.monotonic() < deadline, "the writer acknowledged too few runs"
            time.sleep(0.01)
    finally:
        writer.send_signal(signal.SIGKILL)
        _, stderr = writer.communicate()
    assert writer.returncode == -signal.SIGKILL, stderr[-3000:]
    owner = journal.owner_of(filename)
    assert owner is not None
    assert (owner.host, owner.pid) == (socket.gethostname(), writer.pid)
    code = "import sys\nfrom test_locks import check_killed_writer\n" \
           "check_killed_writer(sys.argv[1], sys.argv[2])\n"
    checked = without_locks(code, filename, acks, locking="FALSE")
    report = last_json(checked)
    assert f"recovered {filename}: its journal held" in checked.stderr
    assert report["acknowledged"] >= 20
    assert (report["lost"], report["wrong"], report["error"]) == ([], [], ""), report
    assert not os.path.exists(journal.journal_path(filename))  # replayed, then closed


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_live_lockless_writers_journal_is_left_alone(tmp_path: Path, checkpoint: bool) -> None:
    """A second process, locks off too, neither replays the journal of a live writer of this
    host nor writes the file (FileLockedError naming the writer); the writer finishes whole.
    Also once the writer's journal was cleared (a checkpoint)."""
    filename = str(tmp_path / "live.h5")
    holder = start_without_locks("import sys\nfrom test_locks import hold_open\n"
                                 "hold_open(sys.argv[1], sys.argv[2] == 'True')\n", filename,
                                 str(checkpoint), locking="FALSE")
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "held", holder.stderr
        code = ("import json, sys\nfrom aiostore.engine.durability import journal\n"
                "from test_locks import outcome, store_sample\n"
                "print(json.dumps({'unfinished': journal.unfinished(sys.argv[1])}))\n"
                "outcome(lambda: store_sample('blocking', sys.argv[1], 'other'))\n")
        done = without_locks(code, filename, locking="FALSE")
        holder.stdin.write("\n")  # the holder stores its last run and closes the file
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "done", holder.stderr
        assert holder.wait(30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    assert done.returncode == 0, done.stderr
    unfinished, store = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert unfinished == {"unfinished": None}  # not replayed
    assert store["locked"], store
    assert not store["locks_unsupported"]
    assert f"process {holder.pid} on this host" in store["message"]
    assert_items_equal(stored_here(), load_here(filename))
    with StorageService(filename) as service:
        assert service.list_trajectories() == ["sweep"]


# ------------------------------------------------- the journal's owner record, in this process


@pytest.fixture
def locks_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOCKING, "FALSE")  # for the journal only: HDF5 read it when it started


def _journal_owned_by(filename: str, owner: journal.Owner,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave a journal of ``filename`` whose owner record names ``owner``."""
    Path(filename).touch()
    with monkeypatch.context() as patch:
        patch.setattr(journal, "this_process", lambda: owner)
        journal.Journal(filename).abandon()
    assert journal.owner_of(filename) == owner


def _here(pid: int, started: str | None = None) -> journal.Owner:
    return journal.Owner(socket.gethostname(), pid,
                         journal._start_of(pid) if started is None else started,
                         journal.this_process().namespace)


def test_a_journal_of_another_host_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_off: None) -> None:
    filename = str(tmp_path / "elsewhere.h5")
    _journal_owned_by(filename, journal.Owner("node17", 4242, ""), monkeypatch)
    for attempt in (journal.unfinished, journal.Journal):
        with pytest.raises(FileLockedError, match="process 4242 on node17") as raised:
            attempt(filename)
        assert "cannot tell from here whether that process still runs" in str(raised.value)


def test_a_journal_of_another_container_of_this_host_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_off: None) -> None:
    """Its process id is not of this pid namespace: it cannot be checked from here."""
    filename = str(tmp_path / "container.h5")
    _journal_owned_by(filename, journal.Owner(socket.gethostname(), os.getppid(), "",
                                              "pid:[17]"), monkeypatch)
    with pytest.raises(FileLockedError, match=r"in another container \(pid namespace pid:\[17"):
        journal.unfinished(filename)


def test_a_journal_of_a_live_process_of_this_host_is_left_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_off: None) -> None:
    filename = str(tmp_path / "live.h5")
    parent = os.getppid()
    _journal_owned_by(filename, _here(parent), monkeypatch)
    assert journal.unfinished(filename) is None
    with pytest.raises(FileLockedError, match=f"process {parent} on this host"):
        journal.Journal(filename)


def _dead_process() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("owner", ["dead", "reused id", "this process"])
def test_a_journal_of_a_dead_process_of_this_host_is_replayed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_off: None, owner: str) -> None:
    """Dead: its pid is gone; reused id: a live process has its pid but started at another
    time; this process: the engine let its own journal go (it holds one per file)."""
    filename = str(tmp_path / "stale.h5")
    made_up = {"dead": lambda: _here(_dead_process(), ""),
               "reused id": lambda: _here(os.getppid(), "another boot:17"),
               "this process": lambda: _here(os.getpid())}[owner]()
    _journal_owned_by(filename, made_up, monkeypatch)
    assert journal.unfinished(filename) == []  # stale: replayed (nothing to make again here)
    journal.Journal(filename).close()


def test_a_killed_process_not_yet_reaped_is_dead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_off: None) -> None:
    filename = str(tmp_path / "zombie.h5")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _journal_owned_by(filename, _here(child.pid), monkeypatch)
        assert journal.unfinished(filename) is None  # alive
        child.kill()
        deadline = time.monotonic() + 10
        while journal._start_of(child.pid) != "zombie":  # killed, and not waited for yet
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert journal.unfinished(filename) == []
    finally:
        child.kill()
        child.wait()


def _flock_fails(number: int) -> Callable[[int, int], None]:
    def flock(fd: int, operation: int) -> None:
        raise OSError(number, os.strerror(number))
    return flock


def test_with_locks_on_a_failing_flock_is_the_cause_never_a_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filename = str(tmp_path / "on.h5")
    _journal_owned_by(filename, _here(os.getppid()), monkeypatch)  # a live owner: ignored
    monkeypatch.setattr(journal.fcntl, "flock", _flock_fails(errno.ENOLCK))
    for attempt in (journal.unfinished, journal.Journal):
        with pytest.raises(LocksUnsupportedError) as raised:
            attempt(filename)
        assert_names_the_cause(str(raised.value), filename)


def test_best_effort_goes_without_flock_where_it_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    filename = str(tmp_path / "best.h5")
    _journal_owned_by(filename, _here(os.getppid()), monkeypatch)
    monkeypatch.setenv(LOCKING, "BEST_EFFORT")
    monkeypatch.setattr(journal.fcntl, "flock", _flock_fails(errno.ENOLCK))
    assert journal.unfinished(filename) is None  # the owner record decides: alive
    monkeypatch.setattr(journal.fcntl, "flock", _flock_fails(errno.EIO))
    with pytest.raises(LocksUnsupportedError):  # not a file system without locks: refused
        journal.unfinished(filename)


def test_the_message_says_when_the_variable_was_set_too_late(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, locks_off: None) -> None:
    from aiostore.engine import space

    error = space.locks_unsupported(OSError(errno.ENOLCK, "no locks"), "f.h5", "f.h5")
    assert "HDF5_USE_FILE_LOCKING=FALSE is set, but HDF5 read its environment before" in str(
        error)
