"""The names a user may have meant when a name finds nothing: ``sweep.x`` for
``sweep.parameters.x``, ``sweep.results.z`` for ``sweep.z`` (the result z of every run).

Only cheap lookups: the trees of the parameters and of the config (no runs in them), and by name
the results and derived parameters outside the runs and those of the first completed run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .._core.names import RUNS_GROUP, STANDARD_GROUPS
from ..blocking import StorageService
from ..errors import DataNotFoundError
from .exits import CommandError, ExitCode
from .paths import WILDCARD, ItemPath, RunResultPath, load_runs

__all__ = ["meant", "suggesting"]

MAX_SUGGESTIONS = 5
TREES = ("parameters", "config")  # small: described whole
BY_NAME = ("results", "derived_parameters")  # their runs may be many: looked up by name


def _tail(asked: ItemPath | RunResultPath) -> tuple[str, ...]:
    """The name below its branch (and below ``runs.*`` or ``runs.run_X``)."""
    if isinstance(asked, RunResultPath):
        return asked.relative
    path = asked.path
    if path[:1] and path[0] in STANDARD_GROUPS:
        path = path[1:]
        if path[:1] == (RUNS_GROUP,):
            path = path[2:]
    return path


def _exists(service: StorageService, trajectory: str, name: str) -> bool:
    try:
        service.describe(trajectory, name, recursive=False)
    except DataNotFoundError:
        return False
    return True


def _candidates(service: StorageService, trajectory: str,
                tail: tuple[str, ...]) -> Iterator[str]:
    for tree in TREES:
        try:
            infos = service.describe(trajectory, tree)
        except DataNotFoundError:
            continue
        yield from (f"{trajectory}.{info.full_name}" for info in infos
                    if info.path[-len(tail):] == tail)
    for branch in BY_NAME:
        if _exists(service, trajectory, ".".join((branch, *tail))):
            yield ".".join((trajectory, branch, *tail))
    run = next((run for run in load_runs(service, trajectory).runs if run.completed), None)
    if run is None:
        return
    if _exists(service, trajectory, ".".join(("results", RUNS_GROUP, run.name, *tail))):
        yield ".".join((trajectory, *tail))
    if _exists(service, trajectory, ".".join(("derived_parameters", RUNS_GROUP, run.name,
                                              *tail))):
        yield ".".join((trajectory, "derived_parameters", RUNS_GROUP, WILDCARD, *tail))


def meant(service: StorageService, asked: ItemPath | RunResultPath) -> list[str]:
    """Names of items like ``asked`` that the file holds (at most ``MAX_SUGGESTIONS``)."""
    tail = _tail(asked)
    if not tail:
        return []
    found = dict.fromkeys(_candidates(service, asked.trajectory, tail))
    found.pop(str(asked), None)
    return list(found)[:MAX_SUGGESTIONS]


@contextlib.contextmanager
def suggesting(service: StorageService, asked: ItemPath | RunResultPath) -> Iterator[None]:
    """An item or result that is not there (NOT_FOUND) is told of with the names like it that
    are: ``...; did you mean sweep.parameters.x?``."""
    try:
        yield
    except (DataNotFoundError, CommandError) as exc:
        if isinstance(exc, CommandError) and exc.exit_code != ExitCode.NOT_FOUND:
            raise
        names = meant(service, asked)
        if not names:
            raise
        message = exc.format_message() if isinstance(exc, CommandError) else str(exc)
        choice = names[0] if len(names) == 1 else f"one of {', '.join(names)}"
        raise CommandError(f"{message}; did you mean {choice}?", ExitCode.NOT_FOUND) from None
