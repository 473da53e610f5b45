"""Trajectories written by pypet 0.6: found, walked and loaded as native items (read-only).

pypet's trajectory group carries no class name (aiostore's says ``Trajectory``) and has an
``overview`` group with pypet's ``info`` table; its leaves are groups marked ``SRVC_LEAF = True``
whose children are data nodes (see :mod:`.values`). A leaf's data is turned into what the
native items hold: a pypet ``Parameter`` keeps its value in a one-row table ``data`` and its range
in a table ``explored_data``; an ``ArrayParameter`` its value in ``data__rr__`` and each distinct
explored array once, under ``explored__rr__/set_XXXXX/xa_XXXXXXXX``, with the order of runs in the
table ``explored_data__rr__``. Both become ``{"data": value, "explored_data": [values]}`` as a
native :class:`~aiostore.Parameter` holds them; a ``Result``'s keys are its values.

Leaves of other pypet classes (pickles, scipy sparse matrices, classes of other libraries whose
own ``_load`` would rebuild them) raise :class:`UnsupportedFeatureError` naming the node and what it
uses: aiostore never guesses at a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import tables

from ..._core.requests import Path
from ...errors import DataNotFoundError, UnsupportedFeatureError
from .. import layout
from ..files import OpenFile, PypetReaderKey
from .overview import check_int_parameter, encoding_of
from .values import NESTED_GROUP, STORE, Reader, attr

INFO_TABLE = "info"
PARAMETER_CLASSES = frozenset({"Parameter", "ArrayParameter", "SparseParameter"})
RESULT_CLASSES = frozenset({"Result", "SparseResult"})
ARRAY_ID = "__rr__"
SPARSE_ID = "__spsp__"
PICKLE_PROTOCOL_KEY = "__pckl_prtcl__"
ANNOTATED = "SRVC_ANNOTATED"
ANNOTATION_PREFIX = "SRVC_AN_"


def is_pypet_trajectory(group: Any) -> bool:
    """Whether ``group`` is a trajectory written by pypet (not aiostore's own layout)."""
    if not isinstance(group, tables.Group) or layout.class_name_of(group):
        return False
    overview = layout.child(group, layout.OVERVIEW)
    return isinstance(overview, tables.Group) and isinstance(layout.child(overview, INFO_TABLE),
                                                             tables.Table)


def reader_for(file: OpenFile, traj: tables.Group) -> Reader:
    """The reader of a trajectory's data, with the string encoding pypet recorded for it."""
    key = PypetReaderKey(traj._v_pathname)
    reader = file.caches.get(key)
    if reader is None:
        reader = file.caches[key] = Reader(file.store, encoding_of(traj))
    return reader


# ------------------------------------------------------------------------------- raw nodes


def data_nodes(group: tables.Group, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The data nodes of a leaf group by key (``a.b`` for node ``b`` of a nested group ``a``)."""
    for name in sorted(group._v_children):
        node = group._f_get_child(name)
        key = f"{prefix}{name}"
        if isinstance(node, tables.Group) and attr(node, STORE) == NESTED_GROUP:
            yield from data_nodes(node, key + ".")
        elif not isinstance(node, tables.link.Link):
            yield key, node


def _raw_values(reader: Reader, group: tables.Group,
                keys: Iterable[str] | None = None) -> dict[str, Any]:
    wanted = None if keys is None else set(keys)
    return {key: reader.read_node(node) for key, node in data_nodes(group)
            if wanted is None or key in wanted}


# ---------------------------------------------------------------------------------- leaves


def refuse_annotations(node: Any) -> None:
    """Native items have no annotations: a node that has some is refused, not loaded without."""
    if attr(node, ANNOTATED):
        names = sorted(name.removeprefix(ANNOTATION_PREFIX)
                       for name in node._v_attrs._v_attrnamesuser
                       if name.startswith(ANNOTATION_PREFIX))
        raise UnsupportedFeatureError(node._v_pathname, f"pypet annotations ({', '.join(names)})")


def _leaf_form(group: tables.Group) -> str:
    """``parameter`` or ``result``: how a leaf's data is turned into a native item's."""
    class_name = layout.class_name_of(group)
    where = group._v_pathname
    refuse_annotations(group)
    if class_name.startswith("Pickle"):
        raise UnsupportedFeatureError(where, f"a {class_name} (pickled data, which aiostore does "
                                       "not unpickle)")
    if class_name in PARAMETER_CLASSES:
        return "parameter"
    if class_name in RESULT_CLASSES:
        return "result"
    raise UnsupportedFeatureError(where, f"a leaf of pypet class {class_name or '(none)'!r}, whose "
                                   "own _load rebuilds its data")


def _check_keys(where: str, keys: Iterable[str]) -> None:
    for key in keys:
        if SPARSE_ID in key:
            raise UnsupportedFeatureError(where, "a scipy sparse matrix (pypet's __spsp__ data)")
        if key == PICKLE_PROTOCOL_KEY:
            raise UnsupportedFeatureError(where, "pickled data")


def read_values(file: OpenFile, traj: tables.Group, group: tables.Group, path: Path,
                load_only: Iterable[str] | None = None,
                load_except: Iterable[str] = ()) -> dict[str, Any]:
    """A pypet leaf's values as a native item holds them (all, or those of ``load_only``)."""
    where = group._v_pathname
    form = _leaf_form(group)
    keys = [key for key, _ in data_nodes(group)]
    _check_keys(where, keys)
    reader = reader_for(file, traj)
    if form == "parameter":  # its nodes make its values together: all are read
        values = _parameter_values(reader, group)
        check_int_parameter(file.caches, traj, group, path, values)
        return select(where, values, list(values), load_only, load_except)
    wanted = set(keys if load_only is None else load_only) - set(load_except)
    values = _raw_values(reader, group, wanted)
    return select(where, values, keys, load_only, load_except)


def select(where: str, values: dict[str, Any], names: list[str],
           load_only: Iterable[str] | None, load_except: Iterable[str]) -> dict[str, Any]:
    """``values`` restricted to ``load_only`` or without ``load_except``, as aiostore's loads."""
    wanted = list(names) if load_only is None else list(load_only)
    missing = [key for key in (*wanted, *load_except) if key not in names]
    if missing:
        raise DataNotFoundError(f"{where} has no data named", missing)
    excluded = set(load_except)
    return {key: values[key] for key in wanted if key not in excluded and key in values}


def _parameter_values(reader: Reader, group: tables.Group) -> dict[str, Any]:
    raw = _raw_values(reader, group)
    if "data" + ARRAY_ID in raw:
        values = {"data": raw["data" + ARRAY_ID]}
        order = raw.get("explored_data" + ARRAY_ID)
        if order is not None:
            values["explored_data"] = [raw[_array_name(int(i))] for i in order["idx"]]
        return values
    values = {}
    if "data" in raw:
        values["data"] = raw["data"]["data"].iloc[0]
    if "explored_data" in raw:
        values["explored_data"] = list(raw["explored_data"]["data"])
    unknown = sorted(set(raw) - {"data", "explored_data"})
    if unknown:
        raise UnsupportedFeatureError(group._v_pathname, f"parameter data named {unknown}")
    return values


def _array_name(index: int) -> str:
    """Where an ArrayParameter keeps its explored array ``index`` (pypet's naming)."""
    return f"explored{ARRAY_ID}.set_{index // 1000:05d}.xa_{index:08d}"
