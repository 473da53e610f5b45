"""Paths the file system refuses, met for real (no mocks): each is an aiostore error naming the
user's file, with the system's errno, changes nothing, and keeps libhdf5's diagnostics off stderr.

Every refusal is tried in a child process, through the blocking service and the async one on
asyncio and on trio, so that its stderr can be read whole. Tests run as root, which ignores
permission bits: the cases about permissions drop the child to an unprivileged uid once it has
imported what it needs (the interpreter's own files may not be readable by that uid, so it
cannot start as it: ``preexec_fn`` or ``user=`` would fail before the first import).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import seccomp
from holding import held_by_another_process

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    FileAccessError,
    FileLockedError,
    LocksUnsupportedError,
    Msg,
    Result,
    StorageService,
)
from aiostore.cli import ExitCode

NOBODY = 65534
APIS = ("blocking", "asyncio", "trio")

# The child: tries each (path, "write" | "read") through each API and prints what it raised,
# as JSON. Given a uid, it first uses every API once as root (so that what they import lazily
# is imported) and then becomes that uid; given system calls to deny, it makes them fail with
# the errno given (tests/seccomp.py).
CHILD = r'''
import json, os, sys, tempfile
import anyio
import aiostore
from aiostore import AsyncStorageService, Msg, Result, StorageService

def blocking(path, action):
    with StorageService(path, trajectory_name="t") as svc:
        if action == "write":
            svc.store(Msg.LEAF, Result("results.added", v=2))
        else:
            svc.load(Msg.LEAF, Result("results.r"))

async def asynchronous(path, action):
    async with AsyncStorageService(path, trajectory_name="t") as svc:
        if action == "write":
            await svc.store(Msg.LEAF, Result("results.added", v=2))
        else:
            await svc.load(Msg.LEAF, Result("results.r"))

def attempt(api, path, action):
    if api == "blocking":
        blocking(path, action)
    else:
        anyio.run(asynchronous, path, action, backend=api)

def outcome(api, path, action):
    try:
        attempt(api, path, action)
    except Exception as exc:
        return {"raised": type(exc).__name__, "module": type(exc).__module__,
                "oserror": isinstance(exc, OSError), "errno": getattr(exc, "errno", None),
                "filename": getattr(exc, "filename", None), "message": str(exc)}
    return {"raised": None}

spec = json.loads(sys.argv[1])
if spec["uid"] is not None:
    with tempfile.TemporaryDirectory() as scratch:
        for api in ("blocking", "asyncio", "trio"):
            warm = os.path.join(scratch, api + ".h5")
            with StorageService(warm, trajectory_name="t") as svc:
                svc.store(Msg.LEAF, Result("results.r", v=1))
            attempt(api, warm, "write")
            attempt(api, warm, "read")
    os.setgroups([])
    os.setgid(spec["uid"])
    os.setuid(spec["uid"])
if spec["deny"]:
    import seccomp
    seccomp.deny(spec["deny"])
results = [{api: outcome(api, path, action) for api in ("blocking", "asyncio", "trio")}
           for path, action in spec["attempts"]]
print(json.dumps(results))
'''


@dataclass(frozen=True)
class Refused:
    """What an attempt must raise: the class, the errno, and fragments of the message."""

    error: type[Exception]
    errno: int | None
    says: tuple[str, ...] = ()


ALLOWED = None  # an attempt that must succeed


def attempt(attempts: list[tuple[Path, str]], uid: int | None = None,
            deny: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """What each attempt raised, by API; asserts libhdf5 and tracebacks kept off stderr."""
    spec = json.dumps({"uid": uid, "deny": deny,
                       "attempts": [(str(path), action) for path, action in attempts]})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", CHILD, spec], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert "HDF5-DIAG" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return results


def check(outcomes: dict[str, Any], path: Path, expected: Refused | None) -> None:
    """Every API gave ``expected`` for ``path``: the class, from aiostore.errors, an OSError
    with the errno (unless a missing file's DataNotFoundError), naming the user's file."""
    for api, outcome in outcomes.items():
        if expected is ALLOWED:
            assert outcome["raised"] is None, (api, outcome)
            continue
        assert outcome["raised"] == expected.error.__name__, (api, outcome)
        assert outcome["module"] == "aiostore.errors", (api, outcome)
        assert outcome["oserror"] == issubclass(expected.error, OSError), (api, outcome)
        assert outcome["errno"] == expected.errno, (api, outcome)
        if expected.errno is not None:
            assert outcome["filename"] == str(path), (api, outcome)
        assert repr(str(path)) in outcome["message"], (api, outcome)
        for fragment in expected.says:
            assert fragment in outcome["message"], (api, fragment, outcome)


def refusals(cases: list[tuple[Path, str, Refused | None]], uid: int | None = None) -> None:
    """Try every case in one child; each must come out as expected, through every API."""
    results = attempt([(path, action) for path, action, _ in cases], uid)
    for (path, _, expected), outcomes in zip(cases, results, strict=True):
        assert set(outcomes) == set(APIS)
        check(outcomes, path, expected)


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every entry under ``folder``: its mode and (for a file) a digest of its bytes."""
    entries: dict[str, tuple[int, str]] = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            entry = Path(root) / name
            info = entry.lstat()
            digest = hashlib.sha256(entry.read_bytes()).hexdigest() if name in files else ""
            entries[str(entry.relative_to(folder))] = (info.st_mode, digest)
    return entries


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of an aiostore file holding trajectory ``t`` with result ``r``."""
    path = tmp_path_factory.mktemp("template") / "t.h5"
    with StorageService(str(path), trajectory_name="t") as svc:
        svc.store(Msg.LEAF, Result("results.r", v=1))
    return path.read_bytes()


@pytest.fixture
def sandbox() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is inside a folder only root may)."""
    folder = Path(tempfile.mkdtemp(prefix="aiostore-paths-"))
    folder.chmod(0o755)
    yield folder
    for root, folders, _ in os.walk(folder):  # modes taken away by a test stop rmtree
        for name in folders:
            (Path(root) / name).chmod(0o755)
    shutil.rmtree(folder)


def unprivileged() -> int | None:
    """The uid children drop to: nobody under root; a user who is not root already is one."""
    return NOBODY if os.geteuid() == 0 else None


def place(path: Path, data: bytes, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def read_only_mount(sandbox: Path, template: bytes) -> Iterator[Path]:
    """A small tmpfs holding ``kept.h5``, mounted read-only; unmounted after the test."""
    mount_point = sandbox / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): {mounted.stderr}")
    try:
        place(mount_point / "kept.h5", template, 0o644)
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(mount_point)],
                                   capture_output=True, text=True, check=False)
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only: {remounted.stderr}")
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


# ----------------------------------------------------------------------- paths that cannot be


def test_a_parent_that_is_a_regular_file(sandbox: Path) -> None:
    place(sandbox / "notes", b"my notes", 0o644)
    inside, deeper = sandbox / "notes" / "f.h5", sandbox / "notes" / "sub" / "f.h5"
    before = snapshot(sandbox)
    says = (f"{str(sandbox / 'notes')!r} is a file, not a folder",)
    refusals([(inside, "write", Refused(FileAccessError, errno.ENOTDIR, ("cannot write", *says))),
              (deeper, "write", Refused(FileAccessError, errno.ENOTDIR, says)),
              (inside, "read", Refused(FileAccessError, errno.ENOTDIR, ("cannot read", *says)))])
    assert snapshot(sandbox) == before


def test_a_path_that_is_a_folder(sandbox: Path) -> None:
    folder = sandbox / "results"
    folder.mkdir()
    before = snapshot(sandbox)
    says = ("it is a folder, not a file",)
    refusals([(folder, "write", Refused(FileAccessError, errno.EISDIR, says)),
              (folder, "read", Refused(FileAccessError, errno.EISDIR, says))])
    assert snapshot(sandbox) == before


def test_a_missing_folder_is_not_made_for_reading(sandbox: Path) -> None:
    path = sandbox / "sweep" / "out" / "f.h5"
    refusals([(path, "read", Refused(DataNotFoundError, None, ("no such file",)))])
    assert list(sandbox.iterdir()) == []


# ------------------------------------------------------------------- missing folders are made


def test_missing_folders_are_made_for_writing_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "sweep" / "out" / "f.h5"
    with caplog.at_level(logging.INFO, logger="aiostore.engine"), \
            StorageService(str(path), trajectory_name="t") as svc:
        svc.store(Msg.LEAF, Result("results.r", v=1))
    with StorageService(str(path), trajectory_name="t") as svc:
        assert svc.load(Msg.LEAF, Result("results.r"))["v"] == 1
    made = [record.getMessage() for record in caplog.records
            if record.name == "aiostore.engine" and record.levelno == logging.INFO]
    assert made == [f"created the folder {path.parent} for {path}"]


@pytest.mark.anyio
async def test_missing_folders_are_made_for_async_writes(tmp_path: Path) -> None:
    path = tmp_path / "sweep" / "out" / "f.h5"
    async with AsyncStorageService(str(path), trajectory_name="t") as svc:
        await svc.store(Msg.LEAF, Result("results.r", v=1))
        assert (await svc.load(Msg.LEAF, Result("results.r")))["v"] == 1
    assert path.is_file()


# ------------------------------------------------------------------------------ permissions


def test_a_file_this_user_may_not_write_or_read(sandbox: Path, template: bytes) -> None:
    read_only = place(sandbox / "shared" / "read_only.h5", template, 0o444)
    secret = place(sandbox / "shared" / "secret.h5", template, 0o000)
    (sandbox / "shared").chmod(0o777)
    before = snapshot(sandbox)
    refusals([(read_only, "write", Refused(FileAccessError, errno.EACCES, (
                  "cannot write", "permission denied: the file is not writable by this user"))),
              (read_only, "read", ALLOWED),
              (secret, "read", Refused(FileAccessError, errno.EACCES, (
                  "cannot read", "permission denied: the file is not readable by this user"))),
              (secret, "write", Refused(FileAccessError, errno.EACCES, ("cannot write",)))],
             unprivileged())
    assert snapshot(sandbox) == before


def test_a_folder_this_user_may_not_write(sandbox: Path, template: bytes) -> None:
    shut = sandbox / "shut"
    writable = place(shut / "writable.h5", template, 0o666)
    shut.chmod(0o555)
    not_writable = f"permission denied: the folder {str(shut)!r} is not writable by this user"
    before = snapshot(sandbox)
    refusals([
        # HDF5 may write the file, but its journal cannot be made beside it
        (writable, "write", Refused(FileAccessError, errno.EACCES, (
            "cannot create 'writable.h5.aiostore-journal' beside it", not_writable,
            "or store with journal=False"))),
        (writable, "read", ALLOWED),
        (shut / "new.h5", "write", Refused(FileAccessError, errno.EACCES, (not_writable,))),
        (shut / "sub" / "new.h5", "write", Refused(FileAccessError, errno.EACCES, (
            f"cannot create its folder {str(shut / 'sub')!r}", not_writable)))],
        unprivileged())
    assert snapshot(sandbox) == before


def test_a_folder_this_user_may_not_enter(sandbox: Path, template: bytes) -> None:
    closed = sandbox / "closed"
    inside = place(closed / "f.h5", template, 0o666)
    closed.chmod(0o000)
    says = (f"permission denied: this user may not enter the folder {str(closed)!r}",)
    before = snapshot(sandbox)
    refusals([(inside, "read", Refused(FileAccessError, errno.EACCES, ("cannot read", *says))),
              (inside, "write", Refused(FileAccessError, errno.EACCES, ("cannot write", *says))),
              (closed / "new.h5", "write", Refused(FileAccessError, errno.EACCES, says))],
             unprivileged())
    assert snapshot(sandbox) == before


# -------------------------------------------------------------------- a read-only file system


def test_a_read_only_file_system(read_only_mount: Path) -> None:
    kept = read_only_mount / "kept.h5"
    before = snapshot(read_only_mount)
    says = ("its file system is mounted read-only",)
    refusals([(kept, "write", Refused(FileAccessError, errno.EROFS, ("cannot write", *says))),
              (kept, "read", ALLOWED),
              (read_only_mount / "new.h5", "write", Refused(FileAccessError, errno.EROFS, says)),
              (read_only_mount / "sub" / "new.h5", "write", Refused(FileAccessError, errno.EROFS, (
                  f"cannot create its folder {str(read_only_mount / 'sub')!r}", *says)))])
    assert snapshot(read_only_mount) == before


# ----------------------------------------------------- a creation refused leaves nothing behind


def test_a_new_file_refused_for_want_of_locks_leaves_no_file_or_folder(sandbox: Path) -> None:
    """libhdf5 creates a file before it locks it; where locking fails (NFS without its lock
    daemon: flock fails with ENOLCK), neither the empty file nor the folders made for it stay."""
    if not seccomp.available():
        pytest.skip("no seccomp filter can be installed here (Linux x86_64/aarch64 only)")
    path = sandbox / "sweep" / "out" / "f.h5"
    results = attempt([(path, "write")], deny={"flock": errno.ENOLCK})
    check(results[0], path, Refused(LocksUnsupportedError, errno.ENOLCK, (
        "does not support file locks",)))
    assert list(sandbox.iterdir()) == []


# --------------------------------------------------------------- a file another process holds


# A program that is not an aiostore writer (which would answer reads: tests/test_watching.py)
HOLDER = "import tables\nh5 = tables.open_file(sys.argv[1], 'a')"


def test_a_file_another_process_writes_is_refused_without_hdf5_diagnostics(
        tmp_path: Path, template: bytes) -> None:
    path = place(tmp_path / "f.h5", template, 0o644)
    with held_by_another_process(HOLDER, path):
        results = attempt([(path, "write"), (path, "read")])
    for outcomes in results:
        check(outcomes, path, Refused(FileLockedError, errno.EAGAIN, ("another process has it open",)))


def test_the_command_on_a_file_another_process_writes(tmp_path: Path, template: bytes) -> None:
    path = place(tmp_path / "f.h5", template, 0o644)
    with held_by_another_process(HOLDER, path):
        done = subprocess.run([sys.executable, "-m", "aiostore", "ls", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.REFUSED, done.stderr
    assert "HDF5-DIAG" not in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"aiostore: error: cannot open {str(path)!r}: another process")


def test_the_command_on_a_path_whose_parent_is_a_file(tmp_path: Path) -> None:
    place(tmp_path / "notes", b"my notes", 0o644)
    path = tmp_path / "notes" / "f.h5"
    done = subprocess.run([sys.executable, "-m", "aiostore", "ls", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == ExitCode.FILE_SYSTEM, done.stderr
    assert done.stderr.splitlines() == [
        f"aiostore: error: cannot read {str(path)!r}: {str(tmp_path / 'notes')!r} is a file, "
        "not a folder"]
    assert stat.S_ISREG((tmp_path / "notes").stat().st_mode)
