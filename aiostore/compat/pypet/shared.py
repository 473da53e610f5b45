"""pypet's shared data (``ACCESS_DATA``): each operation on a result's shared table, array or
frame is one request on the HDF5 thread (:mod:`aiostore.engine.shared`).

What pypet hands out as live objects of the open file comes back as plain data: iterators
(``iterrows``, ``where``, ``__iter__``) as iterators over records read at once, and a table's
``row`` as a row that sends each ``append()`` to the file. Column objects (``cols``) and the
node itself (``get_data_node``) stay on the HDF5 thread: asking for them raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...planning import Job
from ...requests import AccessData, Target
from . import keys

ITERATORS = frozenset({"__iter__", "iterrows", "where", "itersorted", "itersequence"})


class SharedRow:
    """A shared table's ``row``: set its columns, then ``append()`` adds it to the table."""

    def __init__(self, send: Callable[[list[dict[str, Any]]], None]) -> None:
        self._send = send
        self._values: dict[str, Any] = {}

    def __setitem__(self, name: str, value: Any) -> None:
        self._values[name] = value

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def append(self) -> None:
        self._send([dict(self._values)])


def access_data(context: Any, parent_full_name: str, key: str, request: str,
                args: Any = None, kwargs: Any = None, **call_kwargs: Any) -> Job:
    """pypet's ACCESS_DATA: ``request`` on the shared data ``key`` of ``parent_full_name``."""
    target: Target = context.target(call_kwargs)
    path = keys.path_of(parent_full_name)
    stored_key = keys.to_file(key)
    if request == "row":
        def send(rows: list[dict[str, Any]]) -> None:
            context.ask(AccessData(target, path, stored_key, "append_rows", (rows,)))

        return Job(AccessData(target, path, stored_key, "nrows"), lambda answer: SharedRow(send))
    operation = AccessData(target, path, stored_key, request, tuple(args or ()),
                           dict(kwargs or {}))
    if request in ITERATORS:
        return Job(operation, iter)
    return Job(operation)
