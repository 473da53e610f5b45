"""REMOVE and REMOVE_INCOMPLETE_RUNS.

A run set (see :mod:`.layout`) that a removal leaves empty goes with it: it is no item.
``delete_only`` on a packed run result (see :mod:`.packing`) writes the values it keeps as
that result's nodes, as a result that did not fit its table is stored, and removes its row.
"""

from __future__ import annotations

from dataclasses import dataclass

import tables

from .._core.answers import NodeData
from .._core.names import RUNS_GROUP, STANDARD_GROUPS, run_index
from .._core.requests import LeafRecord, Path, RemoveIncompleteRuns, RemoveItems
from ..codec import dumps_specs, encode
from ..errors import DataNotFoundError, NotStoredError, RemovalError
from . import layout, nodes, runs
from .durability.undo import UndoLog
from .files import OpenFile
from .packing import PackedRuns
from .reading import trajectory_group
from .writing import write_leaf


@dataclass(frozen=True)
class _KeptValues:
    """A packed run result that ``delete_only`` removes keys of: what it keeps, to be written
    as its nodes (encoded while checking, so that nothing is written if one fails)."""

    leaf: LeafRecord


def _checked_node(file: OpenFile, request: RemoveItems, path: Path) -> tables.Group | None:
    name = ".".join(path)
    if not path:
        raise RemovalError(f"REMOVE cannot remove the trajectory root {request.target.trajectory!r}")
    node = layout.get_node(file.h5, layout.node_path(
        request.target.trajectory, path, layout.run_sets(file, request.target.trajectory)))
    if node is None:
        if request.missing_ok:
            return None
        raise DataNotFoundError(f"cannot remove {name!r}: not in the file")
    if layout.is_leaf_group(node):
        specs = layout.leaf_specs(node)
        if request.delete_only is not None:
            missing = [key for key in request.delete_only if key not in specs]
            if missing and not request.missing_ok:
                raise DataNotFoundError(f"cannot remove from {name!r}, it has no data named",
                                        missing)
        elif "explored_data" in specs and request.keep_explored:
            raise RemovalError(f"{name!r} is an explored parameter; explored parameters stay")
        return node
    if request.delete_only is not None:
        raise RemovalError(f"delete_only works on leaves; {name!r} is a group")
    if node._v_nchildren and not request.recursive:
        raise RemovalError(f"group {name!r} has children; pass recursive=True to remove it")
    return node


def remove_items(file: OpenFile, request: RemoveItems) -> None:
    trajectory_group(file, request.target)
    packed = PackedRuns.of(file, request.target.trajectory)
    run_sets = layout.run_sets(file, request.target.trajectory)
    checked = [(path, _checked(file, request, path, packed)) for path in request.paths]
    for path, node in checked:
        if isinstance(node, _KeptValues):
            _unpack(file, request, node.leaf, packed)
            continue
        packed.remove_below(path)
        if node is None:
            continue  # only packed results there
        if request.delete_only is not None:
            _remove_keys(node, request.delete_only)
            continue
        parent = node._v_parent
        node._f_remove(recursive=True)
        if request.remove_empty_groups:
            _remove_empty_parents(parent, len(layout.stored_path(path, run_sets)) - 1)
        else:
            _remove_empty_set(parent, path)


def _checked(file: OpenFile, request: RemoveItems, path: Path,
             packed: PackedRuns) -> tables.Group | _KeptValues | None:
    """The node to remove at ``path`` (None if only packed results are there), or what a
    packed result keeps of its values; checked."""
    name = ".".join(path)
    held = next(packed.leaves_below(path, with_data=False), None)
    if held is None:
        return _checked_node(file, request, path)
    if request.delete_only is not None:
        if held.path != path:
            raise RemovalError(f"delete_only works on leaves; {name!r} is a group")
        data = packed.read_leaf(path, None, ())
        if data is None:  # it has a row: found just now
            raise DataNotFoundError(f"cannot remove from {name!r}: not in the file")
        return _KeptValues(_kept(data, request, name))
    if held.path != path and not request.recursive:
        raise RemovalError(f"group {name!r} has children; pass recursive=True to remove it")
    node = layout.get_node(file.h5, layout.node_path(
        request.target.trajectory, path, layout.run_sets(file, request.target.trajectory)))
    return node if isinstance(node, tables.Group) else None


def _kept(data: NodeData, request: RemoveItems, name: str) -> LeafRecord:
    values = data.values or {}
    deleted = request.delete_only or ()
    missing = [key for key in deleted if key not in values]
    if missing and not request.missing_ok:
        raise DataNotFoundError(f"cannot remove from {name!r}, it has no data named", missing)
    # written back as the general way writes a packed kind: with the flags inferred (a value
    # stored with a flag of its own is never packed)
    kept = {key: encode(f"{name}.{key}", value) for key, value in values.items()
            if key not in deleted}
    return LeafRecord(data.path, data.class_name, data.comment, kept)


def _unpack(file: OpenFile, request: RemoveItems, leaf: LeafRecord, packed: PackedRuns) -> None:
    """Write the values a packed result keeps as its nodes, then remove its row."""
    undo = UndoLog(file.h5)
    try:
        write_leaf(file, request.target.trajectory, leaf, undo,
                   nodes.filters_for(request.target.compression))
    except BaseException:
        undo.rollback()
        raise
    undo.commit()
    packed.remove_below(leaf.path)


def _remove_keys(group: tables.Group, keys: tuple[str, ...]) -> None:
    specs = layout.leaf_specs(group)
    for key in keys:
        if key in specs:  # a missing key got past the check only with missing_ok
            group._f_get_child(key)._f_remove(recursive=True)
            del specs[key]
    group._v_attrs[layout.LEAF] = dumps_specs(specs)


def _remove_empty_set(group: tables.Group, path: Path) -> None:
    """Remove ``group``, the parent of the run group at ``path`` just removed, if it is a run
    set left empty."""
    if (len(path) == 3 and layout.is_runs_path(path[:2]) and layout.is_run_set_name(group._v_name)
            and not group._v_nchildren):
        group._f_remove()


def _remove_empty_parents(group: tables.Group, depth: int) -> None:
    """Remove groups left empty (``group`` at ``depth`` names in the file, a run set
    included), up to (not including) the standard branches."""
    while depth > 1 or (depth == 1 and group._v_name not in STANDARD_GROUPS):
        if group._v_nchildren:
            return
        parent = group._v_parent
        group._f_remove()
        group, depth = parent, depth - 1


def remove_incomplete_runs(file: OpenFile, request: RemoveIncompleteRuns) -> list[int]:
    """Remove the run groups of runs not marked completed; returns their indices."""
    traj = trajectory_group(file, request.target)
    table = runs.run_table(traj)
    if table is None:
        raise NotStoredError(f"trajectory {request.target.trajectory!r} in {file.filename!r} has "
                             "no run table: it has no runs to remove")
    incomplete = {record.idx for record in runs.read_runs(table) if not record.completed}
    removed: set[int] = set()
    run_sets = layout.run_sets(file, request.target.trajectory)
    for branch in layout.RUN_BRANCHES:
        runs_group = layout.get_node(file.h5, layout.node_path(request.target.trajectory,
                                                               (branch, RUNS_GROUP)))
        if runs_group is None:
            continue
        for name, child in layout.children(runs_group, (branch, RUNS_GROUP), run_sets):
            idx = run_index(name)
            if idx is not None and idx in incomplete:
                parent = child._v_parent
                child._f_remove(recursive=True)
                _remove_empty_set(parent, (branch, RUNS_GROUP, name))
                removed.add(idx)
    removed |= PackedRuns.of(file, request.target.trajectory).remove_runs(incomplete)
    return sorted(removed)
