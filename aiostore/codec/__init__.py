"""The type-preserving codec: a python value <-> a storable payload plus a JSON-able spec.

This module knows numpy and pandas, never PyTables: the engine writes the payload and the spec,
and hands both back to :func:`decode` when loading.

Flags inferred from the data (``TYPE_FLAG_MAPPING``; a flag given per key overrides it):

=============================================================  ======================
value                                                           flag
=============================================================  ======================
``ObjectTable``                                                 TABLE
``pandas.DataFrame``                                            FRAME
``pandas.Series``                                               SERIES
non-empty ``dict``                                              DICT
``numpy.ndarray`` / ``numpy.matrix`` (at least 1-d, not empty)  CARRAY
empty or 0-d arrays, scalars, ``list``, ``tuple``, ``{}``       ARRAY
=============================================================  ======================

Which flags a value accepts: ARRAY and CARRAY take scalars, lists, tuples and arrays (CARRAY
falls back to ARRAY for 0-d and empty arrays, which HDF5 cannot chunk); DICT takes dicts; TABLE
takes ObjectTables and DataFrames; FRAME takes DataFrames (ObjectTables too); SERIES takes Series.
A FRAME that pandas' HDF5 format would not give back exactly (text ending in a NUL byte in its
index, labels or numpy text cells; an ObjectTable's cells that its reader makes other types) is
stored as a TABLE; such a SERIES, or a frame no TABLE holds (a MultiIndex), is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from ..errors import UnsupportedTypeError
from ..model import ObjectTable
from .arrays import Spec, decode_array_value, encode_array_value
from .colls import (
    COLL_DATAFRAME,
    COLL_DICT,
    COLL_EMPTY_DICT,
    COLL_LIST,
    COLL_MATRIX,
    COLL_NDARRAY,
    COLL_OBJECT_TABLE,
    COLL_SCALAR,
    COLL_SERIES,
    COLL_TUPLE,
)
from .flags import Flag
from .tables import (
    decode_dict,
    decode_frame,
    decode_table,
    encode_dict,
    encode_frame,
    encode_table,
    frame_loss,
)

__all__ = ["TYPE_FLAG_MAPPING", "Encoded", "Spec", "decode", "encode", "infer_flag", "type_name",
           "value_nbytes"]

TYPE_FLAG_MAPPING: dict[type, Flag] = {
    ObjectTable: Flag.TABLE,
    pd.DataFrame: Flag.FRAME,
    pd.Series: Flag.SERIES,
    dict: Flag.DICT,
    np.ndarray: Flag.CARRAY,
    np.matrix: Flag.CARRAY,
    list: Flag.ARRAY,
    tuple: Flag.ARRAY,
}


@dataclass(frozen=True, slots=True)
class Encoded:
    """One value ready to write: how (``flag``), what (``payload``) and how to rebuild (``spec``).

    ``payload`` is a numpy array (ARRAY, CARRAY), a structured array (DICT, TABLE) or a private
    copy of a DataFrame or Series (FRAME, SERIES); it shares no memory with the caller's value.
    """

    flag: Flag
    payload: Any
    spec: Spec

    def __reduce__(self) -> tuple[Any, ...]:
        # The journal pickles every store: a small array as its dtype, shape and bytes pickles
        # several times faster than numpy's own way; a big one travels out of band, uncopied.
        payload = self.payload
        if (type(payload) is np.ndarray and payload.nbytes < SMALL_PAYLOAD_BYTES
                and not payload.dtype.hasobject):
            return _small_encoded, (self.flag.value, payload.dtype, payload.shape,
                                    payload.tobytes(), self.spec)
        return Encoded, (self.flag, payload, self.spec)

    @property
    def nbytes(self) -> int:
        if isinstance(self.payload, np.ndarray):
            return int(self.payload.nbytes)
        return int(np.sum(self.payload.memory_usage(deep=True)))


SMALL_PAYLOAD_BYTES = 2**14


def _small_encoded(flag: str, dtype: np.dtype, shape: tuple[int, ...], data: bytes,
                   spec: Spec) -> Encoded:
    """An :class:`Encoded` unpickled from its payload's bytes (see ``Encoded.__reduce__``)."""
    payload = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return Encoded(Flag(flag), payload, spec)


def infer_flag(value: object) -> Flag:
    """The flag a value is stored with when none is given."""
    if type(value) is np.ndarray:  # the commonest, said without numpy's python functions
        return Flag.CARRAY if value.ndim and value.size else Flag.ARRAY
    for kind in type(value).__mro__:
        flag = TYPE_FLAG_MAPPING.get(kind)
        if flag is None:
            continue
        if flag is Flag.CARRAY and (np.ndim(value) == 0 or np.size(value) == 0):  # type: ignore[arg-type]
            return Flag.ARRAY
        if flag is Flag.DICT and not value:
            return Flag.ARRAY
        return flag
    return Flag.ARRAY


def _encode_array(key: str, value: Any, flag: Flag) -> Encoded:
    encoded = encode_array_value(key, value)
    if encoded is None:
        raise UnsupportedTypeError(key, _unsupported(value, flag))
    payload, spec = encoded
    if flag is Flag.CARRAY and (payload.ndim == 0 or payload.size == 0):
        flag = Flag.ARRAY  # HDF5 cannot chunk a 0-d or empty dataset
    return Encoded(flag, payload, spec)


def _encode_dict(key: str, value: Any, flag: Flag) -> Encoded:
    if type(value) is not dict:
        raise UnsupportedTypeError(key, _unsupported(value, flag))
    if not value:
        return _encode_array(key, value, Flag.ARRAY)
    payload, spec = encode_dict(key, value)
    return Encoded(flag, payload, spec)


def _encode_table(key: str, value: Any, flag: Flag) -> Encoded:
    if not isinstance(value, pd.DataFrame):
        raise UnsupportedTypeError(key, _unsupported(value, flag))
    payload, spec = encode_table(key, value)
    return Encoded(flag, payload, spec)


def _encode_frame(key: str, value: Any, flag: Flag) -> Encoded:
    """pandas' HDF5 format, or a TABLE where pandas would not give the value back exactly."""
    wanted = pd.Series if flag is Flag.SERIES else pd.DataFrame
    if not isinstance(value, wanted):
        raise UnsupportedTypeError(key, _unsupported(value, flag))
    frame = cast("pd.DataFrame | pd.Series", value)
    loss = frame_loss(frame)
    if loss is None:
        payload, spec = encode_frame(key, frame)
        return Encoded(flag, payload, spec)
    if isinstance(frame, pd.Series):
        raise UnsupportedTypeError(key, f"pandas' HDF5 format would lose {loss}; store it as "
                                   "a DataFrame (which is then stored as a TABLE)")
    if isinstance(frame.index, pd.MultiIndex):
        raise UnsupportedTypeError(key, f"pandas' HDF5 format would lose {loss}, and a TABLE, "
                                   "which would not, holds no MultiIndex")
    try:
        return _encode_table(key, frame, Flag.TABLE)
    except UnsupportedTypeError as exc:
        raise UnsupportedTypeError(key, f"pandas' HDF5 format would lose {loss}, and a TABLE, "
                                   f"which would not, cannot hold it: {exc.reason}") from exc


_ENCODERS = {
    Flag.ARRAY: _encode_array,
    Flag.CARRAY: _encode_array,
    Flag.DICT: _encode_dict,
    Flag.TABLE: _encode_table,
    Flag.FRAME: _encode_frame,
    Flag.SERIES: _encode_frame,
}


_FLAG_TAKES = {
    Flag.ARRAY: "python and numpy scalars, text, bytes, lists and tuples of one type, arrays",
    Flag.CARRAY: "arrays, and what ARRAY takes",
    Flag.DICT: "dicts of str keys",
    Flag.TABLE: "ObjectTables and DataFrames",
    Flag.FRAME: "DataFrames",
    Flag.SERIES: "Series",
}


def _unsupported(value: object, flag: Flag) -> str:
    return (f"type {type(value).__module__}.{type(value).__qualname__} cannot be stored as "
            f"{flag}, which takes {_FLAG_TAKES[flag]}: convert it to one of those first")


def encode(key: str, value: Any, flag: Flag | str | None = None) -> Encoded:
    """Encode ``value`` (stored under ``key``) with ``flag``, or the flag inferred from it.

    Raises :class:`~aiostore.errors.UnsupportedTypeError` naming ``key`` for anything that would
    not come back exactly.
    """
    if flag is None:
        chosen = infer_flag(value)
    else:
        try:
            chosen = Flag(flag)
        except ValueError:
            raise UnsupportedTypeError(key, f"unknown storage flag {flag!r}") from None
    encoded = _ENCODERS[chosen](key, value, chosen)
    encoded.spec["flag"] = encoded.flag.value
    return encoded


def value_nbytes(value: Any) -> int:
    """About how many bytes encoding ``value`` copies: an array's, a str's or bytes' length,
    what an ``nbytes`` attribute says; 0 for numbers and dicts (whose values are not counted:
    numbers, most often). Cheap: it decides whether a snapshot is made in a worker thread."""
    kind = type(value)
    if kind is np.ndarray:
        return int(value.nbytes)
    if kind is float or kind is int or kind is bool or kind is dict:
        return 0
    if isinstance(value, str | bytes):
        return len(value)
    nbytes = getattr(value, "nbytes", 0)
    return nbytes if isinstance(nbytes, int) else 0


def decode(spec: Spec, raw: Any) -> Any:
    """Rebuild a value from what the engine read (``raw``) and the spec written beside it."""
    flag = Flag(spec["flag"])
    if flag in (Flag.ARRAY, Flag.CARRAY):
        return decode_array_value(spec, raw)
    if flag is Flag.DICT:
        return decode_dict(spec, raw)
    if flag is Flag.TABLE:
        return decode_table(spec, raw)
    return decode_frame(spec, raw)


_COLLECTION_NAMES = {
    COLL_NDARRAY: "ndarray",
    COLL_MATRIX: "matrix",
    COLL_DICT: "dict",
    COLL_EMPTY_DICT: "dict",
    COLL_OBJECT_TABLE: "ObjectTable",
    COLL_DATAFRAME: "DataFrame",
    COLL_SERIES: "Series",
}


def type_name(spec: Spec) -> str:
    """The name of the type a spec rebuilds: ``float``, ``int64``, ``list[str]``, ``tuple[int]``,
    ``ndarray``, ``dict``, ``DataFrame``... (the scalar names are those of docs/FORMAT.md)."""
    coll = str(spec.get("coll", ""))
    if coll == COLL_SCALAR:
        return str(spec.get("type", "?"))
    if coll in (COLL_LIST, COLL_TUPLE):
        container = "list" if coll == COLL_LIST else "tuple"
        element = spec.get("type", "empty")
        return container if element == "empty" else f"{container}[{element}]"
    return _COLLECTION_NAMES.get(coll, coll.removeprefix("COLL_").lower() or "?")


def dumps_specs(specs: dict[str, Spec]) -> str:
    """The specs of a leaf as the compact JSON text written to its ``SRVC_LEAF`` attribute."""
    return json.dumps(specs, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def loads_specs(text: str | bytes) -> dict[str, Spec]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    specs: dict[str, Spec] = json.loads(text)
    return specs
