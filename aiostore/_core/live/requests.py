"""The requests of live reading, and the progress of a trajectory's runs (an answer).

Plain data, as :mod:`aiostore.requests`: the engine executes them, the server and the client
carry them between processes (pickled).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

from ..requests import Target

__all__ = ["LiveRequest", "Progress", "ProgressRows", "ReadProgress", "ServedAnswer", "ServedRead",
           "Unserved"]

# The rate of a trajectory's runs is measured over the runs completed in this many seconds.
RATE_WINDOW = 60.0


@dataclass(frozen=True, slots=True)
class ServedRead:
    """A read that another process asked the writer of ``target``'s file for: executed only
    while this process holds that file open for writing, else answered :class:`Unserved`."""

    target: Target
    request: Any


@dataclass(frozen=True, slots=True)
class ServedAnswer:
    """The answer to a :class:`ServedRead`, and the count of the writer's changes in place so
    far (removals, updates, merges): a reader's kept columns of a result are good while that
    count stays the same (:mod:`aiostore._core.live.framecache`)."""

    answer: Any
    changes: int


@dataclass(frozen=True, slots=True)
class Unserved:
    """The answer to a :class:`ServedRead` whose file the writer no longer holds open: the
    reader reads the file itself."""


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """How far a trajectory's runs are, from its run table; a file opened only for this is
    closed again (a reader that polls must not hold a file its writer is about to open).

    A live writer's reader asks for the run table's rows instead (``rows``: answered
    :class:`ProgressRows`), and only those it does not know (:mod:`.framecache`): from row
    ``since`` on, and the rows of ``pending`` below it (sorted; every other row below ``since``
    was completed when it last asked), and of those after ``since`` only the ones up to the
    last row written after ``stamp`` (its last answer's)."""

    target: Target
    since: int = 0
    pending: tuple[int, ...] = ()
    stamp: int = 0
    rows: bool = False


# What the engine executes for live reading, beside :data:`aiostore._core.requests.Request`.
LiveRequest = ServedRead | ReadProgress


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a trajectory's runs are: what :meth:`StorageService.progress
    <aiostore.StorageService.progress>` answers and ``aiostore watch`` shows.

    ``total`` runs, ``completed`` of them stored (acknowledged by the writer); ``rate`` the
    runs completed per second over the last minute (0.0 if none); ``started`` when the
    earliest completed run started and ``last_completed`` when the latest one finished (Unix
    times, 0.0 if none); ``read_at`` when the run table was read. ``failed`` counts the runs
    a ``run_sweep`` of the writer's process reported failed (a failure is kept in memory, not
    in the file: 0 without such a sweep), and ``sweeping`` says that sweep is running.
    ``from_writer`` says a live writer in another process answered (it holds the file open).
    """

    trajectory: str
    total: int
    completed: int
    rate: float = 0.0
    started: float = 0.0
    last_completed: float = 0.0
    read_at: float = 0.0
    failed: int = 0
    sweeping: bool = False
    from_writer: bool = False

    @property
    def remaining(self) -> int:
        """Runs neither completed nor failed."""
        return max(self.total - self.completed - self.failed, 0)

    @property
    def eta(self) -> float | None:
        """Seconds to go at the current rate (None while no rate is known; 0.0 when done)."""
        if self.remaining == 0:
            return 0.0
        return self.remaining / self.rate if self.rate > 0 else None

    @property
    def done(self) -> bool:
        """Every run is completed or failed."""
        return self.remaining == 0

    @property
    def fraction(self) -> float:
        """The completed share of the runs (1.0 for a trajectory of no runs)."""
        return self.completed / self.total if self.total else 1.0

    def __str__(self) -> str:
        parts = [f"{self.trajectory}: {self.completed}/{self.total} runs "
                 f"({100 * self.fraction:.1f}%)"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{self.rate:.3g} runs/s" if self.rate else "no run in the last minute")
        eta = self.eta
        if eta is not None and not self.done:
            parts.append(f"{format_seconds(eta)} to go")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class ProgressRows:
    """What a :class:`ReadProgress` asked for ``rows`` read of the run table's ``total`` rows:
    each row's ``completed`` (bools), ``starts`` and ``finishes`` (numpy columns), of the rows
    of ``pending`` (below ``since``) and then of the rows from ``since`` to ``until`` (those
    after it were not written since the reader's ``stamp``); ``since`` 0, ``until`` the total
    and no ``pending``: of every row. ``stamp``: the writer's latest write when they were read.
    ``read_at``, ``failed``, ``sweeping`` and ``from_writer`` as :class:`Progress`'s."""

    trajectory: str
    total: int
    completed: Any
    starts: Any
    finishes: Any
    read_at: float
    since: int = 0
    until: int = 0
    pending: Any = ()
    stamp: int = 0
    failed: int = 0
    sweeping: bool = False
    from_writer: bool = False

    def progress(self) -> Progress:
        """The progress of these rows (of every row: ``since`` 0)."""
        progress = progress_of(self.trajectory, self.completed, self.starts, self.finishes,
                               self.read_at)
        return dataclasses.replace(progress, failed=self.failed, sweeping=self.sweeping,
                                   from_writer=self.from_writer)


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 05 min``."""
    if not math.isfinite(seconds):
        return "?"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def progress_of(trajectory: str, completed: Any, starts: Any, finishes: Any,
                now: float | None = None) -> Progress:
    """The progress of a run table's columns: ``completed`` (bools), the runs' ``starts`` and
    ``finishes`` (Unix times; numpy arrays of one length each)."""
    now = time.time() if now is None else now
    total, done = len(completed), completed.astype(bool)
    count = int(done.sum())
    if not count:
        return Progress(trajectory, total, 0, read_at=now)
    finished, started = finishes[done], starts[done]
    started = started[started > 0]  # a run stored without its start time
    recent = finished >= now - RATE_WINDOW
    rate = 0.0
    if recent.any():
        # from the earliest start among the recent runs: a sweep younger than the window is
        # not diluted by it, nor one resumed after a pause by the pause
        recent_starts = starts[done][recent]
        recent_starts = recent_starts[recent_starts > 0]
        first = float(recent_starts.min()) if len(recent_starts) else now - RATE_WINDOW
        rate = float(recent.sum()) / max(now - first, 1e-3)
    return Progress(trajectory, total, count, rate, float(started.min()) if len(started) else 0.0,
                    float(finished.max()), now)
