"""Run sets (issue 18): a run's groups lie in ``<branch>/runs/run_set_XXXXX/run_XXXXXXXX`` in
the file, in sets of 1,000 runs (``SRVC_RUN_SETS`` on the trajectory's group), and nowhere else:
every name the API gives or takes stays ``results.runs.run_XXXXXXXX...``. Trajectories written
flat before keep loading, and keep being written, flat.

Most tests make sets of 10 runs (``layout.RUN_SET_SIZE``, which new trajectories record; the
file's own size is what is read back); one sweep is at the real 1,000.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tables
from exactness import assert_exact

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    InvalidNameError,
    MergeError,
    Msg,
    Result,
    StorageService,
    Trajectory,
)
from aiostore.engine import layout, nodes

SET = 10  # runs per set in most tests
RUNS = 25  # sets 0, 1 and half of 2
PACKED_RUNS = {"nodes": False, "packed": True}
LAYOUTS = pytest.mark.parametrize("layout_", list(PACKED_RUNS))


@pytest.fixture
def small_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "RUN_SET_SIZE", SET)



def sweep(name: str = "sweep", runs: int = RUNS, start: int = 0) -> Trajectory:
    traj = Trajectory(name)
    traj.add_parameter("x", start)
    traj.explore({"x": list(range(start, start + runs))})
    return traj


def values(x: int) -> dict[str, Any]:
    """A run's result ``r``: with packed_runs, runs 0-9 are rows of a table (their labels are 5
    bytes), the others groups (a label of another width does not fit the table)."""
    return {"values": [x, x + 1], "label": f"run {x}"}


def add_run(traj: Trajectory, idx: int, derived: bool = True) -> Any:
    run = traj.run(idx)
    run.add_result("r", **values(run["x"]))
    if derived:
        run.add_derived_parameter("d", run["x"] / 2)
    return run


def store_sweep(path: str, traj: Trajectory, packed: bool = False, derived: bool = True,
                incomplete: tuple[int, ...] = ()) -> None:
    """Store ``traj`` and every run (SINGLE_RUN, in one LIST); of the runs ``incomplete`` only
    their results (a LEAF each): in the file, never completed."""
    with StorageService(path, packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        stores = []
        for idx in range(len(traj)):
            run = add_run(traj, idx, derived)
            stores.append((Msg.LEAF, traj[f"results.runs.{run.v_name}.r"])
                          if idx in incomplete else (Msg.SINGLE_RUN, run))
        svc.store(Msg.LIST, stores)


def run_groups(path: str, trajectory: str = "sweep",
               branch: str = "results") -> dict[str, list[str]]:
    """The groups below ``<branch>/runs`` in the file: each child's children, by child."""
    with tables.open_file(path) as h5:
        runs = h5.get_node(f"/{trajectory}/{branch}/runs")
        return {name: sorted(child._v_children) for name, child in sorted(runs._v_children.items())}


def set_size(path: str, trajectory: str = "sweep") -> int | None:
    with tables.open_file(path) as h5:
        attrs = h5.get_node(f"/{trajectory}")._v_attrs
        return int(attrs[layout.RUN_SETS]) if layout.RUN_SETS in attrs._v_attrnamesuser else None


def load(path: str, trajectory: str = "sweep") -> Trajectory:
    with StorageService(path) as svc:
        traj: Trajectory = svc.load(Msg.TRAJECTORY, None, trajectory_name=trajectory,
                                    load_parameters=2, load_derived_parameters=2,
                                    load_results=2)
    return traj


def assert_runs_exact(traj: Trajectory, xs: range | list[int], derived: bool = True) -> None:
    """The trajectory's runs are those of ``xs`` (run ``i`` made with ``x = xs[i]``), each
    holding exactly its values, named as runs (never by a run set)."""
    names = {leaf.v_full_name for leaf in traj.leaves()}
    assert not any("run_set" in name for name in names)
    expected = {f"results.runs.run_{idx:08d}.r" for idx in range(len(xs))}
    if derived:
        expected |= {f"derived_parameters.runs.run_{idx:08d}.d" for idx in range(len(xs))}
    assert {name for name in names if ".runs." in name} == expected
    for idx, x in enumerate(xs):
        assert_exact(dict(traj[f"results.runs.run_{idx:08d}.r"].data), values(x))
        if derived:
            assert traj[f"derived_parameters.runs.run_{idx:08d}.d"].value == x / 2


# ------------------------------------------------------------------------------- the layout


SAMPLE = (0, 9, 10, 999, 1000, 1999, 2000, 2499)  # runs read back whole (all: 5 s more)


def assert_2500_runs(path: str, packed: bool) -> None:
    """The file holds sets 0-2 of at most 1,000 runs each, nothing else; the trajectory's run
    items are named as runs, and those of :data:`SAMPLE` hold exactly their values."""
    assert set_size(path) == layout.RUN_SET_SIZE == 1000
    groups = run_groups(path)
    assert list(groups) == ["run_set_00000", "run_set_00001", "run_set_00002"]
    for number, children in enumerate(groups.values()):
        first = 10 if packed and number == 0 else 1000 * number  # packed: runs 0-9 are rows
        assert children == [f"run_{idx:08d}" for idx in range(first, min(1000 * number + 1000,
                                                                          2500))]
    with StorageService(path, trajectory_name="sweep") as svc:
        described = svc.describe("sweep", "results.runs")
        assert [info.full_name for info in described] == ["results.runs", *(
            name for idx in range(2500)
            for name in (f"results.runs.run_{idx:08d}", f"results.runs.run_{idx:08d}.r"))]
        for idx in SAMPLE:
            leaf = svc.load(Msg.LEAF, Result(f"results.runs.run_{idx:08d}.r"))
            assert_exact(dict(leaf.data), values(idx))


def test_a_sweep_of_2500_runs_keeps_at_most_1000_run_groups_in_a_group(path: str) -> None:
    store_sweep(path, sweep(runs=2500), derived=False)
    assert_2500_runs(path, packed=False)


@LAYOUTS
def test_run_groups_lie_in_sets_of_the_trajectorys_size(path: str, small_sets: None,
                                                        layout_: str) -> None:
    store_sweep(path, sweep(), packed=PACKED_RUNS[layout_])
    assert set_size(path) == SET
    for branch in layout.RUN_BRANCHES:
        groups = run_groups(path, branch=branch)
        expected = {f"run_set_{number:05d}": [f"run_{idx:08d}" for idx in range(
            10 * number, min(10 * number + 10, RUNS))] for number in range(3)}
        if branch == "results" and layout_ == "packed":
            del expected["run_set_00000"]  # runs 0-9 are rows of a packed table: no groups
        assert groups == expected
    with tables.open_file(path) as h5:
        assert h5.get_node("/sweep/results/runs/run_set_00001/run_00000013/r/label").read() \
            == b"run 13"
    assert_runs_exact(load(path), range(RUNS))


# ------------------------------------------------------------------------- reads by name


@LAYOUTS
def test_leaf_and_tree_loads_and_describe_name_runs_not_sets(path: str, small_sets: None,
                                                            layout_: str) -> None:
    store_sweep(path, sweep(), packed=PACKED_RUNS[layout_])
    with StorageService(path, trajectory_name="sweep") as svc:
        leaf = svc.load(Msg.LEAF, Result("results.runs.run_00000013.r"), load_only=["label"])
        assert leaf.data == {"label": "run 13"}
        with pytest.raises(DataNotFoundError, match=r"^results\.runs\.run_00000013\.r has no"):
            svc.load(Msg.LEAF, Result("results.runs.run_00000013.r"), load_only=["nothing"])
        tree = Trajectory("sweep")
        svc.load(Msg.TREE, tree, "results.runs")
        assert sorted(tree["results.runs"].children) == [f"run_{idx:08d}" for idx in range(RUNS)]
        assert_exact(dict(tree["results.runs.run_00000024.r"].data), values(24))
        one = Trajectory("sweep")
        svc.load(Msg.TREE, one, "derived_parameters.runs.run_00000017")
        assert one["derived_parameters.runs.run_00000017.d"].value == 8.5
        shallow = Trajectory("sweep")
        svc.load(Msg.TREE, shallow, "results.runs", max_depth=1)
        first = 10 if layout_ == "packed" else 0  # rows of runs 0-9 are leaves, at depth 2
        assert sorted(shallow["results.runs"].children) == [
            f"run_{idx:08d}" for idx in range(first, RUNS)]
        described = svc.describe("sweep", "results.runs")
        assert [info.full_name for info in described if info.is_leaf] == [
            f"results.runs.run_{idx:08d}.r" for idx in range(RUNS)]
        assert not any("run_set" in info.full_name for info in svc.describe("sweep"))
        run = svc.describe("sweep", "derived_parameters.runs.run_00000021")
        assert [info.full_name for info in run] == ["derived_parameters.runs.run_00000021",
                                                    "derived_parameters.runs.run_00000021.d"]
        frame = svc.load_frame("sweep", "r")
        dataset = svc.load_dataset("sweep")  # every result the runs hold, found by walking
    assert list(dataset.data_vars) == ["r.values", "r.label"]
    assert dataset["r.label"].values.tolist() == [f"run {idx}" for idx in range(RUNS)]
    assert frame.index.tolist() == list(range(RUNS))
    assert frame["label"].tolist() == [f"run {idx}" for idx in range(RUNS)]
    assert [list(v) for v in frame["values"]] == [[idx, idx + 1] for idx in range(RUNS)]


def test_update_leaf_and_backup_of_runs_in_sets(path: str, small_sets: None,
                                                tmp_path: Path) -> None:
    traj = sweep()
    store_sweep(path, traj)
    backup = str(tmp_path / "backup.h5")
    with StorageService(path, trajectory_name="sweep") as svc:
        svc.store(Msg.UPDATE_LEAF, Result("results.runs.run_00000013.r", values=[7, 7],
                                          label="new 13"))
        svc.store(Msg.BACKUP, traj, backup_filename=backup)
    assert set_size(backup) == SET
    assert run_groups(backup) == run_groups(path)
    for copy in (path, backup):
        back = load(copy)
        assert_exact(dict(back["results.runs.run_00000013.r"].data),
                     {"values": [7, 7], "label": "new 13"})
        assert_exact(dict(back["results.runs.run_00000021.r"].data), values(21))


def test_a_run_sets_name_is_refused_below_runs(path: str, small_sets: None) -> None:
    store_sweep(path, sweep())
    with StorageService(path, trajectory_name="sweep") as svc:
        for name in ("results.runs.run_set_00004", "derived_parameters.runs.run_set_00001.p"):
            with pytest.raises(InvalidNameError, match="run set"):
                svc.store(Msg.LEAF, Result(name, 1))
        svc.store(Msg.LEAF, Result("results.runs.summary", 1))  # not a run: below runs, as named
        svc.store(Msg.LEAF, Result("results.other.run_set_00000", 2))
    assert "summary" in run_groups(path)
    traj = load(path)
    assert traj["results.runs.summary"]["summary"] == 1
    assert traj["results.other.run_set_00000"]["run_set_00000"] == 2


# ----------------------------------------------------------------------------- removals


@LAYOUTS
def test_remove_takes_an_emptied_run_set_with_it(path: str, small_sets: None,
                                                 layout_: str) -> None:
    traj = sweep()
    store_sweep(path, traj, packed=PACKED_RUNS[layout_])
    with StorageService(path) as svc:
        svc.store(Msg.REMOVE, traj["results.runs.run_00000013.r"])
        svc.store(Msg.REMOVE, traj["results.runs.run_00000014.r"], remove_empty_groups=True)
        for idx in range(20, RUNS):  # every run of set 2
            svc.store(Msg.REMOVE, traj[f"derived_parameters.runs.run_{idx:08d}"], recursive=True)
    results, derived = run_groups(path), run_groups(path, branch="derived_parameters")
    assert results["run_set_00001"] == [f"run_{idx:08d}" for idx in range(10, 20) if idx != 14]
    with tables.open_file(path) as h5:
        assert not h5.get_node("/sweep/results/runs/run_set_00001/run_00000013")._v_children
    assert list(derived) == ["run_set_00000", "run_set_00001"]
    with StorageService(path) as svc:
        for idx in range(20, RUNS):
            svc.store(Msg.REMOVE, traj[f"results.runs.run_{idx:08d}.r"], remove_empty_groups=True)
    assert "run_set_00002" not in run_groups(path)
    back = load(path)
    assert back.get("results.runs.run_00000013.r") is None
    assert back.get("results.runs.run_00000022.r") is None
    for idx in (0, 9, 10, 15, 19):
        assert_exact(dict(back[f"results.runs.run_{idx:08d}.r"].data), values(idx))


@LAYOUTS
def test_remove_incomplete_runs_empties_and_removes_run_sets(path: str, small_sets: None,
                                                             layout_: str) -> None:
    incomplete = (3, 11, *range(20, RUNS))
    traj = sweep()
    store_sweep(path, traj, packed=PACKED_RUNS[layout_], incomplete=incomplete)
    assert "run_00000011" in run_groups(path)["run_set_00001"]
    with StorageService(path) as svc:
        removed = svc.store(Msg.REMOVE_INCOMPLETE_RUNS, traj)
    if removed is not None:
        assert sorted(removed) == sorted(incomplete)
    groups = run_groups(path)
    assert "run_set_00002" not in groups
    assert groups["run_set_00001"] == [f"run_{idx:08d}" for idx in range(10, 20) if idx != 11]
    back = load(path)
    kept = [idx for idx in range(RUNS) if idx not in incomplete]
    assert_exact(sorted(name for name in back["results.runs"].children),
                 [f"run_{idx:08d}" for idx in kept])
    for idx in kept:
        assert_exact(dict(back[f"results.runs.run_{idx:08d}.r"].data), values(idx))


# -------------------------------------------------------------------------------- merges


@LAYOUTS
def test_a_merge_puts_the_renumbered_runs_in_their_new_sets(path: str, small_sets: None,
                                                            layout_: str) -> None:
    a, b = sweep("a"), sweep("b", runs=12, start=5)  # b's runs 0-4 packed, as a's 0-9
    store_sweep(path, a, packed=PACKED_RUNS[layout_])
    store_sweep(path, b, packed=PACKED_RUNS[layout_])
    with StorageService(path) as svc:
        svc.store(Msg.MERGE, a, other_trajectory_name="b", delete_trajectory=True)
    groups = run_groups(path, "a", "derived_parameters")
    assert list(groups) == [f"run_set_{number:05d}" for number in range(4)]
    assert groups["run_set_00002"] == [f"run_{idx:08d}" for idx in range(20, 30)]
    assert groups["run_set_00003"] == [f"run_{idx:08d}" for idx in range(30, 37)]
    merged = load(path, "a")
    assert len(merged) == RUNS + 12
    assert_runs_exact(merged, [*range(RUNS), *range(5, 17)])


def test_a_merge_between_a_flat_trajectory_and_one_with_sets(
        path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "RUN_SET_SIZE", 0)  # 'old' is written as before issue 18
    old = sweep("old", runs=5)
    store_sweep(path, old)
    monkeypatch.setattr(layout, "RUN_SET_SIZE", SET)
    new, other = sweep("new", runs=8, start=50), sweep("other", runs=4, start=70)
    store_sweep(path, new)
    store_sweep(path, other)
    with StorageService(path) as svc:
        svc.store(Msg.MERGE, new, other_trajectory_name="old")  # flat into sets
        svc.store(Msg.MERGE, old, other_trajectory_name="other")  # sets into flat
    assert run_groups(path, "new") == {
        "run_set_00000": [f"run_{idx:08d}" for idx in range(10)],
        "run_set_00001": [f"run_{idx:08d}" for idx in range(10, 13)]}
    assert list(run_groups(path, "old")) == [f"run_{idx:08d}" for idx in range(9)]
    assert_runs_exact(load(path, "new"), [*range(50, 58), *range(5)])
    assert_runs_exact(load(path, "old"), [*range(5), *range(70, 74)])


def test_a_merge_with_renames_into_runs_and_away_from_them(path: str, small_sets: None) -> None:
    a, b = sweep("a", runs=12), sweep("b", runs=12, start=100)
    store_sweep(path, a)
    store_sweep(path, b)
    with StorageService(path) as svc:
        svc.store(Msg.MERGE, a, other_trajectory_name="b", move_nodes=True,
                  rename_dict={"results.runs.run_00000011.r": "results.moved.r",
                               "results.runs.run_00000003": "results.runs.run_00000031"})
        with pytest.raises(MergeError, match="run set"):
            svc.store(Msg.MERGE, a, other_trajectory_name="b",
                      rename_dict={"results.runs.run_00000004": "results.runs.run_set_00009"})
    assert run_groups(path, "a")["run_set_00003"] == ["run_00000031"]
    assert "run_00000003" not in run_groups(path, "b")["run_set_00000"]
    with StorageService(path, trajectory_name="a") as svc:
        assert svc.load(Msg.LEAF, Result("results.moved.r"))["label"] == "run 111"
        assert svc.load(Msg.LEAF, Result("results.runs.run_00000031.r"))["label"] == "run 103"


# ------------------------------------------------------------------------ older files


def test_a_flat_trajectory_stays_flat_and_loads_exactly(path: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "RUN_SET_SIZE", 0)  # as aiostore wrote it before issue 18
    traj = sweep(runs=30)
    with StorageService(path, packed_runs=False) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for idx in range(12):
            svc.store(Msg.SINGLE_RUN, add_run(traj, idx))
    monkeypatch.setattr(layout, "RUN_SET_SIZE", SET)
    assert set_size(path) is None
    with StorageService(path, packed_runs=False) as svc:  # new runs into the old trajectory
        svc.store(Msg.LIST, [(Msg.SINGLE_RUN, add_run(traj, idx)) for idx in range(12, 30)])
        svc.store(Msg.TRAJECTORY, sweep("fresh", runs=3))  # a new one, in the same file
    assert set_size(path) is None
    assert set_size(path, "fresh") == SET
    assert list(run_groups(path)) == [f"run_{idx:08d}" for idx in range(30)]
    assert list(run_groups(path, branch="derived_parameters")) == [
        f"run_{idx:08d}" for idx in range(30)]
    assert_runs_exact(load(path), range(30))
    with StorageService(path) as svc:
        svc.store(Msg.REMOVE, traj["results.runs.run_00000004"], recursive=True)
        assert [info.full_name for info in svc.describe("sweep", "results.runs.run_00000005")] \
            == ["results.runs.run_00000005", "results.runs.run_00000005.r"]
    assert "run_00000004" not in run_groups(path)


def test_a_flat_file_made_by_hand_loads_exactly(path: str, small_sets: None) -> None:
    """A trajectory as aiostore wrote them before issue 18, its run groups moved out of their
    sets into ``runs`` by hand and its SRVC_RUN_SETS deleted."""
    store_sweep(path, sweep())
    with tables.open_file(path, "a") as h5:
        for branch in layout.RUN_BRANCHES:
            runs = h5.get_node(f"/sweep/{branch}/runs")
            for run_set in list(runs._v_groups.values()):
                for run in list(run_set._v_groups.values()):
                    run._f_move(runs)
                run_set._f_remove()
        del h5.get_node("/sweep")._v_attrs[layout.RUN_SETS]
    assert_runs_exact(load(path), range(RUNS))


# -------------------------------------------------------------- failures and recovery


def test_a_failed_store_takes_back_the_run_set_it_made(path: str, small_sets: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    traj = sweep()
    with StorageService(path, packed_runs=False) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        svc.store(Msg.LIST, [(Msg.SINGLE_RUN, add_run(traj, idx)) for idx in range(20)])
    written = nodes.write_value

    def fail_in_run_21(file: Any, group: Any, key: str, *args: Any) -> None:
        written(file, group, key, *args)
        if "run_00000021" in group._v_pathname:
            raise OSError("failed on purpose")

    monkeypatch.setattr(nodes, "write_value", fail_in_run_21)
    with StorageService(path, packed_runs=False) as svc, pytest.raises(OSError, match="purpose"):
        svc.store(Msg.SINGLE_RUN, add_run(traj, 21))  # the first run of set 2
    assert list(run_groups(path)) == ["run_set_00000", "run_set_00001"]
    assert list(run_groups(path, branch="derived_parameters")) == ["run_set_00000",
                                                                   "run_set_00001"]


WRITER = """
import os, sys
from aiostore import Msg, Result, StorageService, Trajectory
from aiostore.engine import layout, nodes

layout.RUN_SET_SIZE = 2  # recorded in the file: read back by the test's process
traj = Trajectory("t")
traj.add_parameter("x", 0)
traj.explore({"x": list(range(6))})
service = StorageService(sys.argv[1], packed_runs=False)
service.store(Msg.TRAJECTORY, traj)
service.store(Msg.LEAF, Result("results.dummy", 1))
for index in range(5):
    if index == 4:  # a removal makes a checkpoint: only run 4 is left to the journal
        service.store(Msg.REMOVE, Result("results.dummy"))
    if index == 4:  # the first run of set 2: the set is made, then the writer dies
        written = nodes.write_value
        def die_after_first_value(file, group, key, *args):
            written(file, group, key, *args)
            file.h5.flush()
            os._exit(9)
        nodes.write_value = die_after_first_value
    run = traj.run(index)
    run.add_result("r", values=[index, index + 1], label=f"run {index}")
    service.store(Msg.SINGLE_RUN, run)
os._exit(1)
"""


def test_a_run_cut_short_in_a_new_set_is_made_whole_from_the_journal(tmp_path: Path) -> None:
    path = str(tmp_path / "cut.h5")
    done = subprocess.run([sys.executable, "-c", WRITER, path], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 9, done.stderr
    with tables.open_file(path) as h5:  # half of run 4 is in the file, in its new set
        assert list(h5.get_node("/t/results/runs/run_set_00002/run_00000004/r")._v_children) \
            == ["values"]
    with StorageService(path) as svc:
        traj = svc.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    assert [info.completed for info in traj.runs] == [True] * 5 + [False]
    for idx in range(5):
        assert_exact(dict(traj[f"results.runs.run_{idx:08d}.r"].data), values(idx))
    assert run_groups(path, "t") == {"run_set_00000": ["run_00000000", "run_00000001"],
                                     "run_set_00001": ["run_00000002", "run_00000003"],
                                     "run_set_00002": ["run_00000004"]}


# ------------------------------------------------------------------ async faces, the CLI


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # both: the next test, at sets of 10
async def test_a_sweep_of_2500_runs_through_the_async_service(path: str,
                                                              anyio_backend: str) -> None:
    traj = sweep(runs=2500)
    async with AsyncStorageService(path, packed_runs=True) as svc:
        await svc.store(Msg.TRAJECTORY, traj)
        for idx in range(len(traj)):
            await svc.put(Msg.SINGLE_RUN, add_run(traj, idx, derived=False))
        await svc.join()
    assert_2500_runs(path, packed=True)


@pytest.mark.anyio
async def test_the_async_service_writes_and_reads_run_sets(path: str, small_sets: None,
                                                           anyio_backend: str) -> None:
    traj = sweep()
    async with AsyncStorageService(path, packed_runs=True) as svc:
        await svc.store(Msg.TRAJECTORY, traj)
        for idx in range(RUNS):
            await svc.put(Msg.SINGLE_RUN, add_run(traj, idx))
        await svc.join()
        leaf = await svc.load(Msg.LEAF, Result("results.runs.run_00000017.r"),
                              trajectory_name="sweep")
        described = await svc.describe("sweep", "derived_parameters.runs")
        frame = await svc.load_frame("sweep", "r", keys="label")
    assert_exact(dict(leaf.data), values(17))
    assert [info.full_name for info in described if info.is_leaf] == [
        f"derived_parameters.runs.run_{idx:08d}.d" for idx in range(RUNS)]
    assert frame["label"].tolist() == [f"run {idx}" for idx in range(RUNS)]
    assert list(run_groups(path)) == ["run_set_00001", "run_set_00002"]  # set 0: packed rows
    assert list(run_groups(path, branch="derived_parameters")) == [
        "run_set_00000", "run_set_00001", "run_set_00002"]
    assert_runs_exact(load(path), range(RUNS))


def aiostore_command(*args: str, check: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "aiostore", *args], capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ})
    assert done.returncode == check, (done.stdout, done.stderr)
    return done


def test_the_command_shows_checks_and_exports_runs_by_name(path: str, small_sets: None,
                                                           tmp_path: Path) -> None:
    store_sweep(path, sweep(), incomplete=(21,))
    shown = aiostore_command("show", path, "sweep.results.runs.run_00000013.r").stdout
    assert "label: 'run 13'" in shown.splitlines()
    checked = aiostore_command("check", path).stdout.splitlines()
    assert checked == ["sweep.runs.run_00000021: warning: run not completed; holds 1 result "
                       "of a partial store", "sweep: 0 errors, 1 warning"]
    out = tmp_path / "r.csv"
    aiostore_command("-q", "export", path, "sweep.r", str(out))
    frame = pd.read_csv(out)
    completed = [idx for idx in range(RUNS) if idx != 21]
    assert frame["run"].tolist() == completed
    assert frame["label"].tolist() == [f"run {idx}" for idx in completed]
    with tables.open_file(path, "a") as h5:  # a completed run's results lost from its set
        h5.remove_node("/sweep/results/runs/run_set_00001/run_00000012", recursive=True)
    checked = aiostore_command("check", path, check=1).stdout.splitlines()
    assert checked[0] == ("sweep.runs.run_00000012: error: completed in the run table, but "
                          "missing results.r (every other completed run has them)")


# ---------------------------------------------------------------------------- pypet shim


def test_the_pypet_shim_keeps_pypets_flat_runs(path: str) -> None:
    pypet = pytest.importorskip("pypet")
    from aiostore.compat.pypet import HDF5StorageService as Shim

    traj = pypet.Trajectory(name="t", filename=path, storage_service=Shim)
    traj.f_add_parameter("x", 1)
    traj.f_explore({"x": [1, 2, 3]})
    traj.f_store()
    for idx in range(3):
        traj.v_idx = idx
        traj.f_add_result("runs.$.z", idx * 10)
        traj.f_add_result("runs.$set.$.w", idx)
        traj.f_store_item(f"results.runs.run_{idx:08d}.z")
        traj.f_store_item(f"results.runs.run_set_00000.run_{idx:08d}.w")
    traj.v_idx = -1
    traj.v_storage_service.close()
    assert set_size(path, "t") is None
    assert run_groups(path, "t") == {"run_00000000": ["z"], "run_00000001": ["z"],
                                     "run_00000002": ["z"],
                                     "run_set_00000": ["run_00000000", "run_00000001",
                                                       "run_00000002"]}
    back = pypet.Trajectory(filename=path, storage_service=Shim)
    back.f_load(name="t", load_data=2)
    assert back.f_get("results.runs.run_00000002.z").f_get() == 20
    assert back.f_get("results.runs.run_set_00000.run_00000001.w").f_get() == 1
    back.v_storage_service.close()
