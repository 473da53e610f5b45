"""What the tests of each message in tests/engine/ share: the service in the per-node layout,
a trajectory to store, a duck-typed leaf, and looks at the file with plain PyTables."""

from __future__ import annotations

import json

import numpy as np
import tables

import aiostore
from aiostore import Trajectory


class StorageService(aiostore.StorageService):
    """The service in the per-node layout, whose groups and nodes these tests look at (runs'
    results packed as rows, the default, are tested in engine/test_packing.py and core/test_framing.py)."""

    def __init__(self, *args, packed_runs: bool = False, **kwargs) -> None:
        super().__init__(*args, packed_runs=packed_runs, **kwargs)


def make_traj(name: str = "sweep", xs=(1.0, 2.0, 3.0), comment: str = "c") -> Trajectory:
    traj = Trajectory(name, comment=comment)
    traj.add_parameter("x", xs[0], comment="the x")
    traj.add_parameter("y", 10)
    traj.add_config("seed", 42)
    traj.explore({"x": list(xs), "y": [10 * (i + 1) for i in range(len(xs))]})
    return traj


def node_list(path: str) -> list[str]:
    with tables.open_file(path) as f:
        return sorted(n._v_pathname for n in f.walk_nodes("/"))


def snapshot(path: str) -> dict[str, dict[str, str]]:
    """Every node with its user attributes and, for datasets, the data read back."""
    out: dict[str, dict[str, str]] = {}
    with tables.open_file(path) as f:
        for node in f.walk_nodes("/"):
            attrs = {k: repr(node._v_attrs[k]) for k in node._v_attrs._v_attrnamesuser}
            if isinstance(node, tables.Leaf):
                attrs["__data__"] = repr(node.read())
            out[node._v_pathname] = attrs
    return out


def leaf_specs(path: str, where: str) -> dict:
    with tables.open_file(path) as f:
        return json.loads(f.get_node(where)._v_attrs["SRVC_LEAF"])


def node_class(path: str, where: str) -> str:
    with tables.open_file(path) as f:
        return type(f.get_node(where)).__name__


def run_table(path: str, traj: str = "sweep") -> np.ndarray:
    with tables.open_file(path) as f:
        return f.get_node(f"/{traj}/overview/runs").read()


class Duck:
    """A duck-typed leaf: not an aiostore class."""

    def __init__(self, full_name: str, flags: dict | None = None, **data):
        self.v_full_name = full_name
        self.v_comment = "duck"
        self.data = dict(data)
        self.flags = flags or {}
        self.loaded = None

    def _store(self):
        return dict(self.data)

    def _load(self, load_dict):
        self.loaded = dict(load_dict)

    def _store_flags(self):
        return dict(self.flags)
