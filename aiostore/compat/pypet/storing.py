"""What a store call of pypet's Trajectory writes: its tree walked as pypet's own service walks
it (store levels, recursion, depth, links), gathered into one aiostore write.

Values are encoded by aiostore's codec (exact types, whatever pypet's flags say); pypet's
annotations, links and trajectory information go where :mod:`.keys` says.
"""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..._core.requests import GroupRecord, LeafRecord, Path, RunRecord, Target, WriteItems
from ...codec import Encoded, encode
from ...errors import InvalidArgumentError, UnsupportedTypeError
from ...model import ObjectTable
from . import keys

STORE_NOTHING, STORE_DATA_SKIPPING, STORE_DATA, OVERWRITE_DATA = 0, 1, 2, 3
STORE_LEVELS = (STORE_NOTHING, STORE_DATA_SKIPPING, STORE_DATA, OVERWRITE_DATA)
INFINITE = sys.maxsize


def store_level(store_data: Any) -> int:
    if store_data not in STORE_LEVELS:
        raise InvalidArgumentError(f"store_data is one of {STORE_LEVELS}, not {store_data!r}")
    return int(store_data)


def _depth(max_depth: int | None) -> int:
    return INFINITE if max_depth is None else int(max_depth)


def encode_value(name: str, value: Any) -> Encoded:
    """``value`` encoded by aiostore's codec; pypet's ObjectTable (its parameters' data) as
    aiostore's, a table of typed rows, which loads back as pypet's."""
    if isinstance(value, pd.DataFrame) and type(value).__module__.startswith("pypet"):
        try:
            return encode(name, ObjectTable(value))
        except UnsupportedTypeError:
            pass  # cells of one column of different types: a frame, as any DataFrame
    return encode(name, value)


def _is_shared(value: Any) -> bool:
    """Whether ``value`` is pypet's shared data (made in the file by its own calls)."""
    return any(cls.__name__ == "SharedData" and cls.__module__ == "pypet.shareddata"
               for cls in type(value).__mro__)


def _annotations(node: Any) -> dict[str, Any]:
    annotations = getattr(node, "v_annotations", None)
    return dict(annotations._dict) if annotations is not None else {}


def encode_notes(full_name: str, annotations: dict[str, Any]) -> dict[str, Encoded]:
    """A node's annotations as values: by the codec, or pickled where only pickle keeps them
    (pypet's own service lets PyTables pickle such attributes)."""
    notes = {}
    for name, value in annotations.items():
        try:
            notes[keys.note_key(name)] = encode_value(f"{full_name}.v_annotations.{name}", value)
        except UnsupportedTypeError:
            notes[keys.pickled_note_key(name)] = encode(f"{full_name}.v_annotations.{name}",
                                                        pickle.dumps(value))
    return notes


@dataclass
class TreeWrite:
    """The groups, leaves and links one store call writes, and the pypet nodes it stores."""

    groups: dict[Path, GroupRecord] = field(default_factory=dict)
    leaves: dict[Path, LeafRecord] = field(default_factory=dict)
    links: dict[Path, dict[str, Encoded]] = field(default_factory=dict)
    stored: list[Any] = field(default_factory=list)

    # -- leaves ---------------------------------------------------------------------------

    def add_leaf(self, leaf: Any, store_data: int, overwrite: Any = None) -> None:
        """pypet's store of one parameter or result at level ``store_data``."""
        if store_data == STORE_NOTHING or (store_data == STORE_DATA_SKIPPING and leaf._stored):
            return
        if store_data == OVERWRITE_DATA and not overwrite:
            overwrite = True
        full_name = leaf.v_full_name
        data = {} if leaf.f_is_empty() else leaf._store()
        values = {keys.to_file(key): encode_value(f"{full_name}.{key}", value)
                  for key, value in data.items() if not _is_shared(value)}
        notes = encode_notes(full_name, _annotations(leaf))
        path = keys.path_of(full_name)
        self.leaves[path] = LeafRecord(path, leaf.f_get_class_name(), leaf.v_comment or "",
                                       {**values, **notes},
                                       _replace_keys(overwrite, values, notes))
        self.stored.append(leaf)

    # -- groups and links -----------------------------------------------------------------

    def add_group(self, group: Any, store_data: int) -> None:
        """pypet's store of a group's own comment and annotations (not its children)."""
        if store_data == STORE_NOTHING or (store_data == STORE_DATA_SKIPPING and group._stored):
            return
        path = keys.path_of(group.v_full_name)
        if path:
            self.groups[path] = GroupRecord(path, group.v_comment or "", _group_class(group),
                                            replace=store_data == OVERWRITE_DATA)
        annotations = _annotations(group)
        if annotations:
            where = (*path, keys.ANNOTATIONS)
            values = encode_notes(group.v_full_name, annotations)
            replace = frozenset(values) if store_data == OVERWRITE_DATA else frozenset()
            self.leaves[where] = LeafRecord(where, "Annotations",
                                            keys.HIDDEN_COMMENTS[keys.ANNOTATIONS], values, replace)
        self.stored.append(group)

    def add_link(self, group: Any, name: str) -> None:
        """A link ``name`` of ``group``: the full name of the node it points to."""
        target = group._links[name].v_full_name
        path = keys.path_of(group.v_full_name)
        self.links.setdefault(path, {})[keys.to_file(name)] = encode(
            f"{group.v_full_name}.{name}", target)

    # -- walks ----------------------------------------------------------------------------

    def add_tree(self, parent: Any, name: str, store_data: int, with_links: bool,
                 recursive: bool, max_depth: int, depth: int) -> None:
        """pypet's depth-first store of ``parent``'s child ``name`` and (if ``recursive``) the
        nodes below it, down to depth ``max_depth``."""
        pending = [(parent, name, depth)]
        while pending:
            parent, name, depth = pending.pop()
            if name in parent._links:
                if with_links:
                    self.add_link(parent, name)
                continue
            node = parent._children[name]
            if node.v_is_leaf:
                self.add_leaf(node, store_data)
                continue
            self.add_group(node, store_data)
            if recursive and depth < max_depth:
                pending.extend((node, child, depth + 1) for child in node._children)

    def add_branch(self, node: Any, branch: str, store_data: int, with_links: bool = True,
                   recursive: bool = False, max_depth: int | None = None) -> None:
        """pypet's store along ``branch`` (dotted, below ``node``): the groups on the way,
        then the last node and, if ``recursive``, what lies below it."""
        if store_data == STORE_NOTHING:
            return
        limit = _depth(max_depth)
        for ancestor in _ancestors(node):
            self.add_group(ancestor, STORE_DATA_SKIPPING)
        *on_the_way, last = branch.split(".")
        depth = 1
        for name in on_the_way:
            if depth > limit:
                return
            self.add_tree(node, name, store_data, with_links, False, limit, depth)
            node = node._children[name]
            depth += 1
        if depth <= limit:
            self.add_tree(node, last, store_data, with_links, recursive, limit, depth)

    # -- the request ----------------------------------------------------------------------

    def request(self, target: Target, runs: tuple[RunRecord, ...] = (),
                new_trajectory: bool = False, header: Any = None,
                extra: tuple[LeafRecord, ...] = ()) -> WriteItems:
        """One write of everything gathered: new keys added, keys in the file kept (pypet's
        ``STORE_DATA``) unless a leaf's ``replace_keys`` name them."""
        leaves = dict(self.leaves)
        for path, values in self.links.items():
            where = (*path, keys.LINKS)
            leaves[where] = LeafRecord(where, "Links", keys.HIDDEN_COMMENTS[keys.LINKS], values)
        for record in extra:
            leaves[record.path] = record
        return WriteItems(target, header, tuple(self.groups.values()), tuple(leaves.values()),
                          runs, skip_existing=True, new_trajectory=new_trajectory)

    def mark_stored(self) -> None:
        for node in self.stored:
            node._stored = True


def _group_class(group: Any) -> str:
    """The class name of a group of a class of the user's own ('' for pypet's groups)."""
    cls = type(group)
    return "" if cls.__module__ == "pypet.naturalnaming" else cls.__name__


def _ancestors(node: Any) -> list[Any]:
    """The groups from the root's first child down to ``node`` (its own group included)."""
    chain = []
    while node is not None and node.v_full_name:
        chain.append(node)
        node = node.f_get_parent()
    return chain[::-1]


def _replace_keys(overwrite: Any, values: dict[str, Encoded],
                  notes: dict[str, Encoded]) -> frozenset[str]:
    """The keys pypet's ``overwrite`` asks to rewrite: all (True), or those it names."""
    if not overwrite:
        return frozenset()
    if overwrite is True:
        return frozenset(values) | frozenset(notes)
    names = [overwrite] if isinstance(overwrite, str) else list(overwrite)
    if not all(isinstance(name, str) for name in names):
        raise InvalidArgumentError(
            f"overwrite is True or a list of data names, not {overwrite!r}")
    chosen = {keys.to_file(name) for name in names if name != "v_annotations"}
    if "v_annotations" in names:
        chosen |= set(notes)
    return frozenset(chosen & (set(values) | set(notes)))
