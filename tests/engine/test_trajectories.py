"""TRAJECTORY and SINGLE_RUN through StorageService, and the run table's rows,
on real HDF5 files (the per-node layout: see tests/pernode.py)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import tables
from pernode import StorageService, make_traj, node_list, run_table

import aiostore
from aiostore import (
    DataNotFoundError,
    FileFormatError,
    InvalidArgumentError,
    Msg,
    NotStoredError,
    Parameter,
    Result,
    Trajectory,
)

# --------------------------------------------------------------------------------- TRAJECTORY


class TestTrajectory:
    def test_store_writes_groups_run_table_and_leaves(self, stored):
        path, traj = stored
        nodes = node_list(path)
        for where in ("/sweep", "/sweep/parameters/x", "/sweep/parameters/y",
                      "/sweep/config/seed", "/sweep/results/glob", "/sweep/overview/runs",
                      "/sweep/derived_parameters"):
            assert where in nodes
        table = run_table(path)
        assert list(table["idx"]) == [0, 1, 2]
        assert [bytes(n) for n in table["name"]] == [b"run_00000000", b"run_00000001",
                                                     b"run_00000002"]
        assert bytes(table["parameter_summary"][2]) == b"x: 3.0, y: 30"
        assert traj.v_stored
        assert traj["parameters.x"].v_stored

    def test_load_level_2_data(self, stored):
        path, _traj = stored
        with StorageService(path) as svc:
            t2 = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_parameters=2,
                          load_results=2)
        assert t2.v_name == "sweep"
        assert len(t2) == 3
        assert t2["parameters.x"].value == 1.0
        assert t2["parameters.x"].range == [1.0, 2.0, 3.0]
        assert t2["parameters.y"].range == [10, 20, 30]
        assert t2["parameters.x"].v_comment == "the x"
        assert t2["config.seed"].value == 42
        glob = t2["results.glob"]
        assert isinstance(glob, Result)
        assert glob["glob"] == 5
        np.testing.assert_array_equal(glob["arr"], np.arange(4))
        assert glob.v_comment == "global"
        assert t2["results.runs.run_00000001.z"]["z"] == 40.0
        assert [r.completed for r in t2.runs] == [False, True, False]
        assert t2.v_stored
        assert t2["parameters.x"].v_stored

    def test_load_level_1_skeleton(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            t1 = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_parameters=1,
                          load_results=1)
        assert isinstance(t1["parameters.x"], Parameter)
        assert t1["parameters.x"].data == {}
        assert t1["parameters.x"].v_comment == "the x"
        assert isinstance(t1["results.glob"], Result)
        assert t1["results.glob"].data == {}
        assert "results.runs.run_00000001.z" in t1
        assert t1["results.runs.run_00000001.z"].data == {}

    def test_load_level_0_nothing(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            t0 = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_parameters=0,
                          load_derived_parameters=0, load_results=0, load_other_data=0)
        assert list(t0.leaves()) == []
        assert "parameters.x" not in t0
        assert "results.glob" not in t0
        assert len(t0) == 3  # the run table is still read

    def test_load_data_overrides_every_level(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            t0 = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_parameters=2,
                          load_results=2, load_data=0)
            t2 = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_parameters=0,
                          load_results=0, load_data=2)
        assert list(t0.leaves()) == []
        assert t2["parameters.x"].range == [1.0, 2.0, 3.0]
        assert t2["results.glob"]["glob"] == 5

    def test_comment_and_time_kept(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            t2 = svc.load("TRAJECTORY", None, trajectory_name="sweep")
        assert t2.v_comment == "c"
        assert t2.v_time == traj.v_time
        assert t2.v_timestamp == pytest.approx(traj.v_timestamp)

    def test_load_into_existing_trajectory(self, stored):
        path, _ = stored
        target = Trajectory("sweep")
        with StorageService(path) as svc:
            loaded = svc.load("TRAJECTORY", target, load_parameters=2, load_results=2)
        assert loaded is target
        assert target["parameters.x"].range == [1.0, 2.0, 3.0]
        assert target["results.glob"]["glob"] == 5
        assert len(target) == 3
        assert target.v_comment == "c"

    def test_load_into_existing_trajectory_keeps_its_data_at_level_2(self, stored):
        path, _ = stored
        target = Trajectory("sweep")
        target.add_result("glob", 99)
        with StorageService(path) as svc:
            svc.load("TRAJECTORY", target, load_results=2)
        assert target["results.glob"]["glob"] == 99  # level 2 fills only empty leaves
        with StorageService(path) as svc:
            svc.load("TRAJECTORY", target, load_results=3)
        assert target["results.glob"].data["glob"] == 5  # level 3 overwrites

    def test_as_new(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            new = svc.load("TRAJECTORY", None, trajectory_name="sweep", as_new=True,
                           load_results=2)
        assert new["parameters.x"].range == [1.0, 2.0, 3.0]
        assert new["parameters.y"].range == [10, 20, 30]
        assert "results.glob" not in new
        assert "results.runs.run_00000001.z" not in new
        assert len(new) == 3
        assert not any(run.completed for run in new.runs)
        assert new.v_stored is False
        assert not any(leaf.v_stored for leaf in new.leaves())

    def test_invalid_level(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            with pytest.raises(InvalidArgumentError):
                svc.load("TRAJECTORY", None, trajectory_name="sweep", load_results=7)
            with pytest.raises(InvalidArgumentError):
                svc.load("TRAJECTORY", None, trajectory_name="sweep", load_data=-1)

    def test_missing_trajectory(self, stored):
        path, _ = stored
        with StorageService(path) as svc, pytest.raises(DataNotFoundError):
            svc.load("TRAJECTORY", None, trajectory_name="nope")

    def test_missing_file(self, tmp_path):
        missing = str(tmp_path / "missing.h5")
        with StorageService(missing) as svc, pytest.raises(DataNotFoundError):
            svc.load("TRAJECTORY", None, trajectory_name="sweep")
        assert not os.path.exists(missing)

    def test_not_hdf5(self, tmp_path):
        bad = tmp_path / "bad.h5"
        bad.write_bytes(b"hello")
        with StorageService(str(bad)) as svc:
            with pytest.raises(FileFormatError) as info:
                svc.load("TRAJECTORY", None, trajectory_name="sweep")
            assert isinstance(info.value, OSError)
            with pytest.raises(FileFormatError):
                svc.store("TRAJECTORY", make_traj())
        assert bad.read_bytes() == b"hello"

    def test_store_again_adds_new_items_only(self, stored):
        path, traj = stored
        traj.add_result("later", 7)
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", traj)
            t2 = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_results=2)
        assert t2["results.later"]["later"] == 7
        assert t2["results.glob"]["glob"] == 5

    def test_list_trajectories(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", make_traj("other"))
            assert svc.list_trajectories() == ["other", "sweep"]


# --------------------------------------------------------------------------------- SINGLE_RUN


class TestSingleRun:
    def test_marks_completed_in_file_and_memory(self, stored):
        path, traj = stored
        table = run_table(path)
        assert list(table["completed"]) == [0, 1, 0]
        assert table["finish_timestamp"][1] >= table["timestamp"][1] > 0
        assert [r.completed for r in traj.runs] == [False, True, False]
        assert traj.runs[1].parameter_summary == "x: 2.0, y: 20"

    def test_results_under_run_group(self, stored):
        path, traj = stored
        assert "/sweep/results/runs/run_set_00000/run_00000001/z" in node_list(path)
        assert traj["results.runs.run_00000001.z"].v_stored
        with StorageService(path) as svc:
            z = svc.load("LEAF", Result("results.runs.run_00000001.z"), trajectory_name="sweep")
        assert z["z"] == 40.0

    def test_several_runs_and_run_index(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            for i in (0, 2):
                run = traj.run(i)
                run.add_result("z", run["x"] * run["y"])
                run.add_derived_parameter("d", i)
                svc.store(Msg.SINGLE_RUN, run)
        assert list(run_table(path)["completed"]) == [1, 1, 1]
        nodes = node_list(path)
        for i in range(3):
            assert f"/sweep/results/runs/run_set_00000/run_0000000{i}/z" in nodes
        assert "/sweep/derived_parameters/runs/run_set_00000/run_00000002/d" in nodes

    def test_a_failed_run_is_not_marked_and_marks_are_seen_before_a_flush(self, stored,
                                                                           held_worker):
        path, traj = stored
        good, bad = traj.run(0), traj.run(2)
        good.add_result("z", 1.0)
        bad.add_result("z", 2.0)
        with StorageService(path) as svc:  # run 2's z is already in the file: it must fail
            svc.store(Msg.LEAF, Result("results.runs.run_00000002.z", z=3.0),
                      trajectory_name="sweep")
        with StorageService(path) as svc, held_worker() as gate:
            stored_good = svc.put(Msg.SINGLE_RUN, good)
            svc.put(Msg.SINGLE_RUN, bad)
            loaded = svc._submit(svc._session.plan("load", Msg.TRAJECTORY, None, (),
                                                   {"trajectory_name": "sweep"}))
            gate.set()  # the three jobs now run in one batch, before any flush
            assert stored_good is None
            with pytest.raises(aiostore.FailedStoresError):
                svc.join()
            runs = loaded.future.result().runs
        assert [r.completed for r in runs] == [True, True, False]
        assert list(run_table(path)["completed"]) == [1, 1, 0]

    def test_trajectory_with_run_index(self, path):
        traj = make_traj()
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", traj)
            svc.store("SINGLE_RUN", traj, run_index=2)
            with pytest.raises(InvalidArgumentError):
                svc.store("SINGLE_RUN", traj)
        assert list(run_table(path)["completed"]) == [0, 0, 1]

    def test_before_trajectory_stored(self, path):
        traj = make_traj()
        run = traj.run(0)
        run.add_result("z", 1)
        with StorageService(path) as svc, pytest.raises(NotStoredError):
            svc.store("SINGLE_RUN", run)
        assert not traj.runs[0].completed
        assert not traj["results.runs.run_00000000.z"].v_stored
        if os.path.exists(path):
            assert "/sweep" not in node_list(path)


def test_run_rows_written_out_of_order_leave_blank_named_rows_between(tmp_path: Any) -> None:
    from aiostore._core.requests import RunRecord
    from aiostore.engine.runs import ROWS_AT_ONCE, RUN_ROW, write_runs

    far = ROWS_AT_ONCE + 5  # rows given in two blocks, blank ones around them
    with tables.open_file(str(tmp_path / "rows.h5"), "w") as h5:
        table = h5.create_table("/", "runs", RUN_ROW)
        write_runs(table, [RunRecord(far, True, 10.0, 12.5, "x: far"),
                           RunRecord(2, False, 0.0, 0.0, "x: 2")])
        rows = table.read()
        assert len(rows) == far + 1
        assert rows["idx"].tolist() == list(range(far + 1))
        assert rows["name"].tolist() == [b"run_%08d" % i for i in range(far + 1)]
        assert rows["parameter_summary"][2] == b"x: 2"
        assert rows["parameter_summary"][far] == b"x: far"
        assert rows["completed"].tolist() == [int(i == far) for i in range(far + 1)]
        assert rows["runtime"][far] == b"0:00:02.500000"
        assert not rows["parameter_summary"][[0, 1, 3, far - 1]].any()
        rewritten, old = write_runs(table, [RunRecord(3, True, 1.0, 2.0, "x: 3")])
        assert rewritten == [3]
        assert old["parameter_summary"].tolist() == [b""]
        assert table.read()["parameter_summary"][3] == b"x: 3"
