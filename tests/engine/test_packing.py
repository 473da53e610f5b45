"""packed_runs: each run's result as a row of one table, read back as if stored with nodes."""

from __future__ import annotations

import pathlib
from typing import Any

import anyio
import numpy as np
import pandas as pd
import pytest
import tables
from exactness import assert_exact

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    InvalidArgumentError,
    ItemExistsError,
    MergeError,
    Msg,
    RemovalError,
    Result,
    StorageService,
    Trajectory,
)
from aiostore.engine import nodes
from aiostore.engine import runs as runs_module

RUNS = 6


def sweep(name: str = "w", runs: int = RUNS) -> Trajectory:
    traj = Trajectory(name)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(runs))})
    return traj


def values_of(index: int) -> dict[str, Any]:
    return {"z": float(index), "trace": np.linspace(0.0, 1.0, 100) + index,
            "stats": {"mean": 0.5, "n": index, "ok": bool(index % 2)}, "label": b"abc",
            "pair": (index, index + 1)}


def store_runs(path: str, traj: Trajectory, indices: Any = range(RUNS), **kwargs: Any) -> None:
    with StorageService(path, packed_runs=True, **kwargs) as svc:
        if not traj.v_stored:
            svc.store(Msg.TRAJECTORY, traj)
        for index in indices:
            run = traj.run(index)
            run.add_result("r", **values_of(index), comment="the run's result")
            svc.store(Msg.SINGLE_RUN, run)


def load(path: str, name: str = "w", **levels: int) -> Trajectory:
    with StorageService(path) as svc:
        loaded: Trajectory = svc.load(Msg.TRAJECTORY, None, trajectory_name=name,
                                      load_parameters=2, **levels)
    return loaded


def test_results_become_rows_of_one_table_that_plain_pytables_reads(path: str) -> None:
    store_runs(path, sweep())
    with tables.open_file(path) as h5:
        assert "/w/results/runs" not in h5  # no group, no node per run
        rows = h5.get_node("/w/overview/packed/p0").read()
    assert list(rows["run_idx"]) == list(range(RUNS))
    np.testing.assert_array_equal(rows["trace"][3], np.linspace(0.0, 1.0, 100) + 3)
    assert rows["stats"]["n"][4] == 4


def test_a_trajectory_load_gives_every_result_exactly(path: str) -> None:
    store_runs(path, sweep())
    loaded = load(path, load_results=2)
    assert all(run.completed for run in loaded.runs)
    for index in range(RUNS):
        result = loaded[f"results.runs.run_{index:08d}.r"]
        assert result.v_comment == "the run's result"
        assert_exact(dict(result.data), values_of(index))


def test_skeleton_leaf_and_tree_loads(path: str) -> None:
    store_runs(path, sweep())
    skeleton = load(path, load_results=1)
    assert skeleton["results.runs.run_00000002.r"].data == {}
    with StorageService(path) as svc:
        leaf = svc.load(Msg.LEAF, Result("results.runs.run_00000002.r"), trajectory_name="w",
                        load_only=["z", "pair"])
        assert leaf.data == {"z": 2.0, "pair": (2, 3)}
        leaf = svc.load(Msg.LEAF, Result("results.runs.run_00000003.r"), trajectory_name="w",
                        load_except=["trace"])
        assert set(leaf.data) == {"z", "stats", "label", "pair"}
        tree = Trajectory("w")
        svc.load(Msg.TREE, tree, "results.runs")
        assert tree["results.runs.run_00000005.r"]["z"] == 5.0
        one = Trajectory("w")
        svc.load(Msg.TREE, one, "results.runs.run_00000001")
        assert list(one["results.runs"].children) == ["run_00000001"]
        assert one["results.runs.run_00000001.r"]["stats"]["n"] == 1


def test_results_that_do_not_fit_the_table_get_nodes(path: str) -> None:
    traj = sweep()
    with StorageService(path, packed_runs=True) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        odd_values: list[dict[str, Any]] = [
            {"z": 1},  # int, not float
            {"z": 2.0, "extra": 1.0},  # other keys
            {"z": "text"},  # a string
            {"z": pd.DataFrame({"a": [1.0]})},  # a frame
            {"z": 3.0},  # fits the first table again
        ]
        first = traj.run(0)
        first.add_result("r", z=0.5)
        svc.store(Msg.SINGLE_RUN, first)
        for index, values in enumerate(odd_values, start=1):
            run = traj.run(index)
            run.add_result("r", **values)
            svc.store(Msg.SINGLE_RUN, run)
    with tables.open_file(path) as h5:
        assert list(h5.get_node("/w/overview/packed/p0").col("run_idx")) == [0, 5]
        assert "/w/results/runs/run_set_00000/run_00000001/r" in h5
    loaded = load(path, load_results=2)
    assert loaded["results.runs.run_00000000.r"].data == {"z": 0.5}
    for index, values in enumerate(odd_values, start=1):
        assert_exact(dict(loaded[f"results.runs.run_{index:08d}.r"].data), values)


def test_a_result_stored_twice_is_refused(path: str) -> None:
    traj = sweep()
    store_runs(path, traj, [0])
    with StorageService(path, packed_runs=True) as svc:
        with pytest.raises(ItemExistsError):
            svc.store(Msg.LEAF, Result("results.runs.run_00000000.r", z=1.0),
                      trajectory_name="w")
        with pytest.raises(ItemExistsError):  # other keys: it would get nodes, but no
            svc.store(Msg.LEAF, Result("results.runs.run_00000000.r", q=1.0),
                      trajectory_name="w")


def test_a_failed_store_takes_its_rows_back(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    traj = sweep()
    store_runs(path, traj, [0])
    run = traj.run(1)
    run.add_result("r", **values_of(1))
    run.add_result("s", frame=pd.DataFrame({"a": [1.0]}))  # written with nodes, after the row
    original = nodes.write_value

    def failing(*args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(nodes, "write_value", failing)
    with StorageService(path, packed_runs=True) as svc, pytest.raises(OSError, match="disk"):
        svc.store(Msg.SINGLE_RUN, run)
    monkeypatch.setattr(nodes, "write_value", original)
    with tables.open_file(path) as h5:
        assert list(h5.get_node("/w/overview/packed/p0").col("run_idx")) == [0]
    assert [run.completed for run in load(path).runs] == [True] + [False] * (RUNS - 1)


def test_incomplete_runs_lose_their_rows(path: str) -> None:
    traj = sweep()
    store_runs(path, traj, [0, 1])
    with StorageService(path, packed_runs=True) as svc:
        svc.store(Msg.LEAF, Result("results.runs.run_00000003.r", **values_of(3)),
                  trajectory_name="w")  # stored, but its run never completed
        assert svc.store(Msg.REMOVE_INCOMPLETE_RUNS, traj) == [3]
    loaded = load(path, load_results=2)
    assert "results.runs.run_00000003" not in loaded
    assert loaded["results.runs.run_00000001.r"]["z"] == 1.0


def test_remove_takes_packed_results_and_runs(path: str) -> None:
    traj = sweep()
    store_runs(path, traj, [0, 1, 2])
    with StorageService(path) as svc:
        svc.store(Msg.REMOVE, traj["results.runs.run_00000000.r"])
        with pytest.raises(RemovalError, match="recursive"):
            svc.store(Msg.REMOVE, traj["results.runs.run_00000001"])
        svc.store(Msg.REMOVE, traj["results.runs.run_00000001"], recursive=True)
    loaded = load(path, load_results=2)
    assert "results.runs.run_00000000" not in loaded
    assert "results.runs.run_00000001" not in loaded
    assert_exact(dict(loaded["results.runs.run_00000002.r"].data), values_of(2))
    with tables.open_file(path) as h5:
        assert list(h5.get_node("/w/overview/packed/p0").col("run_idx")) == [2]


def test_delete_only_keeps_a_packed_results_other_values_as_its_nodes(path: str) -> None:
    traj = sweep()
    store_runs(path, traj, [0, 1, 2])
    before = pathlib.Path(path).read_bytes()
    with StorageService(path) as svc:
        with pytest.raises(DataNotFoundError, match="no data named"):  # nothing written
            svc.store(Msg.REMOVE, traj["results.runs.run_00000001.r"],
                      delete_only=["z", "nope"])
        with pytest.raises(RemovalError, match="is a group"):
            svc.store(Msg.REMOVE, traj["results.runs.run_00000001"], delete_only=["z"])
    assert pathlib.Path(path).read_bytes() == before
    with StorageService(path) as svc:
        svc.store(Msg.REMOVE, traj["results.runs.run_00000001.r"], delete_only=["z", "trace"])
        frame = svc.load_frame("w", "r", keys=["stats.n"])
    loaded = load(path, load_results=2)
    kept = loaded["results.runs.run_00000001.r"]
    expected = {key: value for key, value in values_of(1).items() if key not in ("z", "trace")}
    assert_exact(dict(kept.data), expected)
    assert kept.v_comment == "the run's result"
    for index in (0, 2):  # the others keep their rows, whole
        assert_exact(dict(loaded[f"results.runs.run_{index:08d}.r"].data), values_of(index))
    assert list(frame["stats.n"]) == [0, 1, 2]
    with tables.open_file(path) as h5:
        assert list(h5.get_node("/w/overview/packed/p0").col("run_idx")) == [0, 2]
        assert "z" not in layout_of(h5, "/w/results/runs", 1)


def layout_of(h5: tables.File, runs: str, index: int) -> list[str]:
    """The node names of run ``index``'s result r (in its run set)."""
    group = next(node for node in h5.walk_groups(runs) if node._v_name == f"run_{index:08d}")
    return sorted(group._f_get_child("r")._v_children)


def merged_into_a(path: str, **merge: Any) -> tuple[Trajectory, Trajectory]:
    """Trajectory a after a MERGE of b into it (``merge``: its arguments), and b then."""
    with StorageService(path) as svc:
        svc.store(Msg.MERGE, Trajectory("a"), other_trajectory_name="b", **merge)
        merged = svc.load(Msg.TRAJECTORY, None, trajectory_name="a", load_parameters=2,
                          load_results=2)
        other = svc.load(Msg.TRAJECTORY, None, trajectory_name="b", load_results=2)
    return merged, other


def test_a_whole_merge_takes_packed_runs(path: str) -> None:
    first, second = sweep("a", 3), sweep("b", 2)
    store_runs(path, first, range(3))
    store_runs(path, second, range(2))
    with StorageService(path, packed_runs=True) as svc:  # a result only b has
        svc.store(Msg.LEAF, Result("results.runs.run_00000001.s", q=1.5), trajectory_name="b")
    merged, other = merged_into_a(path, move_nodes=True)
    assert [run.idx for run in merged.runs] == [0, 1, 2, 3, 4]
    for index, source in enumerate([0, 1, 2, 0, 1]):
        assert_exact(dict(merged[f"results.runs.run_{index:08d}.r"].data), values_of(source))
    assert merged["results.runs.run_00000004.s"].data == {"q": 1.5}
    assert "results.runs.run_00000003.s" not in merged
    assert "results.runs.run_00000000" not in other  # moved


def _with_int_results(path: str, name: str, runs: int) -> Trajectory:
    """A trajectory whose runs' ``r`` holds an int ``z``: rows unlike those of values_of."""
    traj = sweep(name, runs)
    with StorageService(path, packed_runs=True) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(runs):
            run = traj.run(index)
            run.add_result("r", z=10 + index, d={"k": np.int8(index)})
            svc.store(Msg.SINGLE_RUN, run)
    return traj


@pytest.mark.parametrize("move_nodes", [False, True])
def test_a_whole_merge_writes_unlike_packed_rows_as_nodes(path: str, move_nodes: bool) -> None:
    first = sweep("a", 2)
    store_runs(path, first, range(2))
    _with_int_results(path, "b", 3)
    merged, other = merged_into_a(path, move_nodes=move_nodes)
    assert [run.idx for run in merged.runs] == [0, 1, 2, 3, 4]
    for index in range(2):
        assert_exact(dict(merged[f"results.runs.run_{index:08d}.r"].data), values_of(index))
    for index in range(3):
        assert_exact(dict(merged[f"results.runs.run_{index + 2:08d}.r"].data),
                     {"z": 10 + index, "d": {"k": np.int8(index)}})
    with tables.open_file(path) as h5:
        assert h5.get_node("/a/overview/packed/p0").nrows == 2  # a's table kept its rows
        assert "/a/results/runs/run_set_00000/run_00000004/r/z" in h5  # b's rows: nodes
    assert ("results.runs.run_00000000.r" in other) is not move_nodes


@pytest.mark.parametrize("move_nodes", [False, True])
def test_a_merge_with_renames_writes_the_packed_results_it_renames_as_nodes(
        path: str, move_nodes: bool) -> None:
    first = sweep("a", 1)
    store_runs(path, first, [0])
    _with_int_results(path, "b", 3)
    merged, other = merged_into_a(path, move_nodes=move_nodes, rename_dict={
        "results.runs.run_00000001.r": "results.picked",
        "results.runs.run_00000002": "results.third"})
    assert len(merged.runs) == 1  # renames take items, not runs
    assert_exact(dict(merged["results.picked"].data), {"z": 11, "d": {"k": np.int8(1)}})
    assert_exact(dict(merged["results.third.r"].data), {"z": 12, "d": {"k": np.int8(2)}})
    assert_exact(dict(merged["results.runs.run_00000000.r"].data), values_of(0))
    assert "results.runs.run_00000000.r" in other  # not renamed: kept
    for moved in ("results.runs.run_00000001.r", "results.runs.run_00000002.r"):
        assert (moved in other) is not move_nodes


def test_a_merge_whose_renamed_packed_result_lands_on_an_item_is_refused(path: str) -> None:
    first = sweep("a", 1)
    store_runs(path, first, [0])
    _with_int_results(path, "b", 2)
    with pytest.raises(ItemExistsError, match=r"run_00000000\.r"), StorageService(path) as svc:
        svc.store(Msg.MERGE, first, other_trajectory_name="b",
                  rename_dict={"results.runs.run_00000001": "results.runs.run_00000000"})
    with pytest.raises(MergeError, match="not in trajectory"), StorageService(path) as svc:
        svc.store(Msg.MERGE, first, other_trajectory_name="b",
                  rename_dict={"results.runs.run_00000007.r": "results.x"})
    loaded = load(path, "a", load_results=2)  # nothing changed
    assert len(loaded.runs) == 1
    assert_exact(dict(loaded["results.runs.run_00000000.r"].data), values_of(0))
    assert "results.x" not in loaded


@pytest.mark.anyio
async def test_many_tasks_store_packed_runs(path: str) -> None:
    traj = sweep(runs=200)
    async with AsyncStorageService(path, packed_runs=True) as svc:
        await svc.store(Msg.TRAJECTORY, traj)

        async def one(index: int) -> None:
            run = traj.run(index)
            run.add_result("r", **values_of(index))
            await svc.store(Msg.SINGLE_RUN, run)

        async with anyio.create_task_group() as group:
            for index in range(200):
                group.start_soon(one, index)
        loaded = await svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_results=2)
    for index in range(200):
        assert_exact(dict(loaded[f"results.runs.run_{index:08d}.r"].data), values_of(index))


def test_update_leaf_rewrites_a_packed_row_keeping_types(path: str) -> None:
    traj = sweep()
    store_runs(path, traj, [0, 1])
    update = Result("results.runs.run_00000001.r", z=-1.0, stats={"mean": 9.0, "n": 7,
                                                                  "ok": False})
    with StorageService(path) as svc:
        svc.store(Msg.UPDATE_LEAF, update, trajectory_name="w")
        for wrong in ({"z": 1}, {"trace": np.zeros(3)}, {"nothere": 1.0}):
            with pytest.raises(InvalidArgumentError, match="packed"):
                svc.store(Msg.UPDATE_LEAF, Result("results.runs.run_00000000.r", **wrong),
                          trajectory_name="w")
    loaded = load(path, load_results=2)
    expected = {**values_of(1), "z": -1.0, "stats": {"mean": 9.0, "n": 7, "ok": False}}
    assert_exact(dict(loaded["results.runs.run_00000001.r"].data), expected)
    assert_exact(dict(loaded["results.runs.run_00000000.r"].data), values_of(0))


def test_an_update_of_a_result_stored_with_nodes_stays_with_its_nodes(path: str) -> None:
    traj = sweep()
    with StorageService(path) as svc:  # packed by default
        svc.store(Msg.TRAJECTORY, traj)
        run = traj.run(1)
        run.add_result("r", z=1.0, frame=pd.DataFrame({"a": [1, 2]}))  # a frame: not packable
        svc.store(Msg.SINGLE_RUN, run)
        svc.store(Msg.UPDATE_LEAF, Result("results.runs.run_00000001.r", z=9.0))
        svc.store(Msg.UPDATE_LEAF, Result("results.runs.run_00000001.r", extra=2.0))
    loaded = load(path, load_results=2)
    data = loaded["results.runs.run_00000001.r"].data
    assert data["z"] == 9.0
    assert data["extra"] == 2.0
    with tables.open_file(path) as h5:
        assert "/w/overview/packed" not in h5  # no row beside the nodes


W1_PAYLOAD = 8 + 800 + 17 + 16  # z, arr, d (a float, an int, a bool) and the two parameters


def store_w1(path: str, runs: int, **kwargs: Any) -> Trajectory:
    traj = Trajectory("w1")
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore({"x": [index * 0.001 for index in range(runs)],
                  "y": [index % 97 for index in range(runs)]})
    with StorageService(path, **kwargs) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(runs):
            run = traj.run(index)
            run.add_result("r", z=run["x"] * run["y"], arr=np.linspace(0.0, 1.0, 100) + index,
                           d={"a": 0.5, "b": index, "c": True})
            svc.put(Msg.SINGLE_RUN, run)
        svc.join()
    return traj


def test_a_one_row_dict_table_gets_a_chunk_of_its_size(path: str) -> None:
    store_w1(path, 2, packed_runs=False)
    with tables.open_file(path) as h5:
        d, arr = h5.get_node("/w1/results/runs/run_set_00000/run_00000001/r/d"), h5.get_node(
            "/w1/results/runs/run_set_00000/run_00000001/r/arr")
        assert d.chunkshape == (1,)
        assert d.size_on_disk < 100
        assert arr.chunkshape == (100,)
        assert arr.size_on_disk == 800


def test_a_w1_sweep_in_the_default_layout_is_compact(path: str) -> None:
    runs = 2_000
    store_w1(path, runs)
    assert pathlib.Path(path).stat().st_size < 1.5 * W1_PAYLOAD * runs
    with tables.open_file(path) as h5:
        run_table = h5.get_node("/w1/overview/runs")
        assert run_table.filters.complib == "blosc:lz4"
        assert run_table.chunkshape == (nodes.TABLE_CHUNK_BYTES // runs_module.RUN_ROW.itemsize,)
        assert run_table.size_on_disk < 50 * runs  # 345 bytes a row uncompressed


def test_packed_and_run_tables_take_the_users_compression() -> None:
    row_type = np.dtype([("run_idx", "<i8"), ("z", "<f8")])
    assert nodes.packed_table_options(row_type)["filters"] is None
    assert nodes.packed_table_options(row_type, ("blosc2:lz4", 5))["filters"].complib == \
        "blosc2:lz4"
    assert nodes.run_table_options(row_type, ("zlib", 9))["filters"].complevel == 9


def test_a_file_with_pytables_default_chunks_still_loads(path: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:  # the options files were written with before
        patch.setattr(nodes, "_chunkshape", lambda data: None)
        patch.setattr(nodes, "run_table_options", lambda *args: {})
        traj = store_w1(path, 3, packed_runs=False)
    with tables.open_file(path) as h5:
        assert h5.get_node("/w1/results/runs/run_set_00000/run_00000002/r/d").chunkshape[0] > 1000
        assert h5.get_node("/w1/overview/runs").filters.complevel == 0
    loaded = load(path, "w1", load_results=2)
    assert all(run.completed for run in loaded.runs)
    for index in range(3):
        assert_exact(dict(loaded[f"results.runs.run_{index:08d}.r"].data),
                     dict(traj[f"results.runs.run_{index:08d}.r"].data))


OLD_RUN_ROW = np.dtype([(name, "S128" if name == "name" else "S512" if name == "parameter_summary"
                         else runs_module.RUN_ROW[name]) for name in runs_module.RUN_ROW.names])


def test_a_run_table_of_the_old_widths_takes_new_runs(path: str) -> None:
    """Files written before issue 18 have pypet's wider run table: new runs go into it."""
    traj = sweep()
    store_runs(path, traj, [0, 1])
    with tables.open_file(path, "a") as h5:
        table = h5.get_node("/w/overview/runs")
        rows = table.read()
        wide = np.zeros(len(rows), OLD_RUN_ROW)
        for name in OLD_RUN_ROW.names:
            wide[name] = rows[name]
        table._f_remove()
        h5.create_table("/w/overview", "runs", description=OLD_RUN_ROW).append(wide)
    store_runs(path, traj, [2, 3])
    loaded = load(path, load_results=2)
    assert [run.completed for run in loaded.runs] == [True] * 4 + [False] * (RUNS - 4)
    assert loaded.runs[3].parameter_summary == traj.parameter_summary(3)
    for index in range(4):
        assert_exact(dict(loaded[f"results.runs.run_{index:08d}.r"].data), values_of(index))
    with tables.open_file(path) as h5:
        assert h5.get_node("/w/overview/runs").dtype == OLD_RUN_ROW
