"""WriteItems: groups, leaves and run rows, checked in full before the first write, undone on failure.

Requests name items by their paths; the nodes are found and made at their names in the file
(:func:`~.layout.stored_path`: a run's group inside its run set), looked up once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tables

from .._core.requests import GroupRecord, LeafRecord, Path, WriteItems, row_leaf
from ..codec import dumps_specs
from ..codec.rows import PackedRow
from ..errors import InvalidArgumentError, InvalidNameError, ItemExistsError, NotStoredError
from . import layout, nodes, runs
from .durability.undo import UndoLog
from .files import OpenFile
from .packing import PackedRuns

REPLACED_SUFFIX = "__replaced"


def _full_name(path: Path) -> str:
    return ".".join(path)


def _node_at(file: OpenFile, trajectory: str, names: Path, parent: Any | None) -> Any | None:
    """The node at ``names`` (as in the file), or None: a known group as it is, a missing child
    of ``parent`` (the group at ``names[:-1]``, if known) from its children's names, else
    looked up."""
    where = layout.node_path(trajectory, names)
    node = file.known_group(where)
    if node is not None:
        return node
    if parent is not None and names[-1] not in parent._v_children:
        return None
    return layout.get_node(file.h5, where)


def _check_ancestors(file: OpenFile, trajectory: str, names: Path, path: Path) -> bool:
    """Raise if an ancestor of the item at ``path`` (``names`` in the file) is a leaf; whether
    all of them exist."""
    parent = None
    for depth in range(1, len(names)):
        where = layout.node_path(trajectory, names[:depth])
        group = _node_at(file, trajectory, names[:depth], parent)
        if group is None:
            return False
        if where not in file.known_groups:
            if not isinstance(group, tables.Group) or layout.is_leaf_group(group):
                raise InvalidNameError(_full_name(path),
                                       f"{_full_name(names[:depth])!r} is a leaf")
            file.known_groups[where] = group
        parent = group
    return True


def _stored(path: Path, run_sets: int) -> Path:
    """The names in the file of the item at ``path`` (:func:`~.layout.stored_path`), which
    must not be a run set's."""
    if layout.reserved_by_run_sets(path, run_sets):
        raise InvalidNameError(_full_name(path), f"{path[2]!r} is the name of a run set: below "
                               f"{_full_name(path[:2])} it is kept for the runs' groups")
    return layout.stored_path(path, run_sets)


def _existing(file: OpenFile, trajectory: str, names: Path) -> Any | None:
    """The node at ``names`` (whose ancestors exist), or None."""
    parent = file.known_group(layout.node_path(trajectory, names[:-1]))
    return _node_at(file, trajectory, names, parent)


def _check_leaf(file: OpenFile, trajectory: str, leaf: LeafRecord | PackedRow, request: WriteItems,
                run_sets: int) -> None:
    names = _stored(leaf.path, run_sets)
    if not _check_ancestors(file, trajectory, names, leaf.path):
        return
    node = _existing(file, trajectory, names)
    if node is None:
        return
    if not layout.is_leaf_group(node):
        raise ItemExistsError(_full_name(leaf.path), kind="a group", remedy=(
            "store the leaf under another name, or remove the group first "
            "(Msg.REMOVE, recursive=True)"))
    if request.replace or request.skip_existing:
        return
    clash = [key for key in layout.leaf_specs(node)
             if key in leaf.values and key not in leaf.replace_keys]
    if clash:
        raise ItemExistsError(_full_name(leaf.path), clash)


def _surely_absent(file: OpenFile, trajectory: str, names: Path,
                   wheres: dict[Path, str]) -> bool:
    """Whether nothing is at ``names`` (as in the file), told by a known group on the way down
    lacking the next name (a run's packed row, where no run group is ever made: the runs'
    group or set is known); False where the way leaves the known groups (then it is looked up).
    ``wheres`` keeps the HDF5 paths made so far: one request's rows share their top ones."""
    for depth in range(1, len(names)):
        prefix = names[:depth]
        where = wheres.get(prefix)
        if where is None:
            where = wheres[prefix] = layout.node_path(trajectory, prefix)
        group = file.known_group(where)
        if group is None:
            return False
        if names[depth] not in group._v_children:
            return True
    return False


def _check_group(file: OpenFile, trajectory: str, group: GroupRecord, run_sets: int) -> None:
    names = _stored(group.path, run_sets)
    if not _check_ancestors(file, trajectory, names, group.path):
        return
    node = _existing(file, trajectory, names)
    if node is not None and layout.is_leaf_group(node):
        raise InvalidNameError(_full_name(group.path), "is a leaf, not a group")


def _trajectory_group(file: OpenFile, trajectory: str) -> tables.Group | None:
    """The trajectory's group (held open between requests), or None if it is not stored."""
    where = "/" + trajectory
    group = file.held_node(f"trajectory:{where}", lambda: layout.get_node(file.h5, where))
    if group is not None and where not in file.known_groups:
        if layout.class_name_of(group) != layout.TRAJECTORY_CLASS:
            raise ItemExistsError(trajectory, kind="a node that is not a trajectory",
                                  filename=file.filename,
                                  remedy="store the trajectory under another name or into "
                                  "another file")
        file.known_groups[where] = group
    return group


def check(file: OpenFile, request: WriteItems) -> tables.Group | None:
    """Everything that could make the request fail on the file's present content; returns the
    trajectory's group, if it is stored."""
    trajectory = request.target.trajectory
    traj_group = _trajectory_group(file, trajectory)
    if traj_group is None and request.header is None:
        raise NotStoredError(
            f"trajectory {trajectory!r} is not in {file.filename!r}: store the trajectory first"
        )
    if traj_group is not None and request.new_trajectory:
        raise ItemExistsError(
            trajectory, kind="a trajectory", filename=file.filename,
            remedy="store the new trajectory under another name or into another file, or pass "
            "overwrite_file=True to start the file anew (its other trajectories go too)")
    paths = [leaf.path for leaf in request.all_leaves]
    if len(set(paths)) != len(paths):
        twice = sorted({_full_name(path) for path in paths if paths.count(path) > 1})
        raise InvalidArgumentError(f"{', '.join(map(repr, twice))} named twice in one store "
                                   "(a LIST of stores): each item is stored once")
    run_sets = _run_sets(file, trajectory, traj_group, request)
    for group in request.groups:
        _check_group(file, trajectory, group, run_sets)
    packed = PackedRuns.of(file, trajectory) if traj_group is not None else None
    wheres: dict[Path, str] = {}
    for leaf in request.all_leaves:  # a packed row reads as its leaf
        if not isinstance(leaf, PackedRow):
            _check_leaf(file, trajectory, leaf, request, run_sets)
            held = packed is not None and packed.holds(leaf.path)
        else:
            names = layout.stored_path(leaf.path, run_sets, leaf.run)  # its run: not parsed
            if not _surely_absent(file, trajectory, names, wheres):
                _check_leaf(file, trajectory, leaf, request, run_sets)
            held = packed is not None and packed.holds_row(leaf)
        if held and packed is not None:
            if not request.replace:
                raise ItemExistsError(_full_name(leaf.path))
            packed.check_update(leaf if isinstance(leaf, LeafRecord) else row_leaf(leaf))
    return traj_group


def _run_sets(file: OpenFile, trajectory: str, traj_group: tables.Group | None,
              request: WriteItems) -> int:
    """The runs per run set of the trajectory, or of the one the request creates."""
    if traj_group is not None:
        return layout.run_sets(file, trajectory)
    header = request.header
    return layout.RUN_SET_SIZE if header is not None and header.run_sets else 0


def ensure_group(h5: tables.File, trajectory: str, names: Path, undo: UndoLog) -> tables.Group:
    """The group at ``names`` (as in the file: :func:`~.layout.stored_path`), created (with
    its parents) if missing."""
    group = h5.get_node("/" + trajectory)
    for name in names:
        child = layout.child(group, name)
        if child is None:
            child = h5.create_group(group, name)
            undo.created(child._v_pathname)
        group = child
    return group


def _write_group(h5: tables.File, trajectory: str, record: GroupRecord, undo: UndoLog,
                 run_sets: int) -> None:
    group = ensure_group(h5, trajectory, layout.stored_path(record.path, run_sets), undo)
    for name, value in ((layout.COMMENT, record.comment), (layout.CLASS_NAME, record.class_name)):
        _set_group_attr(group._v_attrs, name, value, record.replace, undo)


def _set_group_attr(attrs: Any, name: str, value: str, replace: bool, undo: UndoLog) -> None:
    """Set a group's attribute ``name`` if it has none (or, with ``replace``, a different one)."""
    present = name in attrs._v_attrnamesuser
    if not value or (present and (not replace or attrs[name] == value)):
        return
    if present:
        old = attrs[name]
        undo.add(lambda: attrs.__setitem__(name, old))
    else:
        undo.add(lambda: attrs.__delitem__(name))
    attrs[name] = value


def _set_aside(group: tables.Group, key: str, undo: UndoLog) -> None:
    """Rename an existing value node out of the way; it is removed when the request succeeds."""
    node = group._f_get_child(key)
    node._f_rename(key + REPLACED_SUFFIX)
    undo.add(lambda: node._f_rename(key))
    undo.on_commit(lambda: node._f_remove(recursive=True))


def _attrs_restorer(group: tables.Group) -> Callable[[], None]:
    """What puts back the leaf attributes of an existing leaf group (all three may change)."""
    attrs = group._v_attrs
    names = (layout.CLASS_NAME, layout.COMMENT, layout.LEAF)
    saved = {name: attrs[name] for name in names if name in attrs._v_attrnamesuser}

    def restore() -> None:
        for name in names:
            if name in saved:
                attrs[name] = saved[name]
            elif name in attrs._v_attrnamesuser:
                del attrs[name]

    return restore


def write_leaf(file: OpenFile, trajectory: str, leaf: LeafRecord, undo: UndoLog,
               filters: tables.Filters | None, skip_existing: bool = False,
               run_sets: int | None = None) -> None:
    """Write ``leaf``'s values; a key the leaf has already is replaced, or with
    ``skip_existing`` kept (unless the leaf's ``replace_keys`` name it). ``run_sets``: the
    trajectory's (:func:`~.layout.run_sets`), if known."""
    h5 = file.h5
    if run_sets is None:
        run_sets = layout.run_sets(file, trajectory)
    names = layout.stored_path(leaf.path, run_sets)
    parent = ensure_group(h5, trajectory, names[:-1], undo)
    group = layout.child(parent, leaf.path[-1])
    if group is None:
        group = h5.create_group(parent, leaf.path[-1])
        undo.created(group._v_pathname)
        specs = {}
    else:
        specs = layout.leaf_specs(group)
        undo.add(_attrs_restorer(group))
    for key, encoded in leaf.values.items():
        if key in specs:
            if skip_existing and key not in leaf.replace_keys:
                continue
            _set_aside(group, key, undo)
        undo.created(f"{group._v_pathname}/{key}")  # before: a failed write may leave a part
        nodes.write_value(file, group, key, encoded, filters)
        specs[key] = encoded.spec
    nodes.write_leaf_attrs(group, leaf.class_name, leaf.comment, specs)


def adds_runs(request: Any) -> bool:
    """Whether ``request`` only adds runs (their leaves and run-table rows), as SINGLE_RUN does."""
    return (isinstance(request, WriteItems) and bool(request.runs) and request.header is None
            and not request.groups and not request.replace and not request.skip_existing
            and not request.new_trajectory)


def joined(requests: list[WriteItems]) -> WriteItems:
    """One request doing what ``requests`` (each :func:`adds_runs`, one target) do in turn: one
    check, one journal record and one append per packed table for a batch of runs. It fails
    as a whole where any of them would (a leaf named twice included)."""
    return WriteItems(requests[0].target,
                      leaves=tuple(leaf for request in requests for leaf in request.leaves),
                      rows=tuple(row for request in requests for row in request.rows),
                      runs=tuple(run for request in requests for run in request.runs))


def write_items(file: OpenFile, request: WriteItems, filters: tables.Filters | None) -> None:
    traj_group = check(file, request)
    h5, trajectory = file.h5, request.target.trajectory
    undo = UndoLog(h5)
    try:
        if traj_group is None:
            assert request.header is not None  # check() made sure
            traj_group = runs.create_trajectory(h5, trajectory, request.header,
                                                request.target.compression)
            undo.created(traj_group._v_pathname)
        run_sets = layout.run_sets(file, trajectory)
        for group in request.groups:
            _write_group(h5, trajectory, group, undo, run_sets)
        packed = PackedRuns.of(file, trajectory)
        compression = request.target.compression
        leaves, packs = request.leaves, request.target.packed_runs
        if packs and not (request.replace or request.skip_existing):
            unfit = packed.append_packed(request.rows, undo, compression)
            leaves = packed.append_all(leaves + tuple(map(row_leaf, unfit)), undo, compression)
            packs = False  # the rest cannot be packed
        else:
            leaves += tuple(map(row_leaf, request.rows))
        for leaf in leaves:
            if request.replace and packed.holds(leaf.path):
                packed.update(leaf, undo)
            elif not (packs and _has_no_nodes(file, trajectory, leaf.path, run_sets)
                      and packed.append(leaf, undo, compression)):
                write_leaf(file, trajectory, leaf, undo, filters, request.skip_existing,
                           run_sets)
        if request.runs:
            _write_runs(file, traj_group, request, undo)
    except BaseException:
        file.known_groups.clear()  # the rollback removes groups the request made
        undo.rollback()
        raise
    undo.commit()


def _has_no_nodes(file: OpenFile, trajectory: str, path: Path, run_sets: int) -> bool:
    """Whether the leaf at ``path`` is not stored with nodes (an update or an addition to one
    that is must stay with its nodes, not start a packed row beside them)."""
    return first_missing(file, trajectory, path, run_sets) is not None


def _write_runs(file: OpenFile, traj_group: tables.Group, request: WriteItems,
                undo: UndoLog) -> None:
    table = file.held_node(f"runs:{traj_group._v_pathname}", lambda: runs.run_table(traj_group))
    if table is None:
        raise NotStoredError(f"trajectory {request.target.trajectory!r} has no run table")
    undo.add(runs.defer_rows(file, table, request.runs))


def first_missing(file: OpenFile, trajectory: str, path: Path,
                  run_sets: int | None = None) -> str | None:
    """The HDF5 path of the shallowest missing group on the way to the item at ``path`` (itself
    included; a run set included). ``run_sets``: the trajectory's, if known."""
    if run_sets is None:
        run_sets = layout.run_sets(file, trajectory)
    names = layout.stored_path(path, run_sets)
    parent = None
    for depth in range(1, len(names) + 1):
        node = _node_at(file, trajectory, names[:depth], parent)
        if node is None:
            return layout.node_path(trajectory, names[:depth])
        parent = node if isinstance(node, tables.Group) else None
    return None


def planned_creations(file: OpenFile, request: WriteItems) -> tuple[str, ...]:
    """The HDF5 paths of what ``request`` will create, and (ending in ``__replaced``) of the
    values it will replace: :func:`take_back` uses them to take the file back to how it was
    before the request, whatever part of it was written."""
    trajectory = request.target.trajectory
    if _trajectory_group(file, trajectory) is None:
        return ("/" + trajectory,)
    run_sets = layout.run_sets(file, trajectory)
    creates = [missing for group in request.groups
               if (missing := first_missing(file, trajectory, group.path, run_sets)) is not None]
    packed = PackedRuns.of(file, trajectory)
    for leaf in request.all_leaves:
        if type(leaf) is PackedRow and packed.takes(leaf):
            continue  # a row of its table, which a replay rewrites in place: nothing to take back
        missing = first_missing(file, trajectory, leaf.path, run_sets)
        if missing is not None:
            creates.append(missing)
        else:  # the leaf exists: the request adds or replaces values
            where = layout.node_path(trajectory, leaf.path, run_sets)
            creates.extend(f"{where}/{key}{REPLACED_SUFFIX}" if f"{where}/{key}" in file.h5
                           else f"{where}/{key}" for key in leaf.values)
    return tuple(dict.fromkeys(creates))


def _forget_value(h5: tables.File, where: str) -> None:
    """Drop the spec of value ``where`` from its leaf's attribute, if its leaf lists it."""
    parent_path, key = where.rsplit("/", 1)
    parent = layout.get_node(h5, parent_path or "/")
    if parent is not None and layout.is_leaf_group(parent):
        specs = layout.leaf_specs(parent)
        if specs.pop(key, None) is not None:
            parent._v_attrs[layout.LEAF] = dumps_specs(specs)


def take_back(file: OpenFile, creates: tuple[str, ...]) -> None:
    """Undo whatever part of a store was written (:func:`planned_creations`), after a crash.

    A value being replaced was set aside under another name: while it is there, it is put back
    in place; once it is gone, the replacement was made whole, and is left.
    """
    h5 = file.h5
    for where in reversed(creates):
        if not where.endswith(REPLACED_SUFFIX):
            if where in h5:
                h5.remove_node(where, recursive=True)
            _forget_value(h5, where)
            continue
        restore_set_aside(h5, where)


def restore_set_aside(h5: tables.File, aside: str) -> bool:
    """Put a value set aside (``<path>__replaced``) back in its place, over whatever is there
    now; False if it is not there (the replacement was finished)."""
    if aside not in h5:
        return False
    original = aside.removesuffix(REPLACED_SUFFIX)
    if original in h5:
        h5.remove_node(original, recursive=True)
    h5.rename_node(aside, original.rsplit("/", 1)[1])
    return True
