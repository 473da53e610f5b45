"""Assertions for tests of code that stores through aiostore: exact values, items, trajectories.

Equality here is the codec's promise: the same type and the same value, recursively (a tuple of
``np.int64`` is not a list of ``int``; ``-0.0`` is not ``0.0``; NaN equals NaN; dtypes and byte
orders count). Every difference is listed, one line each, with where it is::

    AssertionError: 2 differences between trajectory 'sweep' and trajectory 'sweep':
      results.runs.run_00000003.z['trace']: dtype float64 != float32
      results.runs.run_00000004.z: only in the first

:func:`assert_exact` compares values, :func:`assert_items_equal` leaves, groups and whole
trajectories (every leaf, comments, explored ranges and the run table), and
:func:`differences` gives the lines without asserting.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .model import Group, Leaf, ObjectTable, Parameter, Trajectory

__all__ = ["assert_exact", "assert_items_equal", "differences"]


def assert_exact(first: Any, second: Any, name: str = "value") -> None:
    """Assert that two values have the same type and value, recursively, as the codec keeps
    them; ``name`` names the value in the lines that say what differs."""
    _raise(_value_differences(first, second, name), "values")


def assert_items_equal(first: Any, second: Any, *, timestamps: bool = False) -> None:
    """Assert that two items are equal: leaves (class, comment, every value exactly, explored
    range), groups (every item below), or trajectories (also the run table: each run's index,
    completed flag and parameter summary; its times too with ``timestamps=True``)."""
    _raise(differences(first, second, timestamps=timestamps), _names(first, second))


def differences(first: Any, second: Any, *, timestamps: bool = False) -> list[str]:
    """What differs between two values or items, one line each (empty if they are equal)."""
    if isinstance(first, Group) and isinstance(second, Group):
        return _group_differences(first, second, timestamps)
    if isinstance(first, Leaf) and isinstance(second, Leaf):
        return _leaf_differences(first, second, first.v_full_name or "item")
    return _value_differences(first, second, "value")


def _raise(found: list[str], what: str) -> None:
    if found:
        lines = "\n".join(f"  {line}" for line in found)
        count = f"{len(found)} difference{'s' if len(found) > 1 else ''}"
        raise AssertionError(f"{count} between {what}:\n{lines}")


def _names(first: Any, second: Any) -> str:
    def name(item: Any) -> str:
        kind = type(item).__name__.lower()
        label = getattr(item, "v_name", None) if isinstance(item, Trajectory) else getattr(
            item, "v_full_name", None)
        return f"{kind} {label!r}" if label else kind
    return f"{name(first)} and {name(second)}"


# ------------------------------------------------------------------------------------ items


def _group_differences(first: Group, second: Group, timestamps: bool) -> list[str]:
    found = []
    if type(first) is not type(second):
        found.append(f"{first.v_full_name or 'group'}: {type(first).__name__} != "
                     f"{type(second).__name__}")
    if isinstance(first, Trajectory) and isinstance(second, Trajectory):
        found += _trajectory_differences(first, second, timestamps)
    ours = {leaf.v_full_name: leaf for leaf in first.leaves()}
    theirs = {leaf.v_full_name: leaf for leaf in second.leaves()}
    for name in sorted(ours.keys() | theirs.keys()):
        if name not in theirs:
            found.append(f"{name}: only in the first")
        elif name not in ours:
            found.append(f"{name}: only in the second")
        else:
            found += _leaf_differences(ours[name], theirs[name], name)
    return found


def _trajectory_differences(first: Trajectory, second: Trajectory,
                            timestamps: bool) -> list[str]:
    found = []
    if first.v_name != second.v_name:
        found.append(f"name: {first.v_name!r} != {second.v_name!r}")
    if first.v_comment != second.v_comment:
        found.append(f"comment: {first.v_comment!r} != {second.v_comment!r}")
    if len(first.runs) != len(second.runs):
        found.append(f"runs: {len(first.runs)} != {len(second.runs)}")
    fields = ["idx", "completed", "parameter_summary"]
    if timestamps:
        fields += ["timestamp", "finish_timestamp"]
    for ours, theirs in zip(first.runs, second.runs, strict=False):
        for name in fields:
            a, b = getattr(ours, name), getattr(theirs, name)
            if a != b:
                found.append(f"runs[{ours.idx}].{name}: {a!r} != {b!r}")
    return found


def _leaf_differences(first: Leaf, second: Leaf, path: str) -> list[str]:
    found = []
    if type(first) is not type(second):
        found.append(f"{path}: {type(first).__name__} != {type(second).__name__}")
    if first.v_comment != second.v_comment:
        found.append(f"{path}: comment {first.v_comment!r} != {second.v_comment!r}")
    if isinstance(first, Parameter) and isinstance(second, Parameter):
        found += _value_differences(first.range, second.range, f"{path} (explored range)")
    found += _value_differences(first.data, second.data, path)
    return found


# ----------------------------------------------------------------------------------- values


def _value_differences(a: Any, b: Any, path: str) -> list[str]:
    if type(a) is not type(b):
        return [f"{path}: type {type(a).__name__} != {type(b).__name__} ({_short(a)} vs "
                f"{_short(b)})"]
    if isinstance(a, pd.DataFrame | pd.Series):
        return _frame_differences(a, b, path)
    if isinstance(a, np.ndarray):
        return _array_differences(a, b, path)
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [line for i, (x, y) in enumerate(zip(a, b, strict=True))
                for line in _value_differences(x, y, f"{path}[{i}]")]
    if isinstance(a, dict):
        return _dict_differences(a, b, path)
    return _scalar_differences(a, b, path)


def _dict_differences(a: dict[Any, Any], b: dict[Any, Any], path: str) -> list[str]:
    found = [f"{path}[{key!r}]: only in the first" for key in a if key not in b]
    found += [f"{path}[{key!r}]: only in the second" for key in b if key not in a]
    if not found and list(a) != list(b):
        found.append(f"{path}: key order {list(a)} != {list(b)}")
    for key, value in a.items():
        if key in b:
            found += _value_differences(value, b[key], f"{path}[{key!r}]")
    return found


def _array_differences(a: np.ndarray, b: np.ndarray, path: str) -> list[str]:
    if a.dtype.str != b.dtype.str and a.dtype.newbyteorder("<") == b.dtype.newbyteorder("<"):
        return [f"{path}: byte order {a.dtype.str} != {b.dtype.str}"]
    if a.dtype != b.dtype:
        return [f"{path}: dtype {a.dtype} != {b.dtype}"]
    if a.shape != b.shape:
        return [f"{path}: shape {a.shape} != {b.shape}"]
    nan_aware = a.dtype.kind in "fcmM"
    if not np.array_equal(a, b, equal_nan=nan_aware):
        return [f"{path}: {_short(a)} != {_short(b)}"]
    if a.dtype.kind in "fc" and not (np.array_equal(np.signbit(a.real), np.signbit(b.real)) and
                                     np.array_equal(np.signbit(a.imag), np.signbit(b.imag))):
        return [f"{path}: signs of zeros differ"]
    return []


def _frame_differences(a: Any, b: Any, path: str) -> list[str]:
    """Two frames or two series of one type (the caller checked)."""
    try:
        if isinstance(a, ObjectTable):
            pd.testing.assert_index_equal(a.index, b.index, exact=True, check_exact=True)
            pd.testing.assert_index_equal(a.columns, b.columns, exact=True, check_exact=True)
        elif isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True,
                                          check_column_type=True)
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True, check_index_type=True)
    except AssertionError as error:
        return [f"{path}: " + " ".join(str(error).split())]
    if not isinstance(a, ObjectTable):
        return []
    if list(a.dtypes) != list(b.dtypes):
        return [f"{path}: dtypes {list(a.dtypes)} != {list(b.dtypes)}"]
    return [line for column in a.columns for row in range(len(a))
            for line in _value_differences(a[column].iloc[row], b[column].iloc[row],
                                           f"{path}[{column!r}][{row}]")]


def _scalar_differences(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, np.generic):
        return _array_differences(np.asarray(a), np.asarray(b), path)
    if isinstance(a, float | complex):
        same = all(_same_float(x, y) for x, y in ((a.real, b.real), (a.imag, b.imag)))
    else:
        same = bool(a == b)
    return [] if same else [f"{path}: {_short(a)} != {_short(b)}"]


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _short(value: Any) -> str:
    text = np.array2string(value, threshold=8) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
