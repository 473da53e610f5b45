"""Files written by pypet 0.6.1 (numpy 1.26), read by aiostore on numpy 2, without pypet.

The files and what pypet itself loads from them (``<file>.expected.json``) were written by
tests/data/make_pypet_files.py in a side virtualenv (see its docstring); every value aiostore
loads is compared, type and all, with pypet's own load of the same file.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    FileFormatError,
    Msg,
    ObjectTable,
    Parameter,
    ReadOnlyTrajectoryError,
    Result,
    StorageService,
    Trajectory,
    UnsupportedFeatureError,
)
from aiostore.compat.pypet import HDF5StorageService
from tests.exactness import assert_exact

DATA = pathlib.Path(__file__).parents[1] / "data" / "pypet"
READABLE = ["environment.h5", "types.h5", "merged.h5"]

# Where aiostore deliberately gives back what pypet stored rather than what pypet 0.6 loads
# (the tests then compare with the value as it was given to pypet, in the manifest's "stored"):
# pandas 2's to_dict boxes the numpy scalars of a dict into python ones; the file records
# the numpy type, and aiostore restores it.
STORED_NOT_LOADED = {("types.h5", "results.everything", "a_dict")}
# What pypet's file no longer holds: such values come back as pypet itself loads them.
PYPET_LOSSES = {
    "a_frame": "pandas' fixed format gives a RangeIndex back as an int64 Index",
    "a_series": "pandas' fixed format gives a RangeIndex back as an int64 Index",
    "an_object_table": "pypet's table has its columns in the order of their names",
}


# ------------------------------------------------------------------------- the manifests


def _float(text: str) -> float:
    return float(text)


def untag(tagged: dict[str, Any]) -> Any:
    """The value a tagged JSON form (make_pypet_files.tag) stands for, rebuilt exactly."""
    kind = tagged["t"]
    if kind in _SIMPLE:
        return _SIMPLE[kind](tagged)
    if kind == "np":
        return np.dtype(tagged["dtype"]).type(untag(tagged["v"]))
    if kind == "ndarray":
        return _array(tagged)
    if kind == "matrix":
        return np.asmatrix(_array(tagged["array"]))
    if kind in ("list", "tuple"):
        items = [untag(item) for item in tagged["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {key: untag(item) for key, item in zip(tagged["keys"], tagged["items"],
                                                       strict=True)}
    return _FRAMES[kind](tagged)


_SIMPLE = {
    "bool": lambda t: bool(t["v"]),
    "int": lambda t: int(t["v"]),
    "float": lambda t: float(t["v"]),
    "complex": lambda t: complex(float(t["re"]), float(t["im"])),
    "str": lambda t: str(t["v"]),
    "bytes": lambda t: bytes.fromhex(t["hex"]),
}


def _array(tagged: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(tagged["dtype"])
    data = [untag(v) if isinstance(v, dict) else v for v in tagged["data"]]
    if dtype.kind == "f":
        data = [float(v) if isinstance(v, str) else v for v in data]
    return np.array(data, dtype=dtype).reshape(tagged["shape"])


def _index(tagged: dict[str, Any], values: list[Any], dtype: Any = np.int64) -> pd.Index:
    if tagged["range_index"]:
        return pd.RangeIndex(len(values))
    return pd.Index(values, dtype=dtype)


def _object_table(tagged: dict[str, Any]) -> ObjectTable:
    columns = {name: [untag(cell) for cell in tagged["cells"][name]] for name in tagged["columns"]}
    return ObjectTable(columns, index=_index(tagged, [untag(i) for i in tagged["index"]]))


def _frame(tagged: dict[str, Any]) -> pd.DataFrame:
    split = tagged["split"]
    frame = pd.DataFrame(split["data"], columns=pd.Index(split["columns"]),
                         index=_index(tagged, split["index"], tagged["index_dtype"]))
    for position, dtype in enumerate(tagged["dtypes"]):
        frame.isetitem(position, frame.iloc[:, position].to_numpy(dtype=np.dtype(dtype)))
    return frame


def _series(tagged: dict[str, Any]) -> pd.Series:
    index = _index(tagged, [untag(i) for i in tagged["index"]])
    values = np.array([untag(v) for v in tagged["values"]], dtype=tagged["dtype"])
    return pd.Series(values, index=index, name=tagged["name"])


_FRAMES = {"ObjectTable": _object_table, "DataFrame": _frame, "Series": _series}


def manifest(filename: str) -> dict[str, Any]:
    with open(DATA / f"{filename}.expected.json", encoding="utf-8") as source:
        loaded: dict[str, Any] = json.load(source)
    return loaded


def _load(filename: str, name: str) -> Trajectory:
    return _load_path(DATA / filename, name)


def _load_path(path: pathlib.Path, name: str) -> Trajectory:
    with StorageService(str(path)) as svc:
        traj: Trajectory = svc.load(Msg.TRAJECTORY, None, trajectory_name=name,
                                    load_parameters=2, load_derived_parameters=2,
                                    load_results=2, load_other_data=2)
    return traj


def _cases(filenames: list[str]) -> list[tuple[str, str]]:
    return [(filename, name) for filename in filenames for name in manifest(filename)["trajectories"]]


# ---------------------------------------------------------------------------- the values


@pytest.mark.parametrize(("filename", "name"), _cases(READABLE))
def test_every_value_is_what_pypet_loads(filename: str, name: str) -> None:
    expected = manifest(filename)["trajectories"][name]
    traj = _load(filename, name)
    leaves = {leaf.v_full_name: leaf for leaf in traj.leaves()}
    assert sorted(leaves) == sorted(expected["leaves"])
    for full_name, record in expected["leaves"].items():
        leaf = leaves[full_name]
        assert "error" not in record, record
        assert leaf.v_comment == record["comment"], full_name
        assert leaf.v_stored_class == record["class"], full_name  # type: ignore[attr-defined]
        if "value" in record:
            assert isinstance(leaf, Parameter), full_name
            assert_exact(leaf.value, untag(record["value"]), full_name)
            expected_range = [untag(v) for v in record["range"]] if "range" in record else None
            assert_exact(leaf.range, expected_range, f"{full_name} range")
            continue
        assert isinstance(leaf, Result), full_name
        assert list(leaf.data) == list(record["values"]), full_name
        for key, loaded in record["values"].items():
            stored = (filename, full_name, key) in STORED_NOT_LOADED
            expected_value = untag(record["stored"][key] if stored else loaded)
            assert_exact(leaf[key], expected_value, f"{full_name}.{key}")


def test_values_are_those_given_to_pypet() -> None:
    """Beyond pypet's own load: each value as it was given to pypet (types.h5)."""
    leaves = manifest("types.h5")["trajectories"]["types"]["leaves"]
    traj = _load("types.h5", "types")
    everything = leaves["results.everything"]
    for key, stored in everything["stored"].items():
        expected = everything["values"][key] if key in PYPET_LOSSES else stored
        assert_exact(traj["results.everything"][key], untag(expected), key)
    for full_name, record in leaves.items():
        if full_name.startswith("parameters.kinds."):
            assert_exact(traj[full_name].value, untag(record["stored"]), full_name)


@pytest.mark.parametrize(("filename", "name"), _cases(READABLE))
def test_trajectory_comment_groups_and_explored(filename: str, name: str) -> None:
    expected = manifest(filename)["trajectories"][name]
    traj = _load(filename, name)
    assert traj.v_comment == expected["comment"]
    assert len(traj) == expected["length"]
    explored = sorted(p for p, param in traj.parameters.items() if param.is_explored)
    assert explored == expected["explored"]
    groups = sorted(g.v_full_name for g in traj.groups())
    assert set(expected["groups"]) <= set(groups)


@pytest.mark.parametrize(("filename", "name"), _cases(READABLE))
def test_run_table(filename: str, name: str) -> None:
    expected = manifest(filename)["trajectories"][name]["runs"]
    traj = _load(filename, name)
    assert [run.name for run in traj.runs] == [run["name"] for run in expected]
    assert [run.completed for run in traj.runs] == [bool(run["completed"]) for run in expected]
    assert [run.timestamp for run in traj.runs] == [run["timestamp"] for run in expected]
    assert [run.finish_timestamp for run in traj.runs] == [run["finish_timestamp"]
                                                             for run in expected]
    assert [run.parameter_summary for run in traj.runs] == [run["parameter_summary"]
                                                              for run in expected]


def test_environment_run_and_config() -> None:
    """An Environment's run: completed runs, results per run, config groups as parameters."""
    traj = _load("environment.h5", "sweep")
    assert all(run.completed for run in traj.runs)
    assert len(traj) == 4
    assert traj["parameters.x"].range == [1.0, 2.0, 3.0, 4.0]
    assert traj["parameters.label"].range == ["first", "second", "third", "fourth"]
    assert traj["results.runs.run_00000002.z"]["z"] == 30.0
    table = traj["results.runs.run_00000001.nested.deeper.table"]["frame"]
    assert list(table["v"]) == [0.0, 20.0, 40.0]
    config = [leaf for leaf in traj.leaves() if leaf.v_full_name.startswith("config.")]
    assert config
    assert all(isinstance(leaf, Parameter) for leaf in config)
    assert traj["config.hdf5.complevel"].value == 9
    weights = traj["parameters.model.weights"]
    assert weights.v_stored_class == "ArrayParameter"


def test_merged_trajectory() -> None:
    traj = _load("merged.h5", "merged")
    assert traj["parameters.x"].range == [1.0, 2.0, 3.0, 4.0]
    squares = [traj[f"results.runs.run_{i:08d}.sq"]["sq"] for i in range(4)]
    assert squares == [1.0, 4.0, 9.0, 16.0]


# ----------------------------------------------------------------------- loads of parts


def test_leaf_with_load_only_and_load_except() -> None:
    with StorageService(str(DATA / "types.h5")) as svc:
        result = svc.load(Msg.LEAF, Result("results.everything"), trajectory_name="types",
                          load_only=["a_dict", "str_list"])
        assert list(result.data) == ["a_dict", "str_list"]
        assert result["str_list"] == ["a", "bb", "ccc"]
        rest = svc.load(Msg.LEAF, Result("results.everything"), trajectory_name="types",
                        load_except=["a_frame"])
        assert "a_frame" not in rest.data
        assert "a_series" in rest.data
        param = svc.load(Msg.LEAF, Parameter("parameters.explored.n"), trajectory_name="types",
                         load_only="explored_data")
        assert param.range == [1, 2, 3]
        with pytest.raises(DataNotFoundError, match="nothing_here"):
            svc.load(Msg.LEAF, Result("results.everything"), trajectory_name="types",
                     load_only=["nothing_here"])


def test_tree_load_and_the_pypet_shim() -> None:
    with HDF5StorageService(filename=str(DATA / "environment.h5")) as svc:
        traj = Trajectory("sweep")
        svc.load(Msg.TREE, traj, "results.runs.run_00000000", trajectory_name="sweep")
        loaded = svc.load(Msg.TRAJECTORY, None, trajectory_name="sweep", load_results=1)
    trace = traj["results.runs.run_00000000.trace"]
    assert trace["steps"] == (10, 11)
    assert trace["info"] == {"label": "first", "x": 1.0, "y": 10}
    assert loaded["results.runs.run_00000003.z"].data == {}  # a skeleton


@pytest.mark.anyio
async def test_async_load_list_and_describe(anyio_backend: str) -> None:
    async with AsyncStorageService(str(DATA / "types.h5")) as svc:
        assert await svc.list_trajectories() == ["types"]
        traj = await svc.load(Msg.TRAJECTORY, None, trajectory_name="types",
                              load_parameters=2, load_results=2)
        assert traj["parameters.arrays.explored"].range[1].tolist() == [1.0, 1.0]
        infos = {info.full_name: info for info in await svc.describe("types")}
    assert infos["results"].kind == "group"
    everything = {key.name: key for key in infos["results.everything"].keys}
    assert everything["an_array"].shape == (3, 4)
    assert everything["an_array"].dtype == "<f8"
    assert everything["int_tuple"].type_name == "tuple[int]"
    assert everything["a_frame"].type_name == "DataFrame"
    assert infos["parameters.explored.n"].explored_length == 3
    arrays = infos["parameters.arrays.explored"]
    assert arrays.explored_length == 3
    assert [key.name for key in arrays.keys] == ["data", "explored_data"]
    assert infos["parameters.kinds.an_int"].kind == "parameter"
    assert "overview" not in {info.path[0] for info in infos.values()}


def test_list_trajectories_of_every_file() -> None:
    for filename in [*READABLE, "odd.h5"]:
        with StorageService(str(DATA / filename)) as svc:
            assert svc.list_trajectories() == sorted(manifest(filename)["trajectories"])


# --------------------------------------------------------------- what aiostore refuses


@pytest.mark.parametrize(("full_name", "feature"), [
    ("parameters.pickled", "PickleParameter"),
    ("parameters.sparse", "sparse"),
    ("results.pickled_result", "PickleResult"),
    ("results.annotated", "annotations (source, unit)"),
])
def test_unsupported_features_name_node_and_feature(full_name: str, feature: str) -> None:
    item = Result(full_name) if full_name.startswith("results") else Parameter(full_name)
    with (StorageService(str(DATA / "odd.h5")) as svc,
          pytest.raises(UnsupportedFeatureError, match=re.escape(feature)) as caught):
        svc.load(Msg.LEAF, item, trajectory_name="odd")
    assert caught.value.node == "/odd/" + full_name.replace(".", "/")
    assert feature in caught.value.feature


def test_describe_reports_what_would_be_refused() -> None:
    with StorageService(str(DATA / "odd.h5")) as svc:
        infos = {info.full_name: info for info in svc.describe("odd")}
    assert infos["results.annotated"].problem == "pypet annotations (source, unit) (not loaded)"
    assert infos["results.plain"].problem == ""


def test_a_mixed_list_pypet_cannot_load_is_an_error_naming_it() -> None:
    odd = manifest("odd.h5")["trajectories"]["odd"]
    assert odd["leaves"]["results.mixed"]["values"] == {}  # pypet's own load fails on it:
    assert "invalid literal for int()" in odd["load_errors"]["<load>"]  # stopped, left empty
    with (StorageService(str(DATA / "odd.h5")) as svc,
          pytest.raises(FileFormatError, match="/odd/results/mixed")):
        svc.load(Msg.LEAF, Result("results.mixed"), trajectory_name="odd")


def test_links_are_not_items() -> None:
    traj = _load("types.h5", "types")
    assert "linked_x" not in traj
    assert "results.linked_single" not in traj
    assert traj["results.a_single"]["a_single"] == 3.25


def test_an_int_pypet_wrapped_is_refused_not_loaded_wrong() -> None:
    record = manifest("odd.h5")["trajectories"]["odd"]["leaves"]["parameters.big_int"]
    assert untag(record["value"]) == 0
    assert untag(record["stored"]) == 2**40
    with StorageService(str(DATA / "odd.h5")) as svc:
        with pytest.raises(FileFormatError, match=r"/odd/parameters/big_int.*1099511627776"):
            svc.load(Msg.LEAF, Parameter("parameters.big_int"), trajectory_name="odd")
        fine = svc.load(Msg.LEAF, Parameter("parameters.fine"), trajectory_name="odd")
        assert fine.value == 5
        plain = svc.load(Msg.LEAF, Result("results.plain"), trajectory_name="odd")
        assert plain["value"].tolist() == [0, 1, 2]
        with pytest.raises(FileFormatError, match="/odd/parameters/"):  # the first bad leaf
            svc.load(Msg.TRAJECTORY, None, trajectory_name="odd", load_parameters=2)
        skeleton = svc.load(Msg.TRAJECTORY, None, trajectory_name="odd", load_parameters=1,
                            load_results=1)
    assert "parameters.pickled" in skeleton


@pytest.mark.parametrize("store", ["leaf", "trajectory", "remove", "single_run"])
def test_stores_into_a_pypet_trajectory_are_refused(tmp_path: pathlib.Path, store: str) -> None:
    path = tmp_path / "types.h5"
    shutil.copyfile(DATA / "types.h5", path)
    before = path.read_bytes()
    with StorageService(str(path)) as svc:
        traj = svc.load(Msg.TRAJECTORY, None, trajectory_name="types", load_results=2)
        if store == "leaf":
            call = (Msg.LEAF, Result("results.new", 1.0))
        elif store == "trajectory":
            traj.add_result("another", 2.0)
            call = (Msg.TRAJECTORY, traj)
        elif store == "remove":
            call = (Msg.REMOVE, traj["results.a_single"])
        else:
            run = traj.run(0)
            run.add_result("z", 1)
            call = (Msg.SINGLE_RUN, run)
        with pytest.raises(ReadOnlyTrajectoryError, match="pypet"):
            svc.store(*call, trajectory_name="types")
    assert path.read_bytes() == before


@pytest.mark.anyio
async def test_async_store_refused_file_unchanged(tmp_path: pathlib.Path,
                                                  anyio_backend: str) -> None:
    path = tmp_path / "environment.h5"
    shutil.copyfile(DATA / "environment.h5", path)
    before = path.read_bytes()
    async with AsyncStorageService(str(path)) as svc:
        with pytest.raises(ReadOnlyTrajectoryError):
            await svc.store(Msg.LEAF, Result("results.new", x=1), trajectory_name="sweep")
    assert path.read_bytes() == before


# ------------------------------------------------------------------- the aiostore command


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiostore", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_command_ls_show_export_on_pypet_files(tmp_path: pathlib.Path) -> None:
    listing = _command("ls", str(DATA / "environment.h5"))
    assert listing.returncode == 0, listing.stderr
    assert "sweep/  [trajectory, 4 runs, 4 completed]" in listing.stdout
    assert "config/" in listing.stdout
    runs = _command("show", str(DATA / "environment.h5"), "sweep.runs")
    assert runs.returncode == 0, runs.stderr
    assert "run_00000003  yes" in runs.stdout
    param = _command("show", str(DATA / "types.h5"), "types.parameters.explored.n")
    assert "explored range (3 runs): [1, 2, 3]" in param.stdout
    exported = _command("export", str(DATA / "environment.h5"), "sweep.z", "-")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines() == ["run,label,x,y,z", "0,first,1.0,10,10.0",
                                            "1,second,2.0,20,40.0", "2,third,3.0,10,30.0",
                                            "3,fourth,4.0,20,80.0"]
    out = tmp_path / "trace.npz"
    arrays = _command("export", str(DATA / "environment.h5"), "sweep.trace", str(out),
                      "--arrays")
    assert arrays.returncode == 0, arrays.stderr
    with np.load(out) as npz:
        assert npz["trace"].tolist()[1] == [0.0, 2.0, 4.0, 6.0]


def test_command_names_what_it_cannot_read() -> None:
    shown = _command("show", str(DATA / "odd.h5"), "odd.parameters.pickled")
    assert shown.returncode == 4
    assert "/odd/parameters/pickled: a PickleParameter" in shown.stderr
    checked = _command("check", str(DATA / "odd.h5"))
    assert checked.returncode == 1
    assert "odd.parameters.big_int: error:" in checked.stdout
    assert "odd.parameters.sparse: error:" in checked.stdout
    assert _command("check", str(DATA / "types.h5")).returncode == 0


@pytest.mark.parametrize(("filename", "name"), _cases(READABLE))
def test_a_pypet_trajectory_stored_again_in_aiostores_layout(tmp_path: pathlib.Path,
                                                             filename: str, name: str) -> None:
    """What is read from pypet's file is stored into a new file by aiostore and read back the
    same: the way to continue a pypet trajectory with aiostore."""
    traj = _load(filename, name)
    traj.v_stored = False
    for leaf in traj.leaves():
        leaf.v_stored = False
    with StorageService(str(tmp_path / "converted.h5")) as svc:
        svc.store(Msg.TRAJECTORY, traj)
    again = _load_path(tmp_path / "converted.h5", name)
    assert sorted(leaf.v_full_name for leaf in again.leaves()) == sorted(
        leaf.v_full_name for leaf in traj.leaves())
    for leaf in traj.leaves():
        assert_exact(again[leaf.v_full_name].data, leaf.data, leaf.v_full_name)
    def rows(t: Trajectory) -> list[tuple[Any, ...]]:  # summaries are aiostore's own again
        return [(r.idx, r.completed, r.timestamp, r.finish_timestamp) for r in t.runs]

    assert rows(again) == rows(traj)
