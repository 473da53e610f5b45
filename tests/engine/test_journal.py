"""The journal: stores of a writer that died are made again when the file is next opened."""

from __future__ import annotations

import io
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tables
from exactness import assert_exact
from holding import held_by_another_process

from aiostore import FileFormatError, FileLockedError, Msg, StorageService, Trajectory
from aiostore._core.requests import RunRecord, RunRecords
from aiostore.engine import writing
from aiostore.engine.durability import journal

WRITER = """
import os, sys
import numpy as np
from aiostore import Msg, Result, StorageService, Trajectory
from aiostore.engine import nodes

filename, then = sys.argv[1], sys.argv[2]
traj = Trajectory("t")
traj.add_parameter("x", 0)
traj.explore({"x": list(range(10))})
service = StorageService(filename, trajectory_name="t", packed_runs=False)  # nodes to look at
service.store(Msg.TRAJECTORY, traj)
for index in range(4):
    run = traj.run(index)
    run.add_result("r", v=np.full(50, float(index)), label=f"run {index}")
    service.store(Msg.SINGLE_RUN, run)
if then == "remove":
    service.store(Msg.REMOVE, traj["results.runs.run_00000001.r"], recursive=True)
if then in ("update", "die-mid-update"):
    if then == "die-mid-update":
        written = nodes.write_value
        def die_after_writing(file, group, key, *args):
            written(file, group, key, *args)
            file.h5.flush()  # the old value set aside, the new one written, nothing committed
            os._exit(9)
        nodes.write_value = die_after_writing
    service.store(Msg.UPDATE_LEAF, Result("results.runs.run_00000002.r",
                                          v=np.full(50, -2.0), label="run 2"))
if then == "add-key":  # after a checkpoint (a removal makes one): the leaf is not journaled
    service.store(Msg.REMOVE, traj["results.runs.run_00000003.r"], recursive=True)
    service.store(Msg.LEAF, Result("results.runs.run_00000001.r", extra=[1, 2, 3]))
if then == "die-mid-store":
    written = nodes.write_value
    def die_after_first_value(file, group, key, *args):
        written(file, group, key, *args)
        file.h5.flush()  # as HDF5 does when its cache is full: the half-made run is on disk
        os._exit(9)
    nodes.write_value = die_after_first_value
    run = traj.run(4)
    run.add_result("r", v=np.full(50, 4.0), label="run 4")
    service.store(Msg.SINGLE_RUN, run)
print("stored", flush=True)
os._exit(9)  # killed: the file is never closed
"""


def _die_while_writing(path: Path, then: str = "") -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(WRITER), str(path), then],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 9, done.stderr
    assert os.path.exists(journal.journal_path(str(path)))


def _load(path: Path) -> Trajectory:
    with StorageService(str(path)) as service:
        traj: Trajectory = service.load(Msg.TRAJECTORY, None, trajectory_name="t",
                                        load_results=2)
    return traj


def _runs_stored(traj: Trajectory) -> list[int]:
    return sorted(int(name.removeprefix("run_"))
                  for name in traj["results.runs"].children)


def _assert_run(traj: Trajectory, index: int) -> None:
    assert_exact(dict(traj[f"results.runs.run_{index:08d}.r"].data),
                 {"v": np.full(50, float(index)), "label": f"run {index}"})


def test_a_store_cut_short_by_a_crash_is_made_whole(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cut.h5"
    _die_while_writing(path, "die-mid-store")
    with tables.open_file(path) as h5:  # half of run 4 is in the file
        assert list(h5.get_node("/t/results/runs/run_set_00000/run_00000004/r")._v_children) == ["v"]
    with caplog.at_level(logging.WARNING, logger="aiostore.recovery"):
        traj = _load(path)
    assert "made again, 0 taken back" in caplog.text
    assert _runs_stored(traj) == [0, 1, 2, 3, 4]
    for index in range(5):
        _assert_run(traj, index)
    assert not os.path.exists(journal.journal_path(str(path)))  # closed cleanly since


def test_runs_dropped_from_a_torn_index_are_written_again(tmp_path: Path) -> None:
    path = tmp_path / "torn.h5"
    _die_while_writing(path)
    with tables.open_file(path, "a") as h5:  # as a kill inside a flush can leave it
        h5.remove_node("/t/results/runs/run_set_00000/run_00000002", recursive=True)
    traj = _load(path)
    assert _runs_stored(traj) == [0, 1, 2, 3]
    _assert_run(traj, 2)
    assert all(info.completed for info in traj.runs[:4])


@pytest.mark.parametrize("then", ["update", "die-mid-update"])
def test_an_update_is_whole_after_a_crash(tmp_path: Path, then: str) -> None:
    path = tmp_path / "updated.h5"
    _die_while_writing(path, then)
    traj = _load(path)
    assert_exact(dict(traj["results.runs.run_00000002.r"].data),
                 {"v": np.full(50, -2.0), "label": "run 2"})
    for index in (0, 1, 3):
        _assert_run(traj, index)


def test_a_key_added_to_a_stored_leaf_survives_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "added.h5"
    _die_while_writing(path, "add-key")
    traj = _load(path)
    assert_exact(dict(traj["results.runs.run_00000001.r"].data),
                 {"v": np.full(50, 1.0), "label": "run 1", "extra": [1, 2, 3]})
    assert traj.get("results.runs.run_00000003.r") is None


def test_a_removal_is_never_undone_by_a_replay(tmp_path: Path) -> None:
    path = tmp_path / "removed.h5"
    _die_while_writing(path, "remove")
    traj = _load(path)
    assert traj.get("results.runs.run_00000001.r") is None
    for index in (0, 2, 3):
        _assert_run(traj, index)


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "tail.h5"
    _die_while_writing(path)
    entries = journal.unfinished(str(path))
    assert entries is not None
    assert len(entries) == 5  # the trajectory and 4 runs
    with open(journal.journal_path(str(path)), "ab") as tail:
        tail.write(b"\x00" * 7)  # a record cut short by the kill: never acknowledged
    again = journal.unfinished(str(path))
    assert again is not None
    assert [(e.number, e.creates) for e in again] == [(e.number, e.creates) for e in entries]
    assert _runs_stored(_load(path)) == [0, 1, 2, 3]


def test_a_journal_in_use_by_a_live_writer_is_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    with StorageService(str(path)) as service:
        traj = Trajectory("t")
        service.store(Msg.TRAJECTORY, traj)
    code = "from aiostore.engine.durability import journal\nj = journal.Journal(sys.argv[1])"
    with held_by_another_process(code, path):
        assert journal.unfinished(str(path)) is None
        with pytest.raises(FileLockedError, match="another process is writing it") as info:
            journal.Journal(str(path))
        assert str(info.value).endswith("; let it finish, or close the file there first")


def test_the_journal_of_a_deleted_file_goes_with_it(tmp_path: Path) -> None:
    path = tmp_path / "gone.h5"
    _die_while_writing(path)
    path.unlink()
    assert journal.unfinished(str(path)) is None
    assert not os.path.exists(journal.journal_path(str(path)))
    with StorageService(str(path)) as service:  # a fresh file: nothing of the old one comes back
        service.store(Msg.TRAJECTORY, Trajectory("fresh"))
        assert service.list_trajectories() == ["fresh"]


def test_a_cleanly_closed_file_leaves_no_journal(tmp_path: Path) -> None:
    path = tmp_path / "clean.h5"
    with StorageService(str(path)) as service:
        service.store(Msg.TRAJECTORY, Trajectory("t"))
        assert os.path.exists(journal.journal_path(str(path)))
    assert not os.path.exists(journal.journal_path(str(path)))


def test_a_service_without_journal_writes_none(tmp_path: Path) -> None:
    path = tmp_path / "fast.h5"
    with StorageService(str(path), journal=False) as service:
        service.store(Msg.TRAJECTORY, Trajectory("t"))
        assert service.list_trajectories() == ["t"]
        assert not os.path.exists(journal.journal_path(str(path)))


MERGER = """
import os, sys
from aiostore import Msg, StorageService, Trajectory
from aiostore.engine import merging, packing

filename, step, move, layout = sys.argv[1], sys.argv[2], sys.argv[3] == "move", sys.argv[4]
with StorageService(filename, packed_runs=layout != "nodes") as service:
    for name, xs in (("a", [1.0, 2.0, 3.0]), ("b", [4.0, 5.0])):
        traj = Trajectory(name)
        traj.add_parameter("x", xs[0])
        traj.explore({"x": xs})
        service.store(Msg.TRAJECTORY, traj)
        for index in range(len(xs)):
            run = traj.run(index)
            v = run["x"] * 10  # unlike: b's rows are of ints, a's of floats (b's become nodes)
            run.add_result("z", v=int(v) if layout == "unlike" and name == "b" else v)
            service.store(Msg.SINGLE_RUN, run)
holder = {"packed": packing.PackedRuns.take_rows_of}
import tables
steps = {"transfer": (merging, "_transfer"), "packed": (packing.PackedRuns, "take_rows_of"),
         "explored": (merging, "_extend_explored"), "runs": (merging, "_append_runs"),
         "rows": (merging, "_write_rows_as_nodes"),
         "delete": (tables.Group, "_f_remove")}
owner, name = steps[step]
original = getattr(owner, name)
def then_die(*args, **kwargs):
    original(*args, **kwargs)
    for h5 in list(tables.file._open_files.handlers):
        h5.flush()
    os._exit(9)
setattr(owner, name, then_die)
service = StorageService(filename, packed_runs=layout != "nodes")
service.store(Msg.MERGE, Trajectory("a"), other_trajectory_name="b", move_nodes=move,
              delete_trajectory=step == "delete")
os._exit(0)
"""


def test_a_merge_killed_after_deleting_the_other_trajectory_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "merge.h5"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(MERGER), str(path), "delete",
                           "copy", "nodes"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 9, done.stderr
    with StorageService(str(path)) as service:
        assert service.list_trajectories() == ["a"]
        a = service.load(Msg.TRAJECTORY, None, trajectory_name="a", load_results=2)
    assert a["parameters.x"].range == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [a[f"results.runs.run_{i:08d}.z"]["v"] for i in range(5)] == [10.0, 20.0, 30.0,
                                                                        40.0, 50.0]
    with tables.open_file(path) as h5:
        assert "explored_data__replaced" not in h5.get_node("/a/parameters/x")


@pytest.mark.parametrize("layout", ["nodes", "packed", "unlike"])
@pytest.mark.parametrize("move", ["copy", "move"])
@pytest.mark.parametrize("step", ["transfer", "rows", "packed", "explored", "runs"])
def test_a_merge_cut_short_is_taken_back(tmp_path: Path, step: str, move: str,
                                         layout: str) -> None:
    path = tmp_path / "merge.h5"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(MERGER), str(path), step, move,
                           layout], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 9, done.stderr
    with StorageService(str(path)) as service:
        a = service.load(Msg.TRAJECTORY, None, trajectory_name="a", load_results=2)
        b = service.load(Msg.TRAJECTORY, None, trajectory_name="b", load_results=2)
        # and the merge can be made again, whole
        service.store(Msg.MERGE, a, other_trajectory_name="b")
        merged = service.load(Msg.TRAJECTORY, None, trajectory_name="a", load_results=2)
    assert a["parameters.x"].range == [1.0, 2.0, 3.0]
    assert [info.idx for info in a.runs] == [0, 1, 2]
    assert sorted(a["results.runs"].children) == [f"run_{i:08d}" for i in range(3)]
    assert b["parameters.x"].range == [4.0, 5.0]
    for traj, xs in ((a, [1.0, 2.0, 3.0]), (b, [4.0, 5.0])):
        for index, x in enumerate(xs):
            assert traj[f"results.runs.run_{index:08d}.z"]["v"] == x * 10
    assert merged["parameters.x"].range == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert merged["results.runs.run_00000004.z"]["v"] == 50.0


BACKER = """
import os, sys, tables
from aiostore import Msg, StorageService, Trajectory

filename, backup = sys.argv[1], sys.argv[2]
with StorageService(filename) as service:
    for name in ("a", "b"):
        traj = Trajectory(name)
        traj.add_result("r", v=list(range(1000)))
        service.store(Msg.TRAJECTORY, traj)
    service.store(Msg.BACKUP, None, trajectory_name="a", backup_filename=backup)
    copy = tables.Group._f_copy
    def copy_then_die(self, *args, **kwargs):
        copy(self, *args, **kwargs)
        for h5 in list(tables.file._open_files.handlers):
            h5.flush()
        os._exit(9)
    tables.Group._f_copy = copy_then_die
    service.store(Msg.BACKUP, None, trajectory_name="b", backup_filename=backup)
"""


def test_a_backup_cut_short_leaves_the_backup_file_as_it_was(tmp_path: Path) -> None:
    path, backup = tmp_path / "f.h5", tmp_path / "backup.h5"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(BACKER), str(path),
                           str(backup)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 9, done.stderr
    with StorageService(str(backup)) as service:
        assert service.list_trajectories() == ["a"]
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name="a", load_results=2)
    assert traj["results.r"]["v"] == list(range(1000))


def test_a_backup_into_a_file_that_is_not_hdf5_is_refused(tmp_path: Path) -> None:
    path, backup = tmp_path / "f.h5", tmp_path / "backup.h5"
    backup.write_bytes(b"my notes")
    with StorageService(str(path)) as service:
        service.store(Msg.TRAJECTORY, Trajectory("a"))
        with pytest.raises(FileFormatError, match="is not an HDF5 file"):
            service.store(Msg.BACKUP, None, trajectory_name="a", backup_filename=str(backup))
    assert backup.read_bytes() == b"my notes"


def test_a_file_too_damaged_to_change_is_salvaged_then_replayed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """When HDF5 fails inside the file's structure during a replay, what still reads is copied
    into a new file, the journal is replayed onto it, and the damaged file is kept aside."""
    path = tmp_path / "damaged.h5"
    _die_while_writing(path, "die-mid-store")
    take_back = writing.take_back
    failures = iter([tables.HDF5ExtError("H5C_protect() failed")])

    def fail_once(file: Any, creates: tuple[str, ...]) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        take_back(file, creates)

    monkeypatch.setattr(writing, "take_back", fail_once)
    with caplog.at_level(logging.WARNING, logger="aiostore.recovery"):
        traj = _load(path)
    assert _runs_stored(traj) == [0, 1, 2, 3, 4]
    for index in range(5):
        _assert_run(traj, index)
    assert "salvaged" in caplog.text
    (damaged,) = tmp_path.glob("damaged.h5.damaged-*")
    assert damaged.stat().st_size > 0


def test_a_trajectorys_run_records_pickle_a_column_at_a_time_and_come_back_equal() -> None:
    each = [RunRecord(index, index % 2 == 0, 1.5 * index, 2.5 * index,
                      f"x: {index}, s: é\x00{'y' * index}") for index in range(7)]
    records = RunRecords.of(each)
    again = pickle.loads(pickle.dumps(records, protocol=5))
    assert type(again) is RunRecords
    assert again == records
    assert list(again) == each  # read one at a time, they are the records
    assert again[3] == each[3]
    assert list(again[2:5]) == each[2:5]
    assert pickle.loads(pickle.dumps(RunRecords.of([]), protocol=5)) == ()


def test_records_that_name_the_requests_old_module_still_unpickle(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal left before the requests moved to aiostore._core (issue 20) names their classes
    at aiostore.requests: its records still unpickle, so it still replays."""
    from aiostore._core import requests

    record = ("store", 0, requests.Target("f.h5", "t"), ())
    with monkeypatch.context() as patched:  # pickled as an older aiostore pickled it
        patched.setitem(sys.modules, "aiostore.requests", requests)
        patched.setattr(requests.Target, "__module__", "aiostore.requests")
        payload = pickle.dumps(record, protocol=5)
    assert b"aiostore.requests" in payload
    assert b"aiostore._core" not in payload
    assert "aiostore.requests" not in sys.modules
    assert journal._Unpickler(io.BytesIO(payload)).load() == record


def _as_untyped(record: Any) -> tuple[Any, ...]:
    """``record`` as journals held it before the records were typed: a tuple tagged by a
    string."""
    if isinstance(record, journal.StoreRecord):
        return ("store", record.number, record.request, record.creates)
    if isinstance(record, journal.MergeRecord):
        return ("merge", record.number, record.marks, ())
    if isinstance(record, journal.FailedRecord):
        return ("failed", *record.numbers)
    assert isinstance(record, journal.Owner)
    return ("owner", record.host, record.pid, record.started, record.namespace)


def _write_untyped(path: Path, records: list[tuple[Any, ...]]) -> None:
    """Write ``records`` as the journal of ``path``, framed as the journal frames them (every
    buffer in band)."""
    frames = []
    for record in records:
        payload = pickle.dumps(record, protocol=5)
        frames.append(journal._HEADER.pack(len(payload), zlib.crc32(payload), journal._CHECKED)
                      + payload)
    Path(journal.journal_path(str(path))).write_bytes(b"".join(frames))


def test_a_journal_of_untyped_records_still_replays(tmp_path: Path) -> None:
    """A journal written before its records were typed (tuples tagged "store", "failed",
    "owner") replays as it did: its stores made again, a failed one taken back."""
    path = tmp_path / "untyped.h5"
    _die_while_writing(path, "die-mid-store")
    data = Path(journal.journal_path(str(path))).read_bytes()
    typed = journal.unfinished(str(path))
    owner = journal.owner_of(str(path))
    assert typed is not None
    assert owner is not None
    records = [_as_untyped(record) for record in journal._records(data)]
    assert {record[0] for record in records} == {"store", "owner"}
    last = typed[-1].number  # run 4, cut short: marked failed, as a failed store was
    _write_untyped(path, [*records, ("failed", last)])
    assert b"StoreRecord" not in Path(journal.journal_path(str(path))).read_bytes()
    assert journal.owner_of(str(path)) == owner
    untyped = journal.unfinished(str(path))
    assert untyped is not None
    assert [(e.number, e.creates, e.failed) for e in untyped] == [
        (e.number, e.creates, e.number == last) for e in typed]
    traj = _load(path)
    assert _runs_stored(traj) == [0, 1, 2, 3]
    for index in range(4):
        _assert_run(traj, index)


def test_untyped_records_read_as_the_records_they_stand_for() -> None:
    from aiostore._core.requests import Target, WriteItems

    request = WriteItems(Target("f.h5", "t"))
    marks = object()
    owner = journal.Owner("host", 12, "boot:34", "pid:[5]")
    assert journal._typed(("store", 3, request, ("/t/a",))) == journal.StoreRecord(
        3, request, ("/t/a",))
    assert journal._typed(("merge", 4, marks, ())) == journal.MergeRecord(4, marks)
    assert journal._typed(("failed", 3, 4)) == journal.FailedRecord((3, 4))
    assert journal._typed(("owner", "host", 12, "boot:34", "pid:[5]")) == owner
    for record in (journal.StoreRecord(3, request, ()), journal.FailedRecord((3,)), owner):
        again = journal._typed(pickle.loads(pickle.dumps(record, protocol=5)))
        assert again == record
