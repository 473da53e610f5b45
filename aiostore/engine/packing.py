"""Packed runs: a result of every run as rows of one table, instead of nodes per run.

With the per-node layout a run's result ``results.runs.run_00000007.r`` is a group and a node
per value; creating nodes is what PyTables is slow at (about 1,000 a second here), and so is
opening them to read. When a store asks for it (``Target.packed_runs``), a run's result whose
values are all fixed-size (numbers, fixed-width bytes, arrays, dicts of those) becomes one row
of a table kept for that result name, ``/<traj>/overview/packed/p<k>``: a ``run_idx`` column
and a column per key. Its attributes hold what every row shares: the result's path below its
run group, its class name and comment, and the codec specs and shapes of its values. A result
that does not fit its table (other keys, types or shapes) is stored with nodes, as usual.

Loads look in both places, so a reader need not know which layout a file uses. REMOVE and
REMOVE_INCOMPLETE_RUNS remove rows as they remove nodes; UPDATE_LEAF rewrites values of the same
type and shape in their row; a whole MERGE appends the other trajectory's rows, its runs
renumbered, except those of a result whose rows differ in the two (other keys, types or shapes),
which it writes as nodes; a MERGE with renames writes the packed results it renames as nodes at
their new names (see :mod:`.merging`). ``delete_only`` writes what a result keeps as its nodes
and removes its row (see :mod:`.removal`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import tables

from .._core.answers import NodeData
from .._core.names import RUNS_GROUP, run_index, run_name
from .._core.requests import LeafRecord, Path, row_leaf
from ..codec import Encoded, Spec, decode, loads_specs
from ..codec.flags import Flag
from ..codec.rows import RUN_COLUMN, PackedRow, RowLayout, column_dtype, row_values
from ..codec.rows import row_layout as values_row_layout
from ..errors import DataNotFoundError, InvalidArgumentError, ItemExistsError
from . import layout, nodes
from .durability.undo import UndoLog
from .files import OpenFile, PackedRunsKey
from .rowindex import RunRows

PACKED_GROUP = "packed"
RELATIVE_PATH = "SRVC_PACKED_PATH"
SHAPES = "SRVC_PACKED_SHAPES"
PACKED_BRANCH = "results"


def split_run_path(path: Path) -> tuple[int, Path] | None:
    """``(run index, path below the run group)`` for a path inside a run's results, else None."""
    if len(path) < 4 or path[0] != PACKED_BRANCH or path[1] != RUNS_GROUP:
        return None
    idx = run_index(path[2])
    return None if idx is None else (idx, path[3:])


def row_layout(leaf: LeafRecord) -> tuple[np.dtype, dict[str, list[int]]] | None:
    """The row type that packs ``leaf`` and the shapes of its values, or None if it cannot."""
    return values_row_layout(leaf.values)


def _signature(leaf: LeafRecord) -> tuple[Any, ...]:
    """What must be equal for two leaves to be rows of one table (cheaper than their layouts)."""
    return (leaf.class_name, leaf.comment, [
        (key, encoded.flag, encoded.spec, getattr(encoded.payload, "dtype", None),
         getattr(encoded.payload, "shape", None)) for key, encoded in leaf.values.items()])


class PackedTable:
    """One packed table, and which row holds which run (read once, then kept up to date)."""

    def __init__(self, table: tables.Table) -> None:
        self.table = table
        attrs = table._v_attrs
        self.relative: Path = tuple(json.loads(str(attrs[RELATIVE_PATH])))
        self.specs: dict[str, Spec] = loads_specs(attrs[layout.LEAF])
        self.shapes: dict[str, list[int]] = json.loads(str(attrs[SHAPES]))
        self.class_name = layout.class_name_of(table)
        self.comment = layout.comment_of(table)
        self.rows = RunRows(table.col(RUN_COLUMN))
        self._accepted: dict[int, tuple[RowLayout, bool]] = {}  # by id: layouts are kept alive

    def fits(self, leaf: LeafRecord, row_type: np.dtype, shapes: dict[str, list[int]]) -> bool:
        return (row_type == self.table.dtype and shapes == self.shapes
                and {key: value.spec for key, value in leaf.values.items()} == self.specs
                and leaf.class_name == self.class_name and leaf.comment == self.comment)

    def accepts(self, row_layout_: RowLayout) -> bool:
        """Whether rows of ``row_layout_`` are rows of this table (said once per layout)."""
        known = self._accepted.get(id(row_layout_))
        if known is None or known[0] is not row_layout_:
            fits = (row_layout_.dtype == self.table.dtype and row_layout_.shapes == self.shapes
                    and row_layout_.specs == self.specs
                    and row_layout_.class_name == self.class_name
                    and row_layout_.comment == self.comment)
            known = self._accepted[id(row_layout_)] = (row_layout_, fits)
        return known[1]

    def same_layout(self, other: PackedTable) -> bool:
        return (self.table.dtype == other.table.dtype and self.specs == other.specs
                and self.shapes == other.shapes and self.class_name == other.class_name
                and self.comment == other.comment)

    def encoded(self, rows: np.ndarray, position: int) -> dict[str, Encoded]:
        """Row ``position`` of ``rows`` (read from this table) as the codec encoded its values
        (a MERGE writes a row it cannot append as its nodes)."""
        return row_values(rows[position:position + 1], self.specs, self.shapes)

    def result_path(self, run: int) -> Path:
        """The path of run ``run``'s result in this table."""
        return (PACKED_BRANCH, RUNS_GROUP, run_name(run), *self.relative)

    def values(self, record: np.void, load_only: tuple[str, ...] | None = None,
               load_except: tuple[str, ...] = ()) -> dict[str, Any]:
        keys = list(self.specs) if load_only is None else list(load_only)
        missing = [key for key in (*keys, *load_except) if key not in self.specs]
        if missing:
            raise DataNotFoundError(f"{'.'.join(self.relative)} has no data named", missing)
        return {key: decode(self.specs[key], np.asarray(record[key]).reshape(self.shapes[key]))
                for key in keys if key not in load_except}


class PackedRuns:
    """The packed tables of one trajectory in one open file."""

    def __init__(self, file: OpenFile, trajectory: str) -> None:
        self.file = file
        self.trajectory = trajectory
        group = layout.get_node(file.h5, layout.node_path(trajectory, (layout.OVERVIEW,
                                                                       PACKED_GROUP)))
        self.tables: dict[Path, PackedTable] = {}
        if group is not None:
            for table in group._f_iter_nodes("Table"):
                packed = PackedTable(table)
                self.tables[packed.relative] = packed

    @classmethod
    def of(cls, file: OpenFile, trajectory: str) -> PackedRuns:
        """The packed tables of ``trajectory``, kept with the open file between requests."""
        key = PackedRunsKey(trajectory)
        packed = file.caches.get(key)
        if packed is None or not all(t.table._v_isopen for t in packed.tables.values()):
            packed = file.caches[key] = cls(file, trajectory)
        return packed

    def holds_row(self, row: PackedRow) -> bool:
        """:meth:`holds` of a packed row's path (a run's result: its run index is known)."""
        table = self.tables.get(row.path[3:])
        return table is not None and row.run in table.rows

    def holds(self, path: Path) -> bool:
        split = split_run_path(path)
        if split is None:
            return False
        table = self.tables.get(split[1])
        return table is not None and split[0] in table.rows

    # -- writing ------------------------------------------------------------------------------

    def table_for(self, leaf: LeafRecord) -> tuple[PackedTable | None, np.dtype,
                                                    dict[str, list[int]]] | None:
        """Where ``leaf`` would be packed: its table (None: one to create), row type, shapes.

        None if it cannot be packed (then it is stored with nodes)."""
        split = split_run_path(leaf.path)
        layout_ = row_layout(leaf) if split is not None else None
        if split is None or layout_ is None:
            return None
        row_type, shapes = layout_
        table = self.tables.get(split[1])
        if table is not None and not table.fits(leaf, row_type, shapes):
            return None
        return table, row_type, shapes

    def append(self, leaf: LeafRecord, undo: UndoLog,
               compression: tuple[str, int] | None = None) -> bool:
        """Pack ``leaf`` as a row; False if it cannot be packed. Raises if its run has a row."""
        return not self.append_all((leaf,), undo, compression)

    def append_all(self, leaves: tuple[LeafRecord, ...], undo: UndoLog,
                   compression: tuple[str, int] | None = None) -> tuple[LeafRecord, ...]:
        """Pack every leaf that fits as a row, appending a block of rows per table (a block
        costs PyTables about what one row does); returns the leaves that cannot be packed.
        Raises if a run has a row already. New tables get ``compression``."""
        by_table: dict[Path, list[tuple[int, LeafRecord]]] = {}
        rest: list[LeafRecord] = []
        for leaf in leaves:
            split = split_run_path(leaf.path)
            if split is None:
                rest.append(leaf)
            else:
                by_table.setdefault(split[1], []).append((split[0], leaf))
        for relative, members in by_table.items():
            rest.extend(self._append_block(relative, members, undo, compression))
        return tuple(rest)

    def _append_block(self, relative: Path, members: list[tuple[int, LeafRecord]],
                      undo: UndoLog, compression: tuple[str, int] | None) -> list[LeafRecord]:
        """Append the rows of those ``members`` (run index, leaf) that fit the table of
        ``relative`` (made if missing, as the first packable member wants it); returns the
        others. A leaf fits when its keys, specs, dtypes and shapes are the first's."""
        block: list[tuple[int, LeafRecord]] = []
        rest: list[LeafRecord] = []
        expected: tuple[Any, ...] | None = None
        where = None
        for idx, leaf in members:
            signature = _signature(leaf)
            if expected is None:
                where = self.table_for(leaf)
                if where is None:
                    rest.append(leaf)
                    continue
                expected = signature
            if signature == expected:
                block.append((idx, leaf))
            else:
                rest.append(leaf)
        if where is not None:
            self._append_rows(relative, block, *where, undo, compression)
        return rest

    def _append_rows(self, relative: Path, block: list[tuple[int, LeafRecord]],
                     table: PackedTable | None, row_type: np.dtype,
                     shapes: dict[str, list[int]], undo: UndoLog,
                     compression: tuple[str, int] | None) -> None:
        first = block[0][1]
        if table is None:
            table = self._create(relative, first, row_type, shapes, undo, compression)
        rows = np.zeros(len(block), dtype=row_type)
        rows[RUN_COLUMN] = [idx for idx, _ in block]
        for key in first.values:
            # the payloads share dtype and shape: their bytes end to end are the column (numpy
            # would promote structured dtypes field by field, in python, to concatenate them)
            column = b"".join([leaf.values[key].payload.tobytes() for _, leaf in block])
            rows[key] = np.frombuffer(column, dtype=rows.dtype[key]).reshape(rows[key].shape)
        self._append_records(table, [(idx, leaf.path) for idx, leaf in block], rows, undo)

    def takes(self, row: PackedRow) -> bool:
        """Whether ``row`` will be a row of its result's table (which exists and accepts it)."""
        table = self.tables.get(row.path[3:])
        return table is not None and table.accepts(row.layout)

    def append_packed(self, packed: tuple[PackedRow, ...], undo: UndoLog,
                      compression: tuple[str, int] | None = None) -> list[PackedRow]:
        """Append rows planned in the caller's thread, a block per table (made if missing);
        returns the rows whose table holds rows of another layout (they go the general way).
        Raises if a run has a row already."""
        by_table: dict[tuple[Path, RowLayout], list[PackedRow]] = {}
        for row in packed:
            by_table.setdefault((row.path[3:], row.layout), []).append(row)
        rest: list[PackedRow] = []
        for (relative, row_layout_), block in by_table.items():
            table = self.tables.get(relative)
            if table is None:
                table = self._create(relative, row_leaf(block[0]), row_layout_.dtype,
                                     row_layout_.shapes, undo, compression)
            elif not table.accepts(row_layout_):
                rest.extend(block)
                continue
            records = np.frombuffer(b"".join([row.row for row in block]), dtype=table.table.dtype)
            if records[RUN_COLUMN].tolist() != [row.run for row in block]:
                raise InvalidArgumentError("packed rows whose run_idx is not their run's")
            self._append_records(table, [(row.run, row.path) for row in block], records, undo)
        return rest

    def _append_records(self, table: PackedTable, runs: list[tuple[int, Path]],
                        records: np.ndarray, undo: UndoLog) -> None:
        """Append ``records``, the rows of ``runs`` (index, path of the result) in order."""
        seen: set[int] = set()
        for idx, path in runs:
            if idx in seen or idx in table.rows:
                raise ItemExistsError(".".join(path))
            seen.add(idx)
        position = table.table.nrows
        table.table.append(records)
        table.rows.add([idx for idx, _ in runs], position)
        undo.add(functools.partial(self._truncate, table, position))

    def _group(self, undo: UndoLog) -> tables.Group:
        h5 = self.file.h5
        overview = h5.get_node(layout.node_path(self.trajectory, (layout.OVERVIEW,)))
        group = layout.child(overview, PACKED_GROUP)
        if group is None:
            group = h5.create_group(overview, PACKED_GROUP)
            undo.created(group._v_pathname)
        return group

    @staticmethod
    def _free_name(group: tables.Group) -> str:
        name = f"p{len(group._v_children)}"
        while name in group._v_children:
            name += "_"
        return name

    def _create(self, relative: Path, leaf: LeafRecord, row_type: np.dtype,
                shapes: dict[str, list[int]], undo: UndoLog,
                compression: tuple[str, int] | None) -> PackedTable:
        h5 = self.file.h5
        group = self._group(undo)
        name = self._free_name(group)
        table = h5.create_table(group, name, description=nodes.table_description(row_type),
                                **nodes.packed_table_options(row_type, compression))
        undo.created(table._v_pathname)
        attrs = table._v_attrs
        attrs[RELATIVE_PATH] = json.dumps(list(relative))
        attrs[SHAPES] = json.dumps(shapes)
        nodes.write_leaf_attrs(table, leaf.class_name, leaf.comment,
                               {key: value.spec for key, value in leaf.values.items()})
        packed = self.tables[relative] = PackedTable(table)

        def forget() -> None:
            self.tables.pop(relative, None)

        undo.add(forget)
        return packed

    def check_update(self, leaf: LeafRecord) -> None:
        """Raise unless UPDATE_LEAF can rewrite ``leaf``'s values in its packed row."""
        split = split_run_path(leaf.path)
        assert split is not None  # held, so a run's result
        table = self.tables[split[1]]
        name = ".".join(leaf.path)
        if leaf.class_name != table.class_name or (leaf.comment and leaf.comment != table.comment):
            raise InvalidArgumentError(f"{name!r} is a packed run result: an update keeps its "
                                       "class and comment")
        for key, encoded in leaf.values.items():
            field = (table.table.dtype.fields or {}).get(key)
            column = field[0] if field is not None else None
            layout_ = (column_dtype(encoded.payload, encoded.flag)
                       if isinstance(encoded.payload, np.ndarray) else None)
            if (key not in table.specs or encoded.spec != table.specs[key] or layout_ is None
                    or column is None or np.dtype((layout_[0], layout_[1])) != column
                    or list(encoded.payload.shape) != table.shapes[key]):
                raise InvalidArgumentError(f"{name!r} is a packed run result: an update of "
                                           f"{key!r} must keep its type and shape")

    def update(self, leaf: LeafRecord, undo: UndoLog) -> None:
        """Rewrite ``leaf``'s values in its packed row (checked by :meth:`check_update`)."""
        idx, relative = split_run_path(leaf.path)  # type: ignore[misc]
        table = self.tables[relative]
        row = table.rows[idx]
        old = table.table.read(row, row + 1)
        new = old.copy()
        for key, encoded in leaf.values.items():
            new[key] = encoded.payload.reshape(new[key].shape[1:]) \
                if encoded.flag is not Flag.DICT else encoded.payload[0]
        table.table.modify_rows(row, row + 1, rows=new)
        undo.add(functools.partial(table.table.modify_rows, row, row + 1, 1, old))

    def unlike(self, other: PackedRuns) -> list[PackedTable]:
        """The tables of ``other`` whose rows are not rows of the table here of their result
        (other keys, types or shapes): a whole MERGE writes their rows as nodes."""
        return [theirs for relative, theirs in other.tables.items()
                if relative in self.tables and not self.tables[relative].same_layout(theirs)]

    def take_rows_of(self, other: PackedRuns, offset: int, undo: UndoLog) -> None:
        """Append the packed rows of ``other`` here, its runs renumbered by ``offset`` (MERGE),
        those of :meth:`unlike` tables excepted."""
        unlike = {theirs.relative for theirs in self.unlike(other)}
        for relative, theirs in other.tables.items():
            if relative in unlike:
                continue
            rows = theirs.table.read()
            rows[RUN_COLUMN] += offset
            mine = self.tables.get(relative) or self._create_like(theirs, undo)
            if any(idx in mine.rows for idx in rows[RUN_COLUMN].tolist()):
                raise ItemExistsError(f"packed results {'.'.join(relative)!r} of merged runs")
            position = mine.table.nrows
            mine.table.append(rows)
            mine.rows.add(rows[RUN_COLUMN].tolist(), position)
            undo.add(functools.partial(self._truncate, mine, position))

    @staticmethod
    def _truncate(table: PackedTable, position: int) -> None:
        if table.table._v_isopen and table.table.nrows > position:
            table.table.remove_rows(position, table.table.nrows)
        table.rows.keep_below(position)

    def _create_like(self, theirs: PackedTable, undo: UndoLog) -> PackedTable:
        group = self._group(undo)
        name = self._free_name(group)
        table = theirs.table.copy(group, name, start=0, stop=0)  # structure and attributes
        undo.created(table._v_pathname)
        packed = self.tables[theirs.relative] = PackedTable(table)
        undo.add(functools.partial(self.tables.pop, theirs.relative, None))
        return packed

    def remove_all(self) -> None:
        """Remove every packed table (MERGE with ``move_nodes``: they moved)."""
        for table in self.tables.values():
            table.table._f_remove()
        self.tables.clear()

    # -- reading ------------------------------------------------------------------------------

    def read_leaf(self, path: Path, load_only: tuple[str, ...] | None,
                  load_except: tuple[str, ...]) -> NodeData | None:
        split = split_run_path(path)
        table = self.tables.get(split[1]) if split is not None else None
        if split is None or table is None or split[0] not in table.rows:
            return None
        with nodes.damaged_data(f"{table.table._v_pathname} (run {split[0]})"):
            record = table.table[table.rows[split[0]]]
            values = table.values(record, load_only, load_except)
        return NodeData(path, True, table.class_name, table.comment, values)

    def leaves_below(self, prefix: Path, with_data: bool) -> Iterator[NodeData]:
        """Every packed result whose path starts with ``prefix``, as nodes read from nodes."""
        for table in self.tables.values():
            records = table.table.read() if with_data else None
            for idx, row in sorted(table.rows.items()):
                path = table.result_path(idx)
                if path[:len(prefix)] != prefix:
                    continue
                values = table.values(records[row]) if records is not None else None
                yield NodeData(path, True, table.class_name, table.comment, values)

    def remove_below(self, prefix: Path) -> None:
        """Remove the rows of every packed result whose path starts with ``prefix``."""
        for table in self.tables.values():
            doomed = {idx for idx in table.rows
                      if table.result_path(idx)[:len(prefix)] == prefix}
            self._remove_rows(table, doomed)

    def _remove_rows(self, table: PackedTable, indices: set[int]) -> None:
        doomed = sorted(table.rows[idx] for idx in indices if idx in table.rows)
        for row in reversed(doomed):
            table.table.remove_row(row)
        if doomed:
            table.rows = RunRows(table.table.col(RUN_COLUMN))

    def remove_runs(self, indices: set[int]) -> set[int]:
        """Remove the rows of runs ``indices`` from every table; the runs that had rows."""
        removed: set[int] = set()
        for table in self.tables.values():
            removed |= {idx for idx in indices if idx in table.rows}
            self._remove_rows(table, indices)
        return removed
