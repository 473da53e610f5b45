"""Loads: one leaf, a subtree, a whole trajectory, the list of trajectories.

Items are found by their paths (:func:`~.layout.node_path`) and walked by their names
(:func:`~.layout.children`): a trajectory's run sets never show.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import tables

from .._core.answers import NodeData, TrajectoryData
from .._core.requests import ListTrajectories, Path, ReadLeaf, ReadTrajectory, ReadTree, SkeletonReads, Target
from ..errors import DataNotFoundError, FileFormatError
from . import layout, nodes, runs
from .files import OpenFile
from .packing import PackedRuns
from .pypet.files import is_pypet_trajectory

NO_SKELETON = SkeletonReads()


def trajectory_group(file: OpenFile, target: Target) -> tables.Group:
    group = layout.get_node(file.h5, "/" + target.trajectory)
    if group is None or not isinstance(group, tables.Group):
        raise missing_trajectory(file, target.trajectory)
    return group


def missing_trajectory(file: OpenFile, name: str) -> DataNotFoundError:
    """The error for a trajectory not in the file: it names those that are (pypet's too)."""
    present = sorted(child for child, group in layout.subgroups(file.h5.root)
                     if layout.class_name_of(group) == layout.TRAJECTORY_CLASS
                     or is_pypet_trajectory(group))
    held = f"it holds: {', '.join(present)}" if present else "it holds no trajectory"
    return DataNotFoundError(f"no trajectory {name!r} in {file.filename!r}; {held}")


def missing_item(file: OpenFile, trajectory: str, path: Path) -> DataNotFoundError:
    """The error for an item not in the trajectory, which names the file and what lists it."""
    return DataNotFoundError(f"no item {'.'.join(path)!r} in trajectory {trajectory!r} of "
                             f"{file.filename!r} (aiostore ls lists the items there)")


def _node(file: OpenFile, target: Target, path: Path) -> tables.Node:
    trajectory_group(file, target)
    node = layout.get_node(file.h5, layout.node_path(target.trajectory, path,
                                                     layout.run_sets(file, target.trajectory)))
    if node is None:
        raise missing_item(file, target.trajectory, path)
    return node


def read_leaf(file: OpenFile, request: ReadLeaf) -> NodeData:
    trajectory_group(file, request.target)
    run_sets = layout.run_sets(file, request.target.trajectory)
    if layout.get_node(file.h5, layout.node_path(request.target.trajectory, request.path,
                                                 run_sets)) is None:
        packed = PackedRuns.of(file, request.target.trajectory).read_leaf(
            request.path, request.load_only, request.load_except)
        if packed is not None:
            return packed
    group = _node(file, request.target, request.path)
    if not layout.is_leaf_group(group):
        raise DataNotFoundError(f"{'.'.join(request.path)!r} is a group, not a leaf")
    values = nodes.read_leaf_values(file, group, request.load_only, request.load_except,
                                    ".".join(request.path))
    return NodeData(request.path, True, layout.class_name_of(group), layout.comment_of(group),
                    values)


def _describe(file: OpenFile, group: tables.Group, path: Path, with_data: bool,
              skeleton: SkeletonReads = NO_SKELETON) -> NodeData:
    if layout.is_leaf_group(group):
        values = (nodes.read_leaf_values(file, group) if with_data or path[-1] in skeleton.whole
                  else _skeleton_values(file, group, skeleton.key_prefixes))
        return NodeData(path, True, layout.class_name_of(group), layout.comment_of(group), values)
    return NodeData(path, False, layout.class_name_of(group), layout.comment_of(group))


def _skeleton_values(file: OpenFile, group: tables.Group,
                     prefixes: tuple[str, ...]) -> dict[str, Any] | None:
    """The values of a leaf a skeleton read reads all the same (None if there are none)."""
    if not prefixes:
        return None
    keys = [key for key in layout.leaf_specs(group) if key.startswith(prefixes)]
    return nodes.read_leaf_values(file, group, keys) if keys else None


def walk(file: OpenFile, group: tables.Group, path: Path, with_data: bool,
         max_depth: int | None, skeleton: SkeletonReads = NO_SKELETON,
         run_sets: int = 0) -> Iterator[NodeData]:
    """The nodes below the item ``group`` at ``path`` (not ``group`` itself), parents first,
    in a trajectory of ``run_sets`` (:func:`~.layout.run_sets`)."""
    if max_depth is not None and max_depth <= 0:
        return
    for name, child in layout.children(group, path, run_sets):
        node = _describe(file, child, (*path, name), with_data, skeleton)
        yield node
        if not node.is_leaf:
            depth = None if max_depth is None else max_depth - 1
            yield from walk(file, child, node.path, with_data, depth, skeleton, run_sets)


def read_tree(file: OpenFile, request: ReadTree) -> list[NodeData]:
    trajectory_group(file, request.target)
    packed = _packed_below(file, request)
    run_sets = layout.run_sets(file, request.target.trajectory)
    group = layout.get_node(file.h5, layout.node_path(request.target.trajectory, request.path,
                                                      run_sets))
    if group is None:
        if not packed:
            _node(file, request.target, request.path)  # raises: no such item
        if packed[0].path == request.path:
            return packed[:1]
        top = NodeData(request.path, False)
        return [top, *packed] if request.recursive else [top]
    if not isinstance(group, tables.Group):
        raise DataNotFoundError(f"{'.'.join(request.path)!r} is not an item")
    top = _describe(file, group, request.path, request.with_data, request.skeleton)
    if top.is_leaf or not request.recursive:
        return [top] if request.path else []
    nodes_below = walk(file, group, request.path, request.with_data, request.max_depth,
                       request.skeleton, run_sets)
    return [top, *nodes_below, *packed]


def _packed_below(file: OpenFile, request: ReadTree) -> list[NodeData]:
    leaves = PackedRuns.of(file, request.target.trajectory).leaves_below(request.path,
                                                                         request.with_data)
    depth = request.max_depth
    return [leaf for leaf in leaves
            if depth is None or len(leaf.path) - len(request.path) <= depth]


def read_trajectory(file: OpenFile, request: ReadTrajectory) -> TrajectoryData:
    group = trajectory_group(file, request.target)
    if layout.class_name_of(group) != layout.TRAJECTORY_CLASS:
        raise FileFormatError(f"/{request.target.trajectory} is not an aiostore trajectory")
    table = runs.run_table(group)
    data = TrajectoryData(request.target.trajectory, runs.read_header(group),
                          runs.read_runs(table) if table is not None else [], [])
    other_level = request.levels.get("other", 0)
    run_sets = layout.run_sets(file, request.target.trajectory)
    for name, branch in layout.subgroups(group):
        if name in layout.RESERVED_ROOT_CHILDREN:
            continue
        level = request.levels.get(name, other_level)
        if level <= 0:
            continue
        top = _describe(file, branch, (name,), level >= 2, request.skeleton)
        data.nodes.append(top)
        if not top.is_leaf:
            data.nodes.extend(walk(file, branch, (name,), level >= 2, None, request.skeleton,
                                   run_sets))
        data.nodes.extend(PackedRuns.of(file, request.target.trajectory).leaves_below(
            (name,), level >= 2))
    return data


def list_trajectories(file: OpenFile, request: ListTrajectories) -> list[str]:
    return sorted(
        name for name, group in layout.subgroups(file.h5.root)
        if layout.class_name_of(group) == layout.TRAJECTORY_CLASS
    )
