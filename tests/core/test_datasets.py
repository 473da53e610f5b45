"""load_dataset: results of the completed runs as an xarray Dataset, both services, both layouts."""

from __future__ import annotations

import itertools
import pathlib
import sys
from typing import Any

import numpy as np
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
from aiostore.errors import MissingDependencyError

xr = pytest.importorskip("xarray")

XS = [1.5, 0.5, 1.0]  # explored out of order: the grid's coordinate is sorted
YS = [20, 10]
GRID = list(itertools.product(XS, YS))  # run i: GRID[i]


def grid_values(idx: int) -> dict[str, Any]:
    return {"k": np.int32(idx), "flag": bool(idx % 2), "f": np.float32(idx) / 4, "z": idx * 0.5,
            "arr": np.arange(3, dtype=np.int16) + idx,
            "img": np.full((2, 2), idx, dtype=np.float32), "d": {"a": idx, "b": np.float32(idx)},
            "when": np.datetime64("2026-01-01", "D") + idx, "label": f"run{idx}"}


def store_sweep(path: pathlib.Path, packed: bool, combos: list[tuple[float, int]],
                order: list[int] | None = None, incomplete: int | None = None) -> None:
    """A sweep over ``combos`` (x, y); run i stores ``out`` (grid_values(i)) and, when i is
    even, ``extra`` (an int); runs are stored in ``order``; ``incomplete`` never completes."""
    traj = Trajectory("sweep")
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.add_parameter("fixed", "same")
    traj.explore({"x": [x for x, _ in combos], "y": [y for _, y in combos]})
    with StorageService(str(path), packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for idx in order if order is not None else range(len(combos)):
            run = traj.run(idx)
            run.add_result("out", **grid_values(idx))
            if idx % 2 == 0:
                run.add_result("extra", e=np.int64(idx * 10))
            store_run(svc, traj, run, "out", completes=idx != incomplete)


@pytest.fixture(scope="module")
def grids(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    return in_each_layout(tmp_path_factory.mktemp("datasets"), lambda path, packed: store_sweep(
        path, packed, GRID, order=[4, 0, 5, 2, 1, 3]))  # rows out of order


def expect_cell(dataset: Any, idx: int) -> None:
    """The grid's cell of run ``idx`` holds run ``idx``'s values."""
    x, y = GRID[idx]
    cell = dataset.sel(x=x, y=y)
    values = grid_values(idx)
    assert int(cell["run"]) == idx
    assert cell["out.k"].item() == values["k"]
    assert cell["out.flag"].item() == values["flag"]
    assert cell["out.f"].item() == values["f"]
    assert np.array_equal(cell["out.arr"].values, values["arr"])
    assert np.array_equal(cell["out.img"].values, values["img"])
    assert cell["out.d.a"].item() == idx
    assert cell["out.when"].values == values["when"]
    assert cell["out.label"].item() == values["label"]


@LAYOUTS
def test_a_full_grid_has_a_dimension_per_parameter(grids: dict[str, pathlib.Path],
                                                   layout: str) -> None:
    with StorageService(str(grids[layout])) as svc:
        dataset = svc.load_dataset("sweep", "out")
    assert dict(dataset.sizes) == {"x": 3, "y": 2, "out.arr_dim0": 3, "out.img_dim0": 2,
                                   "out.img_dim1": 2}
    assert list(dataset["x"].values) == sorted(XS)
    assert list(dataset["y"].values) == sorted(YS)
    assert dataset["out.arr"].dims == ("x", "y", "out.arr_dim0")
    assert dataset["out.img"].dims == ("x", "y", "out.img_dim0", "out.img_dim1")
    assert dataset["run"].dims == ("x", "y")
    assert dataset.attrs["trajectory"] == "sweep"
    for idx in range(len(GRID)):
        expect_cell(dataset, idx)


@LAYOUTS
def test_dtypes_are_kept_exactly(grids: dict[str, pathlib.Path], layout: str) -> None:
    with StorageService(str(grids[layout])) as svc:
        dataset = svc.load_dataset("sweep", "out")
    dtypes = {name: dataset[name].dtype for name in dataset.data_vars}
    assert dtypes == {"out.k": np.int32, "out.flag": np.bool_, "out.f": np.float32,
                      "out.z": np.float64, "out.arr": np.int16, "out.img": np.float32,
                      "out.d.a": np.int64, "out.d.b": np.float32,
                      "out.when": np.dtype("datetime64[s]"), "out.label": object}
    # xarray holds datetimes in s, ms, us or ns only: a day unit comes back in seconds
    assert dataset["x"].dtype == np.float64
    assert dataset["y"].dtype == np.int64


def test_both_layouts_give_identical_datasets(grids: dict[str, pathlib.Path]) -> None:
    loaded = []
    for layout in ("nodes", "packed"):
        with StorageService(str(grids[layout])) as svc:
            loaded.append(svc.load_dataset("sweep"))
    xr.testing.assert_identical(loaded[0], loaded[1])
    assert "out.k" in loaded[0]
    assert "extra.e" in loaded[0]


@LAYOUTS
def test_not_a_grid_has_a_run_dimension(tmp_path: pathlib.Path, layout: str) -> None:
    zipped = [(0.5, 1), (1.0, 2), (1.5, 3), (2.0, 4)]  # x and y explored together
    store_sweep(tmp_path / "f.h5", layout == "packed", zipped, incomplete=3)
    with StorageService(str(tmp_path / "f.h5")) as svc:
        dataset = svc.load_dataset("sweep", "out")
    assert dataset["out.k"].dims == ("run",)
    assert list(dataset["run"].values) == [0, 1, 2]  # run 3 never completed
    assert list(dataset["x"].values) == [0.5, 1.0, 1.5]
    assert dataset["x"].dims == ("run",)
    assert list(dataset["y"].values) == [1, 2, 3]
    assert list(dataset["out.k"].values) == [0, 1, 2]
    assert dataset["out.k"].dtype == np.int32
    assert dataset["out.img"].dims == ("run", "out.img_dim0", "out.img_dim1")
    assert np.array_equal(dataset["out.img"].values[2], np.full((2, 2), 2, dtype=np.float32))


@LAYOUTS
def test_a_combination_twice_is_not_a_grid(tmp_path: pathlib.Path, layout: str) -> None:
    combos = [(0.5, 1), (1.0, 1), (0.5, 2), (0.5, 2)]  # (1.0, 2) missing, (0.5, 2) twice
    store_sweep(tmp_path / "f.h5", layout == "packed", combos)
    with StorageService(str(tmp_path / "f.h5")) as svc:
        dataset = svc.load_dataset("sweep", "out")
    assert dataset["out.k"].dims == ("run",)
    assert list(dataset["run"].values) == [0, 1, 2, 3]


@LAYOUTS
def test_where_chooses_the_runs_then_the_grid_is_found(grids: dict[str, pathlib.Path],
                                                       layout: str) -> None:
    with StorageService(str(grids[layout])) as svc:
        sub_grid = svc.load_dataset("sweep", "out", where={"x": lambda v: v >= 1.0})
        one_row = svc.load_dataset("sweep", "out", where={"y": 10})
        broken = svc.load_dataset("sweep", "out", where={"x": lambda v: v > 0.5,
                                                         "y": lambda v: v > 10})
    assert dict(sub_grid.sizes)["x"] == 2
    assert list(sub_grid["x"].values) == [1.0, 1.5]
    for idx in (0, 1, 4, 5):  # x 1.5 and 1.0
        expect_cell(sub_grid, idx)
    assert list(one_row["y"].values) == [10]
    assert sorted(int(run) for run in one_row["run"].values.ravel()) == [1, 3, 5]
    assert broken["out.k"].dims == ("x", "y")  # 2 x 1 is still a full grid
    assert sorted(int(run) for run in broken["run"].values.ravel()) == [0, 4]


@LAYOUTS
def test_a_result_some_runs_lack_is_missing_there(grids: dict[str, pathlib.Path],
                                                  layout: str) -> None:
    with StorageService(str(grids[layout])) as svc:
        every = svc.load_dataset("sweep")
        listed = svc.load_dataset("sweep", ["extra", "results.runs.*.out"])
        alone = svc.load_dataset("sweep", "extra")
    assert list(every.data_vars)[:1] == ["extra.e"]  # every result, by name
    assert list(listed.data_vars)[:1] == ["extra.e"]
    xr.testing.assert_identical(every, listed)
    extra = every["extra.e"]
    assert extra.dtype == np.float64  # ints with a missing value become floats
    for idx, (x, y) in enumerate(GRID):
        value = extra.sel(x=x, y=y).item()
        assert value == idx * 10 if idx % 2 == 0 else np.isnan(value)
    assert alone["extra.e"].dtype == np.int64  # alone, every run it has holds it
    assert dict(alone.sizes) == {"x": 3, "y": 1}  # runs 0, 2, 4: all x at y = 20
    assert list(alone["run"].values.ravel()) == [2, 4, 0]  # x 0.5, 1.0, 1.5


@pytest.mark.anyio
@LAYOUTS
async def test_async_dataset_equals_the_blocking_one(grids: dict[str, pathlib.Path],
                                                     layout: str) -> None:
    async with AsyncStorageService(str(grids[layout])) as svc:
        dataset = await svc.load_dataset("sweep", "out", where={"y": 20})
        with pytest.raises(InvalidArgumentError, match="not an explored parameter"):
            await svc.load_dataset("sweep", where={"fixed": "same"})
    with StorageService(str(grids[layout])) as svc:
        blocking = svc.load_dataset("sweep", "out", where={"y": 20})
    xr.testing.assert_identical(dataset, blocking)
    assert sorted(int(run) for run in dataset["run"].values.ravel()) == [0, 2, 4]


@LAYOUTS
def test_errors_come_before_any_result_is_read(grids: dict[str, pathlib.Path], layout: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_result_reads(monkeypatch)
    with StorageService(str(grids[layout])) as svc:
        with pytest.raises(DataNotFoundError, match="no trajectory"):
            svc.load_dataset("elsewhere")
        with pytest.raises(DataNotFoundError, match="no completed run"):
            svc.load_dataset("sweep", ["out", "nothing"])
        with pytest.raises(InvalidArgumentError, match="at least one result"):
            svc.load_dataset("sweep", [])
        with pytest.raises(InvalidArgumentError, match="not an explored parameter"):
            svc.load_dataset("sweep", where={"q": 1})
        monkeypatch.setitem(sys.modules, "xarray", None)  # as if not installed
        with pytest.raises(MissingDependencyError, match=r"pip install aiostore\[xarray\]"):
            svc.load_dataset("sweep")
        with pytest.raises(ImportError):
            svc.load_dataset("sweep")


def test_a_trajectory_without_completed_runs_has_no_results(tmp_path: pathlib.Path) -> None:
    traj = Trajectory("empty")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0]})
    with StorageService(str(tmp_path / "f.h5")) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        with pytest.raises(DataNotFoundError, match="holds any result"):
            svc.load_dataset("empty")
