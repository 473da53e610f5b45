"""Runs' results planned straight into packed rows: the same file and values as the general way."""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tables
from exactness import assert_exact

from aiostore import (
    AsyncStorageService,
    ItemExistsError,
    Msg,
    StorageService,
    Trajectory,
    UnsupportedTypeError,
)
from aiostore._core import rowpacking
from aiostore._core.planning import Defaults, leaf_record, plan_store
from aiostore._core.requests import WriteItems, row_leaf
from aiostore.engine.durability import journal

RUNS = 8
# this module's folder, and the helpers' (exactness)
TESTS = os.pathsep.join(str(folder) for folder in pathlib.Path(__file__).parents[:2])


@pytest.fixture(autouse=True)
def no_kinds_seen() -> Iterator[None]:
    """Each test starts with no kind of result remembered (a first of a kind goes both ways)."""
    saved = dict(rowpacking._layouts)
    rowpacking._layouts.clear()
    yield
    rowpacking._layouts.clear()
    rowpacking._layouts.update(saved)


def sweep(runs: int = RUNS) -> Trajectory:
    traj = Trajectory("w")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(runs))})
    return traj


def values(index: int, kinds: str = "all") -> dict[str, Any]:
    """A result of every kind the fast way takes, with awkward values among them; with
    ``kinds="struct"`` only those whose rows are packed by :mod:`struct` (no complex, float32)."""
    every = {
        "z": [0.5, -0.0, float("nan"), float("inf")][index % 4],
        "n": -(2**63) if index == 3 else index,
        "flag": bool(index % 2),
        "c": complex(index, -index),
        "f32": np.float32(index / 3),
        "u8": np.uint8(index),
        "b": np.bool_(index % 3 == 0),
        "arr": np.linspace(0.0, 1.0, 7) * index,
        "grid": np.arange(6, dtype=">i4").reshape(2, 3) + index,
        "d": {"a": 0.5 * index, "b": index, "c": index % 2 == 0, "e": np.int16(index)},
    }
    if kinds == "struct":
        del every["c"], every["f32"]
    return every


def request_of(traj: Trajectory, index: int, path: str, kinds: str = "all") -> WriteItems:
    run = traj.run(index)
    run.add_result("r", **values(index, kinds))
    job = plan_store(Msg.SINGLE_RUN, run, (), {}, Defaults(path, trajectory_name="w",
                                                           packed_runs=True))
    return job.request  # type: ignore[no-any-return]


@pytest.mark.parametrize("kinds", ["all", "struct"])
def test_a_result_of_numbers_and_arrays_is_planned_as_a_row_with_the_general_ways_values(
        path: str, kinds: str) -> None:
    traj = sweep()
    for index in range(RUNS):
        request = request_of(traj, index, path, kinds)
        assert request.leaves == ()
        assert len(request.rows) == 1
        row = request.rows[0]
        general = leaf_record(sweep().run(index).add_result("r", **values(index, kinds)))
        assert row.path == general.path
        assert row.run == index
        leaf = row_leaf(row)
        assert (leaf.class_name, leaf.comment) == (general.class_name, general.comment)
        assert list(leaf.values) == list(general.values)
        for key, encoded in general.values.items():
            ours = leaf.values[key]
            assert ours.flag is encoded.flag
            assert ours.spec == encoded.spec
            assert ours.payload.dtype == encoded.payload.dtype
            assert ours.payload.shape == encoded.payload.shape
            assert ours.payload.tobytes() == encoded.payload.tobytes()
    (fill,) = [known[1] for known in rowpacking._layouts.values() if known is not None]
    # complex and float32 columns are filled by numpy; the others by struct, as fast
    assert isinstance(fill, rowpacking._StructFill) is (kinds == "struct")


def test_a_first_int_beyond_int64_makes_no_column_for_the_small_ones_after_it(path: str
                                                                              ) -> None:
    traj = sweep()
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index, n in enumerate([2**63, 1, -1, 2**63 + 5, 7]):
            run = traj.run(index)
            run.add_result("r", n=n, d={"k": n})
            svc.store(Msg.SINGLE_RUN, run)
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_parameters=2,
                          load_results=2)
    for index, n in enumerate([2**63, 1, -1, 2**63 + 5, 7]):
        assert_exact(_stored(loaded, index), {"n": n, "d": {"k": n}})


def test_a_packed_row_survives_the_journals_pickle(path: str) -> None:
    request = request_of(sweep(), 2, path)
    again = pickle.loads(pickle.dumps(request, protocol=5))
    assert again.rows[0].row == request.rows[0].row
    assert again.rows[0].layout.dtype == request.rows[0].layout.dtype
    assert_exact(row_leaf(again.rows[0]).values["d"].payload,
                 row_leaf(request.rows[0]).values["d"].payload)


def test_results_the_fast_way_cannot_take_go_the_general_way(path: str) -> None:
    traj = sweep()
    defaults = Defaults(path, trajectory_name="w", packed_runs=True)
    odd = [{"s": "text"}, {"big": 2**70}, {"items": [1, 2]}, {"d": {"s": "x"}},
           {"when": np.datetime64("2020-01-01")}]
    for index, result in enumerate(odd):
        run = traj.run(index)
        run.add_result("r", **result)
        request = plan_store(Msg.SINGLE_RUN, run, (), {}, defaults).request
        assert request.rows == ()
        assert len(request.leaves) == 1
    flagged = traj.run(6)
    flagged.add_result("r", z=1.0).set_flag("z", "ARRAY")
    assert plan_store(Msg.SINGLE_RUN, flagged, (), {}, defaults).request.rows == ()
    per_node = Defaults(path, trajectory_name="w", packed_runs=False)
    plain = traj.run(7)
    plain.add_result("r", z=1.0)
    assert plan_store(Msg.SINGLE_RUN, plain, (), {}, per_node).request.rows == ()


def test_a_kind_the_first_time_still_refuses_bad_input(path: str) -> None:
    run = sweep().run(0)
    run.add_result("r", d={1: 2.0})
    with pytest.raises(UnsupportedTypeError):
        plan_store(Msg.SINGLE_RUN, run, (), {}, Defaults(path, trajectory_name="w",
                                                         packed_runs=True))
    assert rowpacking._layouts == {}


def test_a_later_int_too_big_for_the_column_goes_the_general_way(path: str) -> None:
    traj = sweep()
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index, n in enumerate([1, 2**64 + 1, 3]):
            run = traj.run(index)
            run.add_result("r", n=n)
            svc.store(Msg.SINGLE_RUN, run)
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_parameters=2,
                          load_results=2)
    assert [loaded[f"results.runs.run_{i:08d}.r"]["n"] for i in range(3)] == [1, 2**64 + 1, 3]


def _stored(loaded: Trajectory, index: int) -> dict[str, Any]:
    return dict(loaded[f"results.runs.run_{index:08d}.r"].data)


@pytest.mark.anyio
@pytest.mark.parametrize("kinds", ["all", "struct"])
async def test_a_sweep_of_rows_loads_exactly_as_the_per_node_layout(path: str, kinds: str
                                                                    ) -> None:
    names = {True: path, False: path.replace(".h5", "-nodes.h5")}
    loaded = {}
    for packed, filename in names.items():
        traj = sweep()
        async with AsyncStorageService(filename, packed_runs=packed) as svc:
            await svc.store(Msg.TRAJECTORY, traj)
            for index in range(RUNS):
                run = traj.run(index)
                run.add_result("r", **values(index, kinds))
                await svc.put(Msg.SINGLE_RUN, run)
            await svc.join()
            loaded[packed] = await svc.load(Msg.TRAJECTORY, None, trajectory_name="w",
                                            load_parameters=2, load_results=2)
    for index in range(RUNS):
        assert_exact(_stored(loaded[True], index), values(index, kinds))
        assert_exact(_stored(loaded[True], index), _stored(loaded[False], index))
    with tables.open_file(path) as h5:
        table = h5.get_node("/w/overview/packed/p0")
        assert table.col("run_idx").tolist() == list(range(RUNS))
        assert len(h5.list_nodes("/w/overview/packed")) == 1


def test_rows_join_a_table_the_general_way_made(path: str, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    traj = sweep()
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        with monkeypatch.context() as patched:  # as an older aiostore wrote them
            patched.setattr("aiostore._core.planning.packed_row", lambda *args: None)
            for index in range(3):
                run = traj.run(index)
                run.add_result("r", **values(index))
                svc.store(Msg.SINGLE_RUN, run)
        for index in range(3, RUNS):
            run = traj.run(index)
            run.add_result("r", **values(index))
            svc.store(Msg.SINGLE_RUN, run)
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_parameters=2,
                          load_results=2)
        frame = svc.load_frame("w", "r", keys=["z", "d.b"])
    for index in range(RUNS):
        assert_exact(_stored(loaded, index), values(index))
    assert frame["d.b"].tolist() == list(range(RUNS))
    with tables.open_file(path) as h5:
        assert h5.get_node("/w/overview/packed/p0").col("run_idx").tolist() == list(range(RUNS))
        assert len(h5.list_nodes("/w/overview/packed")) == 1


def test_a_row_of_another_layout_than_its_table_gets_nodes(path: str) -> None:
    traj = sweep()
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index, arr in enumerate([np.zeros(3), np.ones(4), np.zeros(3) + 2]):
            run = traj.run(index)
            run.add_result("r", arr=arr)
            svc.store(Msg.SINGLE_RUN, run)
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_parameters=2,
                          load_results=2)
    assert_exact(_stored(loaded, 1), {"arr": np.ones(4)})
    assert_exact(_stored(loaded, 2), {"arr": np.zeros(3) + 2})
    with tables.open_file(path) as h5:
        assert h5.get_node("/w/overview/packed/p0").col("run_idx").tolist() == [0, 2]


def test_a_run_stored_twice_as_rows_is_refused_and_the_file_keeps_the_first(path: str) -> None:
    traj = sweep()
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        first = traj.run(1)
        first.add_result("r", **values(1))
        svc.store(Msg.SINGLE_RUN, first)
        again = sweep().run(1)  # the same run of another copy of the trajectory
        again.add_result("r", **values(2))
        with pytest.raises(ItemExistsError):
            svc.store(Msg.SINGLE_RUN, again)
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_parameters=2,
                          load_results=2)
    assert_exact(_stored(loaded, 1), values(1))


KILLED_WRITER = """
import os, sys
sys.path[:0] = sys.argv[2].split(os.pathsep)
from test_rowpacking import sweep, values
from aiostore import Msg, StorageService
traj = sweep()
service = StorageService(sys.argv[1])
service.store(Msg.TRAJECTORY, traj)
for index in range(4):
    run = traj.run(index)
    run.add_result("r", **values(index))
    service.store(Msg.SINGLE_RUN, run)
os._exit(9)  # killed: never closed, the journal holds the rows
"""


def test_rows_of_a_killed_writer_are_made_again_from_the_journal_once(path: str) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, path, TESTS],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 9, done.stderr
    assert os.path.exists(journal.journal_path(path))
    with StorageService(path) as svc:
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="w", load_parameters=2,
                          load_results=2)
    for index in range(4):
        assert_exact(_stored(loaded, index), values(index))
    with tables.open_file(path) as h5:
        assert h5.get_node("/w/overview/packed/p0").col("run_idx").tolist() == [0, 1, 2, 3]
