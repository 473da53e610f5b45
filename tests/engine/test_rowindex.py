"""RunRows: which row of a packed table holds which run, as a dict would say it."""

from __future__ import annotations

import numpy as np
import pytest

from aiostore.engine.rowindex import RunRows


def test_run_rows_answer_as_the_dict_of_the_same_rows() -> None:
    column = [5, 0, 9, 2]
    rows = RunRows(np.array(column))
    expected = {idx: row for row, idx in enumerate(column)}
    assert dict(rows) == expected
    assert rows.items() == sorted(expected.items())
    assert list(rows) == sorted(expected)
    assert len(rows) == 4
    assert 5 in rows
    assert 1 not in rows
    assert -1 not in rows
    assert 10**9 not in rows
    assert "5" not in rows
    with pytest.raises(KeyError):
        rows[1]


def test_run_rows_grow_past_their_array_and_are_cut() -> None:
    rows = RunRows()
    assert len(rows) == 0
    assert list(rows) == []
    rows.add(list(range(100)), 0)
    rows.add([100_000, 100_001], 100)
    assert len(rows) == 102
    assert rows[100_001] == 101
    rows.add([3], 102)  # a run written again: its newest row
    assert rows[3] == 102
    assert len(rows) == 102
    rows.keep_below(100)
    assert 100_000 not in rows
    assert 3 not in rows
    assert rows[99] == 99
    assert len(rows) == 99
