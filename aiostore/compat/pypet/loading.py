"""Loaded nodes into pypet's Trajectory, built as pypet's own service builds it.

Leaves are made with ``traj._create_class`` and ``traj._construct_instance`` and hung into the
tree with ``_add_leaf_from_storage``, groups with ``_add_group_from_storage``, links through
``_nn_interface._add_generic``; load levels follow pypet: 1 (skeleton) loads comments and
annotations, 2 fills empty leaves, 3 empties them first. Loaded parameters are locked.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from ..._core.answers import NodeData, SharedNode
from ..._core.names import STANDARD_GROUPS
from ..._core.requests import Path
from ...model import ObjectTable
from . import keys

LOAD_NOTHING, LOAD_SKELETON, LOAD_DATA, OVERWRITE_DATA = 0, 1, 2, 3


def split_values(values: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A leaf's values as pypet's data keys and its annotations."""
    data: dict[str, Any] = {}
    notes: dict[str, Any] = {}
    for key, stored in (values or {}).items():
        value = _pypet_table(stored) if isinstance(stored, ObjectTable) else stored
        note = keys.note_name(key)
        if note is None:
            data[keys.from_file(key)] = value
        else:
            name, pickled = note
            # pypet keeps annotations as HDF5 attributes, which PyTables pickles when it must
            notes[name] = pickle.loads(value) if pickled else value
    return data, notes


def _pypet_table(table: ObjectTable) -> Any:
    from pypet.parameter import ObjectTable as PypetObjectTable

    return PypetObjectTable(table)


def load_skeleton(node: Any, comment: str, annotations: Mapping[str, Any]) -> None:
    """A node's comment and annotations, where it has none yet."""
    if node.v_annotations.f_is_empty():
        for name, value in annotations.items():
            node.v_annotations.f_set_single(name, value)
    if node.v_comment == "":
        node.v_comment = comment


def _names(names: str | Iterable[str] | None) -> set[str] | None:
    if names is None:
        return None
    return {names} if isinstance(names, str) else set(names)


def load_leaf(instance: Any, node: NodeData, load_data: int, load_only: Any = None,
              load_except: Any = None) -> None:
    """pypet's load of a parameter or result from ``node`` at level ``load_data``."""
    if load_data == LOAD_NOTHING:
        return
    if load_data == OVERWRITE_DATA:
        if instance.v_is_parameter and instance.v_locked:
            return
        instance.f_empty()
        instance.v_annotations.f_empty()
        instance.v_comment = ""
    data, notes = split_values(node.values)
    load_skeleton(instance, node.comment, notes)
    instance._stored = True
    if load_data == LOAD_SKELETON:
        return
    only, excluded = _names(load_only), _names(load_except)
    if only is not None or excluded is not None:
        _check_partial(instance, only, excluded)
        data = {key: value for key, value in data.items()
                if (only is None or key in only) and (excluded is None or key not in excluded)}
    elif not instance.f_is_empty():
        return
    data = {key: _shared(instance, key, value) if isinstance(value, SharedNode) else value
            for key, value in data.items()}
    if data:
        instance._load(_as_pypet_parameter(instance, data))
        if instance.v_is_parameter:
            instance.f_lock()


def _as_pypet_parameter(instance: Any, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as pypet's Parameter loads it: its value and its range in one-column tables, as
    pypet stores them. A parameter stored by aiostore's own API holds them as plain values."""
    from pypet.parameter import ObjectTable as PypetObjectTable
    from pypet.parameter import Parameter

    if type(instance) is not Parameter:
        return data
    tables = dict(data)
    for key, column in (("data", lambda value: [value]), ("explored_data", list)):
        if key in tables and not isinstance(tables[key], pd.DataFrame):  # pypet's own tables
            tables[key] = PypetObjectTable(data={"data": column(tables[key])})
    return tables


def _shared(instance: Any, key: str, node: SharedNode) -> Any:
    """pypet's object for the shared data ``key`` of ``instance``."""
    from pypet.shareddata import FLAG_CLASS_MAPPING

    return FLAG_CLASS_MAPPING[node.flag](name=key, parent=instance)


def _check_partial(instance: Any, only: set[str] | None, excluded: set[str] | None) -> None:
    from pypet.pypetexceptions import ParameterLockedException

    if only is not None and excluded is not None:
        raise ValueError("use either load_only or load_except, not both")
    if instance.v_is_parameter and instance.v_locked:
        raise ParameterLockedException(
            f"Parameter `{instance.v_full_name}` is locked: it cannot be loaded in part")


def _with_parents(nodes: Iterable[NodeData]) -> list[NodeData]:
    """``nodes`` with a group before each node whose parents are not among them: a packed run
    result (aiostore's own default layout, see aiostore.engine.packing) has no group of its own
    in the file, nor has its run, but pypet hangs every leaf below its groups."""
    seen: set[Path] = set()
    whole = []
    for node in nodes:
        for depth in range(1, len(node.path)):
            if node.path[:depth] not in seen:
                seen.add(node.path[:depth])
                whole.append(NodeData(node.path[:depth], False))
        seen.add(node.path)
        whole.append(node)
    return whole


def _empty_branch(node: NodeData, parents: set[Path]) -> bool:
    return (len(node.path) == 1 and node.path[0] in STANDARD_GROUPS and not node.is_leaf
            and not node.comment and node.path not in parents)


class TreeBuilder:
    """Hangs nodes read from the file into a pypet trajectory, below nodes already there."""

    def __init__(self, traj: Any, as_new: bool = False) -> None:
        self.traj = traj
        self.as_new = as_new
        self._nodes: dict[Path, Any] = {(): traj}
        self.links: list[tuple[Path, dict[str, Any], int]] = []

    def find(self, path: Path) -> Any | None:
        """The pypet node at ``path`` (file names), or None if the tree has none there."""
        node = self._nodes.get(path)
        if node is None and path:
            parent = self.find(path[:-1])
            if parent is not None and not parent.v_is_leaf:
                node = parent._children.get(keys.from_file(path[-1]))
                if node is not None:
                    self._nodes[path] = node
        return node

    def add(self, nodes: Iterable[NodeData], level_of: Callable[[Path], int],
            keep: Callable[[Path], bool] = lambda path: True,
            whole_branches: bool = False) -> None:
        """Put ``nodes`` (parents first) into the tree, each at the level ``level_of`` its
        path gives; nodes ``keep`` refuses, and nodes below them, stay out.

        With ``whole_branches`` (``nodes`` hold everything below the branches they hold) a
        standard branch that holds nothing stays out, as pypet writes only those that do
        (aiostore's file always has all four).
        """
        nodes = _with_parents(nodes)
        parents = {node.path[:-1] for node in nodes} if whole_branches else set()
        for node in nodes:
            if not node.path or (whole_branches and _empty_branch(node, parents)):
                continue
            *parent_path, name = node.path
            level = level_of(node.path)
            if level == LOAD_NOTHING:
                continue
            if name in keys.HIDDEN:
                if not parent_path or keep(tuple(parent_path)):
                    self._hidden(tuple(parent_path), name, node, level)
            elif keep(node.path):
                self._add(tuple(parent_path), name, node, level)

    def _hidden(self, parent_path: Path, name: str, node: NodeData, level: int) -> None:
        group = self.find(parent_path)
        if group is None or (not parent_path and name != keys.LINKS):
            return
        if name == keys.ANNOTATIONS and group.v_annotations.f_is_empty():
            load_skeleton(group, group.v_comment, split_values(node.values)[1])
        elif name == keys.LINKS:
            links = {keys.from_file(key): value for key, value in (node.values or {}).items()}
            self.links.append((parent_path, links, level))

    def _add(self, parent_path: Path, name: str, node: NodeData, level: int) -> None:
        parent = self.find(parent_path)
        if parent is None or parent.v_is_leaf:
            return
        pypet_name = keys.from_file(name)
        existing = parent._children.get(pypet_name)
        if node.is_leaf:
            instance = existing if existing is not None else self._new_leaf(parent, pypet_name,
                                                                            node.class_name)
            load_leaf(instance, node, level)
            if self.as_new:
                instance._stored = False
        else:
            if existing is None:
                existing = self._new_group(parent, pypet_name, node.class_name)
            elif level == OVERWRITE_DATA:
                existing.v_annotations.f_empty()
                existing.v_comment = ""
            if existing.v_comment == "":
                existing.v_comment = node.comment
            existing._stored = not self.as_new
            instance = existing
        self._nodes[node.path] = instance

    def _new_group(self, parent: Any, name: str, class_name: str) -> Any:
        if not class_name:
            return parent._add_group_from_storage(args=(name,), kwargs={})
        instance = self.traj._construct_instance(self.traj._create_class(class_name), name)
        return parent._add_group_from_storage(args=(instance,), kwargs={})

    def _new_leaf(self, parent: Any, name: str, class_name: str) -> Any:
        constructor = self.traj._create_class(class_name or "Result")
        instance = self.traj._construct_instance(constructor, name)
        parent._add_leaf_from_storage(args=(instance,), kwargs={})
        return instance

    def missing_link_targets(self) -> list[str]:
        """The full names links point to that the tree does not hold yet."""
        return sorted({target for _, values, _ in self.links for target in values.values()
                       if not self.traj.f_contains(target, shortcuts=False)})

    def add_links(self) -> None:
        """The links read so far (their targets must be in the tree; broken ones are left)."""
        from pypet import naturalnaming

        for group_path, values, level in self.links:
            group = self.find(group_path)
            if group is None:
                continue
            for name, target in values.items():
                if name in group._links and level == OVERWRITE_DATA:
                    group.f_remove_link(name)
                if name in group._links or not self.traj.f_contains(target, shortcuts=False):
                    continue
                group._nn_interface._add_generic(
                    group, type_name=naturalnaming.LINK, group_type_name=naturalnaming.GROUP,
                    args=(name, self.traj.f_get(target, shortcuts=False)), kwargs={},
                    add_prefix=False, check_naming=False)
        self.links.clear()
