"""pypet's shared data (ACCESS_DATA) on the shim: one request per operation on the HDF5 thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pypet = pytest.importorskip("pypet", reason="pypet 0.7.0 is installed by the README's test command")
import tables  # noqa: E402
from pypetting import quiet_pypet_and_closed_services  # noqa: E402, F401

from aiostore import errors  # noqa: E402
from aiostore.compat.pypet import HDF5StorageService, pypetconstants  # noqa: E402
from aiostore.testing import assert_exact  # noqa: E402

pytestmark = pytest.mark.usefixtures("quiet_pypet_and_closed_services")


def new_trajectory(path: str) -> Any:
    traj = pypet.Trajectory(name="t", filename=path, storage_service=HDF5StorageService)
    traj.f_store(only_init=True)
    return traj


def reloaded(path: str) -> Any:
    traj = pypet.Trajectory(filename=path, storage_service=HDF5StorageService,
                            dynamic_imports=pypet.SharedResult)
    traj.f_load(name="t", load_data=2)
    return traj


def file_bytes(path: str, traj: Any) -> bytes:
    traj.v_storage_service.store(pypetconstants.CLOSE_FILE, None)
    return Path(path).read_bytes()


def test_table_rows_appended_through_row_are_in_the_file(path: str) -> None:
    traj = new_trajectory(path)
    table = traj.f_add_result(pypet.SharedResult, "tab", pypet.SharedTable()).f_get()
    table.create_shared_data(first_row={"idx": 0, "name": b"zero", "v": np.zeros(3)})
    with pypet.StorageContextManager(traj):
        for idx in range(1, 2001):
            row = table.row
            row["idx"], row["name"], row["v"] = idx, b"run", np.full(3, idx / 2)
            row.append()
        table.flush()
        rows = list(table.iterrows())  # records read at once, not rows of the open file
    assert [row["idx"] for row in rows] == list(range(2001))
    again = reloaded(path)
    table = again.f_get("results.tab").f_get()
    assert table.nrows == 2001
    np.testing.assert_array_equal(table.read(field="v")[7], np.full(3, 3.5))
    file_bytes(path, again)
    with tables.open_file(path) as h5:  # plain PyTables reads the table
        assert h5.get_node("/t/results/tab/tab").nrows == 2001


def test_arrays_change_in_place_and_frames_append(path: str) -> None:
    traj = new_trajectory(path)
    res = traj.f_add_result(pypet.SharedResult, "arrays")
    res["carray"] = pypet.SharedCArray()
    res["carray"].create_shared_data(obj=np.zeros((4, 3)))
    res["frame"] = pypet.SharedPandasFrame()
    res["frame"].create_shared_data(data=pd.DataFrame({"a": [1, 2]}))
    traj.f_store()
    res["carray"][2, 1] = 7.0
    res["frame"].append(pd.DataFrame({"a": [3]}, index=[2]))
    again = reloaded(path).f_get("results.arrays")
    assert again["carray"][2, 1] == 7.0
    assert again["frame"].read()["a"].tolist() == [1, 2, 3]
    assert len(again["frame"].select(where="index == 2")) == 1


def test_the_data_node_stand_in_asks_the_hdf5_thread(path: str) -> None:
    traj = new_trajectory(path)
    table = traj.f_add_result(pypet.SharedResult, "tab", pypet.SharedTable()).f_get()
    table.create_shared_data(first_row={"idx": 0})
    with pypet.StorageContextManager(traj):
        for idx in range(1, 10):
            row = table.row
            row["idx"] = idx
            row.append()
        node = table.get_data_node()
        node.remove_rows(5, 10)
        assert node.nrows == 5
        with pytest.raises(errors.InvalidArgumentError, match="HDF5 thread"):
            table._request_data("cols")


def test_made_ordinary_a_ragged_vlarray_is_refused_and_left_shared(path: str) -> None:
    traj = new_trajectory(path)
    res = traj.f_add_result(pypet.SharedResult, "ragged")
    res["vla"] = pypet.SharedVLArray()
    res["vla"].create_shared_data(obj=np.arange(2.0))
    traj.f_store()
    res["vla"].append(np.arange(5.0))
    before = file_bytes(path, traj)
    with pytest.raises(errors.UnsupportedTypeError, match="shape"):
        pypet.make_ordinary_result(res, "vla", trajectory=traj)
    assert file_bytes(path, traj) == before
    vla = reloaded(path).f_get("results.ragged")["vla"]
    assert [vla[0].tolist(), vla[1].tolist()] == [[0.0, 1.0], [0.0, 1.0, 2.0, 3.0, 4.0]]


def test_an_ordinary_value_made_shared_and_back_keeps_its_type(path: str) -> None:
    traj = new_trajectory(path)
    res = traj.f_add_result(pypet.SharedResult, "mylist", [1, 2, 3])
    traj.f_store()
    shared = pypet.make_shared_result(res, "mylist", trajectory=traj)
    with pypet.StorageContextManager(traj):
        shared["mylist"][0] = 4
    pypet.make_ordinary_result(shared, "mylist", trajectory=traj)
    assert_exact(reloaded(path).f_get("results.mylist").mylist, [4, 2, 3])
