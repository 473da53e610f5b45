"""Run a trajectory's simulations and store each run's result as it finishes; resume where left.

:func:`run_sweep` hands the runs of a trajectory to a runner (local processes by default, a Dask
cluster with :class:`aiostore.dask.DaskRunner`) and stores each answer through the service as a
``SINGLE_RUN``, which writes the result and marks the run completed in the run table. Started
again on the same file after an interruption (Ctrl-C, a kill, a lost node), it removes what the
incomplete runs left behind (``REMOVE_INCOMPLETE_RUNS``) and computes only those runs.

Runners may compute a run more than once (Dask retries the tasks of a dead worker, and one may
finish twice); the driver stores each run index once, so the file never holds a run twice.
"""

from __future__ import annotations

import collections
import sys
import time
import traceback
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from aiostore._core.live.status import sweeping
from aiostore._core.names import check_name, run_name
from aiostore.codec.equality import value_differences  # the same type and value
from aiostore.errors import (
    DataNotFoundError,
    FailedStoresError,
    InvalidArgumentError,
    InvalidNameError,
    ItemExistsError,
    SweepMismatchError,
    UnsupportedTypeError,
)
from aiostore.messages import Msg
from aiostore.model import Result, SingleRun, Trajectory
from aiostore.sweeps.indices import RunIndexSet, RunIndices
from aiostore.sweeps.runners import Finished, ProcessRunner, Runner

if TYPE_CHECKING:
    from aiostore.service import AsyncStorageService

__all__ = ["RunAnswer", "SweepReport", "run_sweep", "simulate_runs"]

Point = tuple[int, dict[str, Any]]

# Errors about one run's answer; any other error of a store (a closed service, a full disk)
# ends the sweep, whose stored runs are safe in the file for the next one to resume from.
_THIS_RUNS_FAULT = (UnsupportedTypeError, InvalidNameError, ItemExistsError)


@dataclass(frozen=True)
class RunAnswer:
    """What one run's simulation gave: its value, or why it failed (as text: picklable)."""

    index: int
    value: Any = None
    failure: str | None = None
    started: float = 0.0


@dataclass(frozen=True)
class SweepReport:
    """What :func:`run_sweep` did. ``failed`` maps run indices to why they failed; those runs
    stay incomplete in the file, so running the sweep again retries them."""

    trajectory: str
    runs: int
    already_completed: RunIndexSet
    stored: RunIndices
    failed: Mapping[int, str]
    removed_incomplete: tuple[int, ...]
    seconds: float

    @property
    def completed(self) -> bool:
        """Whether every run of the trajectory is now completed in the file."""
        return len(self.already_completed) + len(self.stored) == self.runs

    def __str__(self) -> str:
        return (f"{self.trajectory}: {len(self.stored)} runs stored in {self.seconds:.1f} s, "
                f"{len(self.already_completed)} already completed, {len(self.failed)} failed, "
                f"{self.runs} in all")


def simulate_runs(simulate: Callable[..., Any], points: list[Point]) -> list[RunAnswer]:
    """Compute a task's runs where the runner put it: ``simulate(**parameters)`` for each.

    A run that raises fails alone; its traceback comes back as text so that any exception,
    picklable or not, reaches the driver.
    """
    answers = []
    for index, arguments in points:
        started = time.time()
        try:
            answers.append(RunAnswer(index, simulate(**arguments), started=started))
        except Exception:
            answers.append(RunAnswer(index, failure=traceback.format_exc(), started=started))
    return answers


async def run_sweep(service: AsyncStorageService, traj: Trajectory,
                    simulate: Callable[..., Any], *, runner: Runner | None = None,
                    result: str = "result", runs_per_task: int = 1, progress: bool = False,
                    pending_stores: int = 2000) -> SweepReport:
    """Compute every run of ``traj`` not yet completed in the service's file, and store each.

    ``simulate`` is called as ``simulate(**run.params)`` (every parameter by its short name,
    with the run's value for explored ones) in the runner's processes, so it must be picklable:
    a function defined at the top level of a module. What it returns becomes the run's result
    ``results.runs.run_XXXXXXXX.<result>``: a dict gives the result's keys, anything else its
    one value (``None``: no result, the run is only marked completed).

    ``runner`` defaults to a :class:`~aiostore.sweeps.ProcessRunner` with one worker per core.
    ``runs_per_task`` computes several runs per task, which pays off where a run is short and
    a task costs milliseconds (Dask). ``progress`` shows a progress bar on stderr. Answers are
    queued for the HDF5 thread as they come; when ``pending_stores`` of them are not written
    yet, the driver waits until they are (and at once when one failed).

    If the file already holds the trajectory it must be the same sweep (the same parameters,
    values and ranges, or :class:`~aiostore.errors.SweepMismatchError`): its incomplete runs'
    leftovers are removed and only those runs are computed. A run whose simulation raises is
    reported in :attr:`SweepReport.failed` and left incomplete; the sweep goes on. A store the
    disk has no room for stops the sweep with :class:`~aiostore.errors.DiskFullError`: what was
    stored stays, and the same call once there is room computes only the runs missing.
    """
    _check_arguments(simulate, result, runs_per_task, pending_stores)
    _check_short_names(traj)
    started = time.perf_counter()
    trajectory = traj.v_name
    taken, removed = await _prepare(service, traj)
    completed = np.frombuffer(taken, dtype=np.uint8)
    already = RunIndexSet(np.flatnonzero(completed))
    # A fresh sweep's runs as a range: a list of a million indices costs the loop ~40 ms.
    todo: Sequence[int] = (RunIndices(np.flatnonzero(completed == 0)) if already
                           else range(len(traj)))
    del completed  # taken changes as runs are stored
    chunks = _chunks(traj, todo, runs_per_task)
    writer = _RunWriter(service, traj, result, taken, pending_stores)
    with _progress_bar(progress, total=len(traj), initial=len(already),
                       desc=trajectory) as writer.bar, _one_error(), \
            sweeping(service.filename, trajectory, writer.failed):  # for readers' progress
        work = partial(simulate_runs, simulate)
        async with (runner or ProcessRunner()).finished(work, chunks) as ends:
            async for end in ends:
                for answer in _answers(end):
                    await writer.take(answer)
        await writer.settle()
    return SweepReport(trajectory, len(traj), already, RunIndices(writer.stored), writer.failed,
                       removed, time.perf_counter() - started)


def _check_arguments(simulate: Callable[..., Any], result: str, runs_per_task: int,
                     pending_stores: int) -> None:
    if not callable(simulate):
        raise InvalidArgumentError(f"simulate must be a function, not {simulate!r}")
    check_name(result, "result name")
    if runs_per_task < 1 or pending_stores < 1:
        raise InvalidArgumentError("runs_per_task and pending_stores must be at least 1")


@contextmanager
def _progress_bar(shown: bool, **options: Any) -> Iterator[Any]:
    """tqdm's bar on stderr, or one that shows nothing: a tqdm bar, even disabled, imports
    multiprocessing for its lock, which stopped the event loop for ~30 ms at a sweep's start."""
    if not shown:
        yield _NoBar()
        return
    with tqdm(unit="run", file=sys.stderr, **options) as bar:
        yield bar


class _NoBar:
    def update(self, runs: int = 1) -> None:
        pass


@contextmanager
def _one_error() -> Iterator[None]:
    """Raise a lone error of the task groups as itself (RunnerError, ServiceClosedError...),
    and errors all of one kind (several stores finding the disk full) as the first."""
    try:
        yield
    except BaseExceptionGroup as group:
        errors = _leaves(group)
        if isinstance(errors[0], Exception) and all(type(e) is type(errors[0]) for e in errors):
            if len(errors) > 1:
                errors[0].add_note(f"({len(errors) - 1} more like it)")
            raise errors[0] from group
        raise


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    return [leaf for error in group.exceptions
            for leaf in (_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])]


def _chunks(traj: Trajectory, todo: Sequence[int], size: int) -> Iterator[list[Point]]:
    """The tasks, made as the runner takes them: a million runs' arguments never sit in memory."""
    for start in range(0, len(todo), size):
        yield [(index, traj.run(index).params) for index in todo[start:start + size]]


def _check_short_names(traj: Trajectory) -> None:
    short = [parameter.v_name for parameter in traj.parameters.values()]
    clashes = sorted({name for name in short if short.count(name) > 1})
    if clashes:
        raise InvalidArgumentError(f"parameters share the short names {clashes}: simulate "
                                   "receives parameters by short name, so rename them")


def _answers(end: Finished) -> list[RunAnswer]:
    if end.error is None:
        answers: list[RunAnswer] = end.answer
        return answers
    why = "".join(traceback.format_exception_only(end.error)).strip()
    return [RunAnswer(index, failure=f"its task failed: {why}") for index, _ in end.task]


# ------------------------------------------------------------------------------- resuming


async def _prepare(service: AsyncStorageService,
                   traj: Trajectory) -> tuple[bytearray, tuple[int, ...]]:
    """Store the trajectory, or find it in the file: the completed runs (1 at each index of
    one), and the removed ones."""
    try:
        in_file = await service.list_trajectories()
    except DataNotFoundError:  # no file yet: the store makes it
        in_file = []
    if traj.v_name not in in_file:
        await service.store(Msg.TRAJECTORY, traj)
        return bytearray(len(traj)), ()
    stored: Trajectory = await service.load(Msg.TRAJECTORY, None, trajectory_name=traj.v_name,
                                            load_parameters=2, load_derived_parameters=0,
                                            load_results=0)
    _check_same_sweep(traj, stored)
    removed = await service.store(Msg.REMOVE_INCOMPLETE_RUNS, stored,
                                  trajectory_name=traj.v_name)
    traj.runs = stored.runs
    completed = bytearray(len(traj))
    for run in stored.runs:
        if run.completed:
            completed[run.idx] = 1
    return completed, tuple(removed or ())


def _check_same_sweep(traj: Trajectory, stored: Trajectory) -> None:
    ours, theirs = traj.parameters, stored.parameters
    differ = sorted(name for name in ours.keys() | theirs.keys()
                    if name not in ours or name not in theirs
                    or value_differences(ours[name].value, theirs[name].value)
                    or value_differences(ours[name].range, theirs[name].range))
    if differ or len(traj) != len(stored):
        raise SweepMismatchError(
            f"the file holds a trajectory {traj.v_name!r} of another sweep ({len(stored)} runs; "
            f"parameters that differ: {', '.join(differ) or 'none'}): resuming would mix two "
            "sweeps. Use another trajectory name or file.")


# -------------------------------------------------------------------------------- storing


@dataclass
class _RunWriter:
    """Queues each run's answer once (``put``: a store awaited by a task of its own costs more
    than the run's own storing) and keeps the tally. A queued run is stored once the service
    has written it (its run info says completed), or failed. The queue is settled (``join``,
    which lets it run dry) when ``settle_every`` runs are queued and not yet written, at once
    when a queued store failed, and at the end."""

    service: AsyncStorageService
    traj: Trajectory
    result: str
    taken: bytearray  # 1 at each run index stored or queued (a set of a million runs
                      # rehashed itself in one piece as it grew)
    settle_every: int
    queued: collections.deque[int] = field(default_factory=collections.deque)
    stored: array[int] = field(default_factory=lambda: array("q"))  # no int kept per run
    failed: dict[int, str] = field(default_factory=dict)
    bar: Any = None

    async def take(self, answer: RunAnswer) -> None:
        if self.taken[answer.index]:  # computed twice (a retried task): stored already
            return
        if answer.failure is not None:
            self.failed.setdefault(answer.index, answer.failure)
            return
        self.taken[answer.index] = 1
        self.failed.pop(answer.index, None)
        self.traj.runs[answer.index].completed = False  # not in the file: the store says
        try:
            await self.service.put(Msg.SINGLE_RUN, self._run(answer),
                                   trajectory_name=self.traj.v_name)
        except _THIS_RUNS_FAULT as error:  # a value the codec refuses: this run fails alone
            self._fails(answer.index, error)
            return
        self.queued.append(answer.index)
        self.bar.update()
        runs = self.traj.runs
        while self.queued and runs[self.queued[0]].completed:  # written meanwhile
            self.stored.append(self.queued.popleft())
        if len(self.queued) >= self.settle_every or self.service.has_failed_stores:
            await self.settle()

    async def settle(self) -> None:
        """Wait until every queued run is written, and tell the stored from the failed; an
        error that is not one run's (a full disk, a closed file) ends the sweep."""
        try:
            await self.service.join()
            errors: list[Exception] = []
        except FailedStoresError as group:
            errors = list(group.exceptions)
        for index in self.queued:
            if self.traj.runs[index].completed:
                self.stored.append(index)
            else:
                self._fails(index, _error_of(index, errors))
        self.queued.clear()
        fatal = [error for error in errors if not isinstance(error, _THIS_RUNS_FAULT)]
        if fatal:
            raise fatal[0]

    def _fails(self, index: int, error: Exception | None) -> None:
        self.taken[index] = 0
        self.failed[index] = f"its result cannot be stored: {error!r}"

    def _run(self, answer: RunAnswer) -> SingleRun:
        # The result is not attached to the trajectory: a long sweep's results would pile up
        # in memory. They are in the file; load the trajectory to have them.
        run = SingleRun(self.traj, answer.index, timestamp=answer.started)
        if answer.value is not None:
            name = f"results.runs.{run.v_name}.{self.result}"
            value = answer.value
            item = Result(name)
            if isinstance(value, Mapping):
                item.f_set(**value)  # not Result(name, **value): a key may be named "comment"
            else:
                item.f_set(value)
            run.new_items.append(item)
        return run


def _error_of(index: int, errors: list[Exception]) -> Exception | None:
    """The error of run ``index``'s store among a join's (its note names the run)."""
    name = run_name(index)
    for error in errors:
        if any(name in note for note in getattr(error, "__notes__", ())):
            return error
    return errors[0] if errors else None
