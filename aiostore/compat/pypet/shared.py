"""pypet's shared data (``ACCESS_DATA``): each operation on a result's shared table, array or
frame is one request on the HDF5 thread (:mod:`aiostore.engine.shared`).

What pypet hands out as live objects of the open file comes back as plain data or stand-ins:
iterators (``iterrows``, ``where``, ``__iter__``) as iterators over records read at once; a
table's ``row`` as a row whose ``append()`` queues it, written before the next call of the
service (as PyTables writes a row's buffer at the next flush); ``get_data_node()`` as a node
whose methods and attributes are each one request. Column objects (``cols``) raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core.planning import Job
from ..._core.requests import AccessData, Path, Target
from . import keys

ITERATORS = frozenset({"__iter__", "iterrows", "where", "itersorted", "itersequence"})
ROWS_PER_WRITE = 10_000

Where = tuple[Target, Path, str]


class PendingRows:
    """Rows appended through shared tables' ``row``, not yet written."""

    def __init__(self, ask: Callable[[Any], Any]) -> None:
        self._ask = ask
        self._rows: dict[Where, list[dict[str, Any]]] = {}

    def add(self, where: Where, row: dict[str, Any]) -> None:
        rows = self._rows.setdefault(where, [])
        rows.append(row)
        if len(rows) >= ROWS_PER_WRITE:
            self.write()

    def write(self) -> None:
        """Write every queued row, table by table."""
        while self._rows:
            (target, path, key), rows = self._rows.popitem()
            self._ask(AccessData(target, path, key, "append_rows", (rows,)))


class SharedRow:
    """A shared table's ``row``: set its columns, then ``append()`` adds it to the table."""

    def __init__(self, pending: PendingRows, where: Where) -> None:
        self._pending = pending
        self._where = where
        self._values: dict[str, Any] = {}

    def __setitem__(self, name: str, value: Any) -> None:
        self._values[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def append(self) -> None:
        self._pending.add(self._where, dict(self._values))


class SharedNodeProxy:
    """What ``get_data_node()`` gives: the node's methods and attributes, one request each."""

    def __init__(self, ask: Callable[[Any], Any], where: Where) -> None:
        self._ask = ask
        self._where = where

    def __getattr__(self, name: str) -> Any:
        target, path, key = self._where
        is_method, value = self._ask(AccessData(target, path, key, "__member__", (name,)))
        if not is_method:
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._ask(AccessData(target, path, key, name, args, kwargs))

        return call


def asks_for_row(msg: Any, args: tuple[Any, ...]) -> bool:
    """Whether a call is ACCESS_DATA asking for a table's ``row`` (which writes nothing)."""
    return msg == "ACCESS_DATA" and len(args) > 1 and args[1] == "row"


def access_data(context: Any, parent_full_name: str, key: str, request: str,
                args: Any = None, kwargs: Any = None, **call_kwargs: Any) -> Job:
    """pypet's ACCESS_DATA: ``request`` on the shared data ``key`` of ``parent_full_name``."""
    where = (context.target(call_kwargs), keys.path_of(parent_full_name), keys.to_file(key))
    if request == "row":  # no request: made here (None asks nothing of the HDF5 thread)
        return Job(None, lambda answer: SharedRow(context.pending, where))
    if request == "__thenode__":
        return Job(None, lambda answer: SharedNodeProxy(context.ask, where))
    operation = AccessData(*where, request, tuple(args or ()), dict(kwargs or {}))
    return Job(operation, iter if request in ITERATORS else lambda answer: answer)
