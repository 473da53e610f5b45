"""``aiostore show``: a leaf's values, a parameter's value and range, a run table, or one
result of every run (``TRAJ.NAME``, as ``export`` takes it)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .._core.answers import NodeData, NodeInfo
from .._core.names import RUNS_GROUP, STANDARD_GROUPS
from .._core.restoring import make_item
from ..blocking import StorageService
from ..messages import Msg
from ..model import Parameter, Trajectory, format_time
from . import export
from .paths import WILDCARD, ItemPath, RunResultPath, load_runs, parse_item, parse_run_result
from .wording import plural

__all__ = ["format_value", "parse", "show", "show_item", "show_run_results"]

# Long values are abbreviated: so many items at each end, text cut at so many characters.
EDGE_ITEMS = 3
MAX_ITEMS = 10
MAX_TEXT = 200
INDENT = "    "
MAX_ROWS = 20  # of a result of every run
ITEM_ROOTS = (*STANDARD_GROUPS, RUNS_GROUP)  # what follows TRAJ in an item's name


def parse(text: str) -> ItemPath | RunResultPath:
    """What ``show`` is asked: an item (``TRAJ``, ``TRAJ.parameters.x``, ``TRAJ.runs``), or a
    result of every run as ``export`` names it (``TRAJ.NAME``, ``TRAJ.results.runs.*.NAME``)."""
    parts = text.split(".")
    if WILDCARD in parts or (len(parts) > 1 and parts[1] not in ITEM_ROOTS):
        return parse_run_result(text)
    return parse_item(text)


def show(service: StorageService, what: ItemPath | RunResultPath) -> Iterator[str]:
    """The lines of ``show``."""
    if isinstance(what, RunResultPath):
        return show_run_results(service, what)
    return show_item(service, what)


def _format_sequence(value: list[Any] | tuple[Any, ...]) -> str:
    items = [format_value(item) for item in value]
    if len(items) > MAX_ITEMS:
        items = [*items[:EDGE_ITEMS], "...", *items[-EDGE_ITEMS:]]
    inner = ", ".join(items)
    text = f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    return text if len(value) <= MAX_ITEMS else f"{text}  ({len(value)} items)"


def format_value(value: Any) -> str:
    """A value as text, long arrays, lists and frames abbreviated (numpy's and pandas' way)."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=MAX_ITEMS, edgeitems=EDGE_ITEMS)
        return f"{text}  ({value.dtype}, shape {value.shape})" if value.size > MAX_ITEMS else text
    if isinstance(value, pd.DataFrame):
        return value.to_string(max_rows=MAX_ITEMS, max_cols=MAX_ITEMS)
    if isinstance(value, pd.Series):
        return value.to_string(max_rows=MAX_ITEMS)
    if isinstance(value, list | tuple):
        return _format_sequence(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {format_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, str | bytes | np.str_ | np.bytes_):
        text = repr(value)
        return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "...'"
    return str(value)


def _value_lines(name: str, value: Any) -> Iterator[str]:
    text = format_value(value)
    if "\n" not in text:
        yield f"{name}: {text}"
        return
    yield f"{name}:"
    yield from (INDENT + line for line in text.splitlines())


def _leaf_lines(service: StorageService, where: ItemPath, info: NodeInfo) -> Iterator[str]:
    item = make_item(NodeData(info.path, True, info.class_name, info.comment))
    service.load(Msg.LEAF, item, trajectory_name=where.trajectory)
    kind = info.kind.replace("_", " ")
    yield f"{where}  [{kind}{', packed' if info.packed else ''}]"
    if info.comment:
        yield f"comment: {info.comment}"
    if isinstance(item, Parameter):
        yield from _value_lines("value", item.value)
        explored = item.range
        if explored is not None:
            yield from _value_lines(f"explored range ({plural(len(explored), 'run')})", explored)
    others = {key: value for key, value in item.data.items()
              if not isinstance(item, Parameter) or key not in ("data", "explored_data")}
    for key, value in others.items():
        yield from _value_lines(key, value)


def _runtime(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds, 3)))


def run_table_lines(traj: Trajectory) -> Iterator[str]:
    """The run table as aligned text: index, name, completed, start, runtime, parameters."""
    rows = [("index", "name", "completed", "started", "runtime", "parameters")]
    for run in traj.runs:
        started = format_time(run.timestamp) if run.timestamp else "-"
        rows.append((str(run.idx), run.name, "yes" if run.completed else "no", started,
                     _runtime(run.runtime) if run.completed else "-", run.parameter_summary))
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        yield f"{'  '.join(cells)}  {row[5]}".rstrip()


def _cell(value: Any) -> Any:
    return value if isinstance(value, export.SCALARS) else format_value(value).replace("\n", " ")


def show_run_results(service: StorageService, spec: RunResultPath) -> Iterator[str]:
    """A result of every run, a row per run holding it (``export``'s rows): the run's index,
    the explored parameters' values, the result's values; at most ``MAX_ROWS`` rows."""
    rows = export.collect(service, spec)
    without = f"; {plural(rows.runs_without, 'run')} without it" if rows.runs_without else ""
    yield f"{spec}  [{plural(len(rows.frame), 'run')}{without}]"
    frame = rows.frame.map(_cell)
    yield from frame.to_string(index=False, max_rows=MAX_ROWS).splitlines()
    if len(frame) > MAX_ROWS:
        yield f"({len(frame)} rows: aiostore export writes every one)"


def show_item(service: StorageService, where: ItemPath) -> Iterator[str]:
    """The lines of ``show`` for an item."""
    if where.path in ((), (RUNS_GROUP,)):
        traj = load_runs(service, where.trajectory)
        completed = sum(run.completed for run in traj.runs)
        yield f"{where.trajectory}: {plural(len(traj.runs), 'run')}, {completed} completed"
        yield from run_table_lines(traj)
        return
    infos = service.describe(where.trajectory, where.full_name, max_depth=1)
    top, children = infos[0], infos[1:]
    if top.is_leaf:
        yield from _leaf_lines(service, where, top)
        return
    yield f"{where}/  [group]"
    for child in children:
        if child.is_leaf:
            yield from _leaf_lines(service, ItemPath(where.trajectory, child.path), child)
        else:
            yield f"{child.path[-1]}/"
