"""``aiostore check``: decode every leaf, and compare the run table with what is found.

PyTables' listing of a group whose index a crash tore shows some children or none, with no
error (docs in DESIGN.md), so the check does not trust the listing alone: it compares the runs
the run table says completed with the run results found, looks up by name what the listing
does not show, and reports results that are missing or hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from .._core.answers import NodeData, NodeInfo
from .._core.names import RUNS_GROUP, run_index
from .._core.restoring import make_item
from ..blocking import StorageService
from ..errors import AiostoreError, DataNotFoundError
from ..messages import Msg
from ..model import RunInfo
from .paths import load_runs
from .progress import bar
from .wording import plural

__all__ = ["Problem", "check_file"]

CHUNK = 100  # leaves decoded per call; a chunk that fails is decoded leaf by leaf
MAX_RANGES = 10  # of the runs not completed, named in one warning
RUN_BRANCHES = ("results", "derived_parameters")


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of the report: where, what, and whether it is an error or a warning."""

    where: str
    what: str
    error: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {'error' if self.error else 'warning'}: {self.what}"


def _decode_one(service: StorageService, trajectory: str, info: NodeInfo) -> Problem | None:
    item = make_item(NodeData(info.path, True, info.class_name, info.comment))
    try:
        service.load(Msg.LEAF, item, trajectory_name=trajectory)
    except AiostoreError as exc:
        return Problem(f"{trajectory}.{info.full_name}", str(exc))
    return None


def _decode(service: StorageService, trajectory: str, leaves: list[NodeInfo]) -> Iterator[Problem]:
    with bar(len(leaves), f"check {trajectory}", "leaf") as progress:
        for start in range(0, len(leaves), CHUNK):
            chunk = leaves[start:start + CHUNK]
            items = [(Msg.LEAF, make_item(NodeData(i.path, True, i.class_name, i.comment)))
                     for i in chunk]
            try:
                service.load(Msg.LIST, items, trajectory_name=trajectory)
            except AiostoreError:
                for info in chunk:
                    problem = _decode_one(service, trajectory, info)
                    if problem is not None:
                        yield problem
            progress.update(len(chunk))


def _run_results(infos: list[NodeInfo]) -> dict[int, set[tuple[str, ...]]]:
    """The leaves found below each run's groups, by run index: their paths below the run."""
    found: dict[int, set[tuple[str, ...]]] = defaultdict(set)
    for info in infos:
        path = info.path
        if len(path) > 3 and path[0] in RUN_BRANCHES and path[1] == RUNS_GROUP and info.is_leaf:
            idx = run_index(path[2])
            if idx is not None:
                found[idx].add((path[0], *path[3:]))
    return found


def _hidden(service: StorageService, trajectory: str, run: str,
            missing: set[tuple[str, ...]]) -> list[str]:
    """Which of ``missing`` a lookup by name finds although the listing did not show them."""
    hidden = []
    for branch, *relative in sorted(missing):
        name = ".".join((branch, RUNS_GROUP, run, *relative))
        try:
            service.describe(trajectory, name, recursive=False)
        except DataNotFoundError:
            continue
        hidden.append(name)
    return hidden


def _compare_run(service: StorageService, trajectory: str, run: RunInfo,
                 expected: set[tuple[str, ...]], found: set[tuple[str, ...]]) -> Iterator[Problem]:
    where = f"{trajectory}.{RUNS_GROUP}.{run.name}"
    if not run.completed:  # one that holds nothing is told of with the others (_not_completed)
        if found:
            yield Problem(where, f"run not completed; holds {plural(len(found), 'result')} of "
                          "a partial store", error=False)
        return
    missing = expected - found
    if not missing:
        return
    hidden = _hidden(service, trajectory, run.name, missing)
    if hidden:
        yield Problem(where, f"its group's listing hides {', '.join(hidden)} (a damaged "
                      "group index: copy what reads into a new file)")
    if len(hidden) < len(missing):
        names = ", ".join(".".join(path) for path in sorted(missing) if ".".join(
            (path[0], RUNS_GROUP, run.name, *path[1:])) not in hidden)
        yield Problem(where, f"completed in the run table, but missing {names} "
                      "(every other completed run has them)")


def _ranges(indexes: list[int]) -> list[str]:
    """``[0, 5, 6, 7]`` as ``["0", "5-7"]``."""
    ranges: list[list[int]] = []
    for idx in sorted(indexes):
        if ranges and idx == ranges[-1][1] + 1:
            ranges[-1][1] = idx
        else:
            ranges.append([idx, idx])
    return [str(first) if first == last else f"{first}-{last}" for first, last in ranges]


def _not_completed(trajectory: str, runs: list[RunInfo]) -> Iterator[Problem]:
    """One warning for the runs not completed that hold nothing (an interrupted sweep leaves
    many): their count, and their indexes as ranges."""
    if len(runs) == 1:
        yield Problem(f"{trajectory}.{RUNS_GROUP}.{runs[0].name}", "run not completed",
                      error=False)
    elif runs:
        ranges = _ranges([run.idx for run in runs])
        more = f" and {plural(len(ranges) - MAX_RANGES, 'more range')}" if len(
            ranges) > MAX_RANGES else ""
        yield Problem(f"{trajectory}.{RUNS_GROUP}", f"{len(runs)} runs not completed (run "
                      f"{', '.join(ranges[:MAX_RANGES])}{more})", error=False)


def _compare_runs(service: StorageService, trajectory: str, runs: list[RunInfo],
                  infos: list[NodeInfo]) -> Iterator[Problem]:
    found = _run_results(infos)
    completed = [run for run in runs if run.completed]
    for run in runs:
        # expected: what every other completed run holds (when there are at least two)
        others = [found.get(other.idx, set()) for other in completed if other.idx != run.idx]
        expected = set.intersection(*others) if len(others) >= 2 else set()
        yield from _compare_run(service, trajectory, run, expected, found.get(run.idx, set()))
    yield from _not_completed(trajectory, [run for run in runs
                                           if not run.completed and not found.get(run.idx)])
    for idx in sorted(set(found) - {run.idx for run in runs}):
        yield Problem(f"{trajectory}.{RUNS_GROUP}.run_{idx:08d}",
                      "results of a run the run table does not have")


def _explored_lengths(trajectory: str, runs: list[RunInfo],
                      infos: list[NodeInfo]) -> Iterator[Problem]:
    for info in infos:
        if info.explored_length is not None and info.explored_length != len(runs):
            yield Problem(f"{trajectory}.{info.full_name}",
                          f"explored range of {plural(info.explored_length, 'value')} for "
                          f"{plural(len(runs), 'run')} in the run table")


def check_trajectory(service: StorageService, trajectory: str) -> Iterator[Problem]:
    """Every problem of one trajectory: unreadable metadata or values, then the runs."""
    runs = load_runs(service, trajectory).runs
    infos = service.describe(trajectory)
    leaves = [info for info in infos if info.is_leaf]
    for info in leaves:
        if info.problem:
            yield Problem(f"{trajectory}.{info.full_name}", info.problem)
    yield from _decode(service, trajectory, [info for info in leaves if not info.problem])
    yield from _explored_lengths(trajectory, runs, infos)
    yield from _compare_runs(service, trajectory, runs, infos)


def check_file(service: StorageService) -> Iterator[Problem | str]:
    """Problems of every trajectory of the file, then a summary line per trajectory."""
    for trajectory in service.list_trajectories():
        try:
            problems = list(check_trajectory(service, trajectory))
        except AiostoreError as exc:  # its run table or its tree cannot be read at all
            problems = [Problem(trajectory, str(exc))]
        yield from problems
        errors = sum(problem.error for problem in problems)
        warnings = len(problems) - errors
        yield f"{trajectory}: {plural(errors, 'error')}, {plural(warnings, 'warning')}"
