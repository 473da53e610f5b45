"""Scalars, homogeneous lists and tuples, and numpy arrays <-> one storable numpy array plus a spec.

A spec is a small JSON-able dict that says how to rebuild the exact value:
``coll`` (pypet's collection kinds: COLL_SCALAR, COLL_LIST, COLL_TUPLE, COLL_NDARRAY,
COLL_MATRIX, COLL_EMPTY_DICT), ``type`` (the scalar type name of the value or of the elements),
``dtype`` (the numpy dtype to restore, for arrays) and ``nul`` (text stored with an end marker).

Text is stored as UTF-8 in fixed-width byte strings, readable by any HDF5 tool. numpy's byte
strings drop trailing NUL bytes, which would silently change ``b"ab\\x00"`` (a pypet defect); when
any text of a node ends with NUL, every text of that node gets one marker byte appended instead,
and the spec says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UnsupportedTypeError
from .colls import COLL_EMPTY_DICT, COLL_LIST, COLL_MATRIX, COLL_NDARRAY, COLL_SCALAR, COLL_TUPLE
from .scalars import INT64_MAX, INT64_MIN, rebuild_scalar, scalar_type_name

Spec = dict[str, Any]

TEXT_TYPES = frozenset({"str", "bytes", "str_", "bytes_"})
NUL_MARKER = b"\x01"
_PLAIN_LIST_TYPES = frozenset({"int", "float", "bool", "complex"})
_STORABLE_KINDS = frozenset("biufcSUMm")


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, str):  # np.str_ too
        return value.encode("utf-8", "surrogatepass")
    return bytes(value)


def _text_array(key: str, texts: Sequence[Any], spec: Spec) -> np.ndarray:
    raw = [_to_bytes(text) for text in texts]
    if any(item.endswith(b"\x00") for item in raw):
        raw = [item + NUL_MARKER for item in raw]
        spec["nul"] = True
    width = max((len(item) for item in raw), default=1) or 1
    return array_in_blocks(raw, f"S{width}")


def _int_array(values: Sequence[int]) -> np.ndarray:
    if all(INT64_MIN <= v <= INT64_MAX for v in values):
        return array_in_blocks(values, np.int64)
    # beyond int64: exact decimal text rather than pypet's silent overflow
    return np.array([str(v).encode("ascii") for v in values])


BLOCK_ITEMS = 65_536


def array_in_blocks(items: Sequence[Any], dtype: Any = None) -> np.ndarray:
    """``np.array(items, dtype)``, a block of items at a time: numpy converts a list in one
    call that holds the GIL, and an explored range of a million floats held it (and an event
    loop waiting for it) for 50 ms. The items are of one type, so the blocks are of one dtype."""
    if len(items) <= BLOCK_ITEMS:
        return np.array(items, dtype=dtype)
    return np.concatenate([np.array(items[start:start + BLOCK_ITEMS], dtype=dtype)
                           for start in range(0, len(items), BLOCK_ITEMS)])


def storable(key: str, array: np.ndarray) -> np.ndarray:
    """A copy of ``array`` in a dtype HDF5 stores natively (the original dtype goes in the spec)."""
    kind = array.dtype.kind
    if kind not in _STORABLE_KINDS:
        raise UnsupportedTypeError(key, f"numpy arrays of dtype {array.dtype} are not supported")
    if kind == "U":
        if array.size == 0:
            return np.zeros(array.shape, dtype="S1")
        return np.char.encode(array, "utf-8", "surrogatepass")
    if kind in "Mm":
        return array.astype(array.dtype.newbyteorder("=")).view(np.int64)
    return np.array(array, copy=True, order="C")


def restore_dtype(raw: np.ndarray, dtype_str: str) -> np.ndarray:
    """Undo :func:`storable`: the array with exactly the dtype it had when stored."""
    dtype = np.dtype(dtype_str)
    if dtype.kind == "U":
        if raw.size == 0:
            return np.zeros(raw.shape, dtype=dtype)
        return np.char.decode(raw, "utf-8", "surrogatepass").astype(dtype)
    if dtype.kind in "Mm":
        return raw.view(dtype.newbyteorder("=")).astype(dtype)
    if raw.dtype != dtype:
        return raw.astype(dtype)
    return raw


def encode_scalar(key: str, value: Any, type_name: str) -> tuple[np.ndarray, Spec]:
    spec: Spec = {"coll": COLL_SCALAR, "type": type_name}
    if type_name in TEXT_TYPES:
        return _text_array(key, [value], spec)[0:1].reshape(()), spec
    if type_name == "int":
        if INT64_MIN <= value <= INT64_MAX:
            return np.array(value, dtype=np.int64), spec
        return _int_array([value]).reshape(()), spec
    array = np.array(value)  # a new array: no copy needed for numbers
    if array.dtype.kind in "Mm":
        spec["dtype"] = array.dtype.str
        return storable(key, array), spec
    return array, spec


def encode_ndarray(key: str, array: np.ndarray) -> tuple[np.ndarray, Spec]:
    coll = COLL_MATRIX if isinstance(array, np.matrix) else COLL_NDARRAY
    if type(array) not in (np.ndarray, np.matrix):
        raise UnsupportedTypeError(key, f"array subclass {type(array).__name__} is not supported")
    plain = np.asarray(array)
    return storable(key, plain), {"coll": coll, "dtype": plain.dtype.str}


def _element_type(key: str, items: Sequence[Any]) -> str:
    names = {_element_name(item) for item in items}
    if None in names:
        bad = next(item for item in items if _element_name(item) is None)
        raise UnsupportedTypeError(
            key, f"lists and tuples may hold scalars or arrays, not {type(bad).__name__}"
        )
    if len(names) > 1:
        raise UnsupportedTypeError(
            key, f"lists and tuples must be homogeneous, found types {sorted(map(str, names))}"
        )
    return names.pop()  # type: ignore[return-value]


def _element_name(item: Any) -> str | None:
    if type(item) is np.ndarray:
        return "ndarray"
    return scalar_type_name(item)


def _stack_arrays(key: str, items: Sequence[np.ndarray], spec: Spec) -> np.ndarray:
    first = items[0]
    if any(item.shape != first.shape or item.dtype != first.dtype for item in items):
        raise UnsupportedTypeError(key, "arrays in a list or tuple must share shape and dtype")
    spec["dtype"] = first.dtype.str
    return storable(key, np.stack(items))


def encode_sequence(key: str, items: list[Any] | tuple[Any, ...]) -> tuple[np.ndarray, Spec]:
    spec: Spec = {"coll": COLL_TUPLE if isinstance(items, tuple) else COLL_LIST}
    if not items:
        spec["type"] = "empty"
        return np.zeros(0), spec
    type_name = spec["type"] = _element_type(key, items)
    if type_name == "ndarray":
        return _stack_arrays(key, items, spec), spec
    if type_name in TEXT_TYPES:
        return _text_array(key, items, spec), spec
    if type_name == "int":
        return _int_array(items), spec
    array = array_in_blocks(items)
    if array.dtype.kind in "Mm":
        if len({item.dtype for item in items}) > 1:
            raise UnsupportedTypeError(key, "datetime64 values in a list must share their unit")
        spec["dtype"] = array.dtype.str
    return storable(key, array), spec


def _strip_marker(raw: Any, spec: Spec) -> Any:
    return bytes(raw)[: -len(NUL_MARKER)] if spec.get("nul") else raw


def decode_scalar(spec: Spec, raw: np.ndarray) -> Any:
    if "dtype" in spec:
        return restore_dtype(raw, spec["dtype"])[()]
    return rebuild_scalar(spec["type"], _strip_marker(raw[()], spec))


def decode_sequence(spec: Spec, raw: np.ndarray) -> list[Any] | tuple[Any, ...]:
    type_name = spec["type"]
    items: list[Any]
    if type_name == "empty":
        items = []
    elif type_name == "ndarray":
        restored = restore_dtype(raw, spec["dtype"])
        items = [restored[i, ...] for i in range(len(restored))]
    elif "dtype" in spec:
        items = list(restore_dtype(raw, spec["dtype"]))
    elif type_name in _PLAIN_LIST_TYPES and raw.dtype.kind != "S":
        items = raw.tolist()
    elif type_name == raw.dtype.name:
        items = list(raw)
    else:
        items = [rebuild_scalar(type_name, _strip_marker(item, spec)) for item in raw]
    return tuple(items) if spec["coll"] == COLL_TUPLE else items


def decode_ndarray(spec: Spec, raw: np.ndarray) -> np.ndarray:
    array = restore_dtype(raw, spec["dtype"])
    return np.asmatrix(array) if spec["coll"] == COLL_MATRIX else array


def encode_array_value(key: str, value: Any) -> tuple[np.ndarray, Spec] | None:
    """Encode a scalar, list, tuple, ndarray or empty dict; None for anything else."""
    if isinstance(value, np.ndarray):
        return encode_ndarray(key, value)
    if type(value) in (list, tuple):
        return encode_sequence(key, value)
    if type(value) is dict and not value:
        return np.zeros(0), {"coll": COLL_EMPTY_DICT}
    type_name = scalar_type_name(value)
    if type_name is None:
        return None
    return encode_scalar(key, value, type_name)


_DECODERS = {
    COLL_SCALAR: decode_scalar,
    COLL_LIST: decode_sequence,
    COLL_TUPLE: decode_sequence,
    COLL_NDARRAY: decode_ndarray,
    COLL_MATRIX: decode_ndarray,
    COLL_EMPTY_DICT: lambda spec, raw: {},
}


def decode_array_value(spec: Spec, raw: np.ndarray) -> Any:
    """Rebuild the value :func:`encode_array_value` encoded as ``raw`` and ``spec``."""
    return _DECODERS[spec["coll"]](spec, raw)
