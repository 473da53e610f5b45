"""``assert_exact``: the same type and the same value, recursively, as the codec promises."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from aiostore import ObjectTable


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _assert_array_exact(a: np.ndarray, b: np.ndarray, path: str) -> None:
    assert a.dtype == b.dtype, f"{path}: dtype {a.dtype!r} != {b.dtype!r}"
    assert a.dtype.str == b.dtype.str, f"{path}: byte order {a.dtype.str} != {b.dtype.str}"
    assert a.shape == b.shape, f"{path}: shape {a.shape} != {b.shape}"
    if a.dtype.kind in "fcmM":
        assert np.array_equal(a, b, equal_nan=True), f"{path}: {a!r} != {b!r}"
    else:
        assert np.array_equal(a, b), f"{path}: {a!r} != {b!r}"
    if a.dtype.kind == "f":
        assert np.array_equal(np.signbit(a), np.signbit(b)), f"{path}: signs of zeros differ"
    elif a.dtype.kind == "c":
        assert np.array_equal(np.signbit(a.real), np.signbit(b.real)), f"{path}: signs differ"
        assert np.array_equal(np.signbit(a.imag), np.signbit(b.imag)), f"{path}: signs differ"


def _assert_frame_exact(a: pd.DataFrame, b: pd.DataFrame, path: str) -> None:
    if not isinstance(a, ObjectTable):
        pd.testing.assert_frame_equal(
            a, b, check_exact=True, check_index_type=True, check_column_type=True
        )
        return
    pd.testing.assert_index_equal(a.index, b.index, exact=True, check_exact=True)
    pd.testing.assert_index_equal(a.columns, b.columns, exact=True, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes), f"{path}: dtypes differ"
    for column in a.columns:
        for row in range(len(a)):
            assert_exact(a[column].iloc[row], b[column].iloc[row], f"{path}[{column!r}][{row}]")


def _assert_scalar_exact(a: Any, b: Any, path: str) -> None:
    if isinstance(a, float):
        assert _same_float(a, b), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, complex):
        assert _same_float(a.real, b.real), f"{path}: {a!r} != {b!r}"
        assert _same_float(a.imag, b.imag), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype, f"{path}: {a.dtype} != {b.dtype}"
        assert a.dtype.str == b.dtype.str, f"{path}: {a.dtype.str} != {b.dtype.str}"
        _assert_array_exact(np.asarray(a), np.asarray(b), path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def assert_exact(a: Any, b: Any, path: str = "value") -> None:
    """``a`` and ``b`` have the same type and the same value, recursively (NaN == NaN)."""
    assert type(a) is type(b), f"{path}: type {type(a)!r} != {type(b)!r} ({a!r} vs {b!r})"
    if isinstance(a, pd.DataFrame):
        _assert_frame_exact(a, b, path)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, check_index_type=True)
    elif isinstance(a, np.ndarray):
        _assert_array_exact(a, b, path)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_exact(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_exact(a[key], b[key], f"{path}[{key!r}]")
    else:
        _assert_scalar_exact(a, b, path)
