"""The pypet shim's planning: pypet's messages, as its Trajectory and Environment send them,
turned into aiostore requests (:mod:`.stores` and :mod:`.loads` hold the planners).

Each planner takes the shim's :class:`Context`, the item and pypet's keywords, and returns a
:class:`~aiostore._core.planning.Job`: the request for the HDF5 thread and what, in the caller's
thread, hands the answer to pypet's objects (marks them stored, builds the loaded tree). Bad
arguments fail here, before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..._core.planning import Call, Defaults, Job
from ..._core.requests import (
    ListTrajectories,
    Path,
    Target,
)
from ...errors import (
    InvalidArgumentError,
    NoSuchServiceError,
    NotStoredError,
)
from . import keys, shared

Planner = Callable[..., Job]


@dataclass
class Context:
    """What a planner needs of the service: its defaults, a way to ask the HDF5 thread (for
    loads that need a second look), and the run rows it has written per trajectory."""

    defaults: Defaults
    ask: Callable[[Any], Any]
    logger: logging.Logger
    rows_written: dict[tuple[str, str], int] = field(default_factory=dict)
    layouts: dict[tuple[str, str], str] = field(default_factory=dict)
    pending: shared.PendingRows = field(init=False)

    def __post_init__(self) -> None:
        self.pending = shared.PendingRows(self.ask)

    def target(self, kwargs: dict[str, Any], trajectory: str | None = None) -> Target:
        call = Call(None, self.defaults, filename=kwargs.pop("filename", None),
                    file_title=kwargs.pop("file_title", None),
                    trajectory_name=kwargs.pop("trajectory_name", None))
        return call.target(trajectory)


def node_path(node: Any) -> Path:
    return keys.path_of(node.v_full_name)


# ------------------------------------------------------------------------------ the trajectory


def pypet_versions() -> tuple[str, str]:
    from pypet import pypetconstants
    from pypet._version import __version__

    return __version__, pypetconstants.python_version_string


class MalformedListError(InvalidArgumentError, RuntimeError):
    """A LIST entry that is not (msg, item[, args[, kwargs]]) (a RuntimeError in pypet)."""


def list_entry(entry: Any, kwargs: dict[str, Any]) -> tuple[Any, Any, tuple[Any, ...], dict[str, Any]]:
    if not isinstance(entry, (tuple, list)) or not 2 <= len(entry) <= 4:
        raise MalformedListError(f"LIST takes (msg, item[, args[, kwargs]]) entries, not {entry!r}")
    msg, item, *rest = entry
    args = tuple(rest[0]) if rest else ()
    entry_kwargs = dict(rest[1]) if len(rest) > 1 else {}
    return msg, item, args, {**kwargs, **entry_kwargs}


# ------------------------------------------------------------------- merges and backups


def plan(context: Context, planners: dict[str, Planner], verb: str, msg: Any, item: Any,
         args: tuple[Any, ...], kwargs: dict[str, Any]) -> Job:
    """The job for pypet's ``verb(msg, item, *args, **kwargs)``."""
    planner = planners.get(str(msg))
    if planner is None:
        target = context.target(dict(kwargs))  # pypet first checks the trajectory is there
        if target.trajectory not in context.ask(ListTrajectories(target.filename,
                                                                 target.in_memory)):
            raise NotStoredError(f"trajectory {target.trajectory!r} is not in "
                                 f"{target.filename!r}: store it first")
        raise NoSuchServiceError(f"the pypet shim cannot {verb} with message {msg!r}")
    try:
        return planner(context, item, *args, **dict(kwargs))
    except TypeError as exc:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            raise InvalidArgumentError(f"{verb} {msg}: {exc}") from None
        raise


