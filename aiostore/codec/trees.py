"""Any python object as a tree of encoded values, for caches that keep objects by name.

A value the codec stores exactly becomes one :class:`ValueNode`; a list or tuple it cannot store
as one array (ragged arrays, mixed types) becomes a :class:`SequenceNode` of its items; a dict
with str keys a :class:`MappingNode`; ``None`` a :class:`NoneNode`; anything else that pickles a
:class:`PickleNode` (the pickle's bytes as a uint8 array), so only those need trust to load.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..errors import FileFormatError, UnsupportedTypeError
from . import Encoded, decode, encode

__all__ = [
    "MappingNode",
    "Node",
    "NoneNode",
    "PickleNode",
    "PickleRefusedError",
    "SequenceNode",
    "ValueNode",
    "decode_tree",
    "encode_tree",
]


@dataclass(frozen=True, slots=True)
class ValueNode:
    """A value the codec stores exactly."""

    encoded: Encoded

    @property
    def nbytes(self) -> int:
        return self.encoded.nbytes


@dataclass(frozen=True, slots=True)
class NoneNode:
    nbytes = 0


@dataclass(frozen=True, slots=True)
class SequenceNode:
    """A list or tuple, item by item."""

    kind: Literal["list", "tuple"]
    items: tuple[Node, ...]

    @property
    def nbytes(self) -> int:
        return sum(item.nbytes for item in self.items)


@dataclass(frozen=True, slots=True)
class MappingNode:
    """A dict with str keys, item by item, in the dict's order."""

    keys: tuple[str, ...]
    items: tuple[Node, ...]

    @property
    def nbytes(self) -> int:
        return sum(item.nbytes for item in self.items)


@dataclass(frozen=True, slots=True)
class PickleNode:
    """A pickled object: its bytes as a uint8 array."""

    payload: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.payload.nbytes)


Node = ValueNode | NoneNode | SequenceNode | MappingNode | PickleNode


class PickleRefusedError(FileFormatError):
    """A pickled object was found where loading pickles is switched off."""


def encode_tree(key: str, value: Any) -> Node:
    """``value`` as a tree; raises :class:`UnsupportedTypeError` if part of it cannot pickle."""
    if value is None:
        return NoneNode()
    try:
        return ValueNode(encode(key, value))
    except UnsupportedTypeError:
        pass
    if type(value) in (list, tuple):
        kind: Literal["list", "tuple"] = "list" if type(value) is list else "tuple"
        return SequenceNode(kind, tuple(encode_tree(f"{key}[{i}]", item)
                                        for i, item in enumerate(value)))
    if type(value) is dict and all(type(name) is str for name in value):
        return MappingNode(tuple(value), tuple(encode_tree(f"{key}[{name!r}]", item)
                                               for name, item in value.items()))
    return _pickled(key, value)


def _pickled(key: str, value: Any) -> PickleNode:
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnsupportedTypeError(key, f"not storable natively and not picklable: {exc}") from exc
    return PickleNode(np.frombuffer(data, dtype=np.uint8).copy())


def decode_tree(key: str, node: Node, allow_pickle: bool = True) -> Any:
    """The value of a tree read back; :class:`PickleRefusedError` for a pickle not allowed."""
    if isinstance(node, ValueNode):
        return decode(node.encoded.spec, node.encoded.payload)
    if isinstance(node, NoneNode):
        return None
    if isinstance(node, SequenceNode):
        items = [decode_tree(f"{key}[{i}]", item, allow_pickle) for i, item in enumerate(node.items)]
        return items if node.kind == "list" else tuple(items)
    if isinstance(node, MappingNode):
        return {name: decode_tree(f"{key}[{name!r}]", item, allow_pickle)
                for name, item in zip(node.keys, node.items, strict=True)}
    if not allow_pickle:
        raise PickleRefusedError(f"{key!r} is pickled, and loading pickles is switched off")
    return pickle.loads(node.payload.tobytes())
