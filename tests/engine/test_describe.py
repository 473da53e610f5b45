"""describe(): a trajectory's items, types, shapes and sizes from the file's metadata alone."""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import pytest
import tables

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    FileFormatError,
    InvalidNameError,
    KeyInfo,
    Msg,
    NodeInfo,
    Result,
    StorageService,
    Trajectory,
)
from aiostore.engine import nodes


def make_file(path: str, packed: bool = False) -> None:
    traj = Trajectory("sweep")
    traj.add_parameter("x", 1.0)
    traj.add_parameter("name", "a")
    traj.add_config("seed", 42)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    traj.add_result("table", df=pd.DataFrame({"a": [1, 2, 3], "b": [1.0, 2.0, 3.0]}),
                    s=pd.Series([1, 2]), d={"m": 1.0, "n": 2}, words=["ab", "c"])
    with StorageService(path, packed_runs=packed) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for index in range(2):
            run = traj.run(index)
            run.add_result("z", float(index), trace=np.arange(5.0), stats={"m": 1.0, "k": 2})
            svc.store(Msg.SINGLE_RUN, run)


def by_name(infos: list[NodeInfo]) -> dict[str, NodeInfo]:
    return {info.full_name: info for info in infos}


@pytest.mark.parametrize("packed", [False, True])
def test_describe_gives_kinds_types_shapes_and_sizes(tmp_path: pathlib.Path, packed: bool) -> None:
    path = str(tmp_path / "f.h5")
    make_file(path, packed)
    with StorageService(path) as svc:
        infos = svc.describe("sweep")
    names = [info.full_name for info in infos]
    assert names == sorted(names, key=lambda name: tuple(name.split(".")))
    found = by_name(infos)
    x = found["parameters.x"]
    assert (x.kind, x.class_name, x.explored_length) == ("parameter", "Parameter", 3)
    assert x.keys[0] == KeyInfo("data", "ARRAY", "float", (), "<f8", 8)
    assert x.keys[1] == KeyInfo("explored_data", "ARRAY", "list[float]", (3,), "<f8", 24)
    assert found["parameters.name"].explored_length is None
    assert found["parameters.name"].keys[0].type_name == "str"
    assert found["config.seed"].kind == "config"
    table = {key.name: key for key in found["results.table"].keys}
    assert (table["df"].type_name, table["df"].shape, table["df"].flag) == ("DataFrame", (3, 2), "FRAME")
    assert (table["s"].type_name, table["s"].shape) == ("Series", (2,))
    assert (table["d"].type_name, table["d"].shape, table["d"].nbytes) == ("dict", (2,), 16)
    assert table["words"].type_name == "list[str]"
    assert found["results.runs.run_00000001"].kind == "group"  # made up for packed rows
    z = found["results.runs.run_00000001.z"]
    assert (z.kind, z.packed, z.problem) == ("result", packed, "")
    keys = {key.name: key for key in z.keys}
    assert keys["z"] == KeyInfo("z", "ARRAY", "float", (), "<f8", 8)
    assert keys["trace"] == KeyInfo("trace", "CARRAY", "ndarray", (5,), "<f8", 40)
    assert (keys["stats"].type_name, keys["stats"].shape, keys["stats"].nbytes) == ("dict", (2,), 16)
    assert z.nbytes == 8 + 40 + 16
    assert "overview" not in {info.path[0] for info in infos}


@pytest.mark.parametrize("packed", [False, True])
def test_describe_narrows_to_a_path_and_a_depth(tmp_path: pathlib.Path, packed: bool) -> None:
    path = str(tmp_path / "f.h5")
    make_file(path, packed)
    with StorageService(path) as svc:
        run = svc.describe("sweep", "results.runs.run_00000000")
        leaf = svc.describe("sweep", "results.runs.run_00000000.z")
        shallow = svc.describe("sweep", "results", max_depth=1)
        alone = svc.describe("sweep", "results", recursive=False)
    assert [info.full_name for info in run] == ["results.runs.run_00000000",
                                                "results.runs.run_00000000.z"]
    assert [info.full_name for info in leaf] == ["results.runs.run_00000000.z"]
    assert [info.full_name for info in shallow] == ["results", "results.runs", "results.table"]
    assert [info.full_name for info in alone] == ["results"]


def test_describe_refuses_what_is_not_there(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_file(path)
    with StorageService(path) as svc:
        with pytest.raises(DataNotFoundError, match="no trajectory"):
            svc.describe("other")
        with pytest.raises(DataNotFoundError, match="no item"):
            svc.describe("sweep", "results.nothing")
        with pytest.raises(DataNotFoundError, match="not an item"):
            svc.describe("sweep", "parameters.x.data")
        with pytest.raises(InvalidNameError):
            svc.describe("sweep", "results.no such")


def test_describe_reads_no_data(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "f.h5")
    make_file(path)

    def refuse(*args: object) -> None:
        raise AssertionError("describe read a value")

    monkeypatch.setattr(nodes, "read_value", refuse)
    monkeypatch.setattr(tables.Array, "read", refuse)
    monkeypatch.setattr(tables.Table, "read", refuse)
    with StorageService(path) as svc:
        assert len(svc.describe("sweep")) > 10


def test_a_damaged_leaf_is_described_with_its_problem_and_refused_on_load(
        tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_file(path)
    with tables.open_file(path, "a") as h5:
        h5.get_node("/sweep/results/table")._v_attrs["SRVC_LEAF"] = "{not json"
        h5.remove_node("/sweep/results/runs/run_set_00000/run_00000000/z/z")
        h5.create_array("/sweep/results/runs/run_set_00000/run_00000000/z", "z", obj=np.array([b"garbage"]))
        h5.remove_node("/sweep/results/runs/run_set_00000/run_00000001/z/trace")
    with StorageService(path) as svc:
        found = by_name(svc.describe("sweep"))
        assert "unreadable metadata" in found["results.table"].problem
        assert found["results.runs.run_00000001.z"].problem == "no data node for trace"
        assert found["results.runs.run_00000000.z"].problem == ""
        with pytest.raises(FileFormatError, match="run_00000000/z/z"):
            svc.load(Msg.LEAF, Result("results.runs.run_00000000.z"), trajectory_name="sweep")


@pytest.mark.anyio
async def test_the_async_service_describes_too(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "f.h5")
    make_file(path, packed=True)
    async with AsyncStorageService(path, trajectory_name="sweep") as svc:
        infos = await svc.describe(path="results.runs")
    assert [info.full_name for info in infos if info.is_leaf] == [
        "results.runs.run_00000000.z", "results.runs.run_00000001.z"]
