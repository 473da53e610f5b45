"""LEAF and UPDATE_LEAF through StorageService, on real HDF5 files (the per-node
layout: see tests/pernode.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tables
from pernode import Duck, StorageService, leaf_specs, node_class, snapshot

import aiostore
from aiostore import (
    DataNotFoundError,
    InvalidArgumentError,
    ItemExistsError,
    ObjectTable,
    Parameter,
    Result,
    UnsupportedTypeError,
)
from aiostore.engine import nodes

# --------------------------------------------------------------------------------------- LEAF


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

    def test_big_lists_written_in_slices(self, stored, monkeypatch):
        # one write of a million floats held the GIL (and an event loop) 16-23 ms
        path, traj = stored
        slices = []
        write_back = nodes._write_back
        monkeypatch.setattr(nodes, "_write_back", lambda file: slices.append(write_back(file)))
        floats = [index * 0.5 for index in range(400_000)]
        texts = tuple(b"x" * (index % 7) for index in range(300_000))
        r = traj.add_result("big", floats=floats, texts=texts, small=[1.0, 2.0])
        with StorageService(path) as svc:
            svc.store("LEAF", r)
            back = svc.load("LEAF", Result("results.big"), trajectory_name="sweep")
        assert len(slices) >= 4 + 3  # a slice of at most 1 MiB, then a flush, for each big one
        assert back["floats"] == floats
        assert back["texts"] == texts
        assert back["small"] == [1.0, 2.0]
        for key in ("floats", "texts", "small"):
            assert node_class(path, f"/sweep/results/big/{key}") == "Array"  # as before

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
