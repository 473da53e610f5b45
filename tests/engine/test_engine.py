"""Every message through StorageService, on real HDF5 files in tmp_path.

Persistence is checked by re-opening the file with plain PyTables (``tables.open_file``) or with
a fresh service, after the service that wrote it is closed.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables

import aiostore
from aiostore import (
    AiostoreError,
    DataNotFoundError,
    FileFormatError,
    InvalidArgumentError,
    InvalidNameError,
    ItemExistsError,
    MergeError,
    Msg,
    NoSuchServiceError,
    NotStoredError,
    ObjectTable,
    Parameter,
    RemovalError,
    Result,
    Trajectory,
    UnsupportedTypeError,
)

# ------------------------------------------------------------------------------------ helpers


class StorageService(aiostore.StorageService):
    """The service in the per-node layout, whose groups and nodes these tests look at (runs'
    results packed as rows, the default, are tested in test_packing.py and test_frames.py)."""

    def __init__(self, *args, packed_runs: bool = False, **kwargs) -> None:
        super().__init__(*args, packed_runs=packed_runs, **kwargs)



def make_traj(name: str = "sweep", xs=(1.0, 2.0, 3.0), comment: str = "c") -> Trajectory:
    traj = Trajectory(name, comment=comment)
    traj.add_parameter("x", xs[0], comment="the x")
    traj.add_parameter("y", 10)
    traj.add_config("seed", 42)
    traj.explore({"x": list(xs), "y": [10 * (i + 1) for i in range(len(xs))]})
    return traj



@pytest.fixture
def stored(path):
    """A file with trajectory 'sweep' (3 runs), one global result and run 1 completed."""
    traj = make_traj()
    traj.add_result("glob", 5, arr=np.arange(4), comment="global")
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        run = traj.run(1)
        run.add_result("z", run["x"] * run["y"])
        svc.store("SINGLE_RUN", run)
    return path, traj


def node_list(path: str) -> list[str]:
    with tables.open_file(path) as f:
        return sorted(n._v_pathname for n in f.walk_nodes("/"))


def snapshot(path: str) -> dict[str, dict[str, str]]:
    """Every node with its user attributes and, for datasets, the data read back."""
    out: dict[str, dict[str, str]] = {}
    with tables.open_file(path) as f:
        for node in f.walk_nodes("/"):
            attrs = {k: repr(node._v_attrs[k]) for k in node._v_attrs._v_attrnamesuser}
            if isinstance(node, tables.Leaf):
                attrs["__data__"] = repr(node.read())
            out[node._v_pathname] = attrs
    return out


def leaf_specs(path: str, where: str) -> dict:
    with tables.open_file(path) as f:
        return json.loads(f.get_node(where)._v_attrs["SRVC_LEAF"])


def node_class(path: str, where: str) -> str:
    with tables.open_file(path) as f:
        return type(f.get_node(where)).__name__


def run_table(path: str, traj: str = "sweep") -> np.ndarray:
    with tables.open_file(path) as f:
        return f.get_node(f"/{traj}/overview/runs").read()


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


# --------------------------------------------------------------------------------------- LEAF


class Duck:
    """A duck-typed leaf: not an aiostore class."""

    def __init__(self, full_name: str, flags: dict | None = None, **data):
        self.v_full_name = full_name
        self.v_comment = "duck"
        self.data = dict(data)
        self.flags = flags or {}
        self.loaded = None

    def _store(self):
        return dict(self.data)

    def _load(self, load_dict):
        self.loaded = dict(load_dict)

    def _store_flags(self):
        return dict(self.flags)


class TestLeaf:
    def test_store_and_load(self, stored):
        path, traj = stored
        r = traj.add_result("grp.r", 1, b=np.arange(3.0), s="text", d={"k": 1, "l": 2.5},
                            t=(1, 2))
        with StorageService(path) as svc:
            svc.store("LEAF", r)
        assert r.v_stored
        with StorageService(path) as svc:
            back = svc.load("LEAF", Result("results.grp.r"), trajectory_name="sweep")
        assert back.v_stored
        assert back["r"] == 1
        assert back["s"] == "text"
        assert back["t"] == (1, 2)
        assert back["d"] == {"k": 1, "l": 2.5}
        np.testing.assert_array_equal(back["b"], np.arange(3.0))

    def test_load_only_str_and_list(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            a = svc.load("LEAF", Result("results.glob"), trajectory_name="sweep",
                         load_only="arr")
            b = svc.load("LEAF", Result("results.glob"), trajectory_name="sweep",
                         load_only=["arr", "glob"])
            c = svc.load("LEAF", Result("results.glob"), trajectory_name="sweep",
                         load_except="arr")
        assert list(a.data) == ["arr"]
        assert sorted(b.data) == ["arr", "glob"]
        assert list(c.data) == ["glob"]

    def test_load_only_missing_name(self, stored):
        path, _ = stored
        with StorageService(path) as svc, pytest.raises(DataNotFoundError) as info:
            svc.load("LEAF", Result("results.glob"), trajectory_name="sweep",
                     load_only=["arr", "nothere"])
        assert isinstance(info.value, ValueError)
        assert "nothere" in str(info.value)
        assert info.value.missing == ("nothere",)

    def test_load_only_and_load_except(self, stored):
        path, _ = stored
        with StorageService(path) as svc, pytest.raises(InvalidArgumentError):
            svc.load("LEAF", Result("results.glob"), trajectory_name="sweep",
                     load_only="arr", load_except="glob")

    def test_load_missing_leaf(self, stored):
        path, _ = stored
        with StorageService(path) as svc, pytest.raises(DataNotFoundError):
            svc.load("LEAF", Result("results.nothere"), trajectory_name="sweep")

    def test_existing_key_is_not_overwritten(self, stored):
        path, _ = stored
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(ItemExistsError) as info:
            svc.store("LEAF", Result("results.glob", 6, new=1), trajectory_name="sweep")
        assert "glob" in info.value.keys
        assert snapshot(path) == before

    def test_new_keys_into_existing_result(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            svc.store("LEAF", Result("results.glob", extra=[1, 2]), trajectory_name="sweep")
        with StorageService(path) as svc:
            back = svc.load("LEAF", Result("results.glob"), trajectory_name="sweep")
        assert back["glob"] == 5
        assert back["extra"] == [1, 2]
        assert list(leaf_specs(path, "/sweep/results/glob")) == ["glob", "arr", "extra"]

    def test_leaf_creates_trajectory_if_missing(self, path):
        with StorageService(path, trajectory_name="fresh") as svc:
            svc.store("LEAF", Result("results.r", 3))
        with StorageService(path) as svc:
            assert svc.list_trajectories() == ["fresh"]
            assert svc.load("LEAF", Result("results.r"), trajectory_name="fresh")["r"] == 3

    def test_duck_typed_round_trip(self, stored):
        path, _ = stored
        duck = Duck("results.duck", a=1, b=np.arange(5), c="s")
        with StorageService(path, trajectory_name="sweep") as svc:
            svc.store("LEAF", duck)
        with tables.open_file(path) as f:
            group = f.get_node("/sweep/results/duck")
            assert group._v_attrs["SRVC_INIT_CLASS_NAME"] == "Duck"
            assert group._v_attrs["SRVC_INIT_COMMENT"] == "duck"
        other = Duck("results.duck")
        with StorageService(path, trajectory_name="sweep") as svc:
            assert svc.load("LEAF", other) is other
        assert other.loaded["a"] == 1
        assert other.loaded["c"] == "s"
        np.testing.assert_array_equal(other.loaded["b"], np.arange(5))
        with StorageService(path) as svc:
            t = svc.load("TRAJECTORY", None, trajectory_name="sweep", load_results=2)
        assert t["results.duck"]["a"] == 1  # loaded as a Result
        assert t["results.duck"].v_stored_class == "Duck"

    def test_inferred_flags(self, stored):
        path, traj = stored
        r = traj.add_result("flags", arr=np.arange(10), lst=[1, 2], d={"a": 1},
                            tab=ObjectTable({"a": [1, 2]}), df=pd.DataFrame({"a": [1.0]}))
        with StorageService(path) as svc:
            svc.store("LEAF", r)
        specs = leaf_specs(path, "/sweep/results/flags")
        assert {k: s["flag"] for k, s in specs.items()} == {
            "arr": "CARRAY", "lst": "ARRAY", "d": "DICT", "tab": "TABLE", "df": "FRAME"}
        assert node_class(path, "/sweep/results/flags/arr") == "CArray"
        assert node_class(path, "/sweep/results/flags/lst") == "Array"
        assert node_class(path, "/sweep/results/flags/d") == "Table"
        assert node_class(path, "/sweep/results/flags/tab") == "Table"

    def test_chunked_arrays_take_about_their_own_size_on_disk(self, stored):
        path, traj = stored
        small, rows = np.arange(100.0), np.zeros((3000, 100))
        r = traj.add_result("chunked", small=small, rows=rows)
        with StorageService(path) as svc:
            svc.store("LEAF", r)
        with tables.open_file(path) as h5:
            group = h5.get_node("/sweep/results/chunked")
            assert group.small.size_on_disk == small.nbytes  # PyTables' own chunk: 64 kB
            assert rows.nbytes <= group.rows.size_on_disk < rows.nbytes * 1.4
            np.testing.assert_array_equal(group.rows.read(), rows)

    def test_store_flags_kwarg(self, stored):
        path, _ = stored
        r = Result("results.kw", a=np.arange(10), b=np.arange(3))
        with StorageService(path, trajectory_name="sweep") as svc:
            svc.store("LEAF", r, store_flags={"a": "ARRAY"})
        specs = leaf_specs(path, "/sweep/results/kw")
        assert specs["a"]["flag"] == "ARRAY"
        assert specs["b"]["flag"] == "CARRAY"
        assert node_class(path, "/sweep/results/kw/a") == "Array"
        assert node_class(path, "/sweep/results/kw/b") == "CArray"
        with StorageService(path, trajectory_name="sweep") as svc:
            back = svc.load("LEAF", Result("results.kw"))
        np.testing.assert_array_equal(back["a"], np.arange(10))

    def test_store_flags_method_and_kwarg_override(self, stored):
        path, _ = stored
        duck = Duck("results.fl", flags={"a": "ARRAY", "t": "TABLE"}, a=np.arange(4),
                    t=pd.DataFrame({"c": [1, 2]}), k=np.arange(4))
        with StorageService(path, trajectory_name="sweep") as svc:
            svc.store("LEAF", duck, store_flags={"k": aiostore.Flag.ARRAY})
        specs = leaf_specs(path, "/sweep/results/fl")
        assert {k: s["flag"] for k, s in specs.items()} == {"a": "ARRAY", "t": "TABLE",
                                                            "k": "ARRAY"}
        assert node_class(path, "/sweep/results/fl/a") == "Array"
        assert node_class(path, "/sweep/results/fl/t") == "Table"
        assert node_class(path, "/sweep/results/fl/k") == "Array"
        # the kwarg beats _store_flags()
        duck2 = Duck("results.fl2", flags={"a": "ARRAY"}, a=np.arange(4))
        with StorageService(path, trajectory_name="sweep") as svc:
            svc.store("LEAF", duck2, store_flags={"a": "CARRAY"})
        assert leaf_specs(path, "/sweep/results/fl2")["a"]["flag"] == "CARRAY"
        assert node_class(path, "/sweep/results/fl2/a") == "CArray"

    def test_set_flag_on_native_result(self, stored):
        path, traj = stored
        r = traj.add_result("nat", a=np.arange(4))
        r.set_flag("a", "ARRAY")
        with StorageService(path) as svc:
            svc.store("LEAF", r)
        assert node_class(path, "/sweep/results/nat/a") == "Array"

    def test_unsupported_value(self, stored):
        path, _ = stored
        before = snapshot(path)
        with (
            StorageService(path, trajectory_name="sweep") as svc,
            pytest.raises(UnsupportedTypeError) as info,
        ):
            svc.store("LEAF", Result("results.bad", ok=1, bad=object()))
        assert "bad" in info.value.key
        assert snapshot(path) == before


# -------------------------------------------------------------------------------- UPDATE_LEAF


class TestUpdateLeaf:
    def test_replaces_expanded_range(self, stored):
        path, traj = stored
        traj.expand({"x": [4.0, 5.0], "y": [40, 50]})
        with StorageService(path) as svc:
            svc.store("UPDATE_LEAF", traj["parameters.x"])
        with tables.open_file(path) as f:
            assert list(f.get_node("/sweep/parameters/x/explored_data").read()) == [
                1.0, 2.0, 3.0, 4.0, 5.0]
            assert "explored_data__replaced" not in f.get_node("/sweep/parameters/x")
        with StorageService(path) as svc:
            back = svc.load("LEAF", Parameter("parameters.x"), trajectory_name="sweep")
        assert back.range == [1.0, 2.0, 3.0, 4.0, 5.0]

    def test_replaces_value(self, stored):
        path, _ = stored
        with StorageService(path, trajectory_name="sweep") as svc:
            svc.store("UPDATE_LEAF", Parameter("config.seed", 7))
            svc.store("UPDATE_LEAF", Result("results.glob", "now a str"))
        with StorageService(path, trajectory_name="sweep") as svc:
            assert svc.load("LEAF", Parameter("config.seed")).value == 7
            back = svc.load("LEAF", Result("results.glob"))
        assert back["glob"] == "now a str"
        np.testing.assert_array_equal(back["arr"], np.arange(4))


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


# ---------------------------------------------------------------------------- bad arguments


class TestArguments:
    def test_unknown_message(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            with pytest.raises(NoSuchServiceError) as info:
                svc.store("NOPE", traj)
            assert isinstance(info.value, TypeError)
            with pytest.raises(NoSuchServiceError):
                svc.load("NOPE", traj)

    def test_load_with_store_only_message(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            for msg in ("BACKUP", "REMOVE", "MERGE", "SINGLE_RUN"):
                with pytest.raises(NoSuchServiceError):
                    svc.load(msg, traj)

    def test_unknown_kwarg(self, stored):
        path, traj = stored
        before = snapshot(path)
        with StorageService(path) as svc:
            with pytest.raises(InvalidArgumentError):
                svc.store("LEAF", traj["results.glob"], nonsense=1)
            with pytest.raises(InvalidArgumentError):
                svc.load("TRAJECTORY", None, trajectory_name="sweep", nonsense=1)
            with pytest.raises(InvalidArgumentError):
                svc.store("TRAJECTORY", traj, "extra positional")
        assert snapshot(path) == before

    def test_wrong_item_type(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            with pytest.raises(NoSuchServiceError):
                svc.store("TRAJECTORY", Result("results.r", 1))
            with pytest.raises(NoSuchServiceError):
                svc.store("LEAF", object(), trajectory_name="sweep")

    def test_errors_are_aiostore_errors(self):
        for error in (NoSuchServiceError, UnsupportedTypeError, InvalidNameError,
                      DataNotFoundError, ItemExistsError, NotStoredError, InvalidArgumentError,
                      RemovalError, MergeError, FileFormatError):
            assert issubclass(error, AiostoreError)
        assert issubclass(DataNotFoundError, KeyError)


class TestNames:
    def test_invalid_names_before_writing(self, stored):
        path, _ = stored
        before = snapshot(path)
        with pytest.raises(InvalidNameError):
            Result("results.a b", 1)
        with pytest.raises(InvalidNameError):
            Trajectory("1x")
        with pytest.raises(InvalidNameError):
            Result("results.r", **{"a.b": 1})
        with StorageService(path, trajectory_name="sweep") as svc:
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Duck("results.duck", **{"a.b": 1}))
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Duck("results.a b", a=1))
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Duck("results._private", a=1))
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Result("results.r", 1), trajectory_name="1x")
        assert snapshot(path) == before

    def test_invalid_trajectory_name_creates_no_file(self, path):
        with StorageService(path, trajectory_name="bad name") as svc, pytest.raises(InvalidNameError):
            svc.store("LEAF", Result("results.r", 1))
        assert not os.path.exists(path)

    def test_leaf_below_leaf(self, stored):
        path, _ = stored
        before = snapshot(path)
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(InvalidNameError):
            svc.store("LEAF", Result("results.glob.inner", 1))
        assert snapshot(path) == before


# --------------------------------------------------------------------------- atomic failures


class TestFileUnchanged:
    def test_existing_key(self, stored):
        path, _traj = stored
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(ItemExistsError):
            svc.store("LEAF", Result("results.glob", other=1, arr=2), trajectory_name="sweep")
        assert snapshot(path) == before

    def test_list_with_bad_second_leaf(self, stored):
        path, traj = stored
        good = traj.add_result("good", 1)
        bad = traj.add_result("bad", ok=2, broken=object())
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LIST", [("LEAF", good), ("LEAF", bad)])
        assert snapshot(path) == before
        assert not good.v_stored

    def test_list_with_existing_second_leaf(self, stored):
        path, traj = stored
        good = traj.add_result("good", 1)
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(ItemExistsError):
            svc.store("LIST", [("LEAF", good),
                               ("LEAF", Result("results.glob", 1), (),
                                {"trajectory_name": "sweep"})])
        assert snapshot(path) == before
        assert not good.v_stored

    def test_value_failing_part_way(self, stored):
        # the codec accepts the frame, pandas refuses it while writing: 'a' was written first
        path, _ = stored
        before = snapshot(path)
        bad = Result("results.partway", a=np.arange(5),
                     df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", bad)
        assert snapshot(path) == before
        # into an existing leaf: the new key written before the failure is taken back too
        more = Result("results.glob", new=np.arange(3),
                      df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", more)
        assert snapshot(path) == before

    def test_update_failing_part_way_restores_old_value(self, stored):
        path, _ = stored
        before = snapshot(path)
        bad = Result("results.glob", "replaced", df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("UPDATE_LEAF", bad)
        assert snapshot(path) == before
        with StorageService(path, trajectory_name="sweep") as svc:
            assert svc.load("LEAF", Result("results.glob"))["glob"] == 5

    def test_trajectory_store_failing_part_way(self, path):
        traj = make_traj()
        traj.add_result("fine", 1)
        traj.add_result("partway", df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path) as svc, pytest.raises(UnsupportedTypeError):
            svc.store("TRAJECTORY", traj)
        assert "/sweep" not in node_list(path)
        assert not traj.v_stored
        assert not traj["results.fine"].v_stored

    def test_oversized_comment(self, stored):
        # the comment attribute is written after the values: a failure there is part-way too
        path, _ = stored
        before = snapshot(path)
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", Result("results.big", 1, comment="x" * 100_000))
        assert snapshot(path) == before

    def test_oversized_comment_on_existing_leaf_keeps_its_attributes(self, stored):
        path, _ = stored
        before = snapshot(path)
        duck = Duck("results.glob", new=np.arange(3))
        duck.v_comment = "x" * 100_000
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", duck)
        assert snapshot(path) == before  # class name 'Result' and comment 'global' kept


# ------------------------------------------------------------------------ plain readability


class TestPlainReadability:
    def test_pytables_reads_everything(self, stored):
        path, traj = stored
        traj.add_result("all", arr=np.arange(6).reshape(2, 3), lst=["a", "bc"], d={"k": 1.5},
                        tab=ObjectTable({"a": [1, 2], "b": ["x", "y"]}),
                        df=pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}),
                        ser=pd.Series([1, 2, 3]))
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", traj)
        count = 0
        with tables.open_file(path) as f:
            for node in f.walk_nodes("/"):
                if isinstance(node, (tables.Array, tables.Table)):
                    node.read()
                    count += 1
            np.testing.assert_array_equal(f.get_node("/sweep/results/all/arr").read(),
                                          np.arange(6).reshape(2, 3))
        assert count > 10

    def test_pandas_reads_frame(self, stored):
        path, traj = stored
        df = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}, index=["r", "s"])
        run = traj.run(2)
        run.add_result("frame", df=df)
        with StorageService(path) as svc:
            svc.store("SINGLE_RUN", run)
        back = pd.read_hdf(path, "/sweep/results/runs/run_set_00000/run_00000002/frame/df")
        pd.testing.assert_frame_equal(back, df)
        with StorageService(path, trajectory_name="sweep") as svc:
            loaded = svc.load("LEAF", Result("results.runs.run_00000002.frame"))
        pd.testing.assert_frame_equal(loaded["df"], df)

    def test_file_title_default(self, stored):
        path, _ = stored
        with tables.open_file(path) as f:
            assert f.title == "Experiment"

    def test_file_title_given(self, tmp_path):
        p = str(tmp_path / "t.h5")
        with StorageService(p, file_title="X") as svc:
            svc.store("TRAJECTORY", make_traj())
        with tables.open_file(p) as f:
            assert f.title == "X"

    def test_compression(self, tmp_path):
        p = str(tmp_path / "c.h5")
        traj = make_traj()
        traj.add_result("big", arr=np.zeros(10_000))
        with StorageService(p, compression="zlib") as svc:
            svc.store("TRAJECTORY", traj)
        with tables.open_file(p) as f:
            node = f.get_node("/sweep/results/big/arr")
            assert node.filters.complib == "zlib"
            np.testing.assert_array_equal(node.read(), np.zeros(10_000))

    def test_file_closed_after_close(self, stored):
        path, _traj = stored
        svc = StorageService(path)
        svc.load("TRAJECTORY", None, trajectory_name="sweep")
        svc.close()
        with tables.open_file(path, "a") as f:  # no other handle keeps it open
            assert "/sweep" in f


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
