"""The trajectory's own group and its run table (``/<traj>/overview/runs``, pypet's columns)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import tables

from .._core.names import RUN_NAME_FORMAT, STANDARD_GROUPS, run_name
from .._core.requests import RunRecord, RunRecords, TrajectoryHeader, run_runtime, run_time
from . import layout, nodes
from .files import OpenFile

# pypet's columns. Tables made before issue 18 have pypet's widths (a name of 128 bytes, a
# summary of 512: 713 bytes a row, mostly padding); new ones are narrower (345 bytes), which
# halves what load_frame reads to learn which runs completed. Rows are written in the
# table's own widths, so both kinds keep working.
RUN_ROW = np.dtype([
    ("idx", "<i8"),
    ("name", "S16"),
    ("time", "S20"),
    ("timestamp", "<f8"),
    ("finish_timestamp", "<f8"),
    ("runtime", "S18"),
    ("parameter_summary", "S256"),
    ("short_environment_hexsha", "S7"),
    ("completed", "<i4"),
])


# Rows built (and appended) at a time: a trajectory of 200,000 runs held the GIL for 80 ms
# in one piece, and an event loop waited as long.
ROWS_AT_ONCE = 1024
_RUN_NAME_BYTES = RUN_NAME_FORMAT.encode()


def create_trajectory(h5: tables.File, name: str, header: TrajectoryHeader,
                      compression: tuple[str, int] | None = None) -> tables.Group:
    """The trajectory's group, its branches and its empty run table (compressed: see
    :func:`~aiostore.engine.nodes.run_table_options`; ``compression`` overrides); its runs in
    run sets of :data:`~.layout.RUN_SET_SIZE` unless the header says otherwise."""
    group = h5.create_group("/", name)
    attrs = group._v_attrs
    attrs[layout.CLASS_NAME] = layout.TRAJECTORY_CLASS
    attrs[layout.FORMAT] = layout.FORMAT_VERSION
    attrs[layout.TIMESTAMP] = header.timestamp
    attrs[layout.TIME] = header.time
    if header.comment:
        attrs[layout.COMMENT] = header.comment
    if header.run_sets and layout.RUN_SET_SIZE:
        attrs[layout.RUN_SETS] = layout.RUN_SET_SIZE
    for branch in STANDARD_GROUPS:
        h5.create_group(group, branch)
    overview = h5.create_group(group, layout.OVERVIEW)
    h5.create_table(overview, layout.RUN_TABLE, description=RUN_ROW,
                    **nodes.run_table_options(RUN_ROW, compression))
    return group


def read_header(group: tables.Group) -> TrajectoryHeader:
    attrs = group._v_attrs
    names = attrs._v_attrnamesuser
    timestamp = float(attrs[layout.TIMESTAMP]) if layout.TIMESTAMP in names else 0.0
    time = str(attrs[layout.TIME]) if layout.TIME in names else ""
    return TrajectoryHeader(layout.comment_of(group), timestamp, time)


def run_table(traj_group: tables.Group) -> tables.Table | None:
    overview = layout.child(traj_group, layout.OVERVIEW)
    if overview is None:
        return None
    table = layout.child(overview, layout.RUN_TABLE)
    return table if isinstance(table, tables.Table) else None


def _rows(records: Iterable[RunRecord], row_type: np.dtype = RUN_ROW) -> np.ndarray:
    """The run table's rows of ``records`` (of ``row_type``), built a column at a time."""
    return _column_rows(records if isinstance(records, RunRecords) else RunRecords.of(records),
                        row_type)


def _column_rows(records: RunRecords, row_type: np.dtype) -> np.ndarray:
    rows = np.zeros(len(records), dtype=row_type)
    summary_bytes = row_type["parameter_summary"].itemsize
    # in blocks: numpy converts each column's list in one call, holding the GIL throughout
    for start in range(0, len(records), ROWS_AT_ONCE):
        stop = start + ROWS_AT_ONCE
        block, indices = rows[start:stop], records.idx[start:stop]
        completed, starts = records.completed[start:stop], records.timestamp[start:stop]
        finishes = records.finish_timestamp[start:stop]
        block["idx"] = indices
        block["name"] = [_RUN_NAME_BYTES % index for index in indices.tolist()]
        if starts.any() or completed.any():  # a trajectory's runs have not: nothing to format
            block["time"] = [run_time(t).encode() for t in starts.tolist()]
            block["runtime"] = [run_runtime(*run)[:18].encode() for run in zip(
                completed.tolist(), starts.tolist(), finishes.tolist(), strict=True)]
        block["timestamp"] = starts
        block["finish_timestamp"] = finishes
        block["parameter_summary"] = [summary.encode("utf-8")[:summary_bytes]
                                      for summary in records.summaries[start:stop]]
        block["completed"] = completed
    return rows


def write_runs(table: tables.Table, records: Iterable[RunRecord]) -> tuple[list[int], np.ndarray]:
    """Write rows by index, appending blank rows where the table is short.

    Returns the indices of the rows that were overwritten and their old content, for a rollback.
    """
    latest = {record.idx: record for record in records}  # a run written twice: the last
    return write_rows(table, _rows(latest.values(), table.dtype))


def write_rows(table: tables.Table, new_rows: np.ndarray) -> tuple[list[int], np.ndarray]:
    """:func:`write_runs` of rows already made (of the table's dtype, one per run)."""
    row_type = table.dtype
    indices = new_rows["idx"]  # arrays, not a row object per run: 200,000 of them held the
    old_nrows = table.nrows    # GIL for 30 ms in one piece
    stop = int(indices.max()) + 1 if len(indices) else 0
    if stop > old_nrows:
        _append_blank(table, new_rows, old_nrows, stop)
    inside = indices < old_nrows
    if not inside.any():
        return [], np.zeros(0, dtype=row_type)
    rewritten = new_rows[inside]
    rewritten = rewritten[np.argsort(rewritten["idx"], kind="stable")]
    existing = rewritten["idx"].tolist()
    old_rows = table.read_coordinates(existing)
    table.modify_coordinates(existing, rewritten)
    return existing, old_rows


def _append_blank(table: tables.Table, new_rows: np.ndarray, start: int, stop: int) -> None:
    """Append rows ``start`` to ``stop``: blank ones (index and name only) where ``new_rows``
    has none. A block at a time: a trajectory's store appends every run's row, and numpy holds
    the GIL through each conversion (the event loop waits for the whole of one)."""
    indices, order = np.ascontiguousarray(new_rows["idx"]), None  # searched once a block
    if not (indices[1:] > indices[:-1]).all():  # a trajectory's rows are in order: no sort of
        order = np.argsort(indices, kind="stable")  # a million (20 ms holding the GIL)
        indices = indices[order]
    for first in range(start, stop, ROWS_AT_ONCE):
        last = min(first + ROWS_AT_ONCE, stop)
        low, high = np.searchsorted(indices, [first, last])
        given = new_rows[low:high] if order is None else new_rows[order[low:high]]
        if high - low == last - first:  # every row of the block is given (a trajectory's)
            block = given
        else:
            block = np.zeros(last - first, dtype=table.dtype)
            block["idx"] = np.arange(first, last)
            block["name"] = [run_name(i).encode() for i in range(first, last)]
            block[indices[low:high] - first] = given
        table.append(block)
        table.flush()


def read_runs(table: tables.Table) -> list[RunRecord]:
    return [
        RunRecord(
            idx=int(row["idx"]),
            completed=bool(row["completed"]),
            timestamp=float(row["timestamp"]),
            finish_timestamp=float(row["finish_timestamp"]),
            parameter_summary=bytes(row["parameter_summary"]).decode("utf-8", "replace"),
        )
        for row in table.read()
    ]


@dataclass
class PendingRows:
    """The rows queued for a run table until the batch's flush: a trajectory's runs as one
    block of columns (kept whole: see :class:`~aiostore._core.requests.RunRecords`), then
    records by run, each replacing the block's row of its run."""

    block: RunRecords | None = None
    records: dict[int, RunRecord] = field(default_factory=dict)

    def rows(self, row_type: np.dtype) -> np.ndarray:
        """The rows to write, one per run."""
        records = _rows(self.records.values(), row_type)
        if self.block is None:
            return records
        block = _column_rows(self.block, row_type)
        if not self.records:
            return block
        return np.concatenate([block[~np.isin(block["idx"], records["idx"])], records])


BLOCK_RUNS = 1024  # run records at least this many are queued as a block (a trajectory's)


def defer_rows(file: OpenFile, table: tables.Table, records: Iterable[RunRecord]
               ) -> Callable[[], None]:
    """Queue rows for :func:`write_deferred`; returns what takes them back (for a rollback)."""
    _, pending = file.deferred_rows.setdefault(table._v_pathname, (table, PendingRows()))
    if (isinstance(records, RunRecords) and len(records) >= BLOCK_RUNS
            and pending.block is None and not pending.records):
        pending.block = records

        def take_block_back() -> None:
            pending.block = None

        return take_block_back
    records = list(records)
    queued = pending.records
    before = {record.idx: queued.get(record.idx) for record in records}
    for record in records:
        queued[record.idx] = record

    def take_back() -> None:
        for idx, old in before.items():
            if old is None:
                queued.pop(idx, None)
            else:
                queued[idx] = old

    return take_back


def write_deferred(file: OpenFile) -> int:
    """Write the rows :func:`defer_rows` queued, one write per table; the count of them that
    were written over a completed run's row (a run stored again)."""
    deferred, file.deferred_rows = file.deferred_rows, {}
    rewritten = 0
    for table, pending in deferred.values():
        if (pending.block is not None or pending.records) and table._v_isopen:
            rows = pending.rows(table.dtype)
            _, old_rows = write_rows(table, rows)
            rewritten += int(np.count_nonzero(old_rows["completed"]))
            file.written.wrote(table._v_pathname, int(rows["idx"].max()) + 1)
    return rewritten
