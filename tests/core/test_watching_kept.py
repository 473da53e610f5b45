"""What a polling reader of a live writer keeps (aiostore._core.live.framecache): the next
``load_frame`` asks the writer only for the runs completed since, from the rows it has not
read, and sees exactly what the writer acknowledged all the same: runs completed out of order,
a run whose result was stored before it was completed, a run written back to not completed,
a trajectory expanded. The writer is a process of its own (tests/watching.py, ``--mode steps``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from watching import TRAJECTORY, Steps, expected

from aiostore import Msg, Result, SingleRun, StorageService, Trajectory
from aiostore._core.answers import FrameColumns
from aiostore._core.requests import (
    FramePart,
    ReadFrame,
    ReadFrameIndex,
    RunRecord,
    Sequence,
    Target,
    WriteItems,
)
from aiostore.engine import Engine


def check(frame: Any, runs: list[int], runs_of_x: int) -> None:
    """``frame`` holds exactly ``runs``, each as stored, and ``x`` of ``runs_of_x`` runs."""
    assert frame.index.tolist() == runs
    for index in runs:
        assert frame.loc[index, "z"] == expected(index)["z"]
        np.testing.assert_array_equal(frame.loc[index, "arr"], expected(index)["arr"])
        assert frame.loc[index, "x"] == (index / 10 if index < runs_of_x else None)


def test_a_polling_reader_asks_for_the_new_runs_and_sees_exactly_the_acknowledged(
        tmp_path: Path, asked: list[Any]) -> None:
    with Steps(tmp_path / "live.h5", 40) as writer:
        with StorageService(writer.path) as svc:
            writer.do("runs 0 10")
            check(svc.load_frame(TRAJECTORY, "r"), list(range(10)), 40)
            writer.do("result 12")  # a row of run 12 now, completed later
            writer.do("runs 10 12")
            asked.clear()
            check(svc.load_frame(TRAJECTORY, "r"), list(range(12)), 40)
            index, frame = asked
            assert isinstance(index, ReadFrameIndex)
            assert index.since == 10
            assert index.known == (("x", 40),)
            assert isinstance(frame, ReadFrame)
            assert frame.runs.tolist() == [10, 11]
            assert frame.parts[0].rows_from == 10  # runs 0-9's rows: the new ones after
            writer.do("runs 20 22")  # out of order
            writer.do("complete 12")  # its row is before those the reader read
            check(svc.load_frame(TRAJECTORY, "r"), [*range(13), 20, 21], 40)
            asked.clear()
            check(svc.load_frame(TRAJECTORY, "r"), [*range(13), 20, 21], 40)  # nothing new
            assert [len(request.runs) for request in asked if isinstance(request, ReadFrame)
                    ] == [0]
            writer.do("uncomplete 5")  # a change: whatever was kept is read again
            check(svc.load_frame(TRAJECTORY, "r"), [*range(5), *range(6, 13), 20, 21], 40)
            writer.do("expand 5")
            writer.do("runs 42 44")
            check(svc.load_frame(TRAJECTORY, "r"), [*range(5), *range(6, 13), 20, 21, 42, 43],
                  45)
            writer.do("runs 13 15")
            asked.clear()
            check(svc.load_frame(TRAJECTORY, "r"), [*range(5), *range(6, 15), 20, 21, 42, 43],
                  45)
            # since the last run, and the few not completed before it (5 went back: failed)
            assert asked[0].since == 44
            assert asked[0].pending == (5, *range(13, 20), *range(22, 42))
            assert asked[1].runs.tolist() == [13, 14]
        writer.close()
    with StorageService(writer.path) as svc:  # the file itself agrees
        check(svc.load_frame(TRAJECTORY, "r"), [*range(5), *range(6, 15), 20, 21, 42, 43], 45)


def test_a_polling_reader_reads_only_the_run_tables_rows_written_since(
        tmp_path: Path, asked: list[Any]) -> None:
    # the trajectory's store wrote every row: the rows after the last completed run are of runs
    # not started, and a poll reads them only up to the last row written since the one before
    with Steps(tmp_path / "live.h5", 400, "--count-rows") as writer:
        with StorageService(writer.path) as svc:
            writer.do("runs 0 10")
            check(svc.load_frame(TRAJECTORY, "r"), list(range(10)), 400)
            assert writer.rows_read() >= 400  # the first: every row
            writer.do("runs 10 15")
            check(svc.load_frame(TRAJECTORY, "r"), list(range(15)), 400)
            assert writer.rows_read() < 30  # rows 10-14, twice, and a few; not 390 to the end
            check(svc.load_frame(TRAJECTORY, "r"), list(range(15)), 400)
            assert writer.rows_read() < 10  # nothing new
            writer.do("runs 300 311")  # far out of order: more pending than the reader names
            check(svc.load_frame(TRAJECTORY, "r"), [*range(15), *range(300, 311)], 400)
            assert (asked[-2].since, asked[-2].pending) == (15, ())
            assert writer.rows_read() < 2 * 311
            writer.do("runs 15 18")  # rows 15-17 written: runs 300-310 are as the reader kept
            asked.clear()
            check(svc.load_frame(TRAJECTORY, "r"), [*range(18), *range(300, 311)], 400)
            assert asked[0].since == 15
            assert asked[0].stamp
            assert writer.rows_read() < 30
        writer.close()
    with StorageService(writer.path) as svc:  # the file itself agrees
        check(svc.load_frame(TRAJECTORY, "r"), [*range(18), *range(300, 311)], 400)


def test_a_result_only_runs_beyond_the_bound_hold_is_still_found(
        tmp_path: Path, asked: list[Any]) -> None:
    # Runs 0-10 complete with no result; only runs 300-310, far out of order, hold "r". A poll
    # reads the run table's rows up to the last written since (run 10's): none of its runs
    # holds "r", so the writer looks again without the bound (engine.frames.frame_index)
    # rather than answer that no completed run holds it.
    with Steps(tmp_path / "live.h5", 400) as writer:
        with StorageService(writer.path) as svc:
            for index in range(10):
                writer.do(f"complete {index}")
            writer.do("runs 300 311")
            check(svc.load_frame(TRAJECTORY, "r"), list(range(300, 311)), 400)
            writer.do("complete 10")
            asked.clear()
            check(svc.load_frame(TRAJECTORY, "r"), list(range(300, 311)), 400)
            assert asked[0].since == 10
            assert asked[0].stamp  # a bound was asked for
        writer.close()


# ----------------------------------------------------------------- the engine's side of it


def stored(path: Path, order: list[int]) -> None:
    """Trajectory ``w`` of 30 runs, runs of ``order`` stored in that order (run 7's result
    first alone, completed last)."""
    traj = Trajectory(TRAJECTORY)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [index / 10 for index in range(30)]})
    with StorageService(str(path)) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        svc.store(Msg.LEAF, Result("results.runs.run_00000007.r", **expected(7)),
                  trajectory_name=TRAJECTORY)
        for index in order:
            run = SingleRun(traj, index)
            if index != 7:
                run.add_result("r", **expected(index))
            svc.store(Msg.SINGLE_RUN, run)


def same(a: FrameColumns, b: FrameColumns) -> None:
    np.testing.assert_array_equal(a.runs, b.runs)
    assert [column[:2] for column in a.columns] == [column[:2] for column in b.columns]
    for (_, _, x), (_, _, y) in zip(a.columns, b.columns, strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_rows_and_runs_since_are_those_of_a_whole_read(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    order = [0, 1, 2, 5, 4, 3, 9, 8, 6, 7, 10, 11]
    stored(path, order)
    rows = [7, *(run for run in order if run != 7)]  # the packed table's rows
    engine = Engine()
    try:
        target = Target(str(path), TRAJECTORY)
        names = (("results", ("r",)),)
        whole = engine.execute(ReadFrameIndex(target, names))
        assert whole.runs.tolist() == list(range(12))
        known = tuple((name, len(column)) for name, column in whole.parameters.items())
        since = engine.execute(ReadFrameIndex(target, names, 4, known))
        assert (since.since, since.same_parameters, since.parameters) == (4, True, {})
        assert since.runs.tolist() == list(range(4, 12))
        assert since.results == whole.results
        grown = engine.execute(ReadFrameIndex(target, names, 4, (("x", 20),)))
        np.testing.assert_array_equal(grown.parameters["x"], whole.parameters["x"])
        pending = engine.execute(ReadFrameIndex(target, names, 9, known, (3, 6, 7)))
        assert pending.since == 9
        assert pending.runs.tolist() == [3, 6, 7, 9, 10, 11]  # the pending, now completed
        beyond = engine.execute(ReadFrameIndex(target, names, 31, known))  # not so: whole
        assert beyond.since == 0
        assert beyond.runs.tolist() == list(range(12))

        specs = whole.results[names[0]]
        part = FramePart("results", ("r",), tuple(specs), specs)
        first = engine.execute(ReadFrame(target, np.arange(6), (part,)))[0]
        assert first.rows == 7  # run 7's result is row 0, runs 0-5 the next 6
        for rows_from in (0, first.rows, 3, 12):
            for runs in ([6, 8, 9, 10, 11], [7, 10], [], [11]):
                wanted = np.array(runs, dtype=np.int64)
                asked = FramePart("results", ("r",), tuple(specs), specs, rows_from)
                got = engine.execute(ReadFrame(target, wanted, (asked,)))[0]
                same(got, engine.execute(ReadFrame(target, wanted, (part,)))[0])
                # the row after the runs' last: for the next read to look from
                assert got.rows == (max(rows.index(run) for run in runs) + 1 if runs
                                    else rows_from)
    finally:
        engine.close()


def test_a_list_of_reads_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    """``aiostore check`` and ``export`` of a live file load a LIST: not a change in place (the
    readers' kept columns stay good) and no checkpoint (no fsync) of the writer's files."""
    path = tmp_path / "f.h5"
    stored(path, [0, 1])
    engine = Engine()
    checkpoints: list[bool] = []
    flush = engine.flush
    monkeypatch.setattr(engine, "flush", lambda checkpoint=False: (
        checkpoints.append(checkpoint), flush(checkpoint))[1])
    try:
        target = Target(str(path), TRAJECTORY)
        engine.execute(Sequence((ReadFrameIndex(target, None), ReadFrameIndex(target, None))))
        assert (engine.changes, checkpoints) == (0, [])
        engine.execute(WriteItems(target, runs=(RunRecord(1, True, 1.0, 2.0),)))
        assert engine.changes == 0  # a run completed: kept indexes stay good
        engine.execute(WriteItems(target, runs=(RunRecord(0, False, 0.0, 0.0),)))
        assert engine.changes == 1  # a run written back to not completed (or maybe so)
        assert engine.execute(ReadFrameIndex(target, None)).runs.tolist() == [1]
    finally:
        engine.close()


def test_the_pypet_shims_reads_are_served_too(tmp_path: Path) -> None:
    """pypet's HDF5StorageService (the shim) reads through the same HDF5 thread: a file a live
    writer holds is read through that writer as well."""
    pytest.importorskip("pypet")
    from pypet import Trajectory as PypetTrajectory

    from aiostore.compat.pypet import HDF5StorageService, pypetconstants

    with Steps(tmp_path / "live.h5", 8) as writer:
        writer.do("runs 0 5")
        with HDF5StorageService(filename=writer.path) as service:
            leaf = Result("results.runs.run_00000003.r")
            service.load(pypetconstants.LEAF, leaf, trajectory_name=TRAJECTORY)
            assert leaf["z"] == expected(3)["z"]
            traj = PypetTrajectory(TRAJECTORY, add_time=False)
            traj.v_storage_service = service
            traj.f_load(name=TRAJECTORY, load_parameters=0, load_results=0,
                        load_derived_parameters=0)
            assert len(traj) == 8
            runs = traj.f_get_run_information(copy=False).values()
            assert [run["completed"] for run in runs].count(1) == 5
        writer.close()
