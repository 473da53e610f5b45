"""``aiostore watch``: a running sweep's progress, refreshed until it ends.

Each refresh is one :meth:`~aiostore.StorageService.progress` call, answered by the file's live
writer while one holds the file (:mod:`aiostore.live`). The sweep has ended when no live writer
answers (it closed the file, or went away) or when every run is completed or failed and no
``run_sweep`` of the writer runs, on two refreshes in a row (a driver that adds runs between
rounds, as ``examples/async_sweep.py`` does, is not taken for done).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from tqdm import tqdm

from ..blocking import StorageService
from ..errors import FileLockedError, WriterGoneError
from ..live.requests import Progress, format_seconds
from .exits import CommandError, ExitCode
from .paths import require_trajectories, trajectories
from .progress import note

__all__ = ["Watch", "watch"]

# A file locked with nobody serving it yet: the writer's first batch is under way
LOCKED_GRACE_SECONDS = 5.0
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n}/{total} runs, {postfix}"


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
    last: Progress | None = None
    with _display(options.bar, trajectory) as show:
        while True:
            current = _poll(service, trajectory)
            if current is None:  # the writer went away mid-read: read the file itself
                continue
            show(current)
            if not current.from_writer or (current.done and not current.sweeping
                                           and last is not None and last.done
                                           and not last.sweeping):
                break
            last = current
            time.sleep(options.every)
    click.echo(_final(current))
    return current


def _trajectory(service: StorageService, options: Watch) -> str:
    deadline = time.monotonic() + LOCKED_GRACE_SECONDS
    while True:
        try:
            if options.trajectory is not None:
                require_trajectories(service, options.filename, options.trajectory)
                return options.trajectory
            names = trajectories(service, options.filename)
            break
        except FileLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    if len(names) > 1:
        raise CommandError(f"{options.filename} holds {len(names)} trajectories "
                           f"({', '.join(names)}): name one, aiostore watch FILE TRAJ",
                           ExitCode.USAGE)
    return names[0]


def _poll(service: StorageService, trajectory: str) -> Progress | None:
    try:
        return service.progress(trajectory)
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
