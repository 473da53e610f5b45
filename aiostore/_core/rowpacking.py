"""Runs' results planned straight into packed rows, in the caller's thread.

With packed runs (the default) a sweep's results are mostly numbers, arrays and dicts of numbers
whose types and shapes repeat run after run. The general way (an encoded value per key, a leaf
record per result, the row assembled from them on the HDF5 thread, every value pickled into the
journal) costs several times what copying the values into the row does, and a sweep does it
for every run. So the first result of each kind (its comment, its keys and the types, dtypes and
shapes of its values) goes the general way, and the layout of its row is kept; the results of
that kind after it are copied into rows of that layout directly. The first one is made both ways
and compared: a kind whose row differs from the general way's in any dtype, spec or byte is
never taken the fast way. Anything else (other types, flags set on the result, a subclass, a
path outside a run's results) goes the general way, as before.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..codec import Encoded
from ..codec.rows import RUN_COLUMN, PackedRow, RowLayout
from ..model import Result
from .names import RUNS_GROUP, check_name, run_name
from .requests import LeafRecord

__all__ = ["packed_row"]

# Kinds of results seen, with their row layout and how a row of theirs is filled (None: they
# go the general way). Bounded: a program that makes ever new kinds stops remembering them, and
# takes the general way.
MAX_KINDS = 1024
Fill = Callable[[RowLayout, Mapping[str, Any], int], bytes]
_layouts: dict[tuple[Any, ...], tuple[RowLayout, Fill] | None] = {}

_INT64 = (-(2**63), 2**63 - 1)
_NUMBER_TYPES = frozenset({float, bool, complex, *(
    type_ for type_ in np.sctypeDict.values()
    if issubclass(type_, np.number | np.bool_) and not issubclass(type_, np.timedelta64))})
_ARRAY_KINDS = frozenset("biufc")


def _fits_number(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return _INT64[0] <= value <= _INT64[1]  # bigger ones: another dtype
    return kind in _NUMBER_TYPES


def _fits_column(value: Any) -> bool:
    """Whether a column takes ``value``: checked once a kind."""
    kind = type(value)
    if kind is np.ndarray:
        return value.dtype.kind in _ARRAY_KINDS
    if kind is dict:
        return bool(value) and all(_fits_number(item) for item in value.values())
    return _fits_number(value)


def _quick_kind(value: Any) -> Any:
    """The part of a value's kind that tells kinds apart, without checking that a column takes
    it (:func:`_fits_column` checks that, once a kind): a sweep asks it of every value."""
    kind = type(value)
    if kind is np.ndarray:
        return (value.dtype, value.shape)
    if kind is dict:
        return (tuple(value), tuple(map(type, value.values())))
    return kind


def _kind_of(leaf: Result) -> tuple[Any, ...]:
    data = leaf.data
    return (leaf.v_comment, tuple(data), tuple(map(_quick_kind, data.values())))


def _packable(leaf: Result) -> bool:
    """Whether every value of ``leaf`` fits a column as its kind is told (an int of 2**63 and
    one of 1 are of one quick kind, but only one fits an int64 column)."""
    return bool(leaf.data) and all(_fits_column(value) for value in leaf.data.values())


def _run_result_path(leaf: Result, run: int) -> tuple[str, ...] | None:
    """The path of ``leaf`` if it is a result of run ``run`` (``results.runs.run_X...``)."""
    path = leaf.v_full_name.split(".")
    if (len(path) < 4 or path[0] != "results" or path[1] != RUNS_GROUP
            or path[2] != run_name(run)):
        return None
    for name in path[3:]:
        check_name(name, "name in a full name")
    return tuple(path)


def _fill(row_layout: RowLayout, values: Mapping[str, Any], run: int) -> bytes:
    row = np.zeros((), dtype=row_layout.dtype)
    row[RUN_COLUMN] = run
    for key, value in values.items():
        row[key] = tuple(value.values()) if type(value) is dict else value
    return row.tobytes()


# struct's codes for the columns it packs as numpy would: not float16/32 (struct goes through
# a double, which may change a NaN's bits), nor complex (struct has no code)
_STRUCT_CODES = {("b", 1): "?", ("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q",
                 ("u", 1): "B", ("u", 2): "H", ("u", 4): "I", ("u", 8): "Q", ("f", 8): "d"}


class _StructFill:
    """Packs rows of one kind with :mod:`struct` (a third of numpy's time for a row): each
    array's bytes as they are, each number and dict field by a code of its column."""

    __slots__ = ("pack",)

    def __init__(self, pack: Callable[..., bytes]) -> None:
        self.pack = pack

    @classmethod
    def of(cls, row_layout: RowLayout, values: Mapping[str, Any]) -> _StructFill | None:
        """The struct fill of ``row_layout`` for values of the kind of ``values``, or None if
        a column is one struct does not pack exactly as numpy does."""
        dtype = row_layout.dtype
        if dtype.names != (RUN_COLUMN, *values) or dtype.isalignedstruct:
            return None
        codes = ["q"]
        for key, value in values.items():
            column = dtype[key]
            if type(value) is np.ndarray:
                if column.base != value.dtype or column.shape != value.shape:
                    return None
                codes.append(f"{value.nbytes}s")
                continue
            fields = [column[name] for name in column.names or ()] if type(value) is dict else [column]
            if type(value) is dict and column.names != tuple(value):
                return None
            for field in fields:
                code = _STRUCT_CODES.get((field.kind, field.itemsize))
                if code is None or field.str[0] not in "<|" or field.shape:
                    return None
                codes.append(code)
        packer = struct.Struct("<" + "".join(codes))
        return cls(packer.pack) if packer.size == dtype.itemsize else None

    def __call__(self, row_layout: RowLayout, values: Mapping[str, Any], run: int) -> bytes:
        parts: list[Any] = [run]
        for value in values.values():
            kind = type(value)
            if kind is np.ndarray:
                parts.append(value.tobytes())
            elif kind is dict:
                parts.extend(value.values())
            else:
                parts.append(value)
        return self.pack(*parts)


def _same(ours: Mapping[str, Encoded], theirs: Mapping[str, Encoded]) -> bool:
    """Whether two encodings of one result agree in every flag, spec, dtype, shape and byte."""
    return list(ours) == list(theirs) and all(
        mine.flag is other.flag and mine.spec == other.spec
        and mine.payload.dtype == other.payload.dtype
        and mine.payload.shape == other.payload.shape
        and mine.payload.tobytes() == other.payload.tobytes()
        for mine, other in ((ours[key], theirs[key]) for key in theirs))


def _first_of_kind(leaf: Result, run: int,
                   general: Callable[[Any], LeafRecord]) -> tuple[RowLayout, Fill] | None:
    record = general(leaf)  # bad input raises here, as it would the general way
    row_layout = RowLayout.of(record.class_name, record.comment, record.values)
    if row_layout is None:
        return None
    try:
        row = _fill(row_layout, leaf.data, run)
        if not _same(row_layout.encoded(row), record.values):
            return None
        fill = _StructFill.of(row_layout, leaf.data)
    except (TypeError, ValueError, OverflowError, struct.error):
        return None
    if fill is not None and fill(row_layout, leaf.data, run) == row:
        return row_layout, fill
    return row_layout, _fill


def packed_row(leaf: Any, run: int, general: Callable[[Any], LeafRecord]) -> PackedRow | None:
    """Run ``run``'s result ``leaf`` as a packed row, or None if it goes the general way
    (``general`` is the general way's encoder, used for the first of a kind)."""
    if type(leaf) is not Result or leaf._flags:
        return None
    path = _run_result_path(leaf, run)
    if path is None:
        return None
    kind = _kind_of(leaf)
    try:
        known = _layouts[kind]
    except KeyError:
        if not _packable(leaf):
            return None  # not remembered: an int too big for a column is a value, not a kind
        known = _first_of_kind(leaf, run, general)
        if len(_layouts) < MAX_KINDS:
            _layouts[kind] = known
    except TypeError:  # a dict label that cannot be hashed: the general way says what is wrong
        return None
    if known is None:
        return None
    row_layout, fill = known
    try:
        row = fill(row_layout, leaf.data, run)
    except (TypeError, ValueError, OverflowError, struct.error):
        return None
    return PackedRow(path, run, row_layout, row)
