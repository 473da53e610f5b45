"""The storage flags: how one data value is laid out in the file."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Flag"]


class Flag(StrEnum):
    """How one data value is laid out in the file (pypet's storage flags, plus SERIES)."""

    ARRAY = "ARRAY"
    CARRAY = "CARRAY"
    TABLE = "TABLE"
    DICT = "DICT"
    FRAME = "FRAME"
    SERIES = "SERIES"
