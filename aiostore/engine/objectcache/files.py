"""Named objects (trees of :mod:`aiostore.codec.trees`) as HDF5 nodes, readable with plain PyTables.

A value is one node (an array, a table, or pandas' group for a frame); a pickle is a uint8 array;
a list, tuple or dict is a group of ``item_<i>`` children; ``None`` inside a container has no
node. One JSON attribute on the object's top node, ``AIOSTORE_OBJECT``, holds its name, its tag
and the description of the whole tree (kinds, codec specs, dict keys): a reader gets all it
needs from one attribute read (reading many small attributes is what costs, measured here).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import tables

from ...codec import Encoded
from ...codec.flags import Flag
from ...codec.trees import (
    MappingNode,
    Node,
    NoneNode,
    PickleNode,
    PickleRefusedError,
    SequenceNode,
    ValueNode,
)
from ...errors import FileFormatError, UnsupportedTypeError
from .. import nodes
from ..files import OpenFile

HEADER = "AIOSTORE_OBJECT"
ITEM = "item_%d"

Description = dict[str, Any]


def write_object(file: OpenFile, group: tables.Group, node_name: str, name: str, tag: str,
                 tree: Node) -> None:
    """Write object ``name`` as node ``node_name`` of ``group``, with its header."""
    if isinstance(tree, NoneNode):
        top = file.h5.create_group(group, node_name)
        description: Description = {"kind": "none"}
    else:
        description = _write(file, group, node_name, tree)
        top = group._f_get_child(node_name)
    header = json.dumps({"name": name, "tag": tag, "tree": description},
                        separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    try:
        top._v_attrs[HEADER] = header
    except Exception as exc:  # too big for the HDF5 object header (64 kB)
        raise UnsupportedTypeError(name, f"its description ({len(header)} bytes) does not fit "
                                   f"an HDF5 attribute: {type(exc).__name__}") from exc


def _write(file: OpenFile, group: tables.Group, node_name: str, tree: Node) -> Description:
    if isinstance(tree, ValueNode):
        nodes.write_value(file, group, node_name, tree.encoded, None)
        return {"kind": "value", "spec": tree.encoded.spec}
    if isinstance(tree, PickleNode):
        file.h5.create_array(group, node_name, obj=tree.payload)
        return {"kind": "pickle"}
    if isinstance(tree, NoneNode):
        return {"kind": "none"}
    container = file.h5.create_group(group, node_name)
    items = [_write(file, container, ITEM % index, item) for index, item in enumerate(tree.items)]
    if isinstance(tree, MappingNode):
        return {"kind": "dict", "keys": list(tree.keys), "items": items}
    return {"kind": tree.kind, "items": items}


def read_header(node: Any) -> dict[str, Any]:
    """The header of an object's top node: ``name``, ``tag`` and ``tree`` (its description)."""
    attrs = node._v_attrs
    if HEADER not in attrs._v_attrnamesuser:
        raise FileFormatError(f"{node._v_pathname} is not an aiostore object")
    header: dict[str, Any] = json.loads(str(attrs[HEADER]))
    return header


def read_tree(file: OpenFile, node: Any, description: Description,
              allow_pickle: bool = True) -> Node:
    """The tree written as ``node``; :class:`PickleRefusedError` for a pickle not allowed."""
    kind = description["kind"]
    if kind == "value":
        return _read_value(file, node, description["spec"], allow_pickle)
    if kind == "pickle":
        if not allow_pickle:
            raise PickleRefusedError(f"{node._v_pathname} is a pickle, and loading pickles is off")
        return PickleNode(np.asarray(node.read(), dtype=np.uint8))
    if kind == "none":
        return NoneNode()
    items = tuple(read_tree(file, _item(node, index, item), item, allow_pickle)
                  for index, item in enumerate(description["items"]))
    if kind == "dict":
        return MappingNode(tuple(description["keys"]), items)
    if kind in ("list", "tuple"):
        return SequenceNode(kind, items)
    raise FileFormatError(f"{node._v_pathname}: unknown object kind {kind!r}")


def _item(group: Any, index: int, description: Description) -> Any:
    return None if description["kind"] == "none" else group._f_get_child(ITEM % index)


def _read_value(file: OpenFile, node: Any, spec: dict[str, Any], allow_pickle: bool) -> ValueNode:
    flag = Flag(spec["flag"])
    if flag in (Flag.FRAME, Flag.SERIES):
        if not allow_pickle and _holds_pickles(node):
            raise PickleRefusedError(f"{node._v_pathname} is a frame with object columns, which "
                                     "pandas pickles, and loading pickles is off")
        raw = file.store.get(node._v_pathname)
    else:
        raw = node.read()
    return ValueNode(Encoded(flag, raw, spec))


def _holds_pickles(group: tables.Group) -> bool:
    return any(isinstance(leaf, tables.VLArray) and isinstance(leaf.atom, tables.ObjectAtom)
               for leaf in group._f_walknodes("Leaf"))
