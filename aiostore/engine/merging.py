"""MERGE within one file, and BACKUP into another file.

Both can run out of space. A BACKUP writes a copy beside the backup file that replaces it only
when whole (:func:`~.files.replacing`), so a full disk leaves the backup file as it was. A
MERGE changes the file in place, where a write that fails leaves HDF5's caches holding what it
could not write: so a merge first makes sure the disk has room for what it adds (refused with
DiskFullError before anything is written), and a write that fails all the same takes the merge
back at once (libhdf5 reports it even where PyTables does not raise), or, if the file cannot
be written whole even then, on its next opening, from the marks journaled before it began.

Items are named by their paths in both trajectories: the other trajectory's runs, renumbered,
land in the run sets of this one (if it has them, see :mod:`.layout`), whatever the other's.
Packed run results (:mod:`.packing`) join this trajectory's tables as rows where their rows are
alike; where they are not, and where a MERGE renames them, they are written as nodes.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import tables

from .._core.names import RUNS_GROUP, run_index, run_name
from .._core.requests import Backup, LeafRecord, MergeTrajectories, Path, RunRecord
from ..codec import encode
from ..errors import AiostoreError, FileFormatError, ItemExistsError, MergeError
from . import diagnostics, layout, nodes, runs, space
from .durability.undo import UndoLog
from .files import OpenFile, is_hdf5, replacing
from .packing import PackedRuns, PackedTable
from .reading import trajectory_group
from .writing import (
    REPLACED_SUFFIX,
    ensure_group,
    first_missing,
    restore_set_aside,
    write_leaf,
)

RUN_BRANCHES = layout.RUN_BRANCHES
# What a node copied or moved by a MERGE costs the file beyond its data (object header, its
# entry in its group's index): 1.7 kB measured for copies of 300 runs of 5 nodes each.
NODE_BYTES = 2 * 2**10


def _leaves(group: tables.Group, path: Path,
            run_sets: int = 0) -> Iterator[tuple[Path, tables.Group]]:
    """The leaves below the item ``group`` at ``path`` by path, in a trajectory of
    ``run_sets``."""
    for name, child in layout.children(group, path, run_sets):
        if layout.is_leaf_group(child):
            yield (*path, name), child
        else:
            yield from _leaves(child, (*path, name), run_sets)


def _explored(traj: tables.Group) -> dict[Path, tables.Group]:
    params = layout.child(traj, "parameters")
    if params is None:
        return {}
    return {path: leaf for path, leaf in _leaves(params, ("parameters",))
            if "explored_data" in layout.leaf_specs(leaf)}


def _shift_run(path: Path, offset: int) -> Path:
    renamed = list(path)
    for position in range(1, len(path)):
        idx = run_index(path[position])
        if path[position - 1] == RUNS_GROUP and idx is not None:
            renamed[position] = run_name(idx + offset)
    return tuple(renamed)


def _whole_merge_plan(file: OpenFile, mine: tables.Group, other: tables.Group,
                      offset: int) -> dict[Path, Path]:
    """Every result and derived parameter of ``other``, its runs renumbered after ours."""
    rename: dict[Path, Path] = {}
    theirs, ours = layout.run_sets(file, other._v_name), layout.run_sets(file, mine._v_name)
    for branch in RUN_BRANCHES:
        group = layout.child(other, branch)
        if group is None:
            continue
        for path, _ in _leaves(group, (branch,), theirs):
            new = _shift_run(path, offset)
            exists = layout.get_node(file.h5, layout.node_path(mine._v_name, new, ours))
            if new != path or exists is None:
                rename[path] = new
    return rename


@dataclass(frozen=True)
class RowAsNodes:
    """A packed row of the other trajectory that a MERGE writes as nodes, at ``path`` here."""

    path: Path
    table: PackedTable
    position: int  # of the row in its table


def _unlike_rows(file: OpenFile, request: MergeTrajectories, offset: int) -> list[RowAsNodes]:
    """The rows of a whole MERGE that are not rows of this trajectory's tables, renumbered."""
    mine = PackedRuns.of(file, request.target.trajectory)
    return [RowAsNodes(table.result_path(idx + offset), table, position)
            for table in mine.unlike(PackedRuns.of(file, request.other))
            for idx, position in sorted(table.rows.items())]


def _renamed_rows(file: OpenFile, request: MergeTrajectories,
                  rename: Mapping[Path, Path]) -> list[RowAsNodes]:
    """The packed rows below each renamed path of the other trajectory, at their new names."""
    found = []
    for table in PackedRuns.of(file, request.other).tables.values():
        for idx, position in sorted(table.rows.items()):
            path = table.result_path(idx)
            for old, new in rename.items():
                if path[:len(old)] == old:
                    found.append(RowAsNodes((*new, *path[len(old):]), table, position))
    return found


_TAKEN_REMEDY = "rename it otherwise (rename_dict=), or remove it first (Msg.REMOVE)"


def _check_renames(file: OpenFile, request: MergeTrajectories, rename: Mapping[Path, Path],
                   rows: list[RowAsNodes]) -> None:
    theirs = layout.run_sets(file, request.other)
    ours = layout.run_sets(file, request.target.trajectory)
    packed = {new for new in rename.values()
              if any(row.path[:len(new)] == new for row in rows)}
    for old, new in rename.items():
        if (layout.get_node(file.h5, layout.node_path(request.other, old, theirs)) is None
                and new not in packed):
            raise MergeError(f"{'.'.join(old)!r} is not in trajectory {request.other!r}")
        if layout.reserved_by_run_sets(new, ours):
            raise MergeError(f"{'.'.join(new)!r}: {new[2]!r} is the name of a run set, kept in "
                             f"trajectory {request.target.trajectory!r} for its runs' groups")
        if layout.get_node(file.h5, layout.node_path(request.target.trajectory, new,
                                                     ours)) is not None:
            raise ItemExistsError(".".join(new), remedy=_TAKEN_REMEDY)
    mine = PackedRuns.of(file, request.target.trajectory)
    for row in rows:
        if mine.holds(row.path) or layout.get_node(file.h5, layout.node_path(
                request.target.trajectory, row.path, ours)) is not None:
            raise ItemExistsError(".".join(row.path), remedy=_TAKEN_REMEDY)


def _extend_explored(file: OpenFile, trajectory: str, mine: dict[Path, tables.Group],
                     other: dict[Path, tables.Group], undo: UndoLog) -> None:
    """Append the other trajectory's explored values to ours (UPDATE_LEAF of explored_data)."""
    for path, leaf in mine.items():
        ours = nodes.read_leaf_values(file, leaf, ["explored_data"])["explored_data"]
        theirs = nodes.read_leaf_values(file, other[path], ["explored_data"])["explored_data"]
        try:
            encoded = encode("explored_data", [*ours, *theirs])
        except AiostoreError as exc:
            raise MergeError(f"cannot join the ranges of {'.'.join(path)!r}: {exc}") from exc
        record = LeafRecord(path, layout.class_name_of(leaf), "", {"explored_data": encoded})
        write_leaf(file, trajectory, record, undo, None)


@dataclass(frozen=True, slots=True)
class MergeMarks:
    """How the file was before a MERGE: what :func:`take_back_merge` needs to undo any part of
    it that a crash left (journaled before the merge starts)."""

    trajectory: str
    other: str
    runs_before: int
    rename: tuple[tuple[Path, Path], ...]
    move_nodes: bool
    explored: tuple[Path, ...]
    creates: tuple[str, ...]  # the shallowest new group or node on the way to each new path
    # Each table the merge appends to (the run table, packed tables), by HDF5 path: its
    # length, and the rows of its last chunk (from the row given), which a write that finds
    # the disk full while it rewrites that chunk could lose; the take-back cuts the table to
    # its length (rows of packed tables are told by position: a row cut short may read as
    # run 0) and writes those rows again. (Marks journaled before unpickle without them.)
    tails: tuple[tuple[str, int, int, Any], ...] = ()


@dataclass
class MergePlan:
    """A checked MERGE: what it moves or copies, and the tables and ranges it extends."""

    request: MergeTrajectories
    mine: tables.Group
    other: tables.Group
    rename: dict[Path, Path]
    my_table: tables.Table | None = None
    other_table: tables.Table | None = None
    mine_explored: dict[Path, tables.Group] = field(default_factory=dict)
    other_explored: dict[Path, tables.Group] = field(default_factory=dict)
    rows_as_nodes: list[RowAsNodes] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return self.request.rename is None

    def marks(self, file: OpenFile) -> MergeMarks:
        trajectory = self.request.target.trajectory
        creates = (first_missing(file, trajectory, new) for new in
                   (*self.rename.values(), *(row.path for row in self.rows_as_nodes)))
        extended = [table.table for table in PackedRuns.of(file, trajectory).tables.values()]
        if self.my_table is not None:
            extended.append(self.my_table)
        return MergeMarks(trajectory, self.request.other,
                          self.my_table.nrows if self.my_table is not None else 0,
                          tuple(self.rename.items()), self.request.move_nodes,
                          tuple(self.mine_explored),
                          tuple(dict.fromkeys(where for where in creates if where)),
                          tuple(_tail(table) for table in extended))


def plan_merge(file: OpenFile, request: MergeTrajectories) -> MergePlan:
    """Check a MERGE against the file in full, before any write."""
    mine = trajectory_group(file, request.target)
    other = layout.get_node(file.h5, "/" + request.other)
    if request.other == request.target.trajectory:
        raise MergeError(f"cannot merge trajectory {request.other!r} into itself: name "
                         "another trajectory of the file to merge into it")
    if other is None:
        raise MergeError(f"cannot merge {request.target.trajectory!r} with {request.other!r}: "
                         "the second trajectory is not in the file")
    whole = request.rename is None
    plan = MergePlan(request, mine, other, {}, runs.run_table(mine), runs.run_table(other))
    if whole:
        if plan.my_table is None or plan.other_table is None:
            raise MergeError("merging whole trajectories needs both run tables")
        plan.mine_explored, plan.other_explored = _explored(mine), _explored(other)
        if set(plan.mine_explored) != set(plan.other_explored):
            raise MergeError("the trajectories explore different parameters: "
                             f"{sorted(map('.'.join, plan.mine_explored))} and "
                             f"{sorted(map('.'.join, plan.other_explored))}")
        plan.rename = _whole_merge_plan(file, mine, other, plan.my_table.nrows)
        plan.rows_as_nodes = _unlike_rows(file, request, plan.my_table.nrows)
    else:
        plan.rename = dict(request.rename or {})
        plan.rows_as_nodes = _renamed_rows(file, request, plan.rename)
    _check_renames(file, request, plan.rename, plan.rows_as_nodes)
    if not file.in_memory:
        _check_room(file, plan)
    return plan


def _check_room(file: OpenFile, plan: MergePlan) -> None:
    """DiskFullError, before anything is written, if the disk (or this process's file-size
    limit) has no room for what the merge adds to the file."""
    need = _added_bytes(file, plan)
    what = (f" (merging {plan.request.other!r} into {plan.request.target.trajectory!r} adds "
            f"about {need / 1e6:.1f} MB to it); nothing was changed")
    limit = space.size_limit()
    if limit is not None and file.h5.get_filesize() + need + space.HEADROOM_BYTES > limit:
        raise space.disk_full(errno.EFBIG, file.filename, detail=what)
    if need + space.HEADROOM_BYTES > space.free_bytes(os.path.dirname(file.filename)):
        raise space.disk_full(errno.ENOSPC, file.filename, detail=what)


def _added_bytes(file: OpenFile, plan: MergePlan) -> int:
    """Roughly what a merge adds to the file: the data it copies (none when nodes are moved),
    the rows it appends, the ranges it rewrites, and an object header or index per node."""
    request, h5 = plan.request, file.h5
    added = 0
    theirs = layout.run_sets(file, request.other)
    for row in plan.rows_as_nodes:
        added += row.table.table.rowsize + (len(row.table.specs) + 2) * NODE_BYTES
    for old in plan.rename:
        source = layout.get_node(h5, layout.node_path(request.other, old, theirs))
        if source is None:  # packed results only: counted above
            continue
        moved = [source] if isinstance(source, tables.Leaf) else [source,
                                                                   *source._f_walknodes()]
        added += (len(moved) + 1) * NODE_BYTES  # and a group made to hold it, most often
        if not request.move_nodes:
            added += sum(_stored_bytes(node) for node in moved if isinstance(node, tables.Leaf))
    if plan.whole:
        assert plan.other_table is not None  # planned
        added += plan.other_table.nrows * plan.other_table.rowsize
        for packed in PackedRuns.of(file, request.other).tables.values():
            added += packed.table.nrows * packed.table.rowsize
        for path, leaf in plan.other_explored.items():
            added += _stored_bytes_below(plan.mine_explored[path]) + _stored_bytes_below(leaf)
    return added


def _stored_bytes_below(group: tables.Group) -> int:
    return sum(_stored_bytes(leaf) for leaf in group._f_walknodes("Leaf"))


def _stored_bytes(leaf: tables.Leaf) -> int:
    if isinstance(leaf, tables.VLArray):  # libhdf5 cannot tell its size on disk
        return int(leaf.size_in_memory)
    return int(leaf.size_on_disk)


def apply_merge(file: OpenFile, plan: MergePlan,
                make_room: Callable[[], None] | None = None) -> None:
    """Make a planned MERGE; a failure part-way takes back what it wrote. ``make_room`` is
    called first when the failure was for want of space: taking back rewrites the indexes of
    the tables the merge extended (packed runs), and HDF5 needs room for that."""
    request = plan.request
    packed_mine = PackedRuns.of(file, request.target.trajectory)
    packed_other = PackedRuns.of(file, request.other)
    undo = UndoLog(file.h5)
    with diagnostics.watching() as watch:
        try:
            _transfer(file, request, plan.rename, undo)
            _write_rows_as_nodes(file, request, plan.rows_as_nodes, undo)
            # the copies are most of what the merge writes: if the disk has no room for them,
            # nothing that was in the file before is changed yet
            _flushed_whole(file, watch)
            if plan.whole:
                assert plan.my_table is not None  # planned
                assert plan.other_table is not None
                packed_mine.take_rows_of(packed_other, plan.my_table.nrows, undo)
                _extend_explored(file, request.target.trajectory, plan.mine_explored,
                                 plan.other_explored, undo)
                _append_runs(plan.my_table, plan.other_table, undo)
            _flushed_whole(file, watch)  # what the merge wrote is on disk before it is kept
            if request.move_nodes and not request.delete_trajectory:
                # last but one: nothing can fail after it
                if plan.whole:
                    packed_other.remove_all()
                else:
                    for old in plan.rename:
                        packed_other.remove_below(old)
            if request.delete_trajectory:
                plan.other._f_remove(recursive=True)  # last: nothing can fail after it
        except BaseException as exc:
            if make_room is not None and _space_errno(exc, watch) is not None:
                make_room()
            undo.rollback()
            number = _space_errno(exc, watch)
            if number is None:
                raise
            raise space.disk_full(number, file.filename,
                                  detail="; the merge is taken back, nothing of it is "
                                  "kept") from exc
    undo.commit()


def _space_errno(exc: BaseException, watch: diagnostics.Watch) -> int | None:
    """The errno that says the merge ran out of space: its exception's, or that of a write
    libhdf5 saw fail (PyTables does not raise when a write of raw data, or a flush, fails)."""
    if isinstance(exc, OSError) and exc.errno in space.SPACE_ERRNOS:
        return exc.errno
    if not isinstance(exc, Exception):  # KeyboardInterrupt
        return None
    return next((failure.errno for failure in watch.failures
                 if failure.errno in space.SPACE_ERRNOS), None)


def _flushed_whole(file: OpenFile, watch: diagnostics.Watch) -> None:
    """Flush the file; raise if libhdf5 failed to write any of the merge so far (PyTables does
    not raise when a write of raw data, or a flush, fails)."""
    file.flush()
    failed = next((failure for failure in watch.failures if failure.errno), None)
    if failed is not None:
        assert failed.errno is not None
        raise OSError(failed.errno, f"cannot write {file.filename!r}: {failed}")


def _tail(table: tables.Table) -> tuple[str, int, int, Any]:
    first = table.nrows - table.nrows % table.chunkshape[0]
    return table._v_pathname, table.nrows, first, table.read(first, table.nrows)


def _restore_tails(h5: tables.File, tails: tuple[tuple[str, int, int, Any], ...]) -> None:
    for where, nrows, first, rows in tails:
        table = layout.get_node(h5, where)
        if not isinstance(table, tables.Table):
            continue
        if table.nrows > nrows:
            table.remove_rows(nrows, table.nrows)
        if len(rows) and table.nrows == nrows:
            table.modify_rows(first, nrows, rows=rows)


def take_back_merge(file: OpenFile, marks: MergeMarks) -> None:
    """Undo whatever part of a MERGE a crash left, from the marks journaled before it began.

    A merge that got as far as deleting the other trajectory (its last step) is kept whole:
    only the old explored ranges it had set aside are removed, as its commit would have.
    """
    h5 = file.h5
    mine = layout.get_node(h5, "/" + marks.trajectory)
    if mine is None:
        return
    if layout.get_node(h5, "/" + marks.other) is None:
        for path in marks.explored:
            aside = f"{layout.node_path(marks.trajectory, path)}/explored_data{REPLACED_SUFFIX}"
            if aside in h5:
                h5.remove_node(aside)
        return
    run_table = runs.run_table(mine)
    if run_table is not None and run_table.nrows > marks.runs_before:
        run_table.remove_rows(marks.runs_before, run_table.nrows)
    _restore_tails(h5, getattr(marks, "tails", ()))
    file.caches.clear()  # the packed tables' rows, read again
    packed = PackedRuns.of(file, marks.trajectory)
    packed.remove_runs({idx for table in packed.tables.values() for idx in table.rows
                        if idx >= marks.runs_before})
    for path in marks.explored:
        _cut_explored(file, marks.trajectory, path, marks.runs_before)
    if marks.move_nodes:
        theirs = layout.run_sets(file, marks.other)
        ours = layout.run_sets(file, marks.trajectory)
        for old, new in reversed(marks.rename):
            source = layout.node_path(marks.other, old, theirs)
            target = layout.node_path(marks.trajectory, new, ours)
            if target in h5 and source not in h5:
                parent = ensure_group(h5, marks.other, layout.stored_path(old, theirs)[:-1],
                                      UndoLog(h5))
                h5.get_node(target)._f_move(parent, old[-1])
    for where in marks.creates:  # copies, and the groups made to hold copies or moved nodes
        if where in h5:
            h5.remove_node(where, recursive=True)


def _transfer(file: OpenFile, request: MergeTrajectories, rename: Mapping[Path, Path],
              undo: UndoLog) -> None:
    h5, mine = file.h5, request.target.trajectory
    theirs, ours = layout.run_sets(file, request.other), layout.run_sets(file, mine)
    for old, new in rename.items():
        source = layout.get_node(h5, layout.node_path(request.other, old, theirs))
        if source is None:  # packed results only: see _write_rows_as_nodes
            continue
        parent = ensure_group(h5, mine, layout.stored_path(new, ours)[:-1], undo)
        if request.move_nodes:
            origin, name = source._v_parent, source._v_name
            source._f_move(parent, new[-1])
            undo.add(functools.partial(source._f_move, origin, name))
        else:
            source._f_copy(parent, new[-1], recursive=True)
            undo.created(layout.node_path(mine, new, ours))


def _write_rows_as_nodes(file: OpenFile, request: MergeTrajectories, rows: list[RowAsNodes],
                         undo: UndoLog) -> None:
    filters = nodes.filters_for(request.target.compression)
    read: dict[PackedTable, Any] = {}  # each table read once
    for row in rows:
        table = row.table
        if table not in read:
            read[table] = table.table.read()
        leaf = LeafRecord(row.path, table.class_name, table.comment,
                          table.encoded(read[table], row.position))
        write_leaf(file, request.target.trajectory, leaf, undo, filters)


def _append_runs(my_table: tables.Table, other_table: tables.Table, undo: UndoLog) -> None:
    offset = my_table.nrows
    records = [
        RunRecord(r.idx + offset, r.completed, r.timestamp, r.finish_timestamp, r.parameter_summary)
        for r in runs.read_runs(other_table)
    ]
    runs.write_runs(my_table, records)
    undo.add(lambda: my_table.remove_rows(offset, my_table.nrows))


def _cut_explored(file: OpenFile, trajectory: str, path: Path, length: int) -> None:
    """Put back the explored range of ``path`` as it was before a merge extended it."""
    h5 = file.h5
    where = layout.node_path(trajectory, path)
    if restore_set_aside(h5, f"{where}/explored_data{REPLACED_SUFFIX}"):
        return  # the merge was rewriting it: the old range was still there
    leaf = h5.get_node(where)
    values = nodes.read_leaf_values(file, leaf, ["explored_data"])["explored_data"]
    if len(values) > length:
        record = LeafRecord(path, layout.class_name_of(leaf), "",
                            {"explored_data": encode("explored_data", values[:length])})
        undo = UndoLog(h5)
        write_leaf(file, trajectory, record, undo, None)
        undo.commit()


def backup(file: OpenFile, request: Backup) -> str:
    """Copy the trajectory into ``request.backup_filename``; the backup file changes whole or
    not at all, even if the process dies meanwhile: the trajectory is added to a copy of it (or
    to a new file) beside it, which then replaces it."""
    group = trajectory_group(file, request.target)
    destination = os.path.abspath(request.backup_filename)
    exists = os.path.exists(destination)
    if exists:
        if not is_hdf5(destination):
            raise FileFormatError(f"backup file {destination!r} exists and is not an HDF5 file")
        with tables.open_file(destination, "r") as backup_file:
            if "/" + group._v_name in backup_file:
                raise ItemExistsError(group._v_name, kind="a trajectory", filename=destination,
                                      remedy="back it up into another file (backup_filename=)")
    with replacing(destination) as partial:
        if exists:
            shutil.copyfile(destination, partial)
        with tables.open_file(partial, "a" if exists else "w",
                              title=request.target.file_title) as backup_file:
            group._f_copy(backup_file.root, recursive=True)
    return destination
