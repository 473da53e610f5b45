"""Loads of trajectories written by pypet 0.6: LEAF, TREE, TRAJECTORY, DESCRIBE, the list.

The engine sends a read request here when its trajectory's group is pypet's (see
:func:`.files.is_pypet_trajectory`); the answers are those of aiostore's own layout, so the
same native items come out. pypet's SoftLinks are not followed (aiostore's items have none), and
its ``overview`` group is not an item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import tables

from ..._core.answers import KeyInfo, NodeData, NodeInfo, TrajectoryData
from ..._core.requests import DescribeNodes, Path, ReadLeaf, ReadTrajectory, ReadTree
from ...codec.colls import (
    COLL_DICT,
    COLL_EMPTY_DICT,
    COLL_LIST,
    COLL_MATRIX,
    COLL_NDARRAY,
    COLL_SCALAR,
    COLL_TUPLE,
)
from ...errors import DataNotFoundError, ReadOnlyTrajectoryError, UnsupportedFeatureError
from .. import layout, runs
from ..describing import leaf_kind
from ..files import OpenFile, PypetLayoutKey
from ..nodes import damaged_data
from ..reading import missing_item, missing_trajectory
from .files import (
    ARRAY_ID,
    data_nodes,
    is_pypet_trajectory,
    read_values,
    refuse_annotations,
)
from .overview import read_header
from .values import COLL_TYPE, DATA_PREFIX, SCALAR_TYPE, STORE, attr


def _trajectory(file: OpenFile, name: str) -> tables.Group:
    group = layout.get_node(file.h5, "/" + name)
    if not is_pypet_trajectory(group):
        raise missing_trajectory(file, name)
    return group


def _node(file: OpenFile, traj: tables.Group, path: Path) -> Any:
    node = layout.get_node(file.h5, layout.node_path(traj._v_name, path)) if path else traj
    if node is None or (path and path[0] == layout.OVERVIEW):
        raise missing_item(file, traj._v_name, path)
    return node


def _data(file: OpenFile, traj: tables.Group, group: tables.Group, path: Path,
          with_data: bool) -> NodeData:
    if not layout.is_leaf_group(group):
        refuse_annotations(group)
        return NodeData(path, False, layout.class_name_of(group), layout.comment_of(group))
    values = None
    if with_data:
        with damaged_data(group._v_pathname):
            values = read_values(file, traj, group, path)
    return NodeData(path, True, layout.class_name_of(group), layout.comment_of(group), values)


def read_leaf(file: OpenFile, request: ReadLeaf) -> NodeData:
    traj = _trajectory(file, request.target.trajectory)
    group = _node(file, traj, request.path)
    if not layout.is_leaf_group(group):
        raise DataNotFoundError(f"{'.'.join(request.path)!r} is a group, not a leaf")
    with damaged_data(group._v_pathname):
        values = read_values(file, traj, group, request.path, request.load_only,
                             request.load_except)
    return NodeData(request.path, True, layout.class_name_of(group), layout.comment_of(group),
                    values)


def _walk(file: OpenFile, traj: tables.Group, group: tables.Group, path: Path,
          with_data: bool, max_depth: int | None) -> Iterator[NodeData]:
    if max_depth is not None and max_depth <= 0:
        return
    for name, child in layout.subgroups(group):
        if not path and name == layout.OVERVIEW:
            continue
        node = _data(file, traj, child, (*path, name), with_data)
        yield node
        if not node.is_leaf:
            depth = None if max_depth is None else max_depth - 1
            yield from _walk(file, traj, child, node.path, with_data, depth)


def read_tree(file: OpenFile, request: ReadTree) -> list[NodeData]:
    traj = _trajectory(file, request.target.trajectory)
    group = _node(file, traj, request.path)
    if not isinstance(group, tables.Group):
        raise DataNotFoundError(f"{'.'.join(request.path)!r} is not an item")
    top = _data(file, traj, group, request.path, request.with_data)
    if top.is_leaf or not request.recursive:
        return [top] if request.path else []
    below = _walk(file, traj, group, request.path, request.with_data, request.max_depth)
    return [top, *below] if request.path else list(below)


def read_trajectory(file: OpenFile, request: ReadTrajectory) -> TrajectoryData:
    traj = _trajectory(file, request.target.trajectory)
    table = runs.run_table(traj)
    data = TrajectoryData(traj._v_name, read_header(traj),
                          runs.read_runs(table) if table is not None else [], [])
    other_level = request.levels.get("other", 0)
    for name, branch in layout.subgroups(traj):
        level = request.levels.get(name, other_level)
        if name == layout.OVERVIEW or level <= 0:
            continue
        data.nodes.append(_data(file, traj, branch, (name,), False))
        data.nodes.extend(_walk(file, traj, branch, (name,), level >= 2, None))
    return data


def list_trajectories(file: OpenFile) -> list[str]:
    """The names of the pypet trajectories in the file."""
    return [name for name, group in layout.subgroups(file.h5.root)
            if is_pypet_trajectory(group)]


# --------------------------------------------------------------------------------- describe


def describe_nodes(file: OpenFile, request: DescribeNodes) -> list[NodeInfo]:
    """DESCRIBE of a pypet trajectory, from its metadata: no value is read."""
    traj = _trajectory(file, request.target.trajectory)
    node = _node(file, traj, request.path)
    if not isinstance(node, tables.Group):
        raise DataNotFoundError(f"{'.'.join(request.path)!r} is a value of a leaf, not an item")
    found = [_info(node, request.path)] if request.path else []
    if (not found or not found[0].is_leaf) and request.recursive:
        found.extend(_describe_walk(node, request.path, request.max_depth))
    return found


def _describe_walk(group: tables.Group, path: Path, max_depth: int | None) -> Iterator[NodeInfo]:
    if max_depth is not None and max_depth <= 0:
        return
    for name, child in layout.subgroups(group):
        if not path and name == layout.OVERVIEW:
            continue
        info = _info(child, (*path, name))
        yield info
        if not info.is_leaf:
            yield from _describe_walk(child, info.path,
                                      None if max_depth is None else max_depth - 1)


def _info(group: tables.Group, path: Path) -> NodeInfo:
    class_name, comment = layout.class_name_of(group), layout.comment_of(group)
    try:
        refuse_annotations(group)
    except UnsupportedFeatureError as exc:
        problem = exc.feature + " (not loaded)"
    else:
        problem = ""
    if not layout.is_leaf_group(group):
        return NodeInfo(path, "group", class_name, comment, problem=problem)
    try:
        keys = _native_keys(tuple(_key_info(key, node) for key, node in data_nodes(group)))
    except Exception as exc:  # damaged metadata may raise anything: report it, go on
        return NodeInfo(path, leaf_kind(path), class_name, comment,
                        problem=f"unreadable metadata: {type(exc).__name__}: {exc}")
    explored = next((key.shape[0] for key in keys
                     if key.name.startswith("explored_data") and key.shape), None)
    return NodeInfo(path, leaf_kind(path), class_name, comment, keys, explored, problem=problem)


def _native_keys(keys: tuple[KeyInfo, ...]) -> tuple[KeyInfo, ...]:
    """An ArrayParameter's nodes described as the keys its native Parameter holds."""
    if not any(key.name == "data" + ARRAY_ID for key in keys):
        return keys
    native = []
    for key in keys:
        if key.name == "data" + ARRAY_ID:
            native.append(replace(key, name="data"))
        elif key.name == "explored_data" + ARRAY_ID:
            native.append(replace(key, name="explored_data", type_name="list[ndarray]",
                                  nbytes=sum(k.nbytes for k in keys
                                             if k.name.startswith("explored" + ARRAY_ID))))
    return tuple(native)


_COLLECTIONS = {COLL_NDARRAY: "ndarray", COLL_MATRIX: "matrix", COLL_DICT: "dict",
                COLL_EMPTY_DICT: "dict"}


def _type_name(coll: str | None, scalar: str | None, flag: str) -> str:
    if coll == COLL_SCALAR:
        return scalar or "?"
    if coll in (COLL_LIST, COLL_TUPLE):
        container = "list" if coll == COLL_LIST else "tuple"
        return f"{container}[{scalar}]" if scalar else container
    if coll in _COLLECTIONS:
        return _COLLECTIONS[coll]
    return {"TABLE": "ObjectTable", "FRAME": "DataFrame", "SERIES": "Series"}.get(flag, "?")


def _key_info(key: str, node: Any) -> KeyInfo:
    flag = str(attr(node, STORE) or "")
    coll, scalar = attr(node, DATA_PREFIX + COLL_TYPE), attr(node, DATA_PREFIX + SCALAR_TYPE)
    if isinstance(node, tables.Group):  # a pandas frame or series, or a split table
        return KeyInfo(key, flag, _type_name(coll, scalar, flag), (), "", 0)
    shape = tuple(int(n) for n in node.shape)
    nbytes = int(node.size_in_memory)
    if isinstance(node, tables.Table):
        if flag == "TABLE" and key in ("data", "explored_data") and node.colnames == ["data"]:
            # a Parameter's value (one row) or range: described as the value it holds
            column = f"SRVC_COLUMN_data_{COLL_TYPE}", f"SRVC_COLUMN_data_{SCALAR_TYPE}"
            name = _type_name(attr(node, column[0]), attr(node, column[1]), "")
            cell = node.coldtypes["data"]
            if key == "data":
                return KeyInfo(key, flag, name, tuple(cell.shape), cell.base.str, nbytes)
            return KeyInfo(key, flag, f"list[{name}]", shape, cell.base.str, nbytes)
        width = len(node.colnames)
        return KeyInfo(key, flag, _type_name(coll, scalar, flag),
                       (width,) if flag == "DICT" else (*shape, width), "", nbytes)
    dtype = node.dtype.str if isinstance(node.dtype, np.dtype) else ""
    return KeyInfo(key, flag, _type_name(coll, scalar, flag), shape, dtype, nbytes)


# ---------------------------------------------------------------------------------- engine


def either(native: Callable[[OpenFile, Any], Any],
           pypet: Callable[[OpenFile, Any], Any]) -> Callable[[OpenFile, Any], Any]:
    """A reader that reads a request's trajectory with ``pypet`` if pypet wrote it."""
    def read(file: OpenFile, request: Any) -> Any:
        # remembered while the file is open: aiostore never makes nor removes a pypet
        # trajectory, so what it is cannot change under us
        key = PypetLayoutKey(request.target.trajectory)
        is_pypet = file.caches.get(key)
        if is_pypet is None:
            group = layout.get_node(file.h5, "/" + request.target.trajectory)
            is_pypet = file.caches[key] = is_pypet_trajectory(group)
        return (pypet if is_pypet else native)(file, request)

    return read


def refuse_writes(file: OpenFile, trajectory: str) -> None:
    """Raise :class:`~aiostore.errors.ReadOnlyTrajectoryError` if pypet wrote ``trajectory``."""
    if is_pypet_trajectory(layout.get_node(file.h5, "/" + trajectory)):
        raise ReadOnlyTrajectoryError(
            f"trajectory {trajectory!r} in {file.filename!r} was written by pypet: aiostore "
            "reads pypet's layout but does not change it (load it and store it under another "
            "name, or into another file)")
