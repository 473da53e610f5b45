"""The in-memory model: Result, Parameter, Group, Trajectory, SingleRun, ObjectTable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aiostore import (
    Group,
    InvalidNameError,
    ObjectTable,
    Parameter,
    Result,
    RunInfo,
    SingleRun,
    Trajectory,
)
from aiostore.model import RUN_BLOCK_BITS, RunChildren

RUN_BLOCK = 1 << RUN_BLOCK_BITS


@pytest.fixture
def traj() -> Trajectory:
    t = Trajectory("sweep", comment="c")
    t.add_parameter("x", 1.0)
    t.add_parameter("y", 10)
    t.add_parameter("neuron.tau", 0.5)
    return t


# ------------------------------------------------------------------------------------ Result


class TestResult:
    def test_positional_values(self):
        r = Result("results.z", 1.0, 2, "three")
        assert r.keys() == ["z", "z_1", "z_2"]
        assert r["z"] == 1.0
        assert r["z_1"] == 2
        assert r["z_2"] == "three"

    def test_keyword_values(self):
        arr = np.arange(3)
        r = Result("results.z", 1.0, arr=arr, comment="hi")
        assert r.keys() == ["z", "arr"]
        assert r["arr"] is arr
        assert r.v_comment == "hi"
        assert "arr" in r
        assert "nope" not in r

    def test_names(self):
        r = Result("results.group.z")
        assert r.v_name == "z"
        assert r.v_location == "results.group"
        assert r.v_full_name == "results.group.z"
        assert r.v_is_leaf
        assert not r.v_stored
        assert r.is_empty()

    def test_f_get(self):
        r = Result("results.z", 1.0, a=2, b=3)
        assert r.f_get() == 1.0
        assert r.f_get("a") == 2
        assert r.f_get("a", "b") == (2, 3)
        only_kw = Result("results.w", a=5, b=6)
        assert only_kw.f_get() == 5  # the first value when none is named like the result
        with pytest.raises(KeyError):
            r.f_get("nope")

    def test_f_set_and_setitem(self):
        r = Result("results.z")
        r.f_set(1, 2, k="v")
        assert r.data == {"z": 1, "z_1": 2, "k": "v"}
        r["extra"] = [1]
        assert r["extra"] == [1]

    def test_invalid_names(self):
        with pytest.raises(InvalidNameError):
            Result("results.a b")
        with pytest.raises(InvalidNameError):
            Result("results.1a")
        with pytest.raises(InvalidNameError):
            Result("results._hidden")
        with pytest.raises(InvalidNameError):
            Result("results.z", **{"a.b": 1})
        r = Result("results.z")
        with pytest.raises(InvalidNameError) as info:
            r["a/b"] = 1
        assert isinstance(info.value, ValueError)
        assert r.is_empty()

    def test_store_protocol(self):
        r = Result("results.z", 1, b=2)
        r.set_flag("b", "ARRAY")
        data = r._store()
        assert data == {"z": 1, "b": 2}
        data["z"] = 99  # a copy
        assert r["z"] == 1
        assert r._store_flags() == {"b": "ARRAY"}
        r._load({"c": 3})
        assert r.data == {"z": 1, "b": 2, "c": 3}
        with pytest.raises(InvalidNameError):
            r.set_flag("a b", "ARRAY")


# --------------------------------------------------------------------------------- Parameter


class TestParameter:
    def test_value(self):
        p = Parameter("parameters.x", 1.5, comment="c")
        assert p.value == 1.5
        assert p.f_get() == 1.5
        assert p.data == {"data": 1.5}
        assert p.range is None
        assert not p.is_explored
        assert p.value_at(7) == 1.5
        p.value = 2.0
        assert p.value == 2.0

    def test_empty(self):
        p = Parameter("parameters.x")
        assert p.value is None
        assert p.is_empty()

    def test_explore(self):
        p = Parameter("parameters.x", 1.0)
        p.explore([1.0, 2.0, 3.0])
        assert p.is_explored
        assert p.range == [1.0, 2.0, 3.0]
        assert p.value == 1.0
        assert [p.value_at(i) for i in range(3)] == [1.0, 2.0, 3.0]
        with pytest.raises(IndexError):
            p.value_at(3)

    def test_explore_sets_default_from_first(self):
        p = Parameter("parameters.x")
        p.explore((4, 5))
        assert p.value == 4
        assert p.range == [4, 5]

    def test_explore_empty(self):
        p = Parameter("parameters.x", 1)
        with pytest.raises(ValueError, match="at least one value"):
            p.explore([])
        assert not p.is_explored

    def test_range_is_a_copy(self):
        p = Parameter("parameters.x", 1)
        values = [1, 2]
        p.explore(values)
        values.append(3)
        p.range.append(4)
        assert p.range == [1, 2]


# ------------------------------------------------------------------------------- Trajectory


class TestTrajectory:
    def test_new(self):
        t = Trajectory("sweep", comment="c")
        assert t.v_name == "sweep"
        assert t.v_comment == "c"
        assert t.v_full_name == ""
        assert len(t) == 1
        assert t.runs == [RunInfo(0)]
        assert set(t.children) == {"config", "parameters", "derived_parameters", "results"}
        assert all(isinstance(g, Group) for g in t.children.values())
        assert t.v_time
        assert t.v_timestamp > 0
        assert not t.v_stored
        assert "1 runs" in repr(t)

    def test_invalid_name(self):
        for bad in ("1x", "a b", "a.b", "_x", ""):
            with pytest.raises(InvalidNameError):
                Trajectory(bad)

    def test_add_items(self, traj):
        d = traj.add_derived_parameter("d", 3)
        c = traj.add_config("seed", 42)
        r = traj.add_result("grp.r", 1, comment="res")
        assert d.v_full_name == "derived_parameters.d"
        assert c.v_full_name == "config.seed"
        assert r.v_full_name == "results.grp.r"
        assert r.v_comment == "res"
        assert traj["parameters.neuron.tau"].value == 0.5
        assert isinstance(traj["parameters.neuron"], Group)
        assert traj["results.grp.r"] is r
        assert r._trajectory_name == "sweep"
        assert set(traj.parameters) == {"parameters.x", "parameters.y", "parameters.neuron.tau"}

    def test_add_existing(self, traj):
        with pytest.raises(ValueError, match="already exists"):
            traj.add_parameter("x", 2.0)
        # a leaf cannot become a group
        with pytest.raises(ValueError, match="is a leaf"):
            traj.add_parameter("x.inner", 1)

    def test_add_item_and_group(self, traj):
        item = Result("results.own", 5)
        assert traj.add_item(item) is item
        assert traj.add_item(item) is item  # the same item again is fine
        g = traj.add_group("results.g.h", comment="gc")
        assert g.v_full_name == "results.g.h"
        assert g.v_comment == "gc"
        assert traj["results.g.h"] is g
        assert g._trajectory_name == "sweep"

    def test_getitem_and_contains(self, traj):
        assert traj["parameters.x"].value == 1.0
        assert "parameters.x" in traj
        assert "parameters.nope" not in traj
        assert 3 not in traj
        assert traj.get("parameters.nope") is None
        assert traj.get("parameters.x.deeper") is None
        with pytest.raises(KeyError):
            traj["parameters.nope"]

    def test_leaves_and_groups(self, traj):
        traj.add_result("a.b", 1)
        assert {leaf.v_full_name for leaf in traj.leaves()} == {
            "parameters.x", "parameters.y", "parameters.neuron.tau", "results.a.b"}
        names = [g.v_full_name for g in traj.groups()]
        assert names.index("results") < names.index("results.a")

    def test_explore(self, traj):
        traj.explore({"x": [1.0, 2.0, 3.0], "parameters.y": [10, 20, 30]})
        assert len(traj) == 3
        assert [r.idx for r in traj.runs] == [0, 1, 2]
        assert traj["parameters.x"].range == [1.0, 2.0, 3.0]
        assert set(traj.explored_parameters) == {"parameters.x", "parameters.y"}
        assert traj["parameters.y"].range == [10, 20, 30]

    def test_explore_length_mismatch(self, traj):
        with pytest.raises(ValueError, match="one length"):
            traj.explore({"x": [1.0, 2.0], "y": [1, 2, 3]})
        assert len(traj) == 1
        assert not traj["parameters.x"].is_explored

    def test_explore_unknown_parameter(self, traj):
        with pytest.raises(KeyError):
            traj.explore({"nope": [1, 2]})
        assert len(traj) == 1

    def test_explore_stored_explored_parameter(self, traj):
        traj.explore({"x": [1.0, 2.0]})
        traj["parameters.x"].v_stored = True
        with pytest.raises(ValueError, match="use expand"):
            traj.explore({"x": [3.0, 4.0]})

    def test_expand(self, traj):
        traj.explore({"x": [1.0, 2.0], "y": [10, 20]})
        changed = traj.expand({"x": [3.0], "parameters.y": [30]})
        assert {p.v_full_name for p in changed} == {"parameters.x", "parameters.y"}
        assert len(traj) == 3
        assert traj.runs[2].idx == 2
        assert traj["parameters.x"].range == [1.0, 2.0, 3.0]
        assert traj["parameters.y"].range == [10, 20, 30]

    def test_expand_needs_every_explored_parameter(self, traj):
        traj.explore({"x": [1.0, 2.0], "y": [10, 20]})
        with pytest.raises(ValueError, match="every explored"):
            traj.expand({"x": [3.0]})
        with pytest.raises(ValueError, match="every explored"):
            traj.expand({"x": [3.0], "y": [30, 40]})
        assert len(traj) == 2
        assert traj["parameters.x"].range == [1.0, 2.0]

    def test_parameter_summary(self, traj):
        traj.explore({"y": [10, 20], "x": [1.0, 2.0]})
        assert traj.parameter_summary(0) == "x: 1.0, y: 10"
        assert traj.parameter_summary(1) == "x: 2.0, y: 20"
        assert Trajectory("t").parameter_summary(0) == ""

    def test_parameter_summary_is_bounded(self, traj):
        traj.explore({"x": ["a" * 1000]})
        assert len(traj.parameter_summary(0)) == 512

    def test_len(self, traj):
        assert len(traj) == 1
        traj.explore({"x": [1.0, 2.0, 3.0, 4.0]})
        assert len(traj) == 4


# ------------------------------------------------------------------------------- SingleRun


class TestSingleRun:
    def test_run_view(self, traj):
        traj.explore({"x": [1.0, 2.0, 3.0], "y": [10, 20, 30]})
        run = traj.run(1)
        assert isinstance(run, SingleRun)
        assert run.v_idx == 1
        assert run.v_name == "run_00000001"
        assert run["x"] == 2.0
        assert run["parameters.y"] == 20
        assert run["neuron.tau"] == 0.5  # not explored: its value
        assert run.params == {"x": 2.0, "y": 20, "tau": 0.5}
        with pytest.raises(KeyError):
            run["nope"]

    def test_run_out_of_range(self, traj):
        traj.explore({"x": [1.0, 2.0]})
        with pytest.raises(IndexError):
            traj.run(2)
        with pytest.raises(IndexError):
            traj.run(-1)

    def test_add_result_and_derived(self, traj):
        traj.explore({"x": [1.0, 2.0]})
        run = traj.run(1)
        r = run.add_result("z", run["x"] * 2, extra=1)
        d = run.add_derived_parameter("d", 5)
        assert r.v_full_name == "results.runs.run_00000001.z"
        assert d.v_full_name == "derived_parameters.runs.run_00000001.d"
        assert traj["results.runs.run_00000001.z"]["z"] == 4.0
        assert run.new_items == [r, d]
        assert not traj.runs[1].completed


# ----------------------------------------------------------------------------- RunChildren


class TestRunChildren:
    """A runs group's children: a mapping like a dict, kept in blocks of run indices."""

    def test_runs_group_holds_runs_by_name(self, traj):
        runs = 3 * RUN_BLOCK + 5
        traj.explore({"x": [float(index) for index in range(runs)]})
        for index in reversed(range(runs)):  # out of order, as parallel workers store them
            traj.run(index).add_result("r", index)
        children = traj["results.runs"].children
        assert isinstance(children, RunChildren)
        assert len(children) == runs
        names = list(children)  # a block of run indices after another, each as its runs came
        assert sorted(names) == [f"run_{index:08d}" for index in range(runs)]
        assert names[:2] == [f"run_{RUN_BLOCK - 1:08d}", f"run_{RUN_BLOCK - 2:08d}"]
        assert traj[f"results.runs.run_{runs - 1:08d}.r"]["r"] == runs - 1
        assert "run_00000002" in children
        assert "run_99999999" not in children
        assert children.get("run_99999999") is None
        assert children.get("nope", 7) == 7
        with pytest.raises(KeyError):
            children["run_99999999"]

    def test_no_block_holds_more_than_its_runs(self, traj):
        # one dict of every run rehashes in one piece as it doubles: 50 ms at 700,000 runs
        runs = 2 * RUN_BLOCK + 1
        traj.explore({"x": [0.0] * runs})
        for index in range(runs):
            traj.run(index).add_result("r", 1)
        children = traj["results.runs"].children
        assert max(len(block or ()) for block in children._blocks) == RUN_BLOCK

    def test_other_names_and_removal(self):
        children = RunChildren()
        other, run = Group("results.runs.other"), Group("results.runs.run_00000001")
        children["other"] = other
        children["run_00000001"] = run
        children["run_00000001"] = run  # again: counted once
        assert len(children) == 2
        assert list(children) == ["run_00000001", "other"]
        assert dict(children) == {"other": other, "run_00000001": run}
        del children["run_00000001"]
        del children["other"]
        assert len(children) == 0
        assert not children
        with pytest.raises(KeyError):
            del children["run_00000001"]

    def test_only_runs_groups(self, traj):
        assert isinstance(traj["results"].children, dict)
        assert isinstance(traj.add_group("results.runs").children, RunChildren)
        assert isinstance(traj.add_group("derived_parameters.runs").children, RunChildren)


# --------------------------------------------------------------------------------- RunInfo


def test_run_info():
    info = RunInfo(3, completed=True, timestamp=10.0, finish_timestamp=12.5)
    assert info.name == "run_00000003"
    assert info.runtime == 2.5
    assert RunInfo(3, timestamp=10.0, finish_timestamp=12.5).runtime == 0.0


# ----------------------------------------------------------------------------- ObjectTable


class TestObjectTable:
    def test_dtype_object(self):
        t = ObjectTable({"a": [1, 2], "b": [1.5, 2.5], "c": ["x", "y"]})
        assert all(dtype == np.dtype(object) for dtype in t.dtypes)
        assert type(t["a"].iloc[0]) is int
        assert isinstance(t, pd.DataFrame)

    def test_keeps_cell_types(self):
        t = ObjectTable({"a": [np.int32(1), np.int32(2)], "b": [np.arange(2), np.arange(2)]})
        assert type(t["a"].iloc[1]) is np.int32
        assert isinstance(t["b"].iloc[0], np.ndarray)

    def test_operations_stay_object_tables(self):
        t = ObjectTable({"a": [1, 2, 3]}, index=[10, 20, 30])
        sub = t.iloc[:2]
        assert isinstance(sub, ObjectTable)
        assert list(t.index) == [10, 20, 30]
        assert t.dtypes["a"] == np.dtype(object)
