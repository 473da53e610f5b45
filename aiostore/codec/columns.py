"""Columns: the values of one key over many leaves, decoded in one go (for ``load_frame``).

The engine reads a key's raw payloads of many runs as one array (a packed table's column, or
the runs' nodes stacked). A scalar key becomes one numpy column of the type it had: python
``float`` float64, ``int`` int64, ``bool`` bool, ``np.int32`` int32, ``np.datetime64`` its unit;
text and bytes an object column of ``str`` or ``bytes``. Arrays of one dtype and shape stay one
block (a row per run; :func:`row_cells` makes them cells of a DataFrame's column without copying).
Other values (lists, frames, arrays that differ) are not columns: each run's value is decoded on
its own, as a cell of an object column.
"""

from __future__ import annotations

import numpy as np

from .arrays import Spec, restore_dtype
from .colls import COLL_SCALAR
from .scalars import rebuild_scalar

__all__ = ["decode_column", "is_scalar", "object_column", "row_cells"]

_PYTHON_DTYPES = {"float": np.float64, "bool": np.bool_, "bool_": np.bool_,
                  "complex": np.complex128}
_BY_ELEMENT = frozenset({"str", "str_", "bytes", "bytes_"})


def is_scalar(spec: Spec) -> bool:
    """Whether ``spec`` describes a scalar (one cell of a column)."""
    return spec.get("coll") == COLL_SCALAR


def object_column(cells: list[object]) -> np.ndarray:
    """A 1-d object array of ``cells`` (numpy would make a list of arrays 2-d)."""
    return np.fromiter(cells, dtype=object, count=len(cells))


def row_cells(block: np.ndarray) -> np.ndarray:
    """A 1-d object array whose cells are the rows of ``block`` (views of it, not copies)."""
    return np.fromiter(block, dtype=object, count=len(block))


def decode_column(spec: Spec, raw: np.ndarray) -> np.ndarray:
    """The scalars of ``spec`` whose payloads are the rows of ``raw``, as one 1-d column."""
    if "dtype" in spec:  # datetime64 and timedelta64: their unit
        return restore_dtype(raw, spec["dtype"])
    type_name = spec["type"]
    if type_name in _BY_ELEMENT or (type_name == "int" and raw.dtype.kind == "S"):
        if spec.get("nul"):  # text that ended with NUL carries a marker byte
            return object_column([rebuild_scalar(type_name, bytes(item)[:-1]) for item in raw])
        return object_column([rebuild_scalar(type_name, item) for item in raw])
    dtype = np.dtype(_PYTHON_DTYPES.get(type_name, np.int64 if type_name == "int" else type_name))
    return raw.astype(dtype, copy=False)

