"""GROUP, TREE, LIST and REMOVE through StorageService, on real HDF5 files (the
per-node layout: see tests/pernode.py)."""

from __future__ import annotations

import pytest
import tables
from pernode import StorageService, leaf_specs, make_traj, node_list, run_table, snapshot

from aiostore import DataNotFoundError, InvalidArgumentError, RemovalError, Result, Trajectory

# ------------------------------------------------------------------------- GROUP, TREE, LIST


class TestGroupTreeList:
    def test_group_comment(self, stored):
        path, traj = stored
        group = traj.add_group("results.mygroup", comment="a group")
        with StorageService(path) as svc:
            svc.store("GROUP", group)
        assert group.v_stored
        with tables.open_file(path) as f:
            node = f.get_node("/sweep/results/mygroup")
            assert node._v_attrs["SRVC_INIT_COMMENT"] == "a group"

    def test_tree_recursive(self, stored):
        path, traj = stored
        traj.add_result("tree.a", 1)
        traj.add_result("tree.sub.b", 2)
        with StorageService(path) as svc:
            svc.store("TREE", traj, "results.tree")
        nodes = node_list(path)
        assert "/sweep/results/tree/a" in nodes
        assert "/sweep/results/tree/sub/b" in nodes
        assert traj["results.tree.sub.b"].v_stored

    def test_tree_non_recursive(self, stored):
        path, traj = stored
        group = traj.add_group("results.tree", comment="tree!")
        traj.add_result("tree.a", 1)
        traj.add_result("tree.sub.b", 2)
        with StorageService(path) as svc:
            svc.store("TREE", group, "sub", recursive=False)
        nodes = node_list(path)
        assert "/sweep/results/tree/sub/b" in nodes
        assert "/sweep/results/tree/a" not in nodes
        with StorageService(path) as svc:
            svc.store("TREE", traj, "results.tree", recursive=False)
        nodes = node_list(path)
        assert "/sweep/results/tree/a" in nodes
        with tables.open_file(path) as f:
            assert f.get_node("/sweep/results/tree")._v_attrs["SRVC_INIT_COMMENT"] == "tree!"

    def test_tree_of_a_leaf(self, stored):
        path, traj = stored
        traj.add_result("tl", 3)
        with StorageService(path) as svc:
            svc.store("TREE", traj, "results.tl")
        assert "/sweep/results/tl/tl" in node_list(path)
        assert traj["results.tl"].v_stored

    def test_tree_missing_child(self, stored):
        path, traj = stored
        with StorageService(path) as svc, pytest.raises(InvalidArgumentError):
            svc.store("TREE", traj, "results.nothere")

    def test_tree_load_attaches(self, stored):
        path, traj = stored
        traj.add_result("tree.a", 1)
        traj.add_result("tree.sub.b", 2)
        with StorageService(path) as svc:
            svc.store("TREE", traj, "results.tree")
        fresh = Trajectory("sweep")
        with StorageService(path) as svc:
            node = svc.load("TREE", fresh, "results.tree")
        assert node is fresh["results.tree"]
        assert fresh["results.tree.a"]["a"] == 1
        assert fresh["results.tree.sub.b"]["b"] == 2
        assert "results.glob" not in fresh
        fresh2 = Trajectory("sweep")
        with StorageService(path) as svc:
            svc.load("TREE", fresh2, "results.tree", recursive=False)
        assert "results.tree" in fresh2
        assert "results.tree.a" not in fresh2
        fresh3 = Trajectory("sweep")
        with StorageService(path) as svc:
            svc.load("TREE", fresh3, "results.tree", load_data=1)
        assert fresh3["results.tree.a"].data == {}

    def test_list_store_and_load(self, stored):
        path, traj = stored
        r1 = traj.add_result("l1", 1)
        r2 = traj.add_result("l2", 2)
        group = traj.add_group("results.lg", comment="list group")
        with StorageService(path) as svc:
            svc.store("LIST", [("LEAF", r1), ("LEAF", r2), ("GROUP", group)])
        assert r1.v_stored
        assert r2.v_stored
        with tables.open_file(path) as f:
            assert f.get_node("/sweep/results/lg")._v_attrs["SRVC_INIT_COMMENT"] == "list group"
        with StorageService(path, trajectory_name="sweep") as svc:
            a, b, c = svc.load("LIST", [("LEAF", Result("results.l1")),
                                        ("LEAF", Result("results.l2")),
                                        ("LEAF", Result("results.glob"), (), {"load_only": "glob"})])
        assert a["l1"] == 1
        assert b["l2"] == 2
        assert list(c.data) == ["glob"]

    def test_list_bad_entry(self, stored):
        path, _ = stored
        with StorageService(path) as svc, pytest.raises(InvalidArgumentError):
            svc.store("LIST", ["LEAF"])


# ------------------------------------------------------------------------------------ REMOVE


class TestRemove:
    def test_remove_result(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            svc.store("REMOVE", traj["results.glob"])
        assert "/sweep/results/glob" not in node_list(path)
        assert not traj["results.glob"].v_stored

    def test_non_empty_group(self, stored):
        path, traj = stored
        group = traj["results.runs"]
        with StorageService(path) as svc, pytest.raises(RemovalError):
            svc.store("REMOVE", group)
        assert "/sweep/results/runs/run_set_00000/run_00000001/z" in node_list(path)
        with StorageService(path) as svc:
            svc.store("REMOVE", group, recursive=True)
        assert not any(n.startswith("/sweep/results/runs") for n in node_list(path))

    def test_remove_empty_groups(self, stored):
        path, traj = stored
        r = traj.add_result("deep.er.r", 1)
        with StorageService(path) as svc:
            svc.store("LEAF", r)
            svc.store("REMOVE", r, remove_empty_groups=True)
        nodes = node_list(path)
        assert "/sweep/results/deep" not in nodes
        assert "/sweep/results" in nodes
        # results left empty stays too
        with StorageService(path) as svc:
            svc.store("REMOVE", traj["results.glob"], remove_empty_groups=True)
            svc.store("REMOVE", traj["results.runs.run_00000001.z"], remove_empty_groups=True)
        nodes = node_list(path)
        assert "/sweep/results/runs" not in nodes
        assert "/sweep/results" in nodes

    def test_without_remove_empty_groups_parents_stay(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            svc.store("REMOVE", traj["results.runs.run_00000001.z"])
        assert "/sweep/results/runs/run_set_00000/run_00000001" in node_list(path)

    def test_delete_only(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            svc.store("REMOVE", traj["results.glob"], delete_only="arr", remove_from_item=True)
        nodes = node_list(path)
        assert "/sweep/results/glob/arr" not in nodes
        assert "/sweep/results/glob/glob" in nodes
        assert list(leaf_specs(path, "/sweep/results/glob")) == ["glob"]
        assert "arr" not in traj["results.glob"].data
        with StorageService(path, trajectory_name="sweep") as svc:
            assert svc.load("LEAF", Result("results.glob")).data == {"glob": 5}
            with pytest.raises(DataNotFoundError):
                svc.store("REMOVE", traj["results.glob"], delete_only=["nothere"])

    def test_explored_parameter(self, stored):
        path, traj = stored
        with StorageService(path) as svc, pytest.raises(RemovalError):
            svc.store("REMOVE", traj["parameters.x"])
        assert "/sweep/parameters/x" in node_list(path)

    def test_missing_item(self, stored):
        path, _ = stored
        before = snapshot(path)
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(DataNotFoundError):
            svc.store("REMOVE", Result("results.nothere"))
        assert snapshot(path) == before

    def test_remove_incomplete_runs(self, path):
        traj = make_traj()
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", traj)
            run0 = traj.run(0)
            run0.add_result("z", 0)
            run1 = traj.run(1)
            z1 = run1.add_result("z", 1)
            svc.store("SINGLE_RUN", run0)
            svc.store("LEAF", z1)
        nodes = node_list(path)
        assert "/sweep/results/runs/run_set_00000/run_00000001/z" in nodes
        with StorageService(path) as svc:
            svc.store("REMOVE_INCOMPLETE_RUNS", traj)
        nodes = node_list(path)
        assert "/sweep/results/runs/run_set_00000/run_00000000/z" in nodes
        assert "/sweep/results/runs/run_set_00000/run_00000001" not in nodes
        assert list(run_table(path)["completed"]) == [1, 0, 0]
