"""A result as one row of a packed table: the row's type, and the row as bytes.

A packed table (:mod:`aiostore.engine.packing`) holds a result of every run as one row: a
``run_idx`` column and a column per key. :func:`row_layout` says which values fit a row and the
row's numpy type; a :class:`RowLayout` is what every row of one table shares (class name,
comment, flags, specs, shapes, row type); a :class:`PackedRow` is one result planned straight
into its row's bytes, which the HDF5 thread appends with the rest of its batch in one block,
and which turns back into the result's encoded values wherever the row cannot be appended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import Encoded, Spec
from .flags import Flag
from .pickling import pickled_by_fields

__all__ = ["RUN_COLUMN", "PackedRow", "RowLayout", "column_dtype", "row_layout", "row_values"]

RUN_COLUMN = "run_idx"
_PACKABLE_FLAGS = (Flag.ARRAY, Flag.CARRAY, Flag.DICT)
_PACKABLE_KINDS = frozenset("biufcS")


def column_dtype(payload: np.ndarray, flag: Flag) -> tuple[Any, tuple[int, ...]] | None:
    """The dtype and shape of the column holding ``payload``, or None if it cannot be packed."""
    dtype = payload.dtype
    if flag is Flag.DICT:  # a one-row structured array: one nested cell
        fields = [dtype[name] for name in dtype.names or ()]
        if not fields or any(field.base.kind not in _PACKABLE_KINDS for field in fields):
            return None
        return dtype, ()
    if dtype.kind not in _PACKABLE_KINDS:
        return None
    return dtype, payload.shape


def row_layout(values: Mapping[str, Encoded]) -> tuple[np.dtype, dict[str, list[int]]] | None:
    """The row type that packs ``values`` and the shapes of the values, or None if it cannot."""
    fields: list[tuple[Any, ...]] = [(RUN_COLUMN, "<i8")]
    shapes: dict[str, list[int]] = {}
    for key, encoded in values.items():
        if encoded.flag not in _PACKABLE_FLAGS or not isinstance(encoded.payload, np.ndarray):
            return None
        column = column_dtype(encoded.payload, encoded.flag)
        if column is None or key == RUN_COLUMN:
            return None
        fields.append((key, column[0], column[1]) if column[1] else (key, column[0]))
        shapes[key] = list(encoded.payload.shape)
    if not shapes:
        return None
    return np.dtype(fields), shapes


@pickled_by_fields
@dataclass(frozen=True, eq=False)
class RowLayout:
    """What the rows of one result name share: the result's class name and comment, and per
    key its flag and spec; the row type and the values' shapes (as :func:`row_layout` says).

    Rows that share a layout object are rows of one table; a layout is compared with a table's
    once, not once per row (hence identity, not value, equality)."""

    class_name: str
    comment: str
    flags: dict[str, Flag]
    specs: dict[str, Spec]
    dtype: np.dtype
    shapes: dict[str, list[int]]

    @classmethod
    def of(cls, class_name: str, comment: str,
           values: Mapping[str, Encoded]) -> RowLayout | None:
        """The layout of a result with these encoded values, or None if they cannot be packed."""
        layout = row_layout(values)
        if layout is None:
            return None
        return cls(class_name, comment, {key: value.flag for key, value in values.items()},
                   {key: value.spec for key, value in values.items()}, *layout)

    def encoded(self, row: bytes) -> dict[str, Encoded]:
        """The encoded values held by ``row``, as the codec made them."""
        return row_values(np.frombuffer(row, dtype=self.dtype), self.specs, self.shapes)


def row_values(record: np.ndarray, specs: Mapping[str, Spec],
               shapes: Mapping[str, list[int]]) -> dict[str, Encoded]:
    """The encoded values of the one-row ``record`` of a packed table whose keys have
    ``specs`` and ``shapes``, as the codec made them (each a copy)."""
    values = {}
    for key, spec in specs.items():
        flag = Flag(spec["flag"])  # a dict's payload is a one-row structured array
        column = record[key]
        payload = column if flag is Flag.DICT else column.reshape(shapes[key])
        values[key] = Encoded(flag, payload.copy(), spec)
    return values


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class PackedRow:
    """Run ``run``'s result at ``path`` (names below the trajectory) as the bytes of its row."""

    path: tuple[str, ...]
    run: int
    layout: RowLayout
    row: bytes

    # As much of a leaf record as the checks before a write read (values only where the file
    # holds something at the path already).
    replace_keys: frozenset[str] = frozenset()

    @property
    def class_name(self) -> str:
        return self.layout.class_name

    @property
    def comment(self) -> str:
        return self.layout.comment

    @property
    def values(self) -> dict[str, Encoded]:
        return self.layout.encoded(self.row)

    @property
    def nbytes(self) -> int:
        return len(self.row)
