"""The dotted names the command takes: ``TRAJ``, ``TRAJ.parameters.x``, ``TRAJ.results.runs.*.z``."""

from __future__ import annotations

from dataclasses import dataclass

from .._core.names import RUNS_GROUP, split_full_name
from ..blocking import StorageService
from ..messages import Msg
from ..model import Trajectory
from .exits import CommandError, ExitCode

__all__ = ["ItemPath", "RunResultPath", "load_runs", "parse_item", "parse_run_result",
           "require_trajectories", "trajectories"]

RUN_BRANCHES = ("results", "derived_parameters")
WILDCARD = "*"
MAX_NAMED = 20  # trajectories named in the message for one that is not in the file


@dataclass(frozen=True, slots=True)
class ItemPath:
    """A trajectory and a full name inside it (empty for the trajectory itself)."""

    trajectory: str
    path: tuple[str, ...]

    @property
    def full_name(self) -> str:
        return ".".join(self.path)

    def __str__(self) -> str:
        return ".".join((self.trajectory, *self.path))


@dataclass(frozen=True, slots=True)
class RunResultPath:
    """A result of every run: ``<branch>.runs.<run>.<relative>`` of trajectory ``trajectory``."""

    trajectory: str
    branch: str
    relative: tuple[str, ...]

    def full_name(self, run: str) -> str:
        return ".".join((self.branch, RUNS_GROUP, run, *self.relative))

    def __str__(self) -> str:
        return ".".join((self.trajectory, self.branch, RUNS_GROUP, WILDCARD, *self.relative))


def _split(text: str) -> list[str]:
    parts = text.split(".")
    if not text or not all(parts):
        raise CommandError(f"not a dotted name: {text!r}", ExitCode.USAGE)
    return parts


def parse_item(text: str) -> ItemPath:
    """``TRAJ`` or ``TRAJ.full.name``, each name checked."""
    parts = _split(text)
    names = split_full_name(".".join(parts))  # InvalidNameError: no such item can exist
    return ItemPath(names[0], names[1:])


def parse_run_result(text: str) -> RunResultPath:
    """``TRAJ.NAME`` (the result NAME of every run) or ``TRAJ.results.runs.*.NAME`` (also
    ``derived_parameters.runs.*``); NAME may be dotted."""
    parts = _split(text)
    trajectory, rest = parts[0], parts[1:]
    if WILDCARD in rest:
        if len(rest) < 4 or rest[0] not in RUN_BRANCHES or rest[1:3] != [RUNS_GROUP, WILDCARD]:
            raise CommandError(f"{text!r}: the wildcard goes as TRAJ.results.runs.*.NAME",
                               ExitCode.USAGE)
        branch, rest = rest[0], rest[3:]
    else:
        branch = "results"
    if not rest:
        raise CommandError(f"{text!r} names no result: use TRAJ.NAME or TRAJ.results.runs.*.NAME",
                           ExitCode.USAGE)
    names = split_full_name(".".join([trajectory, *rest]))
    return RunResultPath(names[0], branch, names[1:])


def trajectories(service: StorageService, filename: str) -> list[str]:
    """The trajectories of the file; NOT_HDF5 if it holds none (an HDF5 file, but no aiostore
    data in it: listing, checking or backing it up would say nothing)."""
    names = service.list_trajectories()
    if not names:
        raise CommandError(f"no aiostore trajectories in {filename}", ExitCode.NOT_HDF5)
    return names


def require_trajectories(service: StorageService, filename: str, *names: str) -> None:
    """NOT_FOUND for the first of ``names`` that is not a trajectory of the file, naming those
    it holds."""
    present = service.list_trajectories()
    missing = next((name for name in names if name not in present), None)
    if missing is None:
        return
    holds = ", ".join(present[:MAX_NAMED]) if present else "none"
    if len(present) > MAX_NAMED:
        holds += f" and {len(present) - MAX_NAMED} more"
    raise CommandError(f"no trajectory {missing!r} in {filename}; it holds: {holds}",
                       ExitCode.NOT_FOUND)


def load_runs(service: StorageService, trajectory: str, parameters: bool = False) -> Trajectory:
    """The trajectory's run table (and, with ``parameters``, its parameters' values)."""
    traj: Trajectory = service.load(Msg.TRAJECTORY, None, trajectory_name=trajectory,
                                    load_parameters=2 if parameters else 0,
                                    load_derived_parameters=0, load_results=0,
                                    load_other_data=0)
    return traj
