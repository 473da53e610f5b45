"""Loaded data into items: fill a leaf, attach a subtree, build a Trajectory.

Load levels follow pypet: 1 (skeleton) creates missing items without data, 2 also fills leaves
that hold no data, 3 replaces the data of leaves that have some.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ..messages import LoadMode
from ..model import Group, Leaf, Parameter, Result, RunInfo, Trajectory
from .answers import NodeData, TrajectoryData
from .names import split_full_name
from .requests import Path

PARAMETER_BRANCHES = frozenset({"parameters", "derived_parameters", "config"})


def make_item(node: NodeData) -> Leaf:
    """A native leaf for a leaf read from the file (Parameter or Result by class and branch)."""
    full_name = ".".join(node.path)
    if node.class_name == "Parameter" or (
        node.class_name != "Result" and node.path[0] in PARAMETER_BRANCHES
    ):
        item: Leaf = Parameter(full_name, comment=node.comment)
    else:
        item = Result(full_name, comment=node.comment)
    item.v_stored_class = node.class_name  # type: ignore[attr-defined]
    return item


def _fill(leaf: Any, node: NodeData, level: int) -> None:
    if not getattr(leaf, "v_comment", ""):
        leaf.v_comment = node.comment
    if node.values is None or level < LoadMode.DATA:
        return
    if level >= LoadMode.OVERWRITE and isinstance(leaf, Leaf):
        leaf.data.clear()
    if level >= LoadMode.OVERWRITE or not getattr(leaf, "data", None):
        leaf._load(node.values)
    leaf.v_stored = True


def apply_leaf(item: Any, node: NodeData) -> Any:
    """LEAF load: hand the values to the item (``item._load``) and return it."""
    item._load(node.values or {})
    with contextlib.suppress(AttributeError):  # a duck-typed item may refuse the attribute
        item.v_stored = True
    return item


def attach(root: Group, root_path: Path, node: NodeData, level: int) -> Any:
    """Put ``node`` (read from the file) into the tree below ``root``; return the item there."""
    relative = node.path[len(root_path):]
    parent = root
    for name in relative[:-1]:
        parent = parent._ensure_group(name)
    if not relative:
        _fill_group(root, node)
        return root
    existing = parent.children.get(relative[-1])
    if not node.is_leaf:
        group = parent._ensure_group(relative[-1])
        _fill_group(group, node)
        return group
    if existing is None:
        existing = parent.children[relative[-1]] = make_item(node)
        existing._trajectory_name = root._trajectory_name
    _fill(existing, node, level)
    return existing


def _fill_group(group: Group, node: NodeData) -> None:
    if not group.v_comment:
        group.v_comment = node.comment
    group.v_stored = True


def apply_tree(parent: Any, path: Path, nodes: list[NodeData], level: int) -> Any:
    """TREE load: attach what was read below ``parent``; return the node at ``path``."""
    if not isinstance(parent, Group):
        if nodes and nodes[0].is_leaf:
            return apply_leaf(parent, nodes[0])
        return parent
    parent_path = split_full_name(parent.v_full_name)
    found: Any = parent
    for node in nodes:
        item = attach(parent, parent_path, node, level)
        if node.path == path:
            found = item
    return found


def build_trajectory(data: TrajectoryData, traj: Trajectory | None, levels: Mapping[str, int],
                     as_new: bool, with_run_information: bool) -> Trajectory:
    """TRAJECTORY load: a Trajectory (the given one, filled in) with what was read."""
    if traj is None:
        traj = Trajectory(data.name)
    if not as_new:
        _rename(traj, data.name)
        traj.v_comment = data.header.comment
        traj.v_timestamp, traj.v_time = data.header.timestamp, data.header.time
    if with_run_information and not as_new:
        traj.runs = [RunInfo(r.idx, r.completed, r.timestamp, r.finish_timestamp,
                             r.parameter_summary) for r in data.runs]
    elif data.runs:
        traj.runs = [RunInfo(r.idx) for r in data.runs]
    other = levels.get("other", 0)
    for node in data.nodes:
        attach(traj, (), node, levels.get(node.path[0], other))
    traj.v_stored = not as_new
    if as_new:
        for leaf in traj.leaves():
            leaf.v_stored = False
    return traj


def _rename(traj: Trajectory, name: str) -> None:
    if traj.v_name == name:
        return
    traj.v_name = name  # the trajectory's name is its _trajectory_name
    for node in [*traj.groups(), *traj.leaves()]:
        node._trajectory_name = name
