"""Recovering a file whose writer died: its journaled stores made again (see :mod:`.journal`)."""

from __future__ import annotations

import dataclasses
import logging

import tables

from ..errors import AiostoreError
from . import merging, nodes, runs, writing
from .files import OpenFile
from .journal import Entry

log = logging.getLogger("aiostore.recovery")


def replay(file: OpenFile, entries: list[Entry]) -> None:
    """Make each journaled store again, in order, after taking back what it had written; take
    back a merge that was cut short."""
    for entry in entries:
        file.known_groups.clear()  # taking back removes groups
        request = entry.request
        if isinstance(request, merging.MergeMarks):
            merging.take_back_merge(file, request)
            continue
        if request.target.packed_runs:
            # a run's row may be in its table already; rewriting it in place is the same store
            request = dataclasses.replace(request, replace=True)
        try:
            writing.take_back(file, entry.creates)
            writing.write_items(file, request, nodes.filters_for(request.target.compression))
        except (AiostoreError, tables.HDF5ExtError, tables.NoSuchNodeError) as exc:
            log.error("recovering %s: journaled store %d could not be made again: %s",
                      file.filename, entry.number, exc)
    runs.write_deferred(file)
    file.flush()
    if entries:
        log.warning("recovered %s: its last writer died; %d journaled changes were made "
                    "again (stores) or taken back (a merge cut short)", file.filename,
                    len(entries))
