"""pypet's overview tables (``/<traj>/overview``): header, settings, and a check of int values.

pypet 0.6 wrote a python ``int`` parameter into an ``int32`` column: a value beyond int32 was
silently wrapped (``2**40`` is stored as ``0``), and pypet loads the wrapped number. Its overview
tables, written from the value in memory, kept the true one as text. A parameter whose int
disagrees with its overview row is refused here, naming it, rather than loaded wrong; where no
overview row exists (tables turned off, or past pypet's 1000 rows) the value is loaded as pypet
loads it (docs/FORMAT.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tables

from ..._core.requests import Path, TrajectoryHeader
from ...errors import FileFormatError
from .. import layout
from ..files import CacheKey, PypetOverviewKey
from .values import attr

INFO_TABLE = "info"
SETTINGS_TABLE = "hdf5_settings"
OVERVIEW_TABLES = {
    "parameters": "parameters_overview",
    "config": "config_overview",
    "derived_parameters": "derived_parameters_overview",
}
EXPLORED_TABLE = "explored_parameters_overview"
RANGE_CUT = 1000  # the range column holds 1024 bytes; shorter text was not cut


def _overview_table(traj: tables.Group, name: str) -> tables.Table | None:
    overview = layout.child(traj, layout.OVERVIEW)
    table = layout.child(overview, name) if overview is not None else None
    return table if isinstance(table, tables.Table) else None


def _text(raw: Any) -> str:
    return bytes(raw).decode("utf-8", "replace")


def read_header(traj: tables.Group) -> TrajectoryHeader:
    """The trajectory's comment and creation time, from its ``info`` table."""
    comment = layout.comment_of(traj)
    table = _overview_table(traj, INFO_TABLE)
    if table is None or not table.nrows:
        return TrajectoryHeader(comment, 0.0, "")
    row = table.read(0, 1)[0]
    names = row.dtype.names or ()
    timestamp = float(row["timestamp"]) if "timestamp" in names else 0.0
    time = _text(row["time"]) if "time" in names else ""
    return TrajectoryHeader(comment, timestamp, time)


def encoding_of(traj: tables.Group) -> str:
    """The text encoding pypet used for the trajectory (``hdf5_settings``), utf8 if unknown."""
    table = _overview_table(traj, SETTINGS_TABLE)
    if table is None or not table.nrows or "encoding" not in table.colnames:
        return "utf8"
    return _text(table.read(0, 1)["encoding"][0]) or "utf8"


def _rows(cache: dict[CacheKey, Any], traj: tables.Group,
          name: str) -> dict[tuple[str, str], Any]:
    """The rows of an overview table by (location, name), read once while the file is open
    (aiostore never changes a pypet trajectory)."""
    key = PypetOverviewKey(traj._v_pathname, name)
    rows = cache.get(key)
    if rows is None:
        table = _overview_table(traj, name)
        rows = cache[key] = {} if table is None or not {"location", "name", "value"} <= set(
            table.colnames) else {(_text(row["location"]), _text(row["name"])): row
                                  for row in table.read()}
    return rows


def _is_wrapped_int(group: tables.Group) -> bool:
    """Whether the leaf's value is a python int that pypet put into an int32 column."""
    table = layout.child(group, "data")
    return (isinstance(table, tables.Table) and "data" in table.colnames
            and table.coldtypes["data"] == np.dtype("int32")
            and attr(table, "SRVC_COLUMN_data_SCALAR_TYPE") == "int")


def check_int_parameter(cache: dict[CacheKey, Any], traj: tables.Group, group: tables.Group,
                        path: Path, values: dict[str, Any]) -> None:
    """Refuse a python int parameter whose stored value is not the one pypet was given."""
    if not path or path[0] not in OVERVIEW_TABLES or not _is_wrapped_int(group):
        return
    key = (".".join(path[:-1]), path[-1])
    row = _rows(cache, traj, EXPLORED_TABLE).get(key)
    if row is None:
        row = _rows(cache, traj, OVERVIEW_TABLES[path[0]]).get(key)
    if row is None:
        return
    true_value = _text(row["value"])
    if "data" in values and str(values["data"]) != true_value:
        _refuse(group, str(values["data"]), true_value)
    if "explored_data" in values and "range" in (row.dtype.names or ()):
        text = _text(row["range"])
        recorded = text.split(", ")
        if len(text) >= RANGE_CUT:
            recorded = recorded[:-1]  # pypet cut the text: its last number may be cut short
        for value, item in zip(values["explored_data"], recorded, strict=False):
            if str(value) != item:
                _refuse(group, str(value), item)


def _refuse(group: tables.Group, stored: str, true_value: str) -> None:
    raise FileFormatError(
        f"{group._v_pathname}: pypet stored the python int {true_value} in an int32 column, "
        f"which holds {stored} (a value beyond int32, wrapped when pypet wrote it); "
        "pypet 0.6 would load the wrong number, aiostore refuses it")
