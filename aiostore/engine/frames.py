"""LOAD_FRAME: one result of the completed runs as columns, for a DataFrame built by the caller.

Two requests: :class:`~aiostore.requests.ReadFrameIndex` reads the run table's completed runs,
the explored parameters' ranges (once, as numpy columns) and the result's keys, so that the
caller can check its arguments and choose runs before any result is read; then
:class:`~aiostore.requests.ReadFrame` reads the chosen runs' values. A packed table
(``packed_runs``) gives each key's column in one read of the chosen rows; the per-node layout
is read run by run (a group and a node per value is what it is), all in one request. Scalar
keys come back as numpy columns of their exact type (see :mod:`aiostore.codec.columns`), a
dict's scalar fields as a column each, anything else as an object column of values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import tables

from ..codec import Spec, decode, loads_specs
from ..codec.arrays import restore_dtype
from ..codec.columns import decode_column, is_scalar, object_column
from ..codec.tables import _field
from ..errors import DataNotFoundError, UnsupportedFeatureError
from ..messages import Flag
from ..names import RUNS_GROUP, run_name
from ..requests import FrameColumns, FrameIndex, Path, ReadFrame, ReadFrameIndex
from . import layout, nodes, runs
from .files import OpenFile
from .packing import PACKED_BRANCH, PackedRuns, PackedTable
from .reading import trajectory_group

__all__ = ["frame_index", "pypet_refused", "read_frame"]

EXPLORED_KEY = "explored_data"
_NODE_READS = (Flag.FRAME, Flag.SERIES)  # read through pandas, as values


def pypet_refused(file: OpenFile, request: Any) -> Any:
    raise UnsupportedFeatureError(f"trajectory {request.target.trajectory!r}",
                                  "load_frame of a trajectory pypet wrote (load it instead)")


def _table(file: OpenFile, request: ReadFrameIndex | ReadFrame) -> PackedTable | None:
    if request.branch != PACKED_BRANCH:
        return None
    return PackedRuns.of(file, request.target.trajectory).tables.get(request.relative)


def _run_path(request: ReadFrameIndex | ReadFrame, idx: int) -> Path:
    return (request.branch, RUNS_GROUP, run_name(idx), *request.relative)


def _result_name(request: ReadFrameIndex | ReadFrame) -> str:
    return ".".join((request.branch, RUNS_GROUP, "*", *request.relative))


# ------------------------------------------------------------------------------------ index


def frame_index(file: OpenFile, request: ReadFrameIndex) -> FrameIndex:
    group = trajectory_group(file, request.target)
    completed = _completed_runs(group)
    table = _table(file, request)
    keys = dict(table.specs) if table is not None else None
    if table is not None and not any(int(idx) in table.rows for idx in completed):
        keys = None  # only incomplete runs have rows: the nodes may hold completed ones
    if keys is None:
        keys = _first_specs(file, request, completed)
    if keys is None:
        raise DataNotFoundError(f"no completed run of trajectory {request.target.trajectory!r} "
                                f"holds {_result_name(request)}")
    return FrameIndex(completed, _explored(group), keys)


def _completed_runs(group: tables.Group) -> np.ndarray:
    table = runs.run_table(group)
    if table is None or not table.nrows:
        return np.zeros(0, dtype=np.int64)
    indices, completed = table.col("idx"), table.col("completed")
    return np.sort(indices[completed != 0].astype(np.int64))


def _first_specs(file: OpenFile, request: ReadFrameIndex,
                 completed: np.ndarray) -> dict[str, Spec] | None:
    for idx in completed:
        node = layout.get_node(file.h5, layout.node_path(request.target.trajectory,
                                                         _run_path(request, int(idx))))
        if node is not None and layout.is_leaf_group(node):
            with nodes.damaged_data(node._v_pathname):
                return layout.leaf_specs(node)
    return None


def _explored(group: tables.Group) -> dict[str, np.ndarray]:
    """The explored parameters' ranges, by name below ``parameters``."""
    branch = layout.child(group, "parameters")
    found: dict[str, np.ndarray] = {}
    if branch is None:
        return found
    for path, leaf in _leaf_groups(branch, ()):
        specs = layout.leaf_specs(leaf)
        spec = specs.get(EXPLORED_KEY)
        if spec is None or layout.child(leaf, EXPLORED_KEY) is None:
            continue
        with nodes.damaged_data(f"{leaf._v_pathname}/{EXPLORED_KEY}"):
            raw = leaf._f_get_child(EXPLORED_KEY).read()
            found[".".join(path)] = _range_column(spec, raw)
    return dict(sorted(found.items()))


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
    return decode_column({**spec, "coll": "COLL_SCALAR"}, raw)


# ------------------------------------------------------------------------------------ frame


def read_frame(file: OpenFile, request: ReadFrame) -> FrameColumns:
    trajectory_group(file, request.target)
    wanted = np.asarray(request.runs, dtype=np.int64)
    table = _table(file, request)
    in_table = (np.fromiter((int(idx) in table.rows for idx in wanted), bool, len(wanted))
                if table is not None else np.zeros(len(wanted), dtype=bool))
    packed_runs, node_runs = wanted[in_table], wanted[~in_table]
    specs: dict[str, Spec] = dict(table.specs) if table is not None else {}
    packed = _packed_block(table, packed_runs, request.keys) if table is not None else {}
    found, values = _node_values(file, request, node_runs)
    if not specs:
        specs = values[0][0] if values else dict(request.specs)
    if not len(found):
        return FrameColumns(packed_runs, _columns(request.keys, specs, packed, len(packed_runs)))
    if not len(packed_runs):
        return FrameColumns(found, _node_columns(request, specs, values))
    # some runs packed, some in nodes (values that did not fit the table): by run, per value
    holders = np.concatenate([packed_runs, found])
    order = np.argsort(holders, kind="stable")
    per_run = [{key: (specs[key], packed[key][row]) for key in request.keys}
               for row in range(len(packed_runs))]
    per_run += [{key: (run_specs[key], raws[key]) for key in request.keys}
                for run_specs, raws in values]
    ordered = [per_run[i] for i in order]
    return FrameColumns(holders[order], _mixed_columns(request.keys, specs, ordered))


def _packed_block(table: PackedTable, wanted: np.ndarray,
                  keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The chosen rows of ``table``, by key: one read of the rows (the whole table if all)."""
    rows = np.fromiter((table.rows[int(idx)] for idx in wanted), np.int64, len(wanted))
    with nodes.damaged_data(table.table._v_pathname):
        if len(rows) == table.table.nrows and np.array_equal(rows, np.arange(len(rows))):
            records = table.table.read()
        else:
            records = table.table.read_coordinates(rows)
    return {key: _reshaped(records[key], table.shapes[key], len(rows)) for key in keys}


def _reshaped(block: np.ndarray, shape: list[int], rows: int) -> np.ndarray:
    return block if block.dtype.names else block.reshape((rows, *shape))


def _node_values(file: OpenFile, request: ReadFrame, wanted: np.ndarray
                 ) -> tuple[np.ndarray, list[tuple[dict[str, Spec], dict[str, Any]]]]:
    """The runs of ``wanted`` whose nodes hold the result, and per run its specs and raw
    payloads by key (a pandas value decoded already)."""
    parsed: dict[str, dict[str, Spec]] = {}  # runs share their specs' text: parse it once
    found: list[int] = []
    values: list[tuple[dict[str, Spec], dict[str, Any]]] = []
    trajectory = request.target.trajectory
    for idx in wanted:
        group = layout.get_node(file.h5, layout.node_path(trajectory, _run_path(request, int(idx))))
        if group is None or not layout.is_leaf_group(group):
            continue
        with nodes.damaged_data(group._v_pathname):
            text = group._v_attrs[layout.LEAF]
            specs = parsed.get(text)
            if specs is None:
                specs = parsed[text] = loads_specs(text)
        missing = [key for key in request.keys if key not in specs]
        if missing:
            raise DataNotFoundError(f"{group._v_pathname} has no data named", missing)
        raws: dict[str, Any] = {}
        for key in request.keys:
            with nodes.damaged_data(f"{group._v_pathname}/{key}"):
                raws[key] = (nodes.read_value(file, group, key, specs[key])
                             if specs[key]["flag"] in _NODE_READS
                             else group._f_get_child(key).read())
        found.append(int(idx))
        values.append((specs, raws))
    return np.asarray(found, dtype=np.int64), values


def _node_columns(request: ReadFrame, specs: dict[str, Spec],
                  values: list[tuple[dict[str, Spec], dict[str, Any]]]
                  ) -> list[tuple[str, str | None, np.ndarray]]:
    if all(run_specs == specs for run_specs, _ in values):
        blocks = {key: _stacked(specs[key], [raws[key] for _, raws in values])
                  for key in request.keys}
        if all(block is not None for block in blocks.values()):
            return _columns(request.keys, specs, blocks, len(values))  # type: ignore[arg-type]
    per_run = [{key: (run_specs[key], raws[key]) for key in request.keys}
               for run_specs, raws in values]
    return _mixed_columns(request.keys, specs, per_run)


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
             rows: int) -> list[tuple[str, str | None, np.ndarray]]:
    """Each key's block (a row per run, as the packed table or the stacked nodes hold it)."""
    columns: list[tuple[str, str | None, np.ndarray]] = []
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
    if is_scalar(spec):
        return decode_column(spec, block)
    if spec.get("coll") == "COLL_NDARRAY" and block.dtype.fields is None:
        return object_column(list(restore_dtype(block, spec["dtype"])))  # a row per run
    return object_column([_decode_value(spec, block[row]) for row in range(len(block))])


def _decode_value(spec: Spec, raw: Any) -> Any:
    return decode(spec, raw) if "flag" in spec else decode({**spec, "flag": Flag.ARRAY}, raw)


def _mixed_columns(keys: tuple[str, ...], specs: dict[str, Spec],
                   per_run: list[dict[str, tuple[Spec, Any]]]
                   ) -> list[tuple[str, str | None, np.ndarray]]:
    """Columns of runs whose values were stored in different types: each run's value decoded
    with its own spec, as an object column (a dict's fields by the first run's labels)."""
    columns: list[tuple[str, str | None, np.ndarray]] = []
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
