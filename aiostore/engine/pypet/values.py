"""The values of leaves written by pypet 0.6: each data node read back as pypet reads it.

pypet writes one HDF5 node per data key, marked ``SRVC_STORE`` (ARRAY, CARRAY, EARRAY, VLARRAY,
TABLE, DICT, FRAME, SERIES, NESTED_GROUP, SHARED_DATA_...), and records the python type to give
back in ``SRVC_DATA_COLL_TYPE`` / ``SRVC_DATA_SCALAR_TYPE`` (per column of a table:
``SRVC_COLUMN_<col>_COLL_TYPE`` / ``..._SCALAR_TYPE``). See /work/shared/reference and
docs/FORMAT.md. pypet compares a type's ``__name__`` with the recorded name, which numpy 2 broke
(``np.bool_.__name__`` is ``'bool'`` there); here every value is converted to the recorded type
by an explicit table of names instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import tables

from ...codec.colls import COLL_EMPTY_DICT, COLL_LIST, COLL_MATRIX, COLL_SCALAR, COLL_TUPLE
from ...errors import FileFormatError, UnsupportedFeatureError
from ...model import ObjectTable

STORE = "SRVC_STORE"
DATA_PREFIX = "SRVC_DATA_"
COLL_TYPE = "COLL_TYPE"
SCALAR_TYPE = "SCALAR_TYPE"
SPLIT_TABLE = "SPLIT_TABLE"
NESTED_GROUP = "NESTED_GROUP"
SHARED_DATA = "SHARED_DATA_"
EMPTY_ARRAY_FIX = "PTCOMPAT__empty__dtype"  # arrays written by PyTables 2


def _decoder(encoding: str) -> Callable[[Any], str]:
    def decode(raw: Any) -> str:
        return raw if isinstance(raw, str) else bytes(raw).decode(encoding)

    return decode


# pypet's PARAMETERTYPEDICT (numpy 1.26): recorded name -> what rebuilds the value
_NUMPY_NAMES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128")
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": bool, "int": int, "float": float, "complex": complex, "bytes": bytes,
    "bool_": np.bool_, "bytes_": lambda raw: np.bytes_(bytes(raw)),
    **{name: np.dtype(name).type for name in _NUMPY_NAMES},
}


def _type_name(recorded: str) -> str:
    """Old pypet files record ``"<type 'numpy.int64'>"``: the name, as new files record it."""
    if recorded.startswith(("<type '", "<class '")) and recorded.endswith("'>"):
        return recorded.split("'")[1].rsplit(".", 1)[-1]
    return recorded


class Reader:
    """Reads pypet data nodes of one trajectory (its strings in ``encoding``)."""

    def __init__(self, store: pd.HDFStore, encoding: str = "utf8") -> None:
        self.store = store
        self.encoding = encoding
        self._decode = _decoder(encoding)

    # -- type recall -------------------------------------------------------------------------

    def converter(self, where: str, recorded: str | None) -> Callable[[Any], Any] | None:
        if recorded is None:
            return None
        name = _type_name(recorded)
        if name == "str":
            return self._decode
        convert = _CONVERTERS.get(name)
        if convert is None:
            raise UnsupportedFeatureError(where, f"the scalar type {recorded!r}")
        return convert

    def recall(self, where: str, data: Any, coll: str | None, recorded: str | None) -> Any:
        """``data`` as the type pypet recorded for it (as pypet's loader gives it back)."""
        convert = self.converter(where, recorded)
        if coll == COLL_SCALAR:
            if isinstance(data, np.ndarray):
                data = data[()] if data.ndim == 0 else data.reshape(-1)[0]
            return convert(data) if convert is not None else data
        if coll in (COLL_LIST, COLL_TUPLE):
            items = list(data)
            if convert is not None:
                items = [convert(item) for item in items]
            return tuple(items) if coll == COLL_TUPLE else items
        if coll == COLL_EMPTY_DICT:
            return {}
        if isinstance(data, np.ndarray):
            if recorded == "str":
                data = np.char.decode(data, self.encoding)
            if coll == COLL_MATRIX:
                data = np.asmatrix(data)
        return data

    # -- nodes -------------------------------------------------------------------------------

    def read_node(self, node: Any, flag: str | None = None) -> Any:
        """The value of one data node (``flag`` overrides its ``SRVC_STORE``)."""
        where = node._v_pathname
        flag = flag or attr(node, STORE)
        if flag in ("ARRAY", "CARRAY", "EARRAY", "VLARRAY"):
            return self.recall(where, _read_array(node), attr(node, DATA_PREFIX + COLL_TYPE),
                               attr(node, DATA_PREFIX + SCALAR_TYPE))
        if flag == "TABLE":
            return self.read_table(node)
        if flag == "DICT":
            table = self.read_table(node)
            return {label: table[label].iloc[0] for label in table.columns}
        if flag in ("FRAME", "SERIES"):
            return _object_text(self.store.get(where))
        if flag and flag.startswith(SHARED_DATA):
            raise UnsupportedFeatureError(where, "shared data (pypet's SharedTable/SharedArray)")
        raise UnsupportedFeatureError(where, f"the storage flag {flag!r}")

    def read_table(self, node: Any) -> ObjectTable:
        """A TABLE or DICT node as pypet gives it back: an ObjectTable, column by column."""
        where = node._v_pathname
        if isinstance(node, tables.Group):
            if not attr(node, SPLIT_TABLE):
                raise UnsupportedFeatureError(where, "a table stored as a group")
            return self._read_split_table(node)
        return self._columns(where, node, lambda col, suffix: attr(node, f"SRVC_COLUMN_{col}_"
                                                                       + suffix))

    def _columns(self, where: str, table: tables.Table,
                 recorded: Callable[[str, str], str | None]) -> ObjectTable:
        columns: dict[str, list[Any]] = {}
        rows = table.read()  # once: a column at a time costs a read of the table each
        for name in table.colnames:
            coll, scalar = recorded(name, COLL_TYPE), recorded(name, SCALAR_TYPE)
            cells = list(rows[name])
            columns[name] = [self.recall(f"{where}/{name}", cell, coll, scalar) for cell in cells]
        return ObjectTable(columns)

    def _read_split_table(self, group: tables.Group) -> ObjectTable:
        """A table of more than 512 columns, which pypet splits into tables of 512 columns."""
        types_name = f"{group._v_name}__{STORE}"
        if types_name not in group._v_children:
            raise FileFormatError(f"{group._v_pathname}: a split table without {types_name}")
        types = group._f_get_child(types_name).read()
        recorded = {_text(row["field_name"]): _text(row["data_type"]) for row in types}
        parts = [group._f_get_child(name) for name in sorted(group._v_children)
                 if name != types_name]
        frames = [self._columns(part._v_pathname, part,
                                lambda col, suffix: recorded.get(f"SRVC_COLUMN_{col}_{suffix}"))
                  for part in parts]
        return ObjectTable(pd.concat(frames, axis=1)) if frames else ObjectTable()


def attr(node: Any, name: str) -> Any:
    """A user attribute of ``node`` (str for text), or None."""
    attrs = node._v_attrs
    if name not in attrs._v_attrnamesuser:
        return None
    value = attrs[name]
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.str_):
        return str(value)
    return value


def _text(raw: Any) -> str:
    return bytes(raw).decode("utf-8")


def _read_array(node: Any) -> Any:
    data = node.read()
    if (EMPTY_ARRAY_FIX in node._v_attrs._v_attrnamesuser and isinstance(data, np.ndarray)
            and data.shape == (1,) and data[0] == 0):
        dtype = node._v_attrs[EMPTY_ARRAY_FIX]
        return np.array([], dtype=None if dtype == 0 else np.dtype(dtype))
    return data


def _object_text(value: Any) -> Any:
    """pandas 3 reads the text columns pandas 2 wrote (object) as its ``str`` dtype: back to
    object, as they were stored and as pypet gives them back. Axis labels stay as pandas 3
    reads them (``str``), as a DataFrame made under pandas 3 has them."""
    if isinstance(value, pd.DataFrame):
        for position, dtype in enumerate(value.dtypes):
            if _is_text(dtype):
                value.isetitem(position, value.iloc[:, position].to_numpy(dtype=object))
    elif isinstance(value, pd.Series) and _is_text(value.dtype):
        value = value.astype(object)
    return value


def _is_text(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or dtype == "str"
