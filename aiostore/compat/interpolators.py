"""Spline interpolators made from cached tables, by the rules of colossus's ``StorageUser``.

A 1-d table is an array of shape ``(2, n)``: x in the first row, y in the second. A 2-d table is
a tuple ``(x, y, z)`` with ascending ``x`` and ``y`` and ``z`` of shape ``(len(x), len(y))``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.interpolate

from ..errors import InterpolationError

__all__ = ["make_interpolator"]


def make_interpolator(name: str, table: Any, inverse: bool, linear: bool) -> Any:
    """An interpolator of ``table``: y(x), or x(y) if ``inverse``; cubic unless ``linear``."""
    order = 1 if linear else 3
    if isinstance(table, tuple) and len(table) == 3:
        if inverse:
            raise InterpolationError(f"table {name!r} is 2-d (x, y, z): it has no inverse "
                                     "interpolator")
        x, y, z = table
        return scipy.interpolate.RectBivariateSpline(x, y, z, kx=order, ky=order)
    if isinstance(table, np.ndarray) and table.ndim == 2 and table.shape[0] == 2:
        if inverse:
            return _inverse(name, table, order)
        return scipy.interpolate.InterpolatedUnivariateSpline(table[0], table[1], k=order)
    raise InterpolationError(f"no interpolator can be made of {name!r}: it is neither an array of "
                             "shape (2, n) nor an (x, y, z) tuple")


def _inverse(name: str, table: np.ndarray, order: int) -> Any:
    """x(y): the spline needs ascending y, so descending data is reversed and repeated values
    (a flat stretch) are dropped, with a warning, keeping the first of each run."""
    if table[1][-1] < table[1][0]:
        table = table[:, ::-1]
    steps = np.diff(table[1])
    smallest = np.min(steps)
    if smallest < 0.0:
        raise InterpolationError(f"table {name!r} cannot be inverted: its y values are not "
                                 "monotonic")
    if smallest == 0.0:
        keep = np.ones(len(table[1]), dtype=bool)
        keep[1:] = steps > 0.0
        removed = len(keep) - np.count_nonzero(keep)
        warnings.warn(f"inverting table {name!r} dropped {removed} repeated y values; the "
                      "inverse interpolator may not cover the whole range", stacklevel=4)
        table = table[:, keep]
    return scipy.interpolate.InterpolatedUnivariateSpline(table[1], table[0], k=order)
