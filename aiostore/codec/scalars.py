"""Scalar type names: the words written to the file that say which python or numpy type to rebuild.

Python types keep their names (``int``, ``float``, ``bool``, ``complex``, ``str``, ``bytes``);
numpy scalar types are named as pypet names them (``int64``, ``float32``, ``bool_``, ``bytes_``,
``str_``), so ``np.bool_`` never collides with ``bool`` as it does under numpy 2's own names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

PYTHON_SCALARS: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    complex: "complex",
    str: "str",
    bytes: "bytes",
}

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def scalar_type_name(value: object) -> str | None:
    """The type name of a supported scalar, or None if ``value`` is not one."""
    kind = type(value)
    name = PYTHON_SCALARS.get(kind)
    if name is not None:
        return name
    if not isinstance(value, np.generic):
        return None
    if kind is np.bool_:
        return "bool_"
    if kind is np.str_:
        return "str_"
    if kind is np.bytes_:
        return "bytes_"
    dtype = np.dtype(kind)
    if dtype.kind in "iufc":
        return dtype.name
    if dtype.kind in "Mm":
        return "datetime64" if dtype.kind == "M" else "timedelta64"
    return None


def _from_text(convert: Callable[[str], Any]) -> Callable[[Any], Any]:
    def rebuild(raw: Any) -> Any:
        return convert(bytes(raw).decode("utf-8", "surrogatepass"))  # as encoded

    return rebuild


def _python_int(raw: Any) -> int:
    if isinstance(raw, bytes | np.bytes_):  # stored as decimal text: beyond int64
        return int(bytes(raw).decode("ascii"))
    return int(raw)


_REBUILD: dict[str, Callable[[Any], Any]] = {
    "bool": bool,
    "int": _python_int,
    "float": float,
    "complex": complex,
    "str": _from_text(str),
    "bytes": bytes,
    "bool_": np.bool_,
    "str_": _from_text(np.str_),
    "bytes_": lambda raw: np.bytes_(bytes(raw)),
}


def rebuild_scalar(type_name: str, raw: Any) -> Any:
    """The scalar of type ``type_name`` from ``raw``, a numpy scalar read from the file."""
    rebuild = _REBUILD.get(type_name)
    if rebuild is not None:
        return rebuild(raw)
    if type_name in ("datetime64", "timedelta64"):
        return raw  # arrays of these are rebuilt with their exact unit before we get here
    return np.dtype(type_name).type(raw)
