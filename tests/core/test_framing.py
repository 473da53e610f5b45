"""load_frame: one result of the completed runs as a DataFrame, both services, both layouts."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from layouts import LAYOUTS, forbid_result_reads, in_each_layout, store_run

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    InvalidArgumentError,
    Msg,
    StorageService,
    Trajectory,
)

XS = [0.5, 1.0, 1.5, 2.0, 2.5]
NS = [np.int32(n) for n in range(5)]
INCOMPLETE = 4  # stored as a run that never completed


def make_sweep(path: pathlib.Path, packed: bool) -> None:
    traj = Trajectory("sweep")
    traj.add_parameter("x", XS[0])
    traj.add_parameter("n", NS[0])
    traj.add_parameter("label", "fixed")  # not explored: no column
    traj.explore({"x": XS, "n": NS})
    with StorageService(str(path), packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for idx in range(len(traj)):
            run = traj.run(idx)
            run.add_result("out", z=run["x"] * 2, k=np.int32(idx), flag=bool(idx % 2),
                           arr=np.arange(3, dtype=np.float32) + idx,
                           d={"a": idx, "b": np.float32(idx) / 2}, x=np.int16(idx))
            store_run(svc, traj, run, "out", completes=idx != INCOMPLETE)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    return in_each_layout(tmp_path_factory.mktemp("frames"), make_sweep)




def expected() -> pd.DataFrame:
    runs = [0, 1, 2, 3]
    return pd.DataFrame({
        "n": np.array([NS[i] for i in runs], dtype=np.int32),
        "x": np.array([XS[i] for i in runs]),
        "z": np.array([XS[i] * 2 for i in runs]),
        "k": np.array(runs, dtype=np.int32),
        "flag": np.array([bool(i % 2) for i in runs]),
        "arr": _cells([np.arange(3, dtype=np.float32) + i for i in runs]),
        "d.a": np.array(runs, dtype=np.int64),
        "d.b": np.array([np.float32(i) / 2 for i in runs], dtype=np.float32),
        "out.x": np.array(runs, dtype=np.int16),  # named like a parameter: prefixed
    }, index=pd.Index(runs, name="run"))


def _cells(values: list[Any]) -> np.ndarray:
    cells = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        cells[position] = value
    return cells


def assert_frames_equal(frame: pd.DataFrame, wanted: pd.DataFrame) -> None:
    assert list(frame.columns) == list(wanted.columns)
    assert frame.index.equals(wanted.index)
    assert frame.index.name == wanted.index.name
    assert dict(frame.dtypes) == dict(wanted.dtypes)
    for name in wanted.columns:
        if wanted[name].dtype == object:
            for got, want in zip(frame[name], wanted[name], strict=True):
                assert got.dtype == want.dtype
                assert got.shape == want.shape
                assert np.array_equal(got, want)
        else:
            assert np.array_equal(frame[name].to_numpy(), wanted[name].to_numpy()), name


@LAYOUTS
def test_blocking_frame_has_a_row_per_completed_run_with_exact_dtypes(
        files: dict[str, pathlib.Path], layout: str) -> None:
    with StorageService(str(files[layout])) as svc:
        frame = svc.load_frame("sweep", "out")
        written_out = svc.load_frame("sweep", "results.runs.*.out")
        by_a_run = svc.load_frame("sweep", "results.runs.run_00000002.out")
    assert_frames_equal(frame, expected())  # run 4 holds the result but never completed
    assert_frames_equal(written_out, expected())
    assert_frames_equal(by_a_run, expected())


@pytest.mark.anyio
@LAYOUTS
async def test_async_frame_equals_the_blocking_one(files: dict[str, pathlib.Path],
                                                   layout: str) -> None:
    async with AsyncStorageService(str(files[layout])) as svc:
        frame = await svc.load_frame("sweep", "out")
        chosen = await svc.load_frame("sweep", "out", keys=["d", "k"], where={"x": 1.0})
    assert_frames_equal(frame, expected())
    assert_frames_equal(chosen, expected().loc[[1], ["n", "x", "d.a", "d.b", "k"]])


def test_both_layouts_give_equal_frames(files: dict[str, pathlib.Path]) -> None:
    with StorageService(str(files["nodes"])) as svc:
        nodes = svc.load_frame("sweep", "out")
        assert not svc.describe("sweep", "results.runs.run_00000000.out")[0].packed
    with StorageService(str(files["packed"])) as svc:
        packed = svc.load_frame("sweep", "out")
        assert svc.describe("sweep", "results.runs.run_00000000.out")[0].packed
    assert_frames_equal(packed, nodes)


@LAYOUTS
def test_keys_and_where(files: dict[str, pathlib.Path], layout: str) -> None:
    wanted = expected()
    with StorageService(str(files[layout])) as svc:
        only_z = svc.load_frame("sweep", "out", keys="z")
        by_value = svc.load_frame("sweep", "out", keys=["z"], where={"x": 1.5})
        by_callable = svc.load_frame("sweep", "out", where={"x": lambda v: v > 1,
                                                            "parameters.n": lambda v: v < 3})
        nothing = svc.load_frame("sweep", "out", where={"x": 99.0})
    assert_frames_equal(only_z, wanted[["n", "x", "z"]])
    assert_frames_equal(by_value, wanted.loc[[2], ["n", "x", "z"]])
    assert_frames_equal(by_callable, wanted.loc[[2]])
    assert len(nothing) == 0
    assert dict(nothing.dtypes) == dict(wanted.dtypes)


@LAYOUTS
def test_errors_come_before_any_result_is_read(files: dict[str, pathlib.Path], layout: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_result_reads(monkeypatch)
    with StorageService(str(files[layout])) as svc:
        with pytest.raises(DataNotFoundError, match="no trajectory"):
            svc.load_frame("elsewhere", "out")
        with pytest.raises(DataNotFoundError, match="no completed run"):
            svc.load_frame("sweep", "nothing")
        with pytest.raises(InvalidArgumentError, match="no key 'q'"):
            svc.load_frame("sweep", "out", keys=["z", "q"])
        with pytest.raises(InvalidArgumentError, match="not an explored parameter"):
            svc.load_frame("sweep", "out", where={"label": "fixed"})
        with pytest.raises(InvalidArgumentError, match="not an explored parameter"):
            svc.load_frame("sweep", "out", where={"y": lambda v: True})


def test_a_result_only_an_incomplete_run_holds_is_not_found(tmp_path: pathlib.Path) -> None:
    traj = Trajectory("sweep")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    with StorageService(str(tmp_path / "f.h5"), packed_runs=True) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        run = traj.run(1)
        run.add_result("z", z=1.0)
        svc.store(Msg.LEAF, traj["results.runs.run_00000001.z"])
        with pytest.raises(DataNotFoundError, match="no completed run"):
            svc.load_frame("sweep", "z")


@LAYOUTS
def test_keys_may_name_a_dicts_fields(files: dict[str, pathlib.Path], layout: str) -> None:
    wanted = expected()
    with StorageService(str(files[layout])) as svc:
        one_field = svc.load_frame("sweep", "out", keys="d.b")
        in_order = svc.load_frame("sweep", "out", keys=["d.b", "z", "d", "d.a"])
        with pytest.raises(InvalidArgumentError, match=r"no key 'd\.q'.*d\.a, d\.b"):
            svc.load_frame("sweep", "out", keys=["d.q"])
        with pytest.raises(InvalidArgumentError, match=r"no key 'z\.a'"):
            svc.load_frame("sweep", "out", keys="z.a")  # z is no dict
    assert_frames_equal(one_field, wanted[["n", "x", "d.b"]])
    assert_frames_equal(in_order, wanted[["n", "x", "d.b", "z", "d.a"]])


@LAYOUTS
def test_a_where_callable_runs_once_per_distinct_value(tmp_path: pathlib.Path,
                                                       layout: str) -> None:
    traj = Trajectory("sweep")
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(i % 3) for i in range(12)]})
    with StorageService(str(tmp_path / "f.h5"), packed_runs=layout == "packed") as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for idx in range(12):
            run = traj.run(idx)
            run.add_result("out", z=idx)
            svc.store(Msg.SINGLE_RUN, run)
        seen: list[float] = []
        frame = svc.load_frame("sweep", "out", where={"x": lambda v: seen.append(v) or v > 1})
    assert sorted(seen) == [0.0, 1.0, 2.0]
    assert list(frame.index) == [2, 5, 8, 11]
    assert list(frame["z"]) == [2, 5, 8, 11]


def store_runs(path: pathlib.Path, order: list[int], value: Any = None) -> None:
    """Runs of ``order`` (in that order) store ``out`` with z = idx and arr = [idx, idx]; run
    ``value``'s arr has another shape (it does not fit a packed table: stored with nodes)."""
    traj = Trajectory("sweep")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(40))})
    with StorageService(str(path)) as svc:  # the default: packed runs
        svc.store(Msg.TRAJECTORY, traj)
        for idx in order:
            run = traj.run(idx)
            arr = np.full(3 if idx == value else 2, idx, dtype=np.float64)
            run.add_result("out", z=idx, arr=arr)
            svc.store(Msg.SINGLE_RUN, run)


def test_packed_rows_out_of_run_order_and_a_few_chosen(tmp_path: pathlib.Path) -> None:
    order = [*range(39, 19, -1), *range(20)]  # rows 0..19 hold runs 39..20
    store_runs(tmp_path / "f.h5", order)
    with StorageService(str(tmp_path / "f.h5")) as svc:
        every = svc.load_frame("sweep", "out")
        few = svc.load_frame("sweep", "out", where={"x": lambda v: v in (3, 33)})
        assert svc.describe("sweep", "results.runs.run_00000005.out")[0].packed
    assert list(every.index) == list(range(40))
    assert list(every["z"]) == list(range(40))
    assert [float(cell[0]) for cell in every["arr"]] == list(range(40))
    assert list(few.index) == [3, 33]  # 2 of 40 rows: read by coordinates
    assert list(few["z"]) == [3, 33]


def test_a_run_that_did_not_fit_the_packed_table_is_read_from_its_nodes(
        tmp_path: pathlib.Path) -> None:
    store_runs(tmp_path / "f.h5", list(range(40)), value=7)
    with StorageService(str(tmp_path / "f.h5")) as svc:
        frame = svc.load_frame("sweep", "out")
        assert not svc.describe("sweep", "results.runs.run_00000007.out")[0].packed
    assert list(frame.index) == list(range(40))
    assert frame["z"].dtype == np.int64
    assert list(frame["z"]) == list(range(40))
    assert [cell.shape for cell in frame["arr"]] == [(3,) if i == 7 else (2,) for i in range(40)]
    assert all(float(cell[0]) == i for i, cell in enumerate(frame["arr"]))
