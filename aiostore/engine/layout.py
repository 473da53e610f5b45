"""Where things are in the file and the attributes that mark them (see docs/FORMAT.md)."""

from __future__ import annotations

from typing import Any

import tables

from ..codec import Spec, loads_specs
from ..requests import Path

CLASS_NAME = "SRVC_INIT_CLASS_NAME"
COMMENT = "SRVC_INIT_COMMENT"
LEAF = "SRVC_LEAF"
TIMESTAMP = "SRVC_TIMESTAMP"
TIME = "SRVC_TIME"
FORMAT = "SRVC_FORMAT"
SHARED = "SRVC_SHARED"  # a leaf's shared data, see aiostore.engine.shared
FORMAT_VERSION = "aiostore-1"
TRAJECTORY_CLASS = "Trajectory"

OVERVIEW = "overview"
RUN_TABLE = "runs"
RESERVED_ROOT_CHILDREN = frozenset({OVERVIEW})


def node_path(trajectory: str, path: Path) -> str:
    """The HDF5 path of ``path`` below trajectory ``trajectory``."""
    return "/" + "/".join((trajectory, *path))


def get_node(h5: tables.File, where: str) -> Any | None:
    """The node at ``where``, or None."""
    try:
        return h5.get_node(where)
    except tables.NoSuchNodeError:
        return None


def child(group: tables.Group, name: str) -> Any | None:
    """The child ``name`` of ``group``, or None (``_v_children`` loads its nodes lazily)."""
    return group._f_get_child(name) if name in group._v_children else None


def subgroups(group: tables.Group) -> list[tuple[str, tables.Group]]:
    """The child groups of ``group``, sorted by name."""
    return [(name, group._f_get_child(name)) for name in sorted(group._v_groups)]


def is_leaf_group(node: Any) -> bool:
    return isinstance(node, tables.Group) and LEAF in node._v_attrs._v_attrnamesuser


def leaf_specs(group: tables.Group) -> dict[str, Spec]:
    """The specs of a leaf group's values, by key, in the order they were stored."""
    return loads_specs(group._v_attrs[LEAF])


def comment_of(node: tables.Group) -> str:
    attrs = node._v_attrs
    return str(attrs[COMMENT]) if COMMENT in attrs._v_attrnamesuser else ""


def class_name_of(node: tables.Group) -> str:
    attrs = node._v_attrs
    return str(attrs[CLASS_NAME]) if CLASS_NAME in attrs._v_attrnamesuser else ""
