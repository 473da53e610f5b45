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

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..codec import Encoded
from ..codec.rows import RUN_COLUMN, PackedRow, RowLayout
from ..model import Result
from .names import RUNS_GROUP, check_name, run_name
from .requests import LeafRecord

__all__ = ["packed_row"]

# Kinds of results seen, and their row layout (None: they go the general way). Bounded: a
# program that makes ever new kinds stops remembering them, and takes the general way.
MAX_KINDS = 1024
_layouts: dict[tuple[Any, ...], RowLayout | None] = {}

_INT64 = (-(2**63), 2**63 - 1)
_NUMBER_TYPES = frozenset({float, bool, complex, *(
    type_ for type_ in np.sctypeDict.values()
    if issubclass(type_, np.number | np.bool_) and not issubclass(type_, np.timedelta64))})
_ARRAY_KINDS = frozenset("biufc")


def _number_kind(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return int if _INT64[0] <= value <= _INT64[1] else None  # bigger ones: another dtype
    return kind if kind in _NUMBER_TYPES else None


def _value_kind(value: Any) -> Any:
    kind = type(value)
    if kind is np.ndarray:
        dtype = value.dtype
        return ("ndarray", dtype.str, value.shape) if dtype.kind in _ARRAY_KINDS else None
    if kind is dict:
        kinds = tuple((label, _number_kind(item)) for label, item in value.items())
        if not kinds or any(item is None for _, item in kinds):
            return None
        return ("dict", kinds)
    return _number_kind(value)


def _kind_of(leaf: Result) -> tuple[Any, ...] | None:
    kinds = []
    for key, value in leaf.data.items():
        kind = _value_kind(value)
        if kind is None:
            return None
        kinds.append((key, kind))
    return (leaf.v_comment, *kinds) if kinds else None


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


def _same(ours: Mapping[str, Encoded], theirs: Mapping[str, Encoded]) -> bool:
    """Whether two encodings of one result agree in every flag, spec, dtype, shape and byte."""
    return list(ours) == list(theirs) and all(
        mine.flag is other.flag and mine.spec == other.spec
        and mine.payload.dtype == other.payload.dtype
        and mine.payload.shape == other.payload.shape
        and mine.payload.tobytes() == other.payload.tobytes()
        for mine, other in ((ours[key], theirs[key]) for key in theirs))


def _first_of_kind(leaf: Result, run: int,
                   general: Callable[[Any], LeafRecord]) -> RowLayout | None:
    record = general(leaf)  # bad input raises here, as it would the general way
    row_layout = RowLayout.of(record.class_name, record.comment, record.values)
    if row_layout is not None:
        try:
            agrees = _same(row_layout.encoded(_fill(row_layout, leaf.data, run)), record.values)
        except (TypeError, ValueError, OverflowError):
            agrees = False
        if not agrees:
            row_layout = None
    return row_layout


def packed_row(leaf: Any, run: int, general: Callable[[Any], LeafRecord]) -> PackedRow | None:
    """Run ``run``'s result ``leaf`` as a packed row, or None if it goes the general way
    (``general`` is the general way's encoder, used for the first of a kind)."""
    if type(leaf) is not Result or leaf._flags:
        return None
    path = _run_result_path(leaf, run)
    if path is None:
        return None
    kind = _kind_of(leaf)
    if kind is None:
        return None
    try:
        row_layout = _layouts[kind]
    except KeyError:
        row_layout = _first_of_kind(leaf, run, general)
        if len(_layouts) < MAX_KINDS:
            _layouts[kind] = row_layout
    except TypeError:  # a dict label that cannot be hashed: the general way says what is wrong
        return None
    if row_layout is None:
        return None
    try:
        row = _fill(row_layout, leaf.data, run)
    except (TypeError, ValueError, OverflowError):
        return None
    return PackedRow(path, run, row_layout, row)
