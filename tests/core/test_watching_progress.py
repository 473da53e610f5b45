"""A reader polling ``progress`` of a live writer (aiostore._core.live.framecache.read_progress):
the writer reads only the rows written since the reader's last poll and the few not completed
before them, and each answer is the progress of every row at that moment; a change in place
(a run stored again, written back to not completed, a trajectory expanded) makes the reader
read every row again. The writer is a process of its own (tests/watching.py, ``--mode steps``,
counting the rows its served reads read)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from watching import TRAJECTORY, Steps

from aiostore import StorageService
from aiostore._core.live import sockets
from aiostore._core.live.client import _request as ask_writer
from aiostore._core.live.requests import Progress, ReadProgress
from aiostore._core.requests import Target


def poll(svc: StorageService, writer: Steps) -> tuple[Progress, int]:
    """A poll, checked against the writer's every row at the same moment, and the rows the
    writer read for it."""
    progress = svc.progress(TRAJECTORY)
    rows = writer.rows_read()
    kind, every, _ = ask_writer(sockets.socket_path(writer.path), writer.path,
                                ReadProgress(Target(writer.path, TRAJECTORY), rows=True))
    assert kind == "answer"
    assert progress == dataclasses.replace(every, read_at=progress.read_at).progress()
    assert progress.from_writer
    assert writer.rows_read() == every.total  # the check's own read
    return progress, rows


def test_a_polling_reader_of_progress_asks_for_the_rows_written_since(
        tmp_path: Path, asked: list[Any]) -> None:
    with Steps(tmp_path / "live.h5", 40, "--count-rows") as writer:
        with StorageService(writer.path) as svc:
            writer.do("runs 0 10")
            progress, rows = poll(svc, writer)
            assert (progress.completed, progress.total, rows) == (10, 40, 40)  # every row
            assert asked[-1].since == 0
            writer.do("runs 10 15")
            progress, rows = poll(svc, writer)
            assert (progress.completed, rows) == (15, 5)  # rows 10-14 only
            assert (asked[-1].since, asked[-1].pending) == (10, ())
            writer.do("runs 20 22")  # out of order: 15-19 wait
            progress, rows = poll(svc, writer)
            assert (progress.completed, rows) == (17, 7)  # 15 to 21
            progress, rows = poll(svc, writer)  # nothing new
            assert (progress.completed, rows) == (17, 5)  # the 5 pending
            assert (asked[-1].since, asked[-1].pending) == (22, (15, 16, 17, 18, 19))
            writer.do("complete 16")
            progress, rows = poll(svc, writer)
            assert (progress.completed, rows) == (18, 5)
            old = progress.last_completed

            writer.do("again 3")  # stored again, later: a change in place
            progress, rows = poll(svc, writer)
            assert progress.completed == 18
            assert progress.last_completed > old  # run 3's new finish: not the kept one
            assert rows == 4 + 40  # the 4 pending, then every row (another generation)
            assert asked[-1].since == 0
            writer.do("uncomplete 5")  # the trajectory stored: every row written
            progress, rows = poll(svc, writer)
            assert (progress.completed, rows) == (17, 4 + 18 + 40)  # since 22; every row
            writer.do("expand 5")
            writer.do("runs 42 44")
            progress, rows = poll(svc, writer)
            assert (progress.completed, progress.total, rows) == (19, 45, 5 + 23 + 45)
            writer.do("runs 22 25")
            progress, rows = poll(svc, writer)
            # the pending only (5, 15, 17-19, 22-41): no row written after 43
            assert (progress.completed, rows) == (22, 25)
            last = progress
        writer.close()
    with StorageService(writer.path) as svc:  # the file itself agrees
        final = svc.progress(TRAJECTORY)
    assert not final.from_writer
    assert (final.total, final.completed, final.started, final.last_completed) == (
        last.total, last.completed, last.started, last.last_completed)
