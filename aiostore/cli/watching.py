"""``aiostore watch``: a running sweep's progress, refreshed until it ends.

Each refresh is one :meth:`~aiostore.StorageService.progress` call, answered by the file's live
writer while one holds the file (:mod:`aiostore._core.live`). The sweep has ended when no live writer
answers (it closed the file, or went away) or when every run has been completed or failed,
with no ``run_sweep`` of the writer running, for ``DONE_SECONDS`` (a driver that adds runs
between rounds, as ``examples/async_sweep.py`` does, is not taken for done).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import click
from tqdm import tqdm

from .._core.live.requests import Progress, format_seconds
from ..blocking import StorageService
from ..errors import FileLockedError, WriterGoneError
from .exits import CommandError, ExitCode
from .paths import require_trajectories, trajectories
from .progress import note

__all__ = ["Watch", "watch"]

T = TypeVar("T")
# Every run done and no sweep running for this long, the writer still holding the file: the
# sweep has ended (a driver that adds runs between rounds starts the next one sooner)
DONE_SECONDS = 5.0
# A file locked with nobody serving it yet: the writer's first batch is under way
LOCKED_GRACE_SECONDS = 5.0
# Polls are spaced by at least this many times what the last one took: the writer answers
# them, and a run table of millions of runs takes it a good part of a second to read
COST_SPACING = 10
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n}/{total} runs{postfix}"


@dataclass
class Watch:
    """What ``watch`` was asked: the file, the trajectory (None: its only one), how often."""

    filename: str
    trajectory: str | None
    every: float
    bar: bool  # a bar on stderr (a terminal); else a line on stdout per change


def watch(service: StorageService, options: Watch) -> Progress:
    """Refresh until the sweep ends; the last progress read (printed last, on stdout)."""
    trajectory = _trajectory(service, options)
    done_since: float | None = None  # when every run was first seen done, no sweep running
    failed = 0  # the failures the writer's last sweep reported: they end with it
    with _display(options.bar, trajectory) as show:
        while True:
            asked = time.monotonic()
            current = _poll(service, trajectory)
            if current is None:  # the writer went away mid-read: read the file itself
                continue
            if current.sweeping:
                failed = current.failed
            else:
                current = dataclasses.replace(current, failed=max(current.failed, failed))
            show(current)
            if not (current.done and not current.sweeping):
                done_since = None
            elif done_since is None:
                done_since = asked
            if not current.from_writer or (done_since is not None
                                           and asked - done_since >= DONE_SECONDS):
                break
            time.sleep(max(options.every, COST_SPACING * (time.monotonic() - asked)))
    click.echo(_final(current))
    return current


def _trajectory(service: StorageService, options: Watch) -> str:
    def names() -> list[str]:
        if options.trajectory is not None:
            require_trajectories(service, options.filename, options.trajectory)
            return [options.trajectory]
        return trajectories(service, options.filename)

    found = _while_locked(names)
    if len(found) > 1:
        raise CommandError(f"{options.filename} holds {len(found)} trajectories "
                           f"({', '.join(found)}): name one, aiostore watch FILE TRAJ",
                           ExitCode.USAGE)
    return found[0]


def _while_locked(call: Callable[[], T]) -> T:
    """``call()``, tried again while the file is locked by a writer not serving it yet (its
    first batch is under way), for LOCKED_GRACE_SECONDS."""
    deadline = time.monotonic() + LOCKED_GRACE_SECONDS
    while True:
        try:
            return call()
        except FileLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _poll(service: StorageService, trajectory: str) -> Progress | None:
    try:
        return _while_locked(lambda: service.progress(trajectory))
    except WriterGoneError as exc:
        note(str(exc))
        return None


def _final(progress: Progress) -> str:
    if progress.done:
        state = "done"
    elif progress.from_writer or progress.sweeping:
        state = "running"
    else:
        state = "no writer holds the file: stopped"
    took = progress.last_completed - progress.started
    timing = f", {format_seconds(took)} from first start to last completion" if took > 0 else ""
    return f"{progress} ({state}{timing})"


@contextmanager
def _display(bar: bool, trajectory: str) -> Iterator[Callable[[Progress], None]]:
    if not bar:
        shown: list[str] = []

        def line(progress: Progress) -> None:
            text = str(progress)
            if not shown or shown[-1] != text:
                shown.append(text)
                click.echo(text)
                sys.stdout.flush()

        yield line
        return
    with tqdm(total=0, desc=trajectory, file=sys.stderr, bar_format=BAR_FORMAT,
              leave=False) as progress_bar:

        def update(progress: Progress) -> None:
            progress_bar.total = progress.total
            progress_bar.n = progress.completed
            progress_bar.set_postfix_str(_postfix(progress), refresh=False)
            progress_bar.refresh()

        yield update


def _postfix(progress: Progress) -> str:
    parts = [f"{progress.rate:.3g} runs/s" if progress.rate else "no run in the last minute"]
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    eta = progress.eta
    if eta is not None and not progress.done:
        parts.append(f"{format_seconds(eta)} to go")
    return ", ".join(parts)
