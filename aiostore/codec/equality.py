"""The codec's equality: the same type and the same value, recursively.

What aiostore promises to give back is what was stored, exactly: a tuple of ``np.int64`` is
not a list of ``int``; ``-0.0`` is not ``0.0``; NaN equals NaN; dtypes and byte orders count.
:func:`value_differences` lists what differs between two values; :mod:`aiostore.testing`
builds its assertions on it, and :func:`aiostore.run_sweep` compares a stored sweep's explored
parameters with it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..model import ObjectTable

__all__ = ["value_differences"]


def value_differences(a: Any, b: Any, path: str = "value") -> list[str]:
    """What differs between the values ``a`` and ``b``, one line each, each starting with where
    (``path``, then ``[key]``/``[index]`` below it); empty if they are equal."""
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
                for line in value_differences(x, y, f"{path}[{i}]")]
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
            found += value_differences(value, b[key], f"{path}[{key!r}]")
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
            for line in value_differences(a[column].iloc[row], b[column].iloc[row],
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
