"""Fixtures of the tests of each message through StorageService (see tests/pernode.py)."""

from __future__ import annotations

import numpy as np
import pytest
from pernode import StorageService, make_traj

from aiostore import Msg


@pytest.fixture
def stored(path):
    """A file with trajectory 'sweep' (3 runs), one global result and run 1 completed."""
    traj = make_traj()
    traj.add_result("glob", 5, arr=np.arange(4), comment="global")
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        run = traj.run(1)
        run.add_result("z", run["x"] * run["y"])
        svc.store("SINGLE_RUN", run)
    return path, traj
