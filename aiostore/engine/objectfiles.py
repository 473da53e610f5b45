"""Object trees (:mod:`aiostore.codec.trees`) as HDF5 nodes, readable with plain PyTables.

A value is one node (an array, a table, or pandas' group for a frame) carrying its codec spec;
a list, tuple or dict is a group of ``item_<i>`` children; a pickle is a uint8 array. The
``AIOSTORE_KIND`` attribute of each node says which.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import tables

from ..codec import Encoded, dumps_specs, loads_specs
from ..codec.trees import (
    MappingNode,
    Node,
    NoneNode,
    PickleNode,
    PickleRefusedError,
    SequenceNode,
    ValueNode,
)
from ..errors import FileFormatError
from ..messages import Flag
from . import nodes
from .files import OpenFile

KIND = "AIOSTORE_KIND"
SPEC = "AIOSTORE_SPEC"
KEYS = "AIOSTORE_KEYS"
ITEM = "item_%d"


def write_tree(file: OpenFile, group: tables.Group, name: str, tree: Node,
               filters: tables.Filters | None = None) -> Any:
    """Write ``tree`` as node ``name`` of ``group``; returns the node."""
    h5 = file.h5
    if isinstance(tree, ValueNode):
        nodes.write_value(file, group, name, tree.encoded, filters)
        node = group._f_get_child(name)
        node._v_attrs[SPEC] = dumps_specs({"": tree.encoded.spec})
        kind = "value"
    elif isinstance(tree, PickleNode):
        node = h5.create_array(group, name, obj=tree.payload)
        kind = "pickle"
    else:
        node = h5.create_group(group, name)
        kind = _write_children(file, node, tree, filters)
    node._v_attrs[KIND] = kind
    return node


def _write_children(file: OpenFile, group: tables.Group, tree: Node,
                    filters: tables.Filters | None) -> str:
    if isinstance(tree, NoneNode):
        return "none"
    assert isinstance(tree, SequenceNode | MappingNode)
    for index, item in enumerate(tree.items):
        write_tree(file, group, ITEM % index, item, filters)
    if isinstance(tree, MappingNode):
        group._v_attrs[KEYS] = json.dumps(list(tree.keys), ensure_ascii=True)
        return "dict"
    return tree.kind


def read_tree(file: OpenFile, node: Any, allow_pickle: bool = True) -> Node:
    """The tree written as ``node``; :class:`PickleRefusedError` for a pickle not allowed."""
    attrs = node._v_attrs
    kind = str(attrs[KIND]) if KIND in attrs._v_attrnamesuser else ""
    if kind == "value":
        return _read_value(file, node, allow_pickle)
    if kind == "pickle":
        if not allow_pickle:
            raise PickleRefusedError(f"{node._v_pathname} is a pickle, and loading pickles is off")
        return PickleNode(np.asarray(node.read(), dtype=np.uint8))
    if kind == "none":
        return NoneNode()
    if kind in ("list", "tuple", "dict"):
        items = tuple(read_tree(file, node._f_get_child(ITEM % index), allow_pickle)
                      for index in range(len(node._v_children)))
        if kind == "dict":
            return MappingNode(tuple(json.loads(str(attrs[KEYS]))), items)
        return SequenceNode(kind, items)  # type: ignore[arg-type]
    raise FileFormatError(f"{node._v_pathname} is not an aiostore object (kind {kind!r})")


def _read_value(file: OpenFile, node: Any, allow_pickle: bool) -> ValueNode:
    spec = loads_specs(node._v_attrs[SPEC])[""]
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
