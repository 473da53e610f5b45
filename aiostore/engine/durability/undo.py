"""An undo log: a failed request takes back everything it had written."""

from __future__ import annotations

import logging
from collections.abc import Callable

import tables

log = logging.getLogger("aiostore.engine")


class UndoLog:
    """Actions to take back a request's writes (run in reverse on failure), and actions to
    finish it (run in order on success)."""

    def __init__(self, h5: tables.File) -> None:
        self._h5 = h5
        self._undo: list[Callable[[], object]] = []
        self._on_commit: list[Callable[[], object]] = []

    def created(self, where: str) -> None:
        """A node was (or is about to be) created at ``where``: undo removes it if it is there.

        Register a node before writing it: a write that fails part-way (pandas creates a
        frame's group before it fails) leaves a partial node that must go too.
        """
        self._undo.append(lambda: self._remove(where))

    def _remove(self, where: str) -> None:
        if where in self._h5:
            self._h5.remove_node(where, recursive=True)

    def add(self, undo: Callable[[], object]) -> None:
        self._undo.append(undo)

    def on_commit(self, action: Callable[[], object]) -> None:
        self._on_commit.append(action)

    def commit(self) -> None:
        for action in self._on_commit:
            action()
        self._undo.clear()
        self._on_commit.clear()

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            try:
                undo()
            except (tables.NoSuchNodeError, tables.HDF5ExtError, KeyError, AttributeError) as exc:
                log.warning("rollback step failed: %s", exc)
        self._undo.clear()
        self._on_commit.clear()
