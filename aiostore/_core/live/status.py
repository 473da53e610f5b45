"""What this process knows of its sweeps beyond the file: which run, and which runs failed.

A run whose simulation fails is left incomplete in the file (a later ``run_sweep`` computes it
again); only the sweep's driver knows it failed. ``run_sweep`` registers itself here while it
runs, and :func:`merged` adds its failures to a :class:`~.requests.Progress` read from the file:
the writer's server does so for readers in other processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator, Sized
from typing import TYPE_CHECKING, TypeVar

from ..planning import Call, Job
from .requests import Progress, ProgressRows, ReadProgress

if TYPE_CHECKING:
    from ..session import Session

__all__ = ["merged", "progress_job", "sweeping"]

P = TypeVar("P", bound=Progress | ProgressRows)

_lock = threading.Lock()
_sweeps: dict[tuple[str, str], list[Sized]] = {}  # (real path, trajectory): failures of each


def _key(filename: str, trajectory: str) -> tuple[str, str]:
    return os.path.realpath(filename), trajectory


@contextlib.contextmanager
def sweeping(filename: str | None, trajectory: str, failed: Sized) -> Iterator[None]:
    """Say, while the block runs, that a sweep of ``trajectory`` writes ``filename``, and
    ``failed`` holds its failed runs (a mapping it keeps up to date)."""
    if filename is None:
        yield
        return
    key = _key(filename, trajectory)
    with _lock:
        _sweeps.setdefault(key, []).append(failed)
    try:
        yield
    finally:
        with _lock:
            running = _sweeps[key]
            running.remove(failed)
            if not running:
                del _sweeps[key]


def merged(progress: P, filename: str) -> P:
    """``progress`` (or rows of it) with what this process's running sweeps of its trajectory
    know."""
    with _lock:
        running = _sweeps.get(_key(filename, progress.trajectory))
        if not running:
            return progress
        failed = sum(len(failures) for failures in running)
    return dataclasses.replace(progress, failed=failed, sweeping=True)


def progress_job(session: Session, trajectory_name: str | None) -> Job:
    """The job of the services' ``progress``."""
    session.check_open()
    target = Call(None, session.defaults, trajectory_name=trajectory_name).target()
    return Job(ReadProgress(target), lambda answer: _finish(answer, target.filename))


def _finish(answer: Progress, filename: str) -> Progress:
    return answer if answer.from_writer else merged(answer, filename)
