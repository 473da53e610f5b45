"""What StorageService refuses (bad arguments, names), and the file left exactly as
it was when a request fails part-way (the per-node layout: see tests/pernode.py)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from pernode import Duck, StorageService, make_traj, node_list, snapshot

from aiostore import (
    AiostoreError,
    DataNotFoundError,
    FileFormatError,
    InvalidArgumentError,
    InvalidNameError,
    ItemExistsError,
    MergeError,
    NoSuchServiceError,
    NotStoredError,
    RemovalError,
    Result,
    Trajectory,
    UnsupportedTypeError,
)

# ---------------------------------------------------------------------------- bad arguments


class TestArguments:
    def test_unknown_message(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            with pytest.raises(NoSuchServiceError) as info:
                svc.store("NOPE", traj)
            assert isinstance(info.value, TypeError)
            with pytest.raises(NoSuchServiceError):
                svc.load("NOPE", traj)

    def test_load_with_store_only_message(self, stored):
        path, traj = stored
        with StorageService(path) as svc:
            for msg in ("BACKUP", "REMOVE", "MERGE", "SINGLE_RUN"):
                with pytest.raises(NoSuchServiceError):
                    svc.load(msg, traj)

    def test_unknown_kwarg(self, stored):
        path, traj = stored
        before = snapshot(path)
        with StorageService(path) as svc:
            with pytest.raises(InvalidArgumentError):
                svc.store("LEAF", traj["results.glob"], nonsense=1)
            with pytest.raises(InvalidArgumentError):
                svc.load("TRAJECTORY", None, trajectory_name="sweep", nonsense=1)
            with pytest.raises(InvalidArgumentError):
                svc.store("TRAJECTORY", traj, "extra positional")
        assert snapshot(path) == before

    def test_wrong_item_type(self, stored):
        path, _ = stored
        with StorageService(path) as svc:
            with pytest.raises(NoSuchServiceError):
                svc.store("TRAJECTORY", Result("results.r", 1))
            with pytest.raises(NoSuchServiceError):
                svc.store("LEAF", object(), trajectory_name="sweep")

    def test_errors_are_aiostore_errors(self):
        for error in (NoSuchServiceError, UnsupportedTypeError, InvalidNameError,
                      DataNotFoundError, ItemExistsError, NotStoredError, InvalidArgumentError,
                      RemovalError, MergeError, FileFormatError):
            assert issubclass(error, AiostoreError)
        assert issubclass(DataNotFoundError, KeyError)


class TestNames:
    def test_invalid_names_before_writing(self, stored):
        path, _ = stored
        before = snapshot(path)
        with pytest.raises(InvalidNameError):
            Result("results.a b", 1)
        with pytest.raises(InvalidNameError):
            Trajectory("1x")
        with pytest.raises(InvalidNameError):
            Result("results.r", **{"a.b": 1})
        with StorageService(path, trajectory_name="sweep") as svc:
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Duck("results.duck", **{"a.b": 1}))
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Duck("results.a b", a=1))
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Duck("results._private", a=1))
            with pytest.raises(InvalidNameError):
                svc.store("LEAF", Result("results.r", 1), trajectory_name="1x")
        assert snapshot(path) == before

    def test_invalid_trajectory_name_creates_no_file(self, path):
        with StorageService(path, trajectory_name="bad name") as svc, pytest.raises(InvalidNameError):
            svc.store("LEAF", Result("results.r", 1))
        assert not os.path.exists(path)

    def test_leaf_below_leaf(self, stored):
        path, _ = stored
        before = snapshot(path)
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(InvalidNameError):
            svc.store("LEAF", Result("results.glob.inner", 1))
        assert snapshot(path) == before


# --------------------------------------------------------------------------- atomic failures


class TestFileUnchanged:
    def test_existing_key(self, stored):
        path, _traj = stored
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(ItemExistsError):
            svc.store("LEAF", Result("results.glob", other=1, arr=2), trajectory_name="sweep")
        assert snapshot(path) == before

    def test_list_with_bad_second_leaf(self, stored):
        path, traj = stored
        good = traj.add_result("good", 1)
        bad = traj.add_result("bad", ok=2, broken=object())
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LIST", [("LEAF", good), ("LEAF", bad)])
        assert snapshot(path) == before
        assert not good.v_stored

    def test_list_with_existing_second_leaf(self, stored):
        path, traj = stored
        good = traj.add_result("good", 1)
        before = snapshot(path)
        with StorageService(path) as svc, pytest.raises(ItemExistsError):
            svc.store("LIST", [("LEAF", good),
                               ("LEAF", Result("results.glob", 1), (),
                                {"trajectory_name": "sweep"})])
        assert snapshot(path) == before
        assert not good.v_stored

    def test_value_failing_part_way(self, stored):
        # the codec accepts the frame, pandas refuses it while writing: 'a' was written first
        path, _ = stored
        before = snapshot(path)
        bad = Result("results.partway", a=np.arange(5),
                     df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", bad)
        assert snapshot(path) == before
        # into an existing leaf: the new key written before the failure is taken back too
        more = Result("results.glob", new=np.arange(3),
                      df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", more)
        assert snapshot(path) == before

    def test_update_failing_part_way_restores_old_value(self, stored):
        path, _ = stored
        before = snapshot(path)
        bad = Result("results.glob", "replaced", df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("UPDATE_LEAF", bad)
        assert snapshot(path) == before
        with StorageService(path, trajectory_name="sweep") as svc:
            assert svc.load("LEAF", Result("results.glob"))["glob"] == 5

    def test_trajectory_store_failing_part_way(self, path):
        traj = make_traj()
        traj.add_result("fine", 1)
        traj.add_result("partway", df=pd.DataFrame([[1, 2]], columns=["c", "c"]))
        with StorageService(path) as svc, pytest.raises(UnsupportedTypeError):
            svc.store("TRAJECTORY", traj)
        assert "/sweep" not in node_list(path)
        assert not traj.v_stored
        assert not traj["results.fine"].v_stored

    def test_oversized_comment(self, stored):
        # the comment attribute is written after the values: a failure there is part-way too
        path, _ = stored
        before = snapshot(path)
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", Result("results.big", 1, comment="x" * 100_000))
        assert snapshot(path) == before

    def test_oversized_comment_on_existing_leaf_keeps_its_attributes(self, stored):
        path, _ = stored
        before = snapshot(path)
        duck = Duck("results.glob", new=np.arange(3))
        duck.v_comment = "x" * 100_000
        with StorageService(path, trajectory_name="sweep") as svc, pytest.raises(UnsupportedTypeError):
            svc.store("LEAF", duck)
        assert snapshot(path) == before  # class name 'Result' and comment 'global' kept
