"""Messages and storage flags; their values are pypet's strings, so plain strings work too.

:class:`Flag` lives with the codec (:mod:`aiostore.codec.flags`), which lays values out by it;
it is offered here too, as before.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from .codec.flags import Flag
from .errors import NoSuchServiceError

__all__ = ["Flag", "LoadMode", "Msg", "to_msg"]


class Msg(StrEnum):
    """What a store or load call does (pypet's ``pypetconstants`` messages)."""

    TRAJECTORY = "TRAJECTORY"
    SINGLE_RUN = "SINGLE_RUN"
    LEAF = "LEAF"
    UPDATE_LEAF = "UPDATE_LEAF"
    TREE = "TREE"
    LIST = "LIST"
    GROUP = "GROUP"
    REMOVE = "REMOVE"
    REMOVE_INCOMPLETE_RUNS = "REMOVE_INCOMPLETE_RUNS"
    MERGE = "MERGE"
    PREPARE_MERGE = "PREPARE_MERGE"
    BACKUP = "BACKUP"

    @classmethod
    def _missing_(cls, value: object) -> Msg | None:
        # pypet 0.6 calls removal DELETE; its REMOVE is an internal word.
        return cls.REMOVE if value == "DELETE" else None


class LoadMode(IntEnum):
    """pypet's load levels for ``load_parameters``, ``load_derived_parameters``, ``load_results``."""

    NOTHING = 0
    SKELETON = 1
    DATA = 2
    OVERWRITE = 3


def to_msg(msg: object) -> Msg:
    """The :class:`Msg` for ``msg`` (a Msg or its string), else :class:`NoSuchServiceError`."""
    try:
        return Msg(msg if isinstance(msg, str) else repr(msg))
    except ValueError:
        known = ", ".join(m.value for m in Msg)
        raise NoSuchServiceError(f"no such message {msg!r}; known messages: {known}") from None
