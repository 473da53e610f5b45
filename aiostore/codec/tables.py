"""Dicts, ObjectTables and DataFrames <-> a structured numpy array (one HDF5 table) or a frame.

A DICT becomes a one-row table, one column per key; a TABLE becomes one row per DataFrame row.
Each column keeps the spec of its values (see :mod:`.arrays`), so a column of ``np.int32`` comes
back as ``np.int32`` and a column of python ``int`` as ``int``. Column names in the file are the
keys where those are plain identifiers, else ``_c<position>``; the spec keeps the real labels.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UnsupportedTypeError
from ..model import ObjectTable
from .arrays import (
    Spec,
    decode_array_value,
    decode_sequence,
    encode_array_value,
    encode_sequence,
    restore_dtype,
    storable,
)
from .colls import (
    COLL_COLUMN,
    COLL_DATAFRAME,
    COLL_DICT,
    COLL_EMPTY,
    COLL_EMPTY_DICT,
    COLL_LIST,
    COLL_OBJECT_TABLE,
    COLL_SCALAR,
    COLL_SERIES,
)

INDEX_COLUMN = "_index"


@functools.lru_cache(maxsize=4096)
def column_name(label: Hashable, position: int) -> str:
    """The HDF5 column name for a label: the label itself when it is a plain identifier."""
    # PyTables wants ASCII identifiers (``^[a-zA-Z_][a-zA-Z0-9_]*$``) that are not keywords
    if (isinstance(label, str) and label.isascii() and label.isidentifier()
            and not keyword.iskeyword(label) and not label.startswith("_")):
        return label
    return f"_c{position}"


def _check_label(key: str, label: object) -> Hashable:
    if type(label) not in (str, int):
        raise UnsupportedTypeError(key, f"column labels must be str or int, not {label!r}")
    return label


def _structured(columns: Sequence[tuple[str, np.ndarray]], nrows: int) -> np.ndarray:
    # native byte order: PyTables refuses tables of mixed byte orders; specs keep the real dtype
    dtype = _native_row_type(tuple((name, col.dtype, col.shape[1:]) for name, col in columns))
    table = np.empty(nrows, dtype=dtype)
    for name, col in columns:
        table[name] = col
    return table


@functools.lru_cache(maxsize=1024)
def _native_row_type(columns: tuple[tuple[str, np.dtype, tuple[int, ...]], ...]) -> np.dtype:
    """The row type of ``columns`` (name, dtype, cell shape) in native byte order: the same few
    dicts are encoded store after store, and making a structured dtype is slow."""
    return np.dtype([(name, dtype.newbyteorder("="), shape) for name, dtype, shape in columns])


def _nonempty(array: np.ndarray, spec: Spec) -> tuple[np.ndarray, Spec]:
    """HDF5 tables drop fields of zero size: such a column becomes one byte a row, its shape a spec."""
    if array.size or not len(array):
        return array, spec
    return np.zeros(len(array), dtype=np.int8), {**spec, "empty": [array.dtype.str, list(array.shape[1:])]}


def _field(raw: np.ndarray, name: str, spec: Spec) -> np.ndarray:
    """Column ``name`` of ``raw`` as :func:`_nonempty` stored it."""
    if "empty" not in spec:
        return np.asarray(raw[name])
    dtype, shape = spec["empty"]
    return np.zeros((len(raw), *shape), dtype=dtype)


# ----------------------------------------------------------------------------------- DICT


def encode_dict(key: str, value: dict[Any, Any]) -> tuple[np.ndarray, Spec]:
    columns: list[tuple[str, np.ndarray]] = []
    described: list[list[Any]] = []
    for position, (label, item) in enumerate(value.items()):
        if type(label) is not str:
            raise UnsupportedTypeError(key, f"dict keys must be str, not {type(label).__name__}")
        encoded = encode_array_value(f"{key}[{label!r}]", item)
        if encoded is None or encoded[1]["coll"] == COLL_EMPTY_DICT:
            raise UnsupportedTypeError(
                f"{key}[{label!r}]", f"dict values must not be {type(item).__name__} (no nesting)"
            )
        array, spec = encoded
        name = column_name(label, position)
        column, spec = _nonempty(array[np.newaxis], spec)
        columns.append((name, column))
        described.append([name, label, spec])
    return _structured(columns, 1), {"coll": COLL_DICT, "columns": described}


def decode_dict(spec: Spec, raw: np.ndarray) -> dict[str, Any]:
    return {
        label: decode_array_value(colspec, np.asarray(_field(raw, name, colspec)[0]))
        for name, label, colspec in spec["columns"]
    }


# ---------------------------------------------------------------------------------- TABLE


def _encode_cells(key: str, cells: list[Any]) -> tuple[np.ndarray, Spec]:
    """One column of an ObjectTable: scalars of one type, or arrays/lists of one shape."""
    if not any(isinstance(cell, list | tuple | np.ndarray) for cell in cells):
        array, spec = encode_sequence(key, cells)
        spec["coll"] = COLL_SCALAR
        return array, spec
    encoded = [encode_array_value(key, cell) for cell in cells]
    specs = {repr(e[1]) if e else None for e in encoded}
    if len(specs) != 1 or None in specs:
        raise UnsupportedTypeError(key, "cells of a column must share type, dtype and shape")
    arrays = [e[0] for e in encoded if e]
    if len({a.shape for a in arrays}) != 1:
        raise UnsupportedTypeError(key, "cells of a column must share their shape")
    return np.stack(arrays), encoded[0][1]  # type: ignore[index]


def _decode_cells(spec: Spec, raw: np.ndarray) -> np.ndarray:
    """The cells as a 1-d object array (pandas would read a list of arrays as 2-d)."""
    if spec["coll"] == COLL_SCALAR:
        cells = list(decode_sequence({**spec, "coll": COLL_LIST}, raw))
    else:
        cells = [decode_array_value(spec, raw[i, ...]) for i in range(len(raw))]
    column = np.empty(len(cells), dtype=object)
    for position, cell in enumerate(cells):
        column[position] = cell
    return column


def _encode_frame_column(key: str, column: pd.Series, as_objects: bool) -> tuple[np.ndarray, Spec]:
    dtype = column.dtype
    if not as_objects and isinstance(dtype, np.dtype) and dtype.kind != "O":
        plain = column.to_numpy()
        return storable(key, plain), {"coll": COLL_COLUMN, "dtype": plain.dtype.str}
    array, spec = _encode_cells(key, list(column))
    if not as_objects:
        spec["pandas_dtype"] = str(dtype)
    return array, spec


def _decode_frame_column(spec: Spec, raw: np.ndarray) -> Any:
    if spec["coll"] == COLL_COLUMN:  # a whole numpy column; else each cell has this spec
        return restore_dtype(raw, spec["dtype"])
    return _decode_cells(spec, raw)


def encode_table(key: str, frame: pd.DataFrame) -> tuple[np.ndarray, Spec]:
    as_objects = isinstance(frame, ObjectTable)
    if frame.shape[1] == 0:
        raise UnsupportedTypeError(key, "a TABLE needs at least one column")
    if not frame.columns.is_unique:
        raise UnsupportedTypeError(key, "a TABLE needs unique column labels")
    columns: list[tuple[str, np.ndarray]] = []
    described: list[list[Any]] = []
    for position, label in enumerate(frame.columns):
        _check_label(key, label)
        array, spec = _encode_frame_column(f"{key}[{label!r}]", frame[label], as_objects)
        if len(frame) == 0:
            spec = {"coll": COLL_EMPTY, "pandas_dtype": str(frame[label].dtype)}
        name = column_name(label, position)
        array, spec = _nonempty(array, spec)
        columns.append((name, array))
        described.append([name, label, spec])
    spec = {
        "coll": COLL_OBJECT_TABLE if as_objects else COLL_DATAFRAME,
        "columns": described,
        "columns_name": _check_label(key, frame.columns.name) if frame.columns.name else None,
    }
    spec["index"] = _encode_index(key, frame.index, columns)
    return _structured(columns, len(frame)), spec


def _encode_index(key: str, index: pd.Index, columns: list[tuple[str, np.ndarray]]) -> Any:
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return {"name": index.name} if index.name is not None else None
    if isinstance(index, pd.MultiIndex):
        raise UnsupportedTypeError(key, "a MultiIndex needs the FRAME flag")
    name = index.name
    if name is not None:
        _check_label(key, name)
    array, spec = _encode_frame_column(f"{key}.index", pd.Series(index), as_objects=False)
    columns.append((INDEX_COLUMN, array))
    return {"name": name, "spec": spec}


def decode_table(spec: Spec, raw: np.ndarray) -> pd.DataFrame:
    data: dict[Any, Any] = {}
    for name, label, colspec in spec["columns"]:
        if colspec["coll"] == COLL_EMPTY:
            data[label] = pd.Series([], dtype=colspec["pandas_dtype"])
        else:
            data[label] = _decode_frame_column(colspec, _field(raw, name, colspec))
    index = None
    index_spec = spec.get("index")
    if index_spec and "spec" in index_spec:
        values = _decode_frame_column(index_spec["spec"], raw[INDEX_COLUMN])
        index = pd.Index(values, name=index_spec["name"], tupleize_cols=False)
        if "pandas_dtype" in index_spec["spec"]:
            index = index.astype(index_spec["spec"]["pandas_dtype"])
    if spec["coll"] == COLL_OBJECT_TABLE:
        frame: pd.DataFrame = ObjectTable(data, index=index)
    else:
        frame = pd.DataFrame(data, index=index)
        for _, label, colspec in spec["columns"]:
            if "pandas_dtype" in colspec and str(frame[label].dtype) != colspec["pandas_dtype"]:
                frame[label] = frame[label].astype(colspec["pandas_dtype"])
    if index is None:
        frame.index = pd.RangeIndex(len(frame), name=index_spec["name"] if index_spec else None)
    frame.columns.name = spec["columns_name"]
    return frame


# ---------------------------------------------------------------------------------- FRAME

_FRAME_KINDS = frozenset("biufcmMO")


def _frame_dtype_ok(dtype: Any) -> bool:
    if isinstance(dtype, np.dtype):
        return dtype.kind in _FRAME_KINDS
    return isinstance(dtype, pd.StringDtype | pd.DatetimeTZDtype)


def _refuse_unreadable_text(key: str, frame: pd.DataFrame | pd.Series) -> None:
    """Text pandas can write but not read back: where pyarrow is installed its reader turns
    object text into pyarrow-backed str, which cannot hold a lone surrogate."""
    columns = [frame] if isinstance(frame, pd.Series) else [frame.iloc[:, i]
                                                            for i in range(frame.shape[1])]
    for column in columns:
        if column.dtype == object and any(map(_lone_surrogate, column)):
            raise UnsupportedTypeError(key, f"column {column.name!r} holds text with a lone "
                                       "surrogate, which pandas cannot read back from HDF5 "
                                       "where pyarrow is installed")


def _lone_surrogate(value: Any) -> bool:
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _ends_in_nul(value: Any) -> bool:
    return isinstance(value, str | bytes) and value[-1:] in ("\x00", b"\x00")


def _text(value: Any) -> str:
    """``repr`` of text, numpy's too (whose own repr and str() drop trailing NULs)."""
    return repr(value[:])  # a slice of np.str_ is a str, of np.bytes_ bytes


def _axis_loss(axis: pd.Index, what: str) -> str | None:
    """Text of an axis that pandas writes as fixed-width strings, which drop trailing NULs."""
    for name in axis.names:
        if _ends_in_nul(name):
            return f"the NUL at the end of its {what}'s name {_text(name)}"
    for level in getattr(axis, "levels", [axis]):
        if level.dtype.kind in "OSU" or isinstance(level.dtype, pd.StringDtype):
            found = next(filter(_ends_in_nul, level), None)
            if found is not None:
                return f"the NUL at the end of {_text(found)} in its {what}"
    return None


def _cells_loss(column: pd.Series, where: str, keeps_types: bool) -> str | None:
    """What of an object column's cells pandas does not give back: a numpy text scalar's
    trailing NUL (numpy pickles them at their dtype's width); with ``keeps_types`` (an
    ObjectTable's cells), the type of a cell its reader makes another."""
    cells = column.to_numpy(dtype=object)
    found = next((cell for cell in cells
                  if isinstance(cell, np.str_ | np.bytes_) and _ends_in_nul(cell)), None)
    if found is not None:
        return f"the NUL at the end of {_text(found)} {where}"
    if not keeps_types or not len(cells):
        return None
    if pd.api.types.infer_dtype(cells, skipna=True) == "string":
        # pandas 3 reads text back as its str dtype: python str, missing values NaN
        odd = next((cell for cell in cells if type(cell) not in (str, float)), None)
        if odd is not None:
            return f"the type of {odd!r} {where} (pandas reads text back as str, None as NaN)"
        return None
    # the reader makes the block a DataFrame, which infers datetimes and timedeltas
    back = pd.DataFrame(cells.reshape(-1, 1)).iloc[:, 0].astype(object)
    for cell, read in zip(cells, back, strict=True):
        if type(read) is not type(cell):
            return f"the type of {cell!r} {where} (pandas reads it back as {type(read).__name__})"
    return None


def frame_loss(frame: pd.DataFrame | pd.Series) -> str | None:
    """What pandas' HDF5 format (FRAME, SERIES) would not give back exactly, or None: text
    ending in a NUL byte in the index, the column labels, the names or numpy text cells; for
    an ObjectTable, also cells whose type its reader changes."""
    axes = [(frame.index, "index")]
    if isinstance(frame, pd.Series):
        if _ends_in_nul(frame.name):
            return f"the NUL at the end of its name {_text(frame.name)}"
        columns = [(frame, "in its values")]
    else:
        axes.append((frame.columns, "column labels"))
        columns = [(frame.iloc[:, i], f"in column {label!r}")
                   for i, label in enumerate(frame.columns)]
    for axis, what in axes:
        loss = _axis_loss(axis, what)
        if loss is not None:
            return loss
    keeps_types = isinstance(frame, ObjectTable)
    for column, where in columns:
        loss = _cells_loss(column, where, keeps_types) if column.dtype == object else None
        if loss is not None:
            return loss
    return None


def encode_frame(key: str, frame: pd.DataFrame | pd.Series) -> tuple[pd.DataFrame | pd.Series, Spec]:
    """A private copy of the frame for pandas' HDF5 writer, and what pandas does not keep."""
    dtypes = [frame.dtype] if isinstance(frame, pd.Series) else list(frame.dtypes)
    index_levels = getattr(frame.index, "levels", [frame.index])
    for dtype in [*dtypes, *(level.dtype for level in index_levels)]:
        if not _frame_dtype_ok(dtype):
            raise UnsupportedTypeError(
                key, f"pandas' HDF5 format cannot store dtype {dtype}; convert it first"
            )
    _refuse_unreadable_text(key, frame)
    if isinstance(frame, pd.Series):
        coll = COLL_SERIES
    else:
        coll = COLL_OBJECT_TABLE if isinstance(frame, ObjectTable) else COLL_DATAFRAME
    spec: Spec = {"coll": coll, "dtypes": [str(dtype) for dtype in dtypes]}
    if isinstance(frame.index, pd.RangeIndex):  # pandas' reader makes it an Index of int64
        spec["range_index"] = [frame.index.start, frame.index.stop, frame.index.step]
    return frame.copy(deep=True), spec


def decode_frame(spec: Spec, frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """Restore the dtypes pandas' reader changes (object columns of text come back as str)."""
    if "range_index" in spec:
        start, stop, step = spec["range_index"]
        frame.index = pd.RangeIndex(start, stop, step, name=frame.index.name)
    if isinstance(frame, pd.Series):
        if str(frame.dtype) != spec["dtypes"][0]:
            frame = frame.astype(spec["dtypes"][0])
        return frame
    for position, wanted in enumerate(spec["dtypes"]):
        if str(frame.dtypes.iloc[position]) != wanted:
            # a Series, not its .array: pandas re-infers an object array of text as str
            column: Any = frame.iloc[:, position].astype(wanted)
            frame.isetitem(position, column)
    if spec["coll"] == COLL_OBJECT_TABLE:
        return ObjectTable(frame)
    return frame
