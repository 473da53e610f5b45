"""The run table's rows (aiostore.engine.runs): a trajectory's many runs queued as one block of
columns, and the records of runs stored after it in the same batch replacing their rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables

from aiostore._core.requests import RunRecord, RunRecords, TrajectoryHeader
from aiostore.engine import runs
from aiostore.engine.files import OpenFile

RUNS = runs.BLOCK_RUNS + 500


def trajectory_records(count: int) -> list[RunRecord]:
    """A trajectory's runs: the first three completed (one without a start), the rest not."""
    records = [RunRecord(index, False, 0.0, 0.0, f"x: {index / 10}") for index in range(count)]
    records[0] = RunRecord(0, True, 1_700_000_000.25, 1_700_000_003.5, "x: 0.0")
    records[1] = RunRecord(1, True, 1_700_000_001.0, 1_700_000_001.75, "x: 0.1")
    records[2] = RunRecord(2, True, 0.0, 12.0, "x: 0.2")
    return records


@pytest.fixture
def opened(tmp_path: Path) -> tuple[OpenFile, tables.Table]:
    store = pd.HDFStore(str(tmp_path / "runs.h5"), mode="w")
    file = OpenFile(str(tmp_path / "runs.h5"), store, True)
    group = runs.create_trajectory(file.h5, "t", TrajectoryHeader("", 0.0, ""))
    table = runs.run_table(group)
    assert table is not None
    yield file, table
    store.close()


def test_a_block_writes_the_rows_its_records_would(opened: tuple[OpenFile, tables.Table],
                                                   tmp_path: Path) -> None:
    file, table = opened
    records = trajectory_records(RUNS)
    runs.defer_rows(file, table, RunRecords.of(records))
    _, pending = file.deferred_rows[table._v_pathname]
    assert pending.block is not None  # queued whole, not a record per run
    assert not pending.records
    runs.write_deferred(file)
    with tables.open_file(str(tmp_path / "each.h5"), "w") as h5:
        other = runs.run_table(runs.create_trajectory(h5, "t", TrajectoryHeader("", 0.0, "")))
        assert other is not None
        runs.write_runs(other, records)  # a record at a time
        np.testing.assert_array_equal(table.read(), other.read())
    assert [record.runtime for record in runs.read_runs(table)[:3]] == [
        "0:00:03.250000", "0:00:00.750000", "0:00:12"]


def test_records_after_a_block_replace_its_rows(opened: tuple[OpenFile, tables.Table]) -> None:
    file, table = opened
    runs.defer_rows(file, table, RunRecords.of(trajectory_records(RUNS)))
    later = [RunRecord(5, True, 10.0, 11.0, "x: 0.5"), RunRecord(RUNS + 2, True, 1.0, 2.0, "")]
    runs.defer_rows(file, table, later)
    runs.write_deferred(file)
    assert table.nrows == RUNS + 3  # a blank row for the run not in the block
    rows = {record.idx: record for record in runs.read_runs(table)}
    assert rows[5] == later[0]
    assert rows[RUNS + 2].completed
    assert rows[RUNS + 1] == RunRecord(RUNS + 1, False, 0.0, 0.0, "")
    assert rows[6] == RunRecord(6, False, 0.0, 0.0, "x: 0.6")


def test_a_block_taken_back_writes_nothing(opened: tuple[OpenFile, tables.Table]) -> None:
    file, table = opened
    take_back = runs.defer_rows(file, table, RunRecords.of(trajectory_records(RUNS)))
    later = runs.defer_rows(file, table, [RunRecord(7, True, 1.0, 2.0, "x: 0.7")])
    later()
    take_back()  # the store that queued it failed
    runs.write_deferred(file)
    assert table.nrows == 0


def test_a_second_block_in_one_batch_goes_by_records(
        opened: tuple[OpenFile, tables.Table]) -> None:
    file, table = opened
    runs.defer_rows(file, table, RunRecords.of(trajectory_records(RUNS)))
    again = [RunRecord(index, True, 5.0, 6.0, "again") for index in range(RUNS)]
    runs.defer_rows(file, table, RunRecords.of(again))  # the trajectory stored again
    runs.write_deferred(file)
    assert runs.read_runs(table) == again  # the later one's rows
