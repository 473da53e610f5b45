"""The writers other than a file's own stores, out of space: BACKUP, MERGE, ``aiostore export``,
the colossus-style object cache, and a file held in memory written at its close.

Each raises DiskFullError naming the file it could not write and the errno (the command: one
line and its exit code), leaves no partial file, leaves what it read or changed as it was (byte
for byte, or loading exactly as before), and succeeds once there is room. Real faults: each
test mounts a small tmpfs of its own (root only; skipped with the reason elsewhere) and fills
it, or sets ``RLIMIT_FSIZE`` in a subprocess (EFBIG); a quota (EDQUOT) is a seccomp filter in a
subprocess making libhdf5's writes fail (:mod:`seccomp`).
"""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pytest
import seccomp
from filling import fill, grow

from aiostore import (
    AsyncStorageService,
    DiskFullError,
    Msg,
    Result,
    StorageService,
    Trajectory,
)
from aiostore.cli import ExitCode
from aiostore.compat import colossus
from aiostore.engine import merging
from aiostore.testing import assert_exact, assert_items_equal

TESTS = Path(__file__).parents[1]  # the helpers' folder (seccomp)
DISK_BYTES = 32 * 2**20  # the size of the conftest's `disk` here
ARRAY_FLOATS = 100_000  # 0.8 MB a run
# 1.2 MB a run: chunks of a copy that libhdf5 fails to write are then dropped without a word
# from PyTables (0.8 MB arrays copied make it raise)
MERGE_FLOATS = 150_000

def _make_room(folder: Path) -> None:
    grow(folder, 4 * DISK_BYTES)


def _files(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and path.name != "filler")


def _sweep(name: str, xs: list[float]) -> Trajectory:
    traj = Trajectory(name)
    traj.add_parameter("x", xs[0])
    traj.explore({"x": xs})
    return traj


def _store_sweep(svc: StorageService, name: str, xs: list[float],
                 floats: int = ARRAY_FLOATS) -> None:
    traj = _sweep(name, xs)
    svc.store(Msg.TRAJECTORY, traj)
    for index, x in enumerate(xs):
        run = traj.run(index)
        run.add_result("z", v=np.random.default_rng(int(x)).random(floats))
        svc.store(Msg.SINGLE_RUN, run)


def _load(filename: str, name: str) -> Trajectory:
    with StorageService(filename) as svc:
        traj: Trajectory = svc.load(Msg.TRAJECTORY, None, trajectory_name=name,
                                    load_parameters=2, load_results=2)
    return traj


def _assert_names(error: DiskFullError, path: Path, number: int = errno.ENOSPC) -> None:
    assert error.errno == number
    assert error.filename == str(path)
    assert str(path) in str(error)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file (off the small disks) holding sweep ``a``, 2.4 MB of results."""
    path = tmp_path_factory.mktemp("source") / "source.h5"
    with StorageService(str(path)) as svc:
        _store_sweep(svc, "a", [1.0, 2.0, 3.0])
    return path


def aiostore(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m aiostore ARGS`` (under a file-size limit of ``limit`` bytes)."""
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([sys.executable, "-m", "aiostore", "-q", *args], capture_output=True,
                          text=True, timeout=60, check=False, preexec_fn=limited)


def _assert_one_line_error(done: subprocess.CompletedProcess[str], path: Path,
                           reason: str = "no space left") -> None:
    assert done.returncode == ExitCode.FILE_SYSTEM, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"aiostore: error: cannot write {str(path)!r}: {reason}"), lines


# ------------------------------------------------------------------------------------ BACKUP


@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "into-a-backup"])
def test_a_backup_out_of_space_leaves_the_backup_file_as_it_was(
        disk: Path, source: Path, existing: bool) -> None:
    backup = disk / "backup.h5"
    if existing:  # a backup file already holding another trajectory
        with StorageService(str(backup)) as svc:
            svc.store(Msg.TRAJECTORY, Trajectory("older"))
    backup_bytes = backup.read_bytes() if existing else None
    source_bytes = source.read_bytes()
    fill(disk, 2**20)
    with StorageService(str(source)) as svc:
        with pytest.raises(DiskFullError) as refused:
            svc.store(Msg.BACKUP, None, trajectory_name="a", backup_filename=str(backup))
        _assert_names(refused.value, backup)
        assert _files(disk) == (["backup.h5"] if existing else [])
        assert (backup.read_bytes() if existing else None) == backup_bytes
        _make_room(disk)
        svc.store(Msg.BACKUP, None, trajectory_name="a", backup_filename=str(backup))
    assert source.read_bytes() == source_bytes
    assert_items_equal(_load(str(backup), "a"), _load(str(source), "a"))
    with StorageService(str(backup)) as svc:
        assert svc.list_trajectories() == (["a", "older"] if existing else ["a"])


def test_aiostore_backup_out_of_space_says_so_in_one_line(disk: Path, source: Path) -> None:
    backup = disk / "copy.h5"
    source_bytes = source.read_bytes()
    fill(disk, 2**20)
    _assert_one_line_error(aiostore("backup", str(source), str(backup)), backup)
    assert _files(disk) == []
    _make_room(disk)
    done = aiostore("backup", str(source), str(backup))
    assert done.returncode == 0, done.stderr
    assert source.read_bytes() == source_bytes
    assert_items_equal(_load(str(backup), "a"), _load(str(source), "a"))


def test_aiostore_backup_past_the_file_size_limit_says_so(tmp_path: Path, source: Path) -> None:
    backup = tmp_path / "copy.h5"
    done = aiostore("backup", str(source), str(backup), limit=2**20)
    _assert_one_line_error(done, backup, "it would pass this process's file-size limit")
    assert not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------- MERGE


@pytest.fixture
def merged_file(disk: Path) -> Path:
    """Sweeps ``a`` and ``b`` (3 runs of 1.2 MB each) in a file on the test's disk."""
    path = disk / "f.h5"
    _store_sweeps(path)
    return path


def _store_sweeps(path: Path) -> None:
    with StorageService(str(path)) as svc:
        _store_sweep(svc, "a", [1.0, 2.0, 3.0], MERGE_FLOATS)
        _store_sweep(svc, "b", [4.0, 5.0, 6.0], MERGE_FLOATS)


def _assert_merged(filename: str) -> None:
    merged = _load(filename, "a")
    assert merged["parameters.x"].range == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    for index, x in enumerate(merged["parameters.x"].range):
        assert_exact(merged[f"results.runs.run_{index:08d}.z"]["v"],
                     np.random.default_rng(int(x)).random(MERGE_FLOATS))


def test_a_merge_the_disk_has_no_room_for_changes_nothing(disk: Path, merged_file: Path) -> None:
    path = str(merged_file)
    a, b = _load(path, "a"), _load(path, "b")
    before = merged_file.read_bytes()
    fill(disk, 2 * 2**20)  # the merge copies 3.6 MB
    with StorageService(path) as svc, pytest.raises(DiskFullError) as refused:
        svc.store(Msg.MERGE, None, "b", trajectory_name="a")
    _assert_names(refused.value, merged_file)
    assert "nothing was changed" in str(refused.value)
    assert merged_file.read_bytes() == before
    assert _files(disk) == ["f.h5"]
    assert_items_equal(_load(path, "a"), a)
    assert_items_equal(_load(path, "b"), b)
    _make_room(disk)
    with StorageService(path) as svc:
        svc.store(Msg.MERGE, None, "b", trajectory_name="a")
    _assert_merged(path)


def test_a_merge_that_runs_out_of_space_part_way_is_taken_back(
        disk: Path, merged_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As when another process fills the disk after the merge found room for itself."""
    path = str(merged_file)
    a, b = _load(path, "a"), _load(path, "b")
    monkeypatch.setattr(merging, "_check_room", lambda file, plan: None)
    fill(disk, 3_500_000)  # room for the journal's ballast and marks, and part of the copies
    with StorageService(path) as svc, pytest.raises(DiskFullError) as refused:
        svc.store(Msg.MERGE, None, "b", trajectory_name="a")
    _assert_names(refused.value, merged_file)
    _make_room(disk)
    assert_items_equal(_load(path, "a"), a)  # taken back when the file is next opened
    assert_items_equal(_load(path, "b"), b)
    with StorageService(path) as svc:
        svc.store(Msg.MERGE, None, "b", trajectory_name="a")
    _assert_merged(path)


@pytest.mark.parametrize("backup", [True, False], ids=["backup-first", "no-backup"])
def test_aiostore_merge_out_of_space_says_so_in_one_line(disk: Path, merged_file: Path,
                                                         backup: bool) -> None:
    path = str(merged_file)
    a = _load(path, "a")
    fill(disk, 2 * 2**20)
    options = [] if backup else ["--no-backup"]
    done = aiostore("merge", path, "a", "b", *options)
    # the backup of a (made first, beside the file) is what finds no room, or the merge
    _assert_one_line_error(done, disk / "backup_a.hdf5" if backup else merged_file)
    assert _files(disk) == ["f.h5"]
    assert_items_equal(_load(path, "a"), a)
    _make_room(disk)
    done = aiostore("merge", path, "a", "b", *options)
    assert done.returncode == 0, done.stderr
    _assert_merged(path)


# ------------------------------------------------------------------ a quota, through seccomp

QUOTA = """
import errno, json, sys
import seccomp
from aiostore import DiskFullError, Msg, StorageService, Trajectory

def quota() -> None:  # libhdf5 writes with pwrite; Python's own writes (stdout) still work
    seccomp.deny({"pwrite64": errno.EDQUOT, "pwritev": errno.EDQUOT,
                  "pwritev2": errno.EDQUOT})

def report(call) -> None:
    try:
        call()
    except DiskFullError as exc:
        print(json.dumps([exc.errno, exc.filename, str(exc)]))
    else:
        print(json.dumps(None))
"""


def _under_quota(script: str, *args: str) -> Any:
    """Run ``script`` (after :data:`QUOTA`) in a subprocess; what it printed last, as JSON."""
    done = subprocess.run([sys.executable, "-c", QUOTA + textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(TESTS)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def quota_available() -> None:
    if not seccomp.available():
        pytest.skip("no seccomp filter can be installed here (another OS or machine, or a "
                    "sandbox without seccomp)")


MERGE_UNDER_QUOTA = """
filename, move = sys.argv[1], sys.argv[2] == "move"
service = StorageService(filename)
service.store(Msg.TRAJECTORY, Trajectory("c"))  # the file is open for writing: then the quota
quota()
report(lambda: service.store(Msg.MERGE, None, "b", trajectory_name="a", move_nodes=move))
try:
    service.close()
except DiskFullError:
    pass  # the file could not be written whole: its journal takes the merge back
"""


@pytest.mark.parametrize("move", ["copy", "move"])
def test_a_merge_over_quota_part_way_is_taken_back(tmp_path: Path, quota_available: None,
                                                   move: str) -> None:
    path = tmp_path / "f.h5"
    _store_sweeps(path)
    a, b = _load(str(path), "a"), _load(str(path), "b")
    number, filename, _ = _under_quota(MERGE_UNDER_QUOTA, str(path), move)
    assert (number, filename) == (errno.EDQUOT, str(path))
    assert_items_equal(_load(str(path), "a"), a)
    assert_items_equal(_load(str(path), "b"), b)
    with StorageService(str(path)) as svc:
        svc.store(Msg.MERGE, None, "b", trajectory_name="a", move_nodes=move == "move")
    _assert_merged(str(path))


BACKUP_UNDER_QUOTA = """
source, backup = sys.argv[1], sys.argv[2]
with StorageService(source) as service:
    service.list_trajectories()
    quota()
    report(lambda: service.store(Msg.BACKUP, None, trajectory_name="a", backup_filename=backup))
"""


def test_a_backup_over_quota_leaves_no_file(tmp_path: Path, source: Path,
                                            quota_available: None) -> None:
    backup = tmp_path / "backup.h5"
    source_bytes = source.read_bytes()
    number, filename, _ = _under_quota(BACKUP_UNDER_QUOTA, str(source), str(backup))
    assert (number, filename) == (errno.EDQUOT, str(backup))
    assert not any(tmp_path.iterdir())
    assert source.read_bytes() == source_bytes


CACHE_UNDER_QUOTA = """
import numpy as np
from aiostore.compat import colossus
from aiostore.engine import merging
colossus.BASE_DIR = sys.argv[1]
user = colossus.StorageUser("quota", "rw", lambda: "user", lambda: "hash", None)
user.storeObject("before", np.arange(1000.0))
quota()
report(lambda: user.storeObject("after", np.arange(2000.0)))
"""


def test_a_cache_store_over_quota_leaves_the_cache_as_it_was(tmp_path: Path,
                                                             quota_available: None) -> None:
    number, filename, message = _under_quota(CACHE_UNDER_QUOTA, str(tmp_path))
    with _colossus_base(tmp_path):
        user = _user("quota")
        assert number == errno.EDQUOT
        assert os.path.dirname(filename) + "/" == user.cache_dir
        assert user.getUniqueFilename() in message
        assert list(user.storage_pers) == ["before"]
        assert_exact(user.storage_pers["before"], np.arange(1000.0))
        assert not [name for name in os.listdir(user.cache_dir) if ".tmp" in name]


# ------------------------------------------------------------------------------------ export


@pytest.fixture(scope="module")
def export_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 runs, each a result of scalars (a few random floats) and a 50-float array."""
    path = tmp_path_factory.mktemp("export") / "runs.h5"
    traj = _sweep("s", [float(x) for x in range(300)])
    with StorageService(str(path)) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(len(traj)):
            run = traj.run(index)
            rng = np.random.default_rng(index)
            run.add_result("z", a=rng.random(), b=rng.random(), c=rng.random(),
                           trace=rng.random(50))
            svc.put(Msg.SINGLE_RUN, run)
        svc.join()
    return path


def _exported(path: Path, fmt: str) -> Any:
    if fmt == "npz":
        with np.load(path) as arrays:
            return {name: arrays[name] for name in arrays.files}
    return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)


@pytest.mark.parametrize("fmt", ["csv", "npz", "parquet"])
def test_aiostore_export_out_of_space_leaves_no_partial_output(
        disk: Path, tmp_path: Path, export_source: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    out = disk / f"z.{fmt}"
    out.write_bytes(b"an older export")
    source_bytes = export_source.read_bytes()
    fill(disk, 8 * 2**10)  # every export here is bigger
    done = aiostore("export", str(export_source), "s.z", str(out), "--arrays")
    _assert_one_line_error(done, out)
    assert out.read_bytes() == b"an older export"
    assert _files(disk) == [out.name]
    assert export_source.read_bytes() == source_bytes
    _make_room(disk)
    done = aiostore("export", str(export_source), "s.z", str(out), "--arrays")
    assert done.returncode == 0, done.stderr
    reference = tmp_path / f"reference.{fmt}"
    assert aiostore("export", str(export_source), "s.z", str(reference),
                    "--arrays").returncode == 0
    assert_exact(_exported(out, fmt), _exported(reference, fmt))
    assert _files(disk) == [out.name]


def test_aiostore_export_into_a_missing_folder_says_so_in_one_line(
        tmp_path: Path, export_source: Path) -> None:
    (tmp_path / "notes").write_text("a file where a folder is asked for")
    outs = {tmp_path / "missing" / "z.csv": "its folder", tmp_path / "notes" / "z.csv": "is a file"}
    for out, reason in outs.items():
        done = aiostore("export", str(export_source), "s.z", str(out))
        assert done.returncode == ExitCode.FILE_SYSTEM, done.stderr
        assert done.stderr.splitlines() == [done.stderr.strip()]
        assert f"cannot write {str(out)!r}" in done.stderr
        assert reason in done.stderr


# -------------------------------------------------------------------- the colossus-style cache


class _colossus_base:
    """colossus's cache directories below ``base`` while the block runs."""

    def __init__(self, base: Path) -> None:
        self.base = str(base)

    def __enter__(self) -> None:
        self.saved, colossus.BASE_DIR = colossus.BASE_DIR, self.base

    def __exit__(self, *exc: object) -> None:
        colossus.BASE_DIR = self.saved


def _user(module: str = "cosmology") -> colossus.StorageUser:
    return colossus.StorageUser(module, "rw", lambda: "user", lambda: "hash", None)


def _table(seed: int, columns: int) -> np.ndarray:
    return np.random.default_rng(seed).random((2, columns))


def _assert_cached(expected: dict[str, np.ndarray]) -> None:
    fresh = _user()  # reads the cache from the disk
    assert sorted(fresh.storage_pers) == sorted(expected)
    for name, table in expected.items():
        assert_exact(fresh.storage_pers[name], table)


def test_a_cache_out_of_space_keeps_every_object_stored_before(disk: Path) -> None:
    with _colossus_base(disk):
        user = _user()
        stored = {"big": _table(0, 100_000)}  # 1.6 MB: the cache's main file
        stored.update({f"t{seed}": _table(seed, 20_000) for seed in range(1, 5)})  # 320 kB
        for name, table in stored.items():
            user.storeObject(name, table)
        fill(disk, 600 * 2**10)
        # its segments now outweigh the main file: a fold is due, and finds no room
        stored["t5"] = _table(5, 20_000)
        with pytest.warns(RuntimeWarning, match="was not folded"):
            user.storeObject("t5", stored["t5"])
        files = _files(disk)
        with pytest.raises(DiskFullError) as refused:
            user.storeObject("t6", _table(6, 20_000))
        assert refused.value.errno == errno.ENOSPC
        assert os.path.dirname(refused.value.filename) + "/" == user.cache_dir
        assert user.getUniqueFilename() in str(refused.value)
        assert _files(disk) == files
        _assert_cached(stored)
        _make_room(disk)
        stored["t6"] = _table(6, 20_000)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # folded now, without a word
            user.storeObject("t6", stored["t6"])
        _assert_cached(stored)
        assert [name for name in os.listdir(user.cache_dir) if ".seg" in name] == []


def test_an_awaited_cache_store_out_of_space_raises(disk: Path) -> None:
    async def store(user: colossus.StorageUser, name: str, table: np.ndarray) -> None:
        await user.astore_object(name, table)

    with _colossus_base(disk):
        user = _user()
        first = _table(1, 20_000)
        anyio.run(store, user, "first", first)
        fill(disk, 100 * 2**10)
        with pytest.raises(DiskFullError):
            anyio.run(store, user, "second", _table(2, 20_000))
        _assert_cached({"first": first})


# ----------------------------------------------------------- a file in memory, saved at close


def test_a_file_in_memory_that_cannot_be_saved_leaves_the_old_one(disk: Path) -> None:
    path = disk / "memory.h5"
    results = [np.random.default_rng(seed).random(ARRAY_FLOATS) for seed in range(8)]

    async def store_all() -> None:
        async with AsyncStorageService(str(path), in_memory=True, save_on_close=True,
                                       trajectory_name="t") as svc:
            for index, values in enumerate(results):
                await svc.store(Msg.LEAF, Result(f"results.r{index}", v=values))

    with StorageService(str(path), in_memory=True, save_on_close=True) as svc:
        svc.store(Msg.TRAJECTORY, Trajectory("t"))
    before = path.read_bytes()
    fill(disk, 2**20)  # the file in memory grows to 6.4 MB
    with pytest.raises(DiskFullError) as refused:
        anyio.run(store_all)
    _assert_names(refused.value, path)
    assert path.read_bytes() == before
    assert _files(disk) == ["memory.h5"]
    _make_room(disk)
    anyio.run(store_all)
    saved = _load(str(path), "t")
    for index, values in enumerate(results):
        assert_exact(saved[f"results.r{index}"]["v"], values)

