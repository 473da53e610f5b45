"""A trajectory's progress from its run table (aiostore.engine.progress), and the rows a live
writer's reader asks for (aiostore._core.live.framecache.read_progress): only those written
since its last answer, and the few not completed before the last run it knew completed, yet
the same progress as a read of every row; any change in place reads every row again."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tables

from aiostore import Msg, StorageService, Trajectory
from aiostore._core.live import framecache
from aiostore._core.live.requests import Progress, ProgressRows, ReadProgress
from aiostore._core.requests import RemoveIncompleteRuns, RunRecord, Target, WriteItems
from aiostore.engine import Engine
from aiostore.engine.written import KEPT_WRITES, WrittenRows, latest_stamp

RUNS = 300


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[Engine, Target]]:
    """An engine holding a file with trajectory ``t`` of RUNS runs, none completed."""
    traj = Trajectory("t")
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(index) for index in range(RUNS)]})
    path = str(tmp_path / "p.h5")
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
    engine = Engine()
    try:
        yield engine, Target(path, "t")
    finally:
        engine.close()
        framecache._kept.clear()


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows of tables read so far (one count, reset by the test)."""
    count = [0]
    read, read_coordinates = tables.Table.read, tables.Table.read_coordinates

    def counted_read(self: Any, start: Any = None, stop: Any = None, *args: Any,
                     **kwargs: Any) -> Any:
        first, last, _ = slice(start, stop).indices(self.nrows)
        count[0] += max(last - first, 0)
        return read(self, start, stop, *args, **kwargs)

    def counted_coordinates(self: Any, coords: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += len(coords)
        return read_coordinates(self, coords, *args, **kwargs)

    monkeypatch.setattr(tables.Table, "read", counted_read)
    monkeypatch.setattr(tables.Table, "read_coordinates", counted_coordinates)
    return count


def complete(engine: Engine, target: Target, runs: list[int], when: float,
             done: bool = True) -> None:
    engine.execute(WriteItems(target, runs=tuple(
        RunRecord(index, done, when + index / 1000, when + index / 1000 + 0.5 if done else 0.0)
        for index in runs)))
    engine.flush()  # as the HDF5 thread after each batch: the rows are written


def polled(engine: Engine, target: Target) -> Progress:
    """A poll of a reader keeping the rows, answered by ``engine`` (the generation: its
    changes), checked against a read of every row at the same moment."""
    def ask(request: Any) -> tuple[str, Any, Any]:
        return "answer", engine.execute(request), engine.changes

    kind, progress = framecache.read_progress("writer", ReadProgress(target), ask)
    assert kind == "answer"
    every: ProgressRows = engine.execute(ReadProgress(target, rows=True))
    assert progress == dataclasses.replace(every, read_at=progress.read_at).progress()
    return progress


def test_a_reader_asks_for_the_rows_written_since_and_the_few_pending(
        engine: tuple[Engine, Target], rows_read: list[int]) -> None:
    writer, target = engine
    now = 1_000_000.0
    complete(writer, target, list(range(50)), now)
    rows_read[0] = 0
    first = polled(writer, target)
    assert first.completed == 50
    assert rows_read[0] == 2 * RUNS  # the reader's whole read, and the check's
    complete(writer, target, [50, 51, 52, 55, 56], now)  # 53 and 54 still run
    rows_read[0] = 0
    assert polled(writer, target).completed == 55
    assert rows_read[0] == 7 + RUNS  # rows 50 to 56 (after 49, up to the last written)
    rows_read[0] = 0
    assert polled(writer, target).completed == 55
    assert rows_read[0] == 2 + RUNS  # 53 and 54 (pending), none after 56
    complete(writer, target, [54, 57], now)
    rows_read[0] = 0
    assert polled(writer, target).completed == 57
    assert rows_read[0] == 2 + 1 + RUNS  # 53, 54 (pending), 57


def test_any_order_of_stores_and_changes_gives_the_progress_of_every_row(
        engine: tuple[Engine, Target], rows_read: list[int]) -> None:
    writer, target = engine
    chosen = random.Random(21)
    now, partial = 2_000_000.0, 0
    for step in range(60):
        what = chosen.random()
        if what < 0.75:  # runs completed about in order, some out of it
            first = step * 5  # none completed yet
            complete(writer, target, sorted(chosen.sample(range(first, first + 5), 3)),
                     now + step)
        elif what < 0.85:  # a run stored again (other times): a change in place
            complete(writer, target, [chosen.randrange(RUNS)], now + step)
        elif what < 0.95:  # a run written back to not completed
            complete(writer, target, [chosen.randrange(RUNS)], now, done=False)
        # else nothing new
        rows_read[0] = 0
        polled(writer, target)
        partial += rows_read[0] < 2 * RUNS  # the reader's read was not whole
    assert partial > 40


def test_a_change_in_place_reads_every_row_again(engine: tuple[Engine, Target],
                                                 rows_read: list[int]) -> None:
    writer, target = engine
    complete(writer, target, list(range(20)), 3_000_000.0)
    polled(writer, target)
    changes = writer.changes
    complete(writer, target, [3], 3_000_100.0)  # stored again: later times
    assert writer.changes == changes + 1
    rows_read[0] = 0
    assert polled(writer, target).last_completed == 3_000_100.0 + 0.003 + 0.5
    assert rows_read[0] == 0 + 2 * RUNS  # since 20 (nothing), then every row (and the check)
    writer.execute(RemoveIncompleteRuns(target))  # a change in place too
    rows_read[0] = 0
    assert polled(writer, target).completed == 20
    assert rows_read[0] == 2 * RUNS  # every row again (and the check)


def test_the_ends_written_since_a_stamp() -> None:
    written = WrittenRows()
    assert written.end_since("t", written.start) == 0
    assert written.end_since("t", written.start - 1) is None  # from before it was opened
    stamp = written.start
    written.wrote("t", 300)  # the trajectory: every row
    after_trajectory = latest_stamp()
    for end in range(10, 60, 10):  # runs in order
        written.wrote("t", end)
    assert written.end_since("t", stamp) == 300
    assert written.end_since("t", after_trajectory) == 50
    assert len(written._writes["t"][1]) == 2  # 300, then 50: each end in order replaced
    assert written.end_since("u", after_trajectory) == 0
    middle = latest_stamp()
    written.wrote("t", 45)  # out of order
    assert written.end_since("t", middle) == 45
    for end in range(KEPT_WRITES + 10, 5, -1):  # ends going down: all kept, the oldest go
        written.wrote("t", end)
    assert written.end_since("t", stamp) is None
    assert written.end_since("t", latest_stamp() - 1) == 6

