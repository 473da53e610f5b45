"""Recovering a file whose writer died: its journaled stores made again (see :mod:`.journal`).

When the file itself is damaged past what HDF5 can change (a kill inside a flush can tear the
structure of a group), it is salvaged first: set aside as ``<file>.damaged-<time>``, and
everything in it that still reads is copied into a new file of the same name, onto which the
journal is then replayed. The damaged file is kept; nothing is deleted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable

import tables

from ..._core.names import run_name
from ..._core.requests import WriteItems
from ...errors import AiostoreError, DiskFullError, FileFormatError
from .. import diagnostics, layout, merging, nodes, runs, space, writing
from ..files import OpenFile
from .journal import Entry

log = logging.getLogger("aiostore.recovery")


class FileDamagedError(FileFormatError):
    """HDF5 failed inside the file's own structure while a journaled change was made again."""


def replay(file: OpenFile, entries: list[Entry]) -> None:
    """Make each journaled store again, in order, after taking back what it had written (a
    store that failed is only taken back); take back a merge that was cut short. Raises
    :class:`FileDamagedError` if HDF5 fails, DiskFullError if it finds no room (the journal
    is then kept for another try)."""
    for entry in entries:
        file.known_groups.clear()  # taking back removes groups
        with diagnostics.watching() as watch:
            try:
                _replay_one(file, entry)
            except DiskFullError:
                raise
            except AiostoreError as exc:
                log.error("recovering %s: journaled store %d could not be made again: %s",
                          file.filename, entry.number, exc)
            except (tables.HDF5ExtError, tables.NoSuchNodeError, tables.ClosedNodeError,
                    OSError) as exc:
                number = watch.errno or getattr(exc, "errno", None)
                if number in space.SPACE_ERRNOS:
                    raise space.disk_full(number or 0, file.filename) from exc
                raise FileDamagedError(f"journaled change {entry.number}: {exc}") from exc
    runs.write_deferred(file)
    if entries:
        failed = sum(entry.failed or isinstance(entry.request, merging.MergeMarks)
                     for entry in entries)
        log.warning("recovered %s: its journal held %d changes not known to be in it (its "
                    "last writer died, or could not write it): %d made again, %d taken back "
                    "(stores that had failed, a merge cut short)", file.filename, len(entries),
                    len(entries) - failed, failed)


def _replay_one(file: OpenFile, entry: Entry) -> None:
    request = entry.request
    if isinstance(request, merging.MergeMarks):
        merging.take_back_merge(file, request)
        return
    writing.take_back(file, entry.creates)
    if entry.failed:
        _take_back_runs(file, request, entry.creates)
        return
    if request.target.packed_runs:
        # a run's row may be in its table already: rewriting it in place is the same
        request = dataclasses.replace(request, replace=True)
    writing.write_items(file, request, nodes.filters_for(request.target.compression))


def _take_back_runs(file: OpenFile, request: WriteItems, creates: tuple[str, ...]) -> None:
    """Mark not completed the runs whose group a failed store was creating: their rows may
    have reached the file before the store failed. (Rows of runs the store did not create,
    as a trajectory's update writes them, are left: they were written by earlier stores.)"""
    trajectory = request.target.trajectory
    run_sets = layout.run_sets(file, trajectory)
    taken_back = [
        dataclasses.replace(run, completed=False, timestamp=0.0, finish_timestamp=0.0)
        for run in request.runs if run.completed and any(
            f"{layout.node_path(trajectory, ('results', 'runs', run_name(run.idx)), run_sets)}/"
            .startswith(f"{created}/") for created in creates)]
    group = layout.get_node(file.h5, "/" + trajectory)
    table = runs.run_table(group) if group is not None else None
    if taken_back and table is not None:
        runs.write_runs(table, taken_back)


def forget(file: OpenFile) -> None:
    """Close a damaged file as well as HDF5 lets us, and make PyTables forget it."""
    try:
        file.close()
    except Exception as exc:  # a damaged file fails to close in many ways; it is set aside
        log.debug("closing damaged %s: %s", file.filename, exc)
    if file.h5 in tables.file._open_files.handlers:
        tables.file._open_files.remove(file.h5)


def salvage(filename: str, reopen: Callable[[], OpenFile]) -> OpenFile:
    """Set the damaged ``filename`` aside and copy what still reads of it into a new file."""
    damaged = f"{filename}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
    os.replace(filename, damaged)
    opened = reopen()
    try:
        source = tables.open_file(damaged, "r")
    except (tables.HDF5ExtError, OSError, ValueError) as exc:
        log.error("salvaging %s: the damaged file does not open (%s); only the journal is "
                  "left", filename, exc)
        return opened
    with source:
        try:
            source.root._v_attrs._f_copy(opened.h5.root)
        except (tables.HDF5ExtError, AttributeError) as exc:
            log.debug("salvaging the root attributes of %s: %s", damaged, exc)
        copied, skipped = _copy_children(source.root, opened.h5.root)
    log.error("salvaged %s: its structure was damaged by a writer that died; %d nodes that "
              "still read were copied into a new file, %d could not be read; the damaged file "
              "is kept as %s", filename, copied, skipped, damaged)
    return opened


def _copy_children(source: tables.Group, target: tables.Group) -> tuple[int, int]:
    copied = skipped = 0
    for name in list(source._v_children):
        try:
            child = source._f_get_child(name)
            if isinstance(child, tables.Group):
                group = target._v_file.create_group(target, name)
                child._v_attrs._f_copy(group)
                more, less = _copy_children(child, group)
                copied, skipped = copied + 1 + more, skipped + less
            else:
                child.copy(target, name)
                copied += 1
        except (tables.HDF5ExtError, tables.NoSuchNodeError, ValueError, OSError) as exc:
            log.debug("salvage skipped %s/%s: %s", source._v_pathname, name, exc)
            skipped += 1
    return copied, skipped
