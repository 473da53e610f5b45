"""Shared data: nodes of a leaf that callers read and change in place, one operation a request.

pypet calls it shared data (``ACCESS_DATA``): a result holds a PyTables table, array or pandas
frame in the file, and its owner appends rows, sets slices or queries it through the storage
service. Here every such operation is a request executed on the HDF5 thread: its answer is
plain data (iterators are read into lists, rows into records), never a node of the file.

A shared node is a child of its leaf's group, not described by the leaf's specs; the leaf's
attribute ``SRVC_SHARED`` maps its key to its kind and, for a value made shared from ordinary
data, the value's spec, so that making it ordinary again decodes it as it was stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import tables

from .._core.requests import AccessData
from ..codec import Spec, dumps_specs, encode
from ..errors import DataNotFoundError, InvalidArgumentError, ItemExistsError
from ..model import ObjectTable
from . import layout, nodes
from .files import OpenFile
from .reading import trajectory_group

SHARED = layout.SHARED
ASIDE = "__shared_aside"  # a shared node's name while its ordinary value is written
KINDS = ("ARRAY", "CARRAY", "EARRAY", "VLARRAY", "TABLE", "FRAME", "SERIES")
# attributes that are nodes of the file, or objects bound to them: not handed out
REFUSED = frozenset({"row", "cols", "colindexes", "__thenode__", "_v_file", "_v_parent",
                     "attrs", "_v_attrs"})
MEMBER = "__member__"  # asks what a member of the node is: (True, None) for a method
# PyTables' column indexes are nodes that need the system attributes aiostore's files leave
# out (reopened, the table would not load): they are not made; queries run without them
NOT_MADE = frozenset({"create_index", "create_csindex", "reindex", "reindex_dirty"})


def shared_of(group: tables.Group) -> dict[str, dict[str, Any]]:
    """The shared data of a leaf group: key -> {"flag": kind, "spec": spec or None}."""
    attrs = group._v_attrs
    return json.loads(attrs[SHARED]) if SHARED in attrs._v_attrnamesuser else {}


def _set_shared(group: tables.Group, shared: dict[str, dict[str, Any]]) -> None:
    if shared:
        group._v_attrs[SHARED] = json.dumps(shared)
    elif SHARED in group._v_attrs._v_attrnamesuser:
        del group._v_attrs[SHARED]


def _leaf_group(file: OpenFile, request: AccessData) -> tables.Group:
    trajectory_group(file, request.target)
    group = layout.get_node(file.h5, layout.node_path(
        request.target.trajectory, request.path, layout.run_sets(file, request.target.trajectory)))
    if group is None or not layout.is_leaf_group(group):
        raise DataNotFoundError(f"no leaf {'.'.join(request.path)!r} in trajectory "
                                f"{request.target.trajectory!r}: store it before its shared data")
    return group


def access(file: OpenFile, request: AccessData) -> Any:
    """Carry out one operation on shared data and return its answer as plain data."""
    group = _leaf_group(file, request)
    operation = _OPERATIONS.get(request.operation)
    if operation is not None:
        return operation(file, group, request)
    if request.operation in NOT_MADE:
        return 0
    if request.operation in REFUSED:
        raise InvalidArgumentError(
            f"{request.operation!r} of shared data is a live object of the file, which lives on "
            "aiostore's HDF5 thread: use read, iterrows, where or append instead")
    shared = shared_of(group)
    if request.key not in shared:
        raise DataNotFoundError(f"{group._v_pathname} has no shared data named", [request.key])
    node = group._f_get_child(request.key)
    kwargs = dict(request.kwargs)
    if kwargs.pop("_col_func", False):
        colname = kwargs.pop("colname", None) or request.args[0]
        for name in colname.split("/"):
            node = getattr(node.cols if isinstance(node, tables.Table) else node, name)
    if request.operation == "__setattr__":
        setattr(node, *request.args)
        return None
    if request.operation == MEMBER:
        member = getattr(node, request.args[0])
        return (True, None) if callable(member) else (False, _plain(member))
    member = getattr(node, request.operation)
    answer = member(*request.args, **kwargs) if callable(member) else member
    file.h5.flush()
    return _plain(answer)


def _plain(answer: Any) -> Any:
    """An answer that holds nothing of the file: iterators read, rows as records."""
    if isinstance(answer, Iterator):  # a table's rows too: a Row iterates over its table
        return [_record(item) for item in answer]
    return _record(answer)


def _record(item: Any) -> Any:
    if isinstance(item, tables.tableextension.Row):
        return item.fetch_all_fields()
    if isinstance(item, np.ndarray):
        return item.copy()
    return item


# -- creating, converting ---------------------------------------------------------------------


def _create(file: OpenFile, group: tables.Group, request: AccessData) -> None:
    """A new shared node (pypet's ``create_shared_data`` and ``pandas_put``)."""
    kwargs = dict(request.kwargs)
    data, flag = kwargs.pop("obj", None), kwargs.pop("flag", None)
    shared = shared_of(group)
    if request.operation == "pandas_put" and request.key in shared:
        return _put_frame(file, group, request.key, data, kwargs)
    if request.key in group._v_children:
        raise ItemExistsError(".".join(request.path), [request.key],
                              remedy="give the shared data another name")
    if flag is None:
        if data is None:
            raise InvalidArgumentError("shared data needs data (obj=) or a kind (flag=)")
        flag = "FRAME" if isinstance(data, pd.DataFrame) else "CARRAY"
    if flag not in KINDS:
        raise InvalidArgumentError(f"shared data is one of {KINDS}, not {flag!r}")
    if flag in ("CARRAY", "EARRAY", "VLARRAY", "TABLE") and "filters" not in kwargs:
        kwargs["filters"] = nodes.filters_for(request.target.compression)
    if flag in ("FRAME", "SERIES"):
        _put_frame(file, group, request.key, data, kwargs)
    elif flag == "TABLE":
        _create_table(file.h5, group, request.key, kwargs)
    else:
        _create_array(file.h5, group, request.key, flag, data, kwargs)
    shared[request.key] = {"flag": flag, "spec": None}
    _set_shared(group, shared)


def _put_frame(file: OpenFile, group: tables.Group, key: str, data: Any,
               kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("format", "table")
    kwargs.setdefault("track_times", False)
    if kwargs["format"] in ("t", "table"):
        # PyTables' index nodes need the system attributes aiostore's files leave out
        kwargs.setdefault("index", False)
    file.store.put(f"{group._v_pathname}/{key}", data, **kwargs)


def _create_table(h5: tables.File, group: tables.Group, key: str, kwargs: dict[str, Any]) -> None:
    first_row = kwargs.pop("first_row", None)
    description = kwargs.pop("description", None)
    if description is None and first_row is not None:
        columns = {name: np.asarray(value) for name, value in first_row.items()}
        description = np.dtype([(name, column.dtype, column.shape)
                                for name, column in columns.items()])
    table = h5.create_table(group, key, description=description, **kwargs)
    if first_row is not None:
        row = np.zeros(1, dtype=table.dtype)
        for name, value in first_row.items():
            row[name] = value
        table.append(row)
    table.flush()


def _create_array(h5: tables.File, group: tables.Group, key: str, flag: str, data: Any,
                  kwargs: dict[str, Any]) -> None:
    create: dict[str, Callable[..., Any]] = {"ARRAY": h5.create_array,
                                             "CARRAY": h5.create_carray,
                                             "EARRAY": h5.create_earray,
                                             "VLARRAY": h5.create_vlarray}
    create[flag](group, key, obj=data, **kwargs)  # a VLARRAY's obj is its first row


def _make_shared(file: OpenFile, group: tables.Group, request: AccessData) -> None:
    """An ordinary value of the leaf becomes shared data (its node, kept as it is)."""
    specs = layout.leaf_specs(group)
    spec = specs.pop(request.key, None)
    if spec is None:
        raise DataNotFoundError(f"{group._v_pathname} has no data named", [request.key])
    flag = str(spec["flag"])
    shared = shared_of(group)
    shared[request.key] = {"flag": _kind(group._f_get_child(request.key), flag), "spec": spec}
    group._v_attrs[layout.LEAF] = dumps_specs(specs)
    _set_shared(group, shared)


def _kind(node: tables.Node, flag: str) -> str:
    """The kind of shared data an ordinary value's node is."""
    if flag in ("FRAME", "SERIES"):
        return "FRAME"
    kinds = ((tables.Table, "TABLE"), (tables.EArray, "EARRAY"), (tables.CArray, "CARRAY"),
             (tables.VLArray, "VLARRAY"), (tables.Array, "ARRAY"))
    return next(kind for cls, kind in kinds if isinstance(node, cls))


def _make_ordinary(file: OpenFile, group: tables.Group, request: AccessData) -> None:
    """Shared data becomes an ordinary value of the leaf, encoded as any value."""
    shared = shared_of(group)
    entry = shared.pop(request.key, None)
    if entry is None:
        raise DataNotFoundError(f"{group._v_pathname} has no shared data named", [request.key])
    specs = layout.leaf_specs(group)
    spec: Spec | None = entry["spec"]
    if spec is not None:  # it was ordinary: its node is still what the spec decodes
        specs[request.key] = spec
    else:  # encoded first: a value the codec refuses leaves the shared data as it was
        value = _read_raw(file, group, request.key, entry["flag"])
        encoded = encode(f"{group._v_pathname}/{request.key}", value)
        old = group._f_get_child(request.key)
        old._f_rename(request.key + ASIDE)
        try:
            nodes.write_value(file, group, request.key, encoded, None)
        except BaseException:
            if request.key in group._v_children:
                group._f_get_child(request.key)._f_remove(recursive=True)
            old._f_rename(request.key)
            raise
        old._f_remove(recursive=True)
        specs[request.key] = encoded.spec
    group._v_attrs[layout.LEAF] = dumps_specs(specs)
    _set_shared(group, shared)


def _read_raw(file: OpenFile, group: tables.Group, key: str, flag: str) -> Any:
    if flag in ("FRAME", "SERIES"):
        return file.store.get(f"{group._v_pathname}/{key}")
    node = group._f_get_child(key)
    if flag == "TABLE":
        data = node.read()
        return ObjectTable({name: list(data[name]) for name in data.dtype.names})
    if flag == "VLARRAY":
        return [np.asarray(row) for row in node.read()]
    return node.read()


def _pandas_get(file: OpenFile, group: tables.Group, request: AccessData) -> Any:
    return file.store.get(f"{group._v_pathname}/{request.key}")


def _pandas_select(file: OpenFile, group: tables.Group, request: AccessData) -> Any:
    kwargs = {key: value for key, value in request.kwargs.items() if key != "iterator"}
    kwargs.pop("chunksize", None)
    return file.store.select(f"{group._v_pathname}/{request.key}", **kwargs)


def _append_rows(file: OpenFile, group: tables.Group, request: AccessData) -> None:
    """Rows given as dicts of column values (what a caller's row proxy gathered)."""
    table = group._f_get_child(request.key)
    rows = np.zeros(len(request.args[0]), dtype=table.dtype)
    for index, row in enumerate(request.args[0]):
        for name, value in row.items():
            rows[index][name] = value
    table.append(rows)
    table.flush()


_OPERATIONS: dict[str, Callable[[OpenFile, tables.Group, AccessData], Any]] = {
    "create_shared_data": _create,
    "pandas_put": _create,
    "make_shared": _make_shared,
    "make_ordinary": _make_ordinary,
    "pandas_get": _pandas_get,
    "pandas_select": _pandas_select,
    "append_rows": _append_rows,
}
