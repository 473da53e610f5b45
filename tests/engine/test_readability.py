"""Files StorageService wrote, read by plain PyTables, and let go once the service
is closed (the per-node layout: see tests/pernode.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tables
from pernode import StorageService, make_traj

from aiostore import ObjectTable, Result

# ------------------------------------------------------------------------ plain readability


class TestPlainReadability:
    def test_pytables_reads_everything(self, stored):
        path, traj = stored
        traj.add_result("all", arr=np.arange(6).reshape(2, 3), lst=["a", "bc"], d={"k": 1.5},
                        tab=ObjectTable({"a": [1, 2], "b": ["x", "y"]}),
                        df=pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}),
                        ser=pd.Series([1, 2, 3]))
        with StorageService(path) as svc:
            svc.store("TRAJECTORY", traj)
        count = 0
        with tables.open_file(path) as f:
            for node in f.walk_nodes("/"):
                if isinstance(node, (tables.Array, tables.Table)):
                    node.read()
                    count += 1
            np.testing.assert_array_equal(f.get_node("/sweep/results/all/arr").read(),
                                          np.arange(6).reshape(2, 3))
        assert count > 10

    def test_pandas_reads_frame(self, stored):
        path, traj = stored
        df = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]}, index=["r", "s"])
        run = traj.run(2)
        run.add_result("frame", df=df)
        with StorageService(path) as svc:
            svc.store("SINGLE_RUN", run)
        back = pd.read_hdf(path, "/sweep/results/runs/run_set_00000/run_00000002/frame/df")
        pd.testing.assert_frame_equal(back, df)
        with StorageService(path, trajectory_name="sweep") as svc:
            loaded = svc.load("LEAF", Result("results.runs.run_00000002.frame"))
        pd.testing.assert_frame_equal(loaded["df"], df)

    def test_file_title_default(self, stored):
        path, _ = stored
        with tables.open_file(path) as f:
            assert f.title == "Experiment"

    def test_file_title_given(self, tmp_path):
        p = str(tmp_path / "t.h5")
        with StorageService(p, file_title="X") as svc:
            svc.store("TRAJECTORY", make_traj())
        with tables.open_file(p) as f:
            assert f.title == "X"

    def test_compression(self, tmp_path):
        p = str(tmp_path / "c.h5")
        traj = make_traj()
        traj.add_result("big", arr=np.zeros(10_000))
        with StorageService(p, compression="zlib") as svc:
            svc.store("TRAJECTORY", traj)
        with tables.open_file(p) as f:
            node = f.get_node("/sweep/results/big/arr")
            assert node.filters.complib == "zlib"
            np.testing.assert_array_equal(node.read(), np.zeros(10_000))

    def test_file_closed_after_close(self, stored):
        path, _traj = stored
        svc = StorageService(path)
        svc.load("TRAJECTORY", None, trajectory_name="sweep")
        svc.close()
        with tables.open_file(path, "a") as f:  # no other handle keeps it open
            assert "/sweep" in f
