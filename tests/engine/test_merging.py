"""MERGE and BACKUP through StorageService, on real HDF5 files (the per-node
layout: see tests/pernode.py)."""

from __future__ import annotations

import os

import pytest
from pernode import StorageService, make_traj, node_list, run_table, snapshot

from aiostore import (
    DataNotFoundError,
    InvalidArgumentError,
    ItemExistsError,
    MergeError,
    Result,
    Trajectory,
)

# ------------------------------------------------------------------------------------- MERGE


def merge_file(path: str) -> tuple[Trajectory, Trajectory]:
    trajs = []
    with StorageService(path) as svc:
        for name, xs in (("a", [1.0, 2.0]), ("b", [3.0, 4.0])):
            traj = Trajectory(name)
            traj.add_parameter("x", xs[0])
            traj.explore({"x": xs})
            traj.add_result("common", 1)
            svc.store("TRAJECTORY", traj)
            for i in range(2):
                run = traj.run(i)
                run.add_result("z", run["x"] * 10)
                svc.store("SINGLE_RUN", run)
            trajs.append(traj)
    return trajs[0], trajs[1]


class TestMerge:
    def test_whole_merge(self, path):
        a, _ = merge_file(path)
        with StorageService(path) as svc:
            svc.store("MERGE", a, other_trajectory_name="b")
        with StorageService(path) as svc:
            merged = svc.load("TRAJECTORY", None, trajectory_name="a", load_results=2)
            assert svc.list_trajectories() == ["a", "b"]
        assert len(merged) == 4
        assert [r.idx for r in merged.runs] == [0, 1, 2, 3]
        assert all(r.completed for r in merged.runs)
        assert merged["parameters.x"].range == [1.0, 2.0, 3.0, 4.0]
        for i, z in enumerate([10.0, 20.0, 30.0, 40.0]):
            assert merged[f"results.runs.run_0000000{i}.z"]["z"] == z
        assert merged["results.common"]["common"] == 1
        assert list(run_table(path, "a")["completed"]) == [1, 1, 1, 1]

    def test_pypets_fast_merge_names_the_trajectory_by_its_argument(self, path):
        """pypet's Trajectory.f_merge stores MERGE with the item "FAST MERGE" (a string) and
        the trajectory merged into as trajectory_name=."""
        merge_file(path)
        with StorageService(path, trajectory_name="b") as svc:
            svc.store("MERGE", "FAST MERGE", trajectory_name="a", other_trajectory_name="b")
        with StorageService(path) as svc:
            merged = svc.load("TRAJECTORY", None, trajectory_name="a", load_results=2)
        assert [r.idx for r in merged.runs] == [0, 1, 2, 3]
        assert merged["parameters.x"].range == [1.0, 2.0, 3.0, 4.0]

    def test_a_trajectory_is_not_merged_into_itself(self, path):
        a, _ = merge_file(path)
        before = node_list(path)
        with StorageService(path) as svc, pytest.raises(MergeError, match="into itself"):
            svc.store("MERGE", a, other_trajectory_name="a")
        assert node_list(path) == before

    def test_whole_merge_delete_trajectory(self, path):
        a, _ = merge_file(path)
        with StorageService(path) as svc:
            svc.store("MERGE", a, other_trajectory_name="b", delete_trajectory=True)
            assert svc.list_trajectories() == ["a"]
        assert not any(n.startswith("/b") for n in node_list(path))
        with StorageService(path) as svc:
            merged = svc.load("TRAJECTORY", None, trajectory_name="a", load_results=2)
        assert merged["results.runs.run_00000003.z"]["z"] == 40.0

    def test_rename_dict(self, path):
        a, _ = merge_file(path)
        before = set(node_list(path))
        with StorageService(path) as svc:
            svc.store("MERGE", a, other_trajectory_name="b",
                      rename_dict={"results.runs.run_00000000.z": "results.merged.z"})
        after = set(node_list(path))
        assert after - before == {"/a/results/merged", "/a/results/merged/z",
                                  "/a/results/merged/z/z"}
        assert len(run_table(path, "a")) == 2
        with StorageService(path, trajectory_name="a") as svc:
            assert svc.load("LEAF", Result("results.merged.z"))["z"] == 30.0

    def test_rename_dict_move_nodes(self, path):
        a, _ = merge_file(path)
        with StorageService(path) as svc:
            svc.store("MERGE", a, other_trajectory_name="b", move_nodes=True,
                      rename_dict={"results.runs.run_00000001.z": "results.moved.z"})
        nodes = node_list(path)
        assert "/a/results/moved/z" in nodes
        assert "/b/results/runs/run_set_00000/run_00000001/z" not in nodes
        with StorageService(path, trajectory_name="a") as svc:
            assert svc.load("LEAF", Result("results.moved.z"))["z"] == 40.0

    def test_rename_dict_missing_source_or_existing_target(self, path):
        a, _ = merge_file(path)
        before = snapshot(path)
        with StorageService(path) as svc:
            with pytest.raises(MergeError):
                svc.store("MERGE", a, other_trajectory_name="b",
                          rename_dict={"results.nothere": "results.x"})
            with pytest.raises(ItemExistsError):
                svc.store("MERGE", a, other_trajectory_name="b",
                          rename_dict={"results.common": "results.common"})
        assert snapshot(path) == before

    def test_missing_other(self, path):
        a, _ = merge_file(path)
        before = snapshot(path)
        with StorageService(path) as svc:
            with pytest.raises(MergeError):
                svc.store("MERGE", a, other_trajectory_name="c")
            with pytest.raises(MergeError):
                svc.store("MERGE", a, other_trajectory_name="a")
            with pytest.raises(InvalidArgumentError):
                svc.store("MERGE", a)
        assert snapshot(path) == before

    def test_different_explored_parameters(self, path):
        a, _ = merge_file(path)
        c = Trajectory("c")
        c.add_parameter("w", 0)
        c.explore({"w": [0, 1]})
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", c)
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(MergeError):
            svc.store("MERGE", a, other_trajectory_name="c")
        assert snapshot(path) == before

    def test_prepare_merge(self, stored):
        path, traj = stored
        changed = traj.expand({"x": [4.0], "y": [40]})
        with StorageService(path) as svc:
            svc.store("PREPARE_MERGE", traj, changed, 3)
        table = run_table(path)
        assert list(table["idx"]) == [0, 1, 2, 3]
        assert bytes(table["parameter_summary"][3]) == b"x: 4.0, y: 40"
        assert list(table["completed"]) == [0, 1, 0, 0]
        with StorageService(path) as svc:
            t = svc.load("TRAJECTORY", None, trajectory_name="sweep")
        assert t["parameters.x"].range == [1.0, 2.0, 3.0, 4.0]
        assert t["parameters.y"].range == [10, 20, 30, 40]
        assert len(t) == 4

    def test_prepare_merge_by_name(self, stored):
        path, traj = stored
        traj.expand({"x": [4.0], "y": [40]})
        with StorageService(path) as svc:
            svc.store("PREPARE_MERGE", traj, ["parameters.x", "parameters.y"], old_length=3)
        assert len(run_table(path)) == 4


# ------------------------------------------------------------------------------------ BACKUP


class TestBackup:
    def test_default_name_and_content(self, stored, tmp_path):
        path, _ = stored
        with StorageService(path) as svc:
            svc.store("BACKUP", None, trajectory_name="sweep")
        backup = tmp_path / "backup_sweep.hdf5"
        assert backup.exists()
        with StorageService(str(backup)) as svc2:
            t = svc2.load("TRAJECTORY", None, trajectory_name="sweep", load_results=2)
        assert t["parameters.x"].range == [1.0, 2.0, 3.0]
        assert t["results.runs.run_00000001.z"]["z"] == 40.0
        assert [r.completed for r in t.runs] == [False, True, False]
        assert not [p for p in os.listdir(tmp_path) if "partial" in p]

    def test_again_into_same_file(self, stored, tmp_path):
        path, traj = stored
        with StorageService(path) as svc:
            svc.store("BACKUP", traj)
            with pytest.raises(ItemExistsError):
                svc.store("BACKUP", traj)

    def test_backup_filename_and_second_trajectory(self, stored, tmp_path):
        path, traj = stored
        target = str(tmp_path / "bk.h5")
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", make_traj("other"))
            svc.store("BACKUP", traj, backup_filename=target)
            svc.store("BACKUP", None, trajectory_name="other", backup_filename=target)
        with StorageService(target) as svc:
            assert svc.list_trajectories() == ["other", "sweep"]

    def test_backup_missing_trajectory(self, stored, tmp_path):
        path, _ = stored
        with StorageService(path) as svc, pytest.raises(DataNotFoundError):
            svc.store("BACKUP", None, trajectory_name="nothere")
        assert not (tmp_path / "backup_nothere.hdf5").exists()
