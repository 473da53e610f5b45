"""LOAD_FRAME and LOAD_DATASET: results of the completed runs as columns, for the caller to
build a DataFrame or an xarray Dataset of.

Two requests: :class:`~aiostore._core.requests.ReadFrameIndex` reads the completed runs (the run
table's ``completed`` column, once), the explored parameters' ranges (as numpy columns) and
each result's keys (or finds every result the completed runs hold), so that the caller can check
its arguments and choose runs before any result is read; then
:class:`~aiostore._core.requests.ReadFrame` reads the chosen runs' values of one or more results.

A packed table (``packed_runs``) is read in one go, the whole table (or only the chosen rows
when they are few); each key's column is a view of that block, and runs are matched to rows
with sorted numpy arrays, never one at a time. The per-node layout is read run by run (a group
and a node per value is what it is, in its run set if the trajectory has them), all in one
request. Scalar keys come back as numpy columns
of their exact type (see :mod:`aiostore.codec.columns`), a dict's scalar fields as a column
each, arrays of one dtype and shape as one ``(runs, *shape)`` block, anything else as an object
column of values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import tables

from .._core.answers import FrameColumns, FrameIndex
from .._core.names import RUNS_GROUP, run_index, run_name
from .._core.requests import FramePart, Path, ReadFrame, ReadFrameIndex, Target
from ..codec import Spec, decode, loads_specs
from ..codec.arrays import restore_dtype
from ..codec.colls import COLL_NDARRAY, COLL_SCALAR
from ..codec.columns import decode_column, is_scalar, object_column
from ..codec.flags import Flag
from ..codec.tables import _field
from ..errors import DataNotFoundError, UnsupportedFeatureError
from . import layout, nodes, runs
from .files import OpenFile
from .packing import PACKED_BRANCH, PACKED_GROUP, RELATIVE_PATH, RUN_COLUMN, SHAPES
from .reading import trajectory_group
from .written import latest_stamp

__all__ = ["frame_index", "pypet_refused", "read_frame"]

EXPLORED_KEY = "explored_data"
_NODE_READS = (Flag.FRAME, Flag.SERIES)  # read through pandas, as values
_FEW = 8  # fewer than one run in _FEW of a packed table's rows chosen: read only their rows
_EMPTY = np.zeros(0, dtype=np.int64)

Columns = list[tuple[str, str | None, np.ndarray]]
NodeValues = list[tuple[dict[str, Spec], dict[str, Any]]]


def pypet_refused(file: OpenFile, request: Any) -> Any:
    raise UnsupportedFeatureError(f"trajectory {request.target.trajectory!r}",
                                  "load_frame of a trajectory pypet wrote (load it instead)")


def _packed_tables(file: OpenFile, trajectory: str) -> dict[Path, tables.Table]:
    """The trajectory's packed tables by the result path below a run's group (their attributes
    only: which row holds which run is read from the rows themselves, as numpy columns)."""
    group = layout.get_node(file.h5, layout.node_path(trajectory, (layout.OVERVIEW,
                                                                   PACKED_GROUP)))
    if group is None:
        return {}
    return {tuple(json.loads(str(table._v_attrs[RELATIVE_PATH]))): table
            for table in group._f_iter_nodes("Table")}


def _run_path(branch: str, relative: Path, idx: int) -> Path:
    return (branch, RUNS_GROUP, run_name(idx), *relative)


def _result_name(branch: str, relative: Path) -> str:
    return ".".join((branch, RUNS_GROUP, "*", *relative))


# ------------------------------------------------------------------------------------ index


def frame_index(file: OpenFile, request: ReadFrameIndex) -> FrameIndex:
    group = trajectory_group(file, request.target)
    until = _written_until(file, group, request)
    try:
        return _frame_index(file, request, group, until)
    except DataNotFoundError:
        if until is None:
            raise
        # runs after `until` that the reader knows completed may be the only ones to hold it
        return _frame_index(file, request, group, None)


def _frame_index(file: OpenFile, request: ReadFrameIndex, group: tables.Group,
                 until: int | None) -> FrameIndex:
    target, stamp = request.target, latest_stamp()
    completed, since, new = _completed_runs(group, request.since, request.pending, until)
    packed = _packed_tables(file, target.trajectory)
    names = request.results
    if names is None:
        names = tuple(_every_result(file, target, packed, completed))
        if not names:
            raise DataNotFoundError(f"no completed run of trajectory {target.trajectory!r} "
                                    "holds any result")
    results: dict[tuple[str, Path], dict[str, Spec]] = {}
    for branch, relative in names:
        table = packed.get(relative) if branch == PACKED_BRANCH else None
        keys = (loads_specs(table._v_attrs[layout.LEAF])
                if table is not None and _holds_any(table, completed) else None)
        if keys is None:  # no table, or only incomplete runs have rows: nodes may hold some
            keys = _first_specs(file, target, branch, relative, completed)
        if keys is None:
            raise DataNotFoundError(f"no completed run of trajectory {target.trajectory!r} "
                                    f"holds {_result_name(branch, relative)}")
        results[(branch, relative)] = keys
    if not since:
        return FrameIndex(completed, _explored(group) or {}, results, stamp=stamp)
    parameters = _explored(group, request.known)
    return FrameIndex(new, parameters or {}, results, since, parameters is None,
                      until=until or 0, stamp=stamp)


def _written_until(file: OpenFile, group: tables.Group, request: ReadFrameIndex) -> int | None:
    """Where the rows of the run table written since the reader's last answer end
    (:mod:`.written`): the runs after it are as the reader kept them. None: unknown, or not to
    be used (``results`` None: the results are found from every completed run, which the
    writer then reads)."""
    table = runs.run_table(group)
    if table is None or not request.since or not request.stamp or request.results is None:
        return None
    return file.written.until(table._v_pathname, request.since, request.stamp)


def _completed_runs(group: tables.Group, since: int = 0, pending: tuple[int, ...] = (),
                    until: int | None = None) -> tuple[np.ndarray, int, np.ndarray]:
    """The indices of the completed runs, sorted: one read of the ``completed`` column; then
    ``since`` and those of them a reader did not know of, if only the rows from run ``since``
    on (to row ``until``) and those of ``pending`` were read (the reader knows every other run
    before ``since`` completed: the run table holds run ``i`` in row ``i``), else 0 and all of
    them."""
    table = runs.run_table(group)
    if table is None or not table.nrows:
        return _EMPTY, 0, _EMPTY
    with nodes.damaged_data(table._v_pathname):
        if 0 < since <= table.nrows and _in_row_order(table):
            waiting = np.asarray(pending, dtype=np.int64)
            waiting = waiting[(waiting >= 0) & (waiting < since)]
            still = np.ones(len(waiting), dtype=bool)
            if len(waiting):
                still = table.read_coordinates(waiting, field="completed") == 0
            tail = np.flatnonzero(_read_column(table, "completed", since, until) != 0) + since
            new = np.concatenate([waiting[~still], tail])
            before = np.ones(since, dtype=bool)  # a mask, not a set operation: no sort of
            before[waiting[still]] = False      # every run at every poll
            return np.concatenate([np.flatnonzero(before), tail]), since, new
        completed = _run_indices(table)[_read_column(table, "completed") != 0]
        return completed, 0, completed


def _read_column(table: tables.Table, name: str, first: int = 0,
                 last: int | None = None) -> np.ndarray:
    """One column of ``table`` from row ``first`` to ``last`` (None: the end;
    :func:`~.nodes.read_columns`)."""
    column: np.ndarray = nodes.read_columns(table, (name,), first, last)[0]
    return column


def _in_row_order(table: tables.Table) -> bool:
    """Whether the run table holds run ``i`` in row ``i`` (as the engine writes it), checked
    at both ends."""
    ends = table.read_coordinates([0, table.nrows - 1], field="idx")
    return int(ends[0]) == 0 and int(ends[-1]) == table.nrows - 1


def _run_indices(table: tables.Table) -> np.ndarray:
    """The run index of each row of the run table: row ``i`` holds run ``i`` (the engine
    writes rows by index), checked at both ends; read in full if that does not hold."""
    if _in_row_order(table):
        return np.arange(table.nrows, dtype=np.int64)
    indices = _read_column(table, "idx").astype(np.int64)
    return indices if np.all(indices[1:] > indices[:-1]) else np.sort(indices)


def _holds_any(table: tables.Table, completed: np.ndarray) -> bool:
    """Whether a packed table has a row of any of the runs ``completed`` (sorted): its first
    and last rows are looked at first, the whole run column only if neither is one."""
    count = table.nrows
    if not count or not len(completed):
        return False
    with nodes.damaged_data(table._v_pathname):
        ends = table.read_coordinates([0, count - 1], field=RUN_COLUMN)
        if _among(ends, completed).any():
            return True
        return bool(_among(_read_column(table, RUN_COLUMN), completed).any())


def _among(values: np.ndarray, sorted_runs: np.ndarray) -> np.ndarray:
    """For each of ``values``, whether it is one of ``sorted_runs``."""
    if not len(sorted_runs):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_runs, values), len(sorted_runs) - 1)
    found: np.ndarray = sorted_runs[at] == values
    return found


def _first_specs(file: OpenFile, target: Target, branch: str, relative: Path,
                 completed: np.ndarray) -> dict[str, Spec] | None:
    if _runs_group(file, target, branch) is None:
        return None
    run_sets = layout.run_sets(file, target.trajectory)
    for idx in completed:
        node = layout.get_node(file.h5, layout.node_path(
            target.trajectory, _run_path(branch, relative, int(idx)), run_sets))
        if node is not None and layout.is_leaf_group(node):
            with nodes.damaged_data(node._v_pathname):
                return layout.leaf_specs(node)
    return None


def _runs_group(file: OpenFile, target: Target, branch: str) -> tables.Group | None:
    return layout.get_node(file.h5, layout.node_path(target.trajectory, (branch, RUNS_GROUP)))


def _every_result(file: OpenFile, target: Target, packed: dict[Path, tables.Table],
                  completed: np.ndarray) -> list[tuple[str, Path]]:
    """Every result below ``results.runs`` that a completed run holds, sorted by name: the
    packed tables', and those below the completed runs' groups (the per-node layout)."""
    found = {(PACKED_BRANCH, relative) for relative, table in packed.items()
             if _holds_any(table, completed)}
    group = _runs_group(file, target, PACKED_BRANCH)
    if group is not None and len(completed):
        done = set(completed.tolist())
        run_sets = layout.run_sets(file, target.trajectory)
        for name, run_group in layout.children(group, (PACKED_BRANCH, RUNS_GROUP), run_sets):
            if run_index(name) in done:
                found.update((PACKED_BRANCH, path) for path, _ in _leaf_groups(run_group, ()))
    return sorted(found)


def _explored(group: tables.Group, known: tuple[tuple[str, int], ...] | None = None
              ) -> dict[str, np.ndarray] | None:
    """The explored parameters' ranges, by name below ``parameters``; None if they are the
    ``known`` ones (the same names and lengths: a range changes otherwise only in place, which
    a reader's generation tells)."""
    branch = layout.child(group, "parameters")
    found: dict[str, tuple[Spec, tables.Leaf]] = {}
    if branch is not None:
        for path, leaf in _leaf_groups(branch, ()):
            spec = layout.leaf_specs(leaf).get(EXPLORED_KEY)
            node = layout.child(leaf, EXPLORED_KEY)
            if spec is not None and node is not None:
                found[".".join(path)] = spec, node
    ordered = sorted(found.items())
    if known and tuple((name, len(node)) for name, (_, node) in ordered) == tuple(known):
        return None
    columns = {}
    for name, (spec, node) in ordered:
        with nodes.damaged_data(node._v_pathname):
            columns[name] = _range_column(spec, node.read())
    return columns


def _leaf_groups(group: tables.Group, path: Path) -> Iterator[tuple[Path, tables.Group]]:
    for name, child in layout.subgroups(group):
        if layout.is_leaf_group(child):
            yield (*path, name), child
        else:
            yield from _leaf_groups(child, (*path, name))


def _range_column(spec: Spec, raw: np.ndarray) -> np.ndarray:
    """An explored range (a list: a value per run) as a column."""
    element = spec.get("type")
    if element == "ndarray" or raw.ndim != 1:
        values = decode(spec, raw)
        return object_column(list(values))
    return decode_column({**spec, "coll": COLL_SCALAR}, raw)


# ------------------------------------------------------------------------------------ frame


def read_frame(file: OpenFile, request: ReadFrame) -> list[FrameColumns]:
    """Each part's columns, over the runs of ``request.runs`` that hold it."""
    trajectory_group(file, request.target)
    wanted = np.asarray(request.runs, dtype=np.int64)
    packed = _packed_tables(file, request.target.trajectory)
    return [_read_part(file, request.target, part, wanted,
                       packed.get(part.relative) if part.branch == PACKED_BRANCH else None)
            for part in request.parts]


def _read_part(file: OpenFile, target: Target, part: FramePart, wanted: np.ndarray,
               table: tables.Table | None) -> FrameColumns:
    specs: dict[str, Spec] = {}
    blocks: dict[str, np.ndarray] = {}
    packed_runs, rest = _EMPTY, wanted
    if table is not None:
        specs = loads_specs(table._v_attrs[layout.LEAF])
        packed_runs, blocks, rows = _packed_block(table, wanted, part.keys, part.rows_from)
        rest = wanted[~_among(wanted, packed_runs)] if len(packed_runs) < len(wanted) else _EMPTY
    else:
        rows = 0
    found, values = _node_values(file, target, part, rest)
    if not specs:
        specs = values[0][0] if values else dict(part.specs)
    if not len(found):
        return FrameColumns(packed_runs, _columns(part.keys, specs, blocks, len(packed_runs)),
                            rows)
    if not len(packed_runs):
        return FrameColumns(found, _node_columns(part.keys, specs, values), rows)
    # some runs packed, some in nodes (values that did not fit the table): by run, per value
    holders = np.concatenate([packed_runs, found])
    order = np.argsort(holders, kind="stable")
    per_run = [{key: (specs[key], blocks[key][row]) for key in part.keys}
               for row in range(len(packed_runs))]
    per_run += [{key: (run_specs[key], raws[key]) for key in part.keys}
                for run_specs, raws in values]
    ordered = [per_run[i] for i in order]
    return FrameColumns(holders[order], _mixed_columns(part.keys, specs, ordered), rows)


def _packed_block(table: tables.Table, wanted: np.ndarray, keys: tuple[str, ...],
                  rows_from: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """The runs of ``wanted`` that have a row in ``table``, their values by key (a block per
    key, a row per run), and the row after the last one read of them: one read of the whole
    table, or of the chosen rows if few; of the rows from ``rows_from`` on if they hold every
    run wanted (a live writer's reader asks so for the runs completed since it read the runs
    before, whose rows end there: it costs the new rows only)."""
    shapes: dict[str, list[int]] = json.loads(str(table._v_attrs[SHAPES]))
    with nodes.damaged_data(table._v_pathname):
        held, records, end = _EMPTY, None, rows_from
        if 0 < rows_from <= table.nrows:
            held, records, end = _rows_from(table, wanted, rows_from)
        if len(held) < len(wanted) or records is None:  # not all there: every row
            held, records, end = _rows_from(table, wanted, 0)
    return held, {key: _reshaped(records[key], shapes[key], len(held)) for key in keys}, end


def _rows_from(table: tables.Table, wanted: np.ndarray, first: int
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """The runs of ``wanted`` held by the rows of ``table`` from ``first`` on, their records
    in run order, and the row after the last of them (``first`` if none)."""
    if not len(wanted):
        return _EMPTY, table.read(first, first), first
    if len(wanted) * _FEW < table.nrows - first:
        rows, held = _rows_of(_read_column(table, RUN_COLUMN, first), wanted)
        records = table.read_coordinates(rows + first)
    else:
        records = table.read(first, table.nrows)
        rows, held = _rows_of(records[RUN_COLUMN], wanted)
        if len(rows) and int(rows[-1]) - int(rows[0]) + 1 == len(rows) and _increasing(rows):
            records = records[int(rows[0]):int(rows[-1]) + 1]  # rows in a row: no copy
        elif len(rows) != len(records) or not _increasing(rows):
            records = records[rows]
    return held, records, first + int(rows.max()) + 1 if len(rows) else first


def _rows_of(run_column: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a table whose run column is ``run_column`` holding the runs of ``wanted``
    (sorted), and those runs: both in run order, found by sorting, not run by run."""
    run_column = np.ascontiguousarray(run_column, dtype=np.int64)
    if len(run_column) == len(wanted) and np.array_equal(run_column, wanted):
        return np.arange(len(wanted)), wanted  # every row, each a run chosen (the usual case)
    if _increasing(run_column):  # rows appended in run order: no sort
        order, ordered = None, run_column
    else:
        order = np.argsort(run_column, kind="stable")
        ordered = run_column[order]
    if not len(ordered):
        return _EMPTY, _EMPTY
    at = np.searchsorted(ordered, wanted)
    hit = (at < len(ordered)) & (ordered[np.minimum(at, len(ordered) - 1)] == wanted)
    rows = at[hit] if order is None else order[at[hit]]
    return rows, wanted[hit]


def _increasing(values: np.ndarray) -> bool:
    return bool(np.all(values[1:] > values[:-1]))


def _reshaped(block: np.ndarray, shape: list[int], rows: int) -> np.ndarray:
    return block if block.dtype.names else block.reshape((rows, *shape))


def _node_values(file: OpenFile, target: Target, part: FramePart, wanted: np.ndarray
                 ) -> tuple[np.ndarray, NodeValues]:
    """The runs of ``wanted`` whose nodes hold the result, and per run its specs and raw
    payloads by key (a pandas value decoded already)."""
    if not len(wanted) or _runs_group(file, target, part.branch) is None:
        return _EMPTY, []
    parsed: dict[str, dict[str, Spec]] = {}  # runs share their specs' text: parse it once
    found: list[int] = []
    values: NodeValues = []
    run_sets = layout.run_sets(file, target.trajectory)
    for idx in wanted:
        path = _run_path(part.branch, part.relative, int(idx))
        group = layout.get_node(file.h5, layout.node_path(target.trajectory, path, run_sets))
        if group is None or not layout.is_leaf_group(group):
            continue
        with nodes.damaged_data(group._v_pathname):
            text = group._v_attrs[layout.LEAF]
            specs = parsed.get(text)
            if specs is None:
                specs = parsed[text] = loads_specs(text)
        missing = [key for key in part.keys if key not in specs]
        if missing:
            raise DataNotFoundError(f"{'.'.join(path)} has no data named", missing)
        found.append(int(idx))
        values.append((specs, _node_raws(file, group, part.keys, specs)))
    return np.asarray(found, dtype=np.int64), values


def _node_raws(file: OpenFile, group: tables.Group, keys: tuple[str, ...],
               specs: dict[str, Spec]) -> dict[str, Any]:
    raws: dict[str, Any] = {}
    for key in keys:
        with nodes.damaged_data(f"{group._v_pathname}/{key}"):
            raws[key] = (nodes.read_value(file, group, key, specs[key])
                         if specs[key]["flag"] in _NODE_READS
                         else group._f_get_child(key).read())
    return raws


def _node_columns(keys: tuple[str, ...], specs: dict[str, Spec], values: NodeValues) -> Columns:
    if all(run_specs == specs for run_specs, _ in values):
        blocks = {key: _stacked(specs[key], [raws[key] for _, raws in values]) for key in keys}
        if all(block is not None for block in blocks.values()):
            return _columns(keys, specs, blocks, len(values))  # type: ignore[arg-type]
    per_run = [{key: (run_specs[key], raws[key]) for key in keys} for run_specs, raws in values]
    return _mixed_columns(keys, specs, per_run)


def _stacked(spec: Spec, raws: list[Any]) -> np.ndarray | None:
    """The runs' payloads of one key as one block (a row per run), or None if they differ."""
    if spec["flag"] in _NODE_READS:
        return object_column(raws)
    try:
        if spec["flag"] == Flag.DICT:  # one-row tables (or a packed table's rows)
            return np.concatenate([np.asarray(raw).reshape(-1) for raw in raws])
        return np.stack(raws)
    except (ValueError, TypeError):
        return None


def _columns(keys: tuple[str, ...], specs: dict[str, Spec], blocks: dict[str, np.ndarray],
             rows: int) -> Columns:
    """Each key's block (a row per run, as the packed table or the stacked nodes hold it)."""
    columns: Columns = []
    for key in keys:
        spec, block = specs[key], blocks.get(key)
        if spec["flag"] == Flag.DICT:
            for name, label, colspec in spec["columns"]:
                field = (_field(block, name, colspec) if block is not None
                         else np.zeros(0))
                columns.append((key, label, _column(colspec, field)))
        elif block is None:
            columns.append((key, None, _column(spec, np.zeros(0))))
        elif spec["flag"] in _NODE_READS:
            columns.append((key, None, block))
        else:
            columns.append((key, None, _column(spec, block)))
    return columns


def _column(spec: Spec, block: np.ndarray) -> np.ndarray:
    """A key's column: scalars decoded as one column, arrays of one shape as the block (its
    dtype restored), anything else value by value."""
    if is_scalar(spec):
        return decode_column(spec, block)
    if spec.get("coll") == COLL_NDARRAY and block.dtype.fields is None and block.ndim > 1:
        return restore_dtype(block, spec["dtype"])
    return object_column([_decode_value(spec, block[row]) for row in range(len(block))])


def _decode_value(spec: Spec, raw: Any) -> Any:
    return decode(spec, raw) if "flag" in spec else decode({**spec, "flag": Flag.ARRAY}, raw)


def _mixed_columns(keys: tuple[str, ...], specs: dict[str, Spec],
                   per_run: list[dict[str, tuple[Spec, Any]]]) -> Columns:
    """Columns of runs whose values were stored in different types: each run's value decoded
    with its own spec, as an object column (a dict's fields by the first run's labels)."""
    columns: Columns = []
    for key in keys:
        if all(run[key][0] == specs[key] for run in per_run):
            block = _stacked(specs[key], [run[key][1] for run in per_run])
            if block is not None:
                columns.extend(_columns((key,), specs, {key: block}, len(per_run)))
                continue
        decoded = [_whole_value(*run[key]) for run in per_run]
        if specs[key]["flag"] == Flag.DICT:
            for _, label, _ in specs[key]["columns"]:
                columns.append((key, label, object_column(
                    [value.get(label) if isinstance(value, dict) else None
                     for value in decoded])))
        else:
            columns.append((key, None, object_column(decoded)))
    return columns


def _whole_value(spec: Spec, raw: Any) -> Any:
    if spec["flag"] in _NODE_READS:
        return raw
    if spec["flag"] == Flag.DICT:
        return decode(spec, np.asarray(raw).reshape(1))
    return decode(spec, np.asarray(raw))
