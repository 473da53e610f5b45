"""DESCRIBE: what a trajectory holds (items, their kinds, each value's type, shape and size),
from the file's metadata alone.

Nothing here reads a value's data: shapes and sizes come from the HDF5 nodes' headers and the
codec specs of each leaf (the ``SRVC_LEAF`` attribute), packed results from their table's
attributes and row type. A leaf whose metadata cannot be read is described with a ``problem``
instead of failing the whole request: a check of a damaged file wants every other node too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import tables

from .._core.answers import KeyInfo, NodeInfo
from .._core.requests import DescribeNodes, Path
from ..codec import Spec, type_name
from ..codec.flags import Flag
from ..errors import DataNotFoundError
from . import layout
from .files import OpenFile
from .packing import PACKED_BRANCH, PackedRuns, PackedTable
from .reading import missing_item, trajectory_group

__all__ = ["describe_nodes"]

_BRANCH_KINDS = {
    "parameters": "parameter",
    "derived_parameters": "derived_parameter",
    "config": "config",
    "results": "result",
}
EXPLORED_KEY = "explored_data"


def leaf_kind(path: Path) -> str:
    """A leaf's kind, by the branch it lies in."""
    return _BRANCH_KINDS.get(path[0], "leaf") if path else "leaf"


def describe_nodes(file: OpenFile, request: DescribeNodes) -> list[NodeInfo]:
    """The node at ``request.path`` (none for the trajectory itself) and those below it,
    parents before children, sorted by path."""
    traj = trajectory_group(file, request.target)
    path = request.path
    packed = _packed_below(file, request)
    run_sets = layout.run_sets(file, traj._v_name)
    node = (layout.get_node(file.h5, layout.node_path(traj._v_name, path, run_sets)) if path
            else traj)
    if node is None:
        if not packed:
            raise missing_item(file, traj._v_name, path)
        found: list[NodeInfo] = []  # a run group of the packed layout: only its rows exist
    elif not isinstance(node, tables.Group):
        raise DataNotFoundError(f"{'.'.join(path)!r} is a value of a leaf, not an item")
    else:
        found = [] if not path else [_describe(file, node, path)]
        if (not found or not found[0].is_leaf) and request.recursive:
            found.extend(_walk(file, node, path, request.max_depth, run_sets))
    return [info for info in _with_parents(found + packed, path)
            if _within(info.path, request)]


def _within(path: Path, request: DescribeNodes) -> bool:
    below = len(path) - len(request.path)
    if not request.recursive:
        return below == 0
    return request.max_depth is None or below <= request.max_depth


def _walk(file: OpenFile, group: tables.Group, path: Path, max_depth: int | None,
          run_sets: int) -> Iterator[NodeInfo]:
    if max_depth is not None and max_depth <= 0:
        return
    for name, child in layout.children(group, path, run_sets):  # run sets never show
        if not path and name in layout.RESERVED_ROOT_CHILDREN:
            continue  # the run table and packed tables are not items
        info = _describe(file, child, (*path, name))
        yield info
        if not info.is_leaf:
            yield from _walk(file, child, info.path,
                             None if max_depth is None else max_depth - 1, run_sets)


def _with_parents(infos: list[NodeInfo], top: Path) -> list[NodeInfo]:
    """``infos`` sorted, with the groups that only packed rows imply (a packed run's group)."""
    known = {info.path: info for info in infos}
    for info in list(known.values()):
        for depth in range(max(len(top), 1), len(info.path)):
            known.setdefault(info.path[:depth], NodeInfo(info.path[:depth], "group"))
    return sorted(known.values(), key=lambda info: info.path)


def _describe(file: OpenFile, group: tables.Group, path: Path) -> NodeInfo:
    if not layout.is_leaf_group(group):
        return NodeInfo(path, "group", layout.class_name_of(group), layout.comment_of(group))
    class_name, comment = layout.class_name_of(group), layout.comment_of(group)
    try:
        specs = layout.leaf_specs(group)
        keys = tuple(_key_info(file, group, key, spec) for key, spec in specs.items())
    except Exception as exc:  # damaged metadata may raise anything: report it, go on
        return NodeInfo(path, leaf_kind(path), class_name, comment,
                        problem=f"unreadable metadata: {type(exc).__name__}: {exc}")
    missing = [key for key in specs if layout.child(group, key) is None]
    explored = next((key.shape[0] for key in keys if key.name == EXPLORED_KEY and key.shape), None)
    problem = f"no data node for {', '.join(missing)}" if missing else ""
    return NodeInfo(path, leaf_kind(path), class_name, comment, keys, explored, problem=problem)


def _key_info(file: OpenFile, group: tables.Group, key: str, spec: Spec) -> KeyInfo:
    flag = str(spec.get("flag", ""))
    node = layout.child(group, key)
    if node is None:
        return KeyInfo(key, flag, type_name(spec), (), "", 0)
    if flag in (Flag.FRAME, Flag.SERIES):
        shape, nbytes = _frame_shape(node)
        return KeyInfo(key, flag, type_name(spec), shape, "", nbytes)
    shape = tuple(int(n) for n in node.shape)
    nbytes = int(node.size_in_memory)
    if flag in (Flag.DICT, Flag.TABLE):
        columns = len(spec.get("columns", ()))
        return KeyInfo(key, flag, type_name(spec), (columns,) if flag == Flag.DICT
                       else (*shape, columns), "", nbytes)
    dtype = str(spec.get("dtype") or node.dtype.str)
    return KeyInfo(key, flag, type_name(spec), shape, dtype, nbytes)


def _frame_shape(group: tables.Group) -> tuple[tuple[int, ...], int]:
    """The shape of a pandas frame or series (pandas' fixed format), and its values' bytes."""
    nbytes = sum(int(leaf.size_in_memory) for name, leaf in group._v_leaves.items()
                 if name == "values" or name.endswith("_values"))
    leaves = group._v_leaves
    if "axis0" in leaves and "axis1" in leaves:
        return (int(leaves["axis1"].nrows), int(leaves["axis0"].nrows)), nbytes
    if "values" in leaves:
        return (int(leaves["values"].nrows),), nbytes
    return (), nbytes


# ----------------------------------------------------------------------------------- packed


def _packed_below(file: OpenFile, request: DescribeNodes) -> list[NodeInfo]:
    """The packed results at or below ``request.path``."""
    prefix = request.path
    if prefix and prefix[0] != PACKED_BRANCH:
        return []
    infos: list[NodeInfo] = []
    for table in PackedRuns.of(file, request.target.trajectory).tables.values():
        keys = _packed_keys(table)
        for path in table_paths(table):
            if path[:len(prefix)] == prefix:
                infos.append(NodeInfo(path, leaf_kind(path), table.class_name, table.comment,
                                      keys, packed=True))
    return infos


def table_paths(table: PackedTable) -> list[Path]:
    """The full names of the results a packed table holds, by run."""
    return [table.result_path(idx) for idx in sorted(table.rows)]


def _packed_keys(table: PackedTable) -> tuple[KeyInfo, ...]:
    fields: dict[str, Any] = dict(table.table.dtype.fields or {})
    keys = []
    for key, spec in table.specs.items():
        column: np.dtype = fields[key][0]
        flag = str(spec.get("flag", ""))
        if flag == Flag.DICT:
            shape: tuple[int, ...] = (len(spec.get("columns", ())),)
            dtype = ""
        else:
            shape = tuple(table.shapes[key])
            dtype = str(spec.get("dtype") or column.base.str)
        keys.append(KeyInfo(key, flag, type_name(spec), shape, dtype, int(column.itemsize)))
    return tuple(keys)
