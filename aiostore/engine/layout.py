"""Where things are in the file and the attributes that mark them (see docs/FORMAT.md).

An item's path (its full name split at the dots) is the path of its group below the
trajectory's, with one exception, made here and nowhere else (:func:`stored_path`): in a
trajectory whose group has the attribute ``SRVC_RUN_SETS`` (every trajectory aiostore's
services create since issue 18), a run's group lies in a run set of ``SRVC_RUN_SETS`` runs,
as pypet's ``run_set_XXXXX``: ``results.runs.run_00001234.r`` is
``/<traj>/results/runs/run_set_00001/run_00001234/r``, so that no group holds more than a few
thousand children (PyTables slows down past 16,384). Trajectories written before keep their
flat ``runs/run_XXXXXXXX`` and are written flat: one trajectory never mixes the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tables

from .._core.names import RUNS_GROUP, run_index
from .._core.requests import Path
from ..codec import Spec, loads_specs
from .files import RunSetsKey

if TYPE_CHECKING:
    from .files import OpenFile

CLASS_NAME = "SRVC_INIT_CLASS_NAME"
COMMENT = "SRVC_INIT_COMMENT"
LEAF = "SRVC_LEAF"
TIMESTAMP = "SRVC_TIMESTAMP"
TIME = "SRVC_TIME"
FORMAT = "SRVC_FORMAT"
SHARED = "SRVC_SHARED"  # a leaf's shared data, see aiostore.engine.shared
RUN_SETS = "SRVC_RUN_SETS"  # on the trajectory's group: runs per run set
FORMAT_VERSION = "aiostore-1"
TRAJECTORY_CLASS = "Trajectory"

OVERVIEW = "overview"
RUN_TABLE = "runs"
RESERVED_ROOT_CHILDREN = frozenset({OVERVIEW})

# Runs per run set of the trajectories created from now on (0 creates them flat, as before
# issue 18); a trajectory's own size is its SRVC_RUN_SETS.
RUN_SET_SIZE = 1000
RUN_SET_FORMAT = "run_set_%05d"  # pypet's
RUN_BRANCHES = ("results", "derived_parameters")  # the branches whose runs group is bucketed


def is_run_set_name(name: str) -> bool:
    """Whether ``name`` is a run set's: ``run_set_`` and five or more digits."""
    return name.startswith("run_set_") and len(name) >= 13 and name[8:].isdigit()


def is_runs_path(path: Path) -> bool:
    """Whether ``path`` is a runs group whose runs lie in run sets (``results.runs``,
    ``derived_parameters.runs``) in a trajectory that has them."""
    return len(path) == 2 and path[1] == RUNS_GROUP and path[0] in RUN_BRANCHES


def stored_path(path: Path, run_sets: int, run: int | None = None) -> Path:
    """The names in the file of the item at ``path``, in a trajectory of ``run_sets`` runs per
    run set (0: flat): a run's group goes in its set, anything else where its name says.
    ``run``: the index of the run ``path`` names, where it is known (not parsed again)."""
    if run_sets and len(path) > 2 and path[1] == RUNS_GROUP and path[0] in RUN_BRANCHES:
        idx = run_index(path[2]) if run is None else run
        if idx is not None:
            return (path[0], RUNS_GROUP, RUN_SET_FORMAT % (idx // run_sets), *path[2:])
    return path


def reserved_by_run_sets(path: Path, run_sets: int) -> bool:
    """Whether ``path`` names an item a trajectory with run sets cannot hold: a run set's name
    directly below a runs group is the set's."""
    return (bool(run_sets) and len(path) > 2 and is_runs_path(path[:2])
            and is_run_set_name(path[2]))


def node_path(trajectory: str, path: Path, run_sets: int = 0) -> str:
    """The HDF5 path of the item at ``path`` below trajectory ``trajectory``, whose runs lie in
    sets of ``run_sets`` (:func:`run_sets`; 0, flat, is right only for paths of no run's item:
    the overview's, pypet trajectories', and names in the file as :func:`stored_path` gives
    them)."""
    return "/" + "/".join((trajectory, *stored_path(path, run_sets)))


def run_sets(file: OpenFile, trajectory: str) -> int:
    """The runs per run set of ``trajectory`` in ``file``: its ``SRVC_RUN_SETS``, 0 for a flat
    trajectory (or none yet). Kept with the open file while the trajectory's group is open
    (a removed group is closed), so that a store does not read an attribute per run."""
    key = RunSetsKey(trajectory)
    known = file.caches.get(key)
    if known is not None and known[0]._v_isopen:
        return int(known[1])
    group = get_node(file.h5, "/" + trajectory)
    if not isinstance(group, tables.Group):
        return 0
    attrs = group._v_attrs
    size = int(attrs[RUN_SETS]) if RUN_SETS in attrs._v_attrnamesuser else 0
    file.caches[key] = (group, size)
    return size


def get_node(h5: tables.File, where: str) -> Any | None:
    """The node at ``where``, or None."""
    try:
        return h5.get_node(where)
    except tables.NoSuchNodeError:
        return None


def child(group: tables.Group, name: str) -> Any | None:
    """The child ``name`` of ``group``, or None (``_v_children`` loads its nodes lazily)."""
    return group._f_get_child(name) if name in group._v_children else None


def subgroups(group: tables.Group) -> list[tuple[str, tables.Group]]:
    """The child groups of ``group``, sorted by name."""
    return [(name, group._f_get_child(name)) for name in sorted(group._v_groups)]


def children(group: tables.Group, path: Path, run_sets: int) -> list[tuple[str, tables.Group]]:
    """The item groups below the item ``group`` at ``path``, sorted by name: the child groups,
    except that a runs group with run sets has its sets' runs instead of its sets."""
    found = subgroups(group)
    if not (run_sets and is_runs_path(path)):
        return found
    flat: list[tuple[str, tables.Group]] = []
    for name, child in found:
        if is_run_set_name(name) and not is_leaf_group(child):
            flat.extend(subgroups(child))
        else:
            flat.append((name, child))
    return sorted(flat, key=lambda named: named[0])


def is_leaf_group(node: Any) -> bool:
    return isinstance(node, tables.Group) and LEAF in node._v_attrs._v_attrnamesuser


def leaf_specs(group: tables.Group) -> dict[str, Spec]:
    """The specs of a leaf group's values, by key, in the order they were stored."""
    return loads_specs(group._v_attrs[LEAF])


def comment_of(node: tables.Group) -> str:
    attrs = node._v_attrs
    return str(attrs[COMMENT]) if COMMENT in attrs._v_attrnamesuser else ""


def class_name_of(node: tables.Group) -> str:
    attrs = node._v_attrs
    return str(attrs[CLASS_NAME]) if CLASS_NAME in attrs._v_attrnamesuser else ""
