"""``aiostore export``: one result of every run as a table, a row per completed run.

The rows are :meth:`~aiostore.StorageService.load_frame`'s (a trajectory pypet wrote, which it
does not read, is read leaf by leaf, every run holding the result a row). The columns are the
run's index, the values of the explored parameters in that run, and each scalar value of the
result (a dict of scalars gives a column per key, ``stats.mean``). Arrays and other non-scalar
values are left out of csv and parquet, with a note; npz takes them with ``--arrays``, stacked
into one array per key when their shapes agree.

The output is written beside its name and renamed over it once whole: an export that fails
(the disk full, say) leaves no partial file behind, and an older file of that name as it was.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..blocking import StorageService
from ..engine import SPACE_ERRNOS, file_access, replacing
from ..errors import AiostoreError, DataNotFoundError, DiskFullError, UnsupportedFeatureError
from ..messages import Msg
from ..model import Result, Trajectory
from .exits import CommandError, ExitCode
from .paths import WILDCARD, RunResultPath, load_runs
from .progress import bar, note

__all__ = ["FORMATS", "SCALARS", "RunRows", "collect", "write"]

FORMATS = ("csv", "parquet", "npz")
RUN_COLUMN = "run"
CHUNK = 200  # leaves loaded per call: few calls, and a bar that moves
SCALARS = (bool, int, float, complex, str, bytes, np.generic)


@dataclass
class RunRows:
    """The rows of an export: a frame with the run's index first, and how many runs of the
    trajectory have no row."""

    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    runs_without: int = 0

    def columns(self) -> list[str]:
        return [str(name) for name in self.frame.columns]

    def scalar_columns(self) -> list[str]:
        return [name for name in self.columns() if _is_scalar_column(self.frame[name])]

    def values(self, name: str) -> list[Any]:
        return list(self.frame[name])


def _is_scalar_column(column: pd.Series) -> bool:
    if column.dtype != object:
        return True
    return all(isinstance(value, SCALARS) or value is None for value in column)


def collect(service: StorageService, spec: RunResultPath) -> RunRows:
    """The rows of the export of ``spec``: ``load_frame``'s frame (pypet's trajectories,
    which it does not read, run by run); NOT_FOUND if no completed run holds it."""
    try:
        frame = service.load_frame(spec.trajectory, spec.full_name(WILDCARD))
    except UnsupportedFeatureError:
        return _collect_by_runs(service, spec)
    runs = len(load_runs(service, spec.trajectory).runs)
    return RunRows(frame.reset_index(), runs - len(frame))


# ------------------------------------------------ pypet's trajectories: one leaf after another


def _load_chunk(service: StorageService, spec: RunResultPath,
                runs: list[str]) -> Iterator[tuple[str, Result]]:
    items = [Result(spec.full_name(run)) for run in runs]
    try:
        service.load(Msg.LIST, [(Msg.LEAF, item) for item in items],
                     trajectory_name=spec.trajectory)
        yield from zip(runs, items, strict=True)
        return
    except DataNotFoundError:
        pass  # some run of the chunk lacks the result (an incomplete run): one at a time
    for run, item in zip(runs, items, strict=True):
        try:
            service.load(Msg.LEAF, item, trajectory_name=spec.trajectory)
        except DataNotFoundError:
            continue
        yield run, item


def _results(service: StorageService, spec: RunResultPath,
             traj: Trajectory) -> Iterator[tuple[int, Result]]:
    runs = [run.name for run in traj.runs]
    index = {run.name: run.idx for run in traj.runs}
    with bar(len(runs), f"export {spec.trajectory}", "run") as progress:
        for start in range(0, len(runs), CHUNK):
            chunk = runs[start:start + CHUNK]
            for run, item in _load_chunk(service, spec, chunk):
                yield index[run], item
            progress.update(len(chunk))


def _flat(values: dict[str, Any], taken: set[str], prefix: str) -> dict[str, Any]:
    """A result's values as columns: dicts of scalars spread out, names kept clear of
    the parameters' columns."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if key in taken else key
        if isinstance(value, dict) and value and all(isinstance(v, SCALARS) for v in value.values()):
            flat.update({f"{name}.{sub}": item for sub, item in value.items()})
        else:
            flat[name] = value
    return flat


def _collect_by_runs(service: StorageService, spec: RunResultPath) -> RunRows:
    traj = load_runs(service, spec.trajectory, parameters=True)
    explored = {name.removeprefix("parameters."): param
                for name, param in sorted(traj.explored_parameters.items())}
    taken = {RUN_COLUMN, *explored}
    rows = []
    for idx, item in _results(service, spec, traj):
        row = {RUN_COLUMN: idx, **{name: p.value_at(idx) for name, p in explored.items()}}
        row.update(_flat(item.data, taken, spec.relative[-1]))
        rows.append(row)
    if not rows:
        raise CommandError(f"no run of trajectory {spec.trajectory!r} holds {spec}",
                           ExitCode.NOT_FOUND)
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = {name: _object_column([row.get(name) for row in rows]) for name in names}
    return RunRows(pd.DataFrame(columns), len(traj.runs) - len(rows))


def _object_column(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        column[position] = value
    return column


# ------------------------------------------------------------------------------------ writing


def _frame(rows: RunRows) -> pd.DataFrame:
    columns = rows.scalar_columns()
    skipped = [name for name in rows.columns() if name not in columns]
    if skipped:
        note(f"left out values that are not scalars: {', '.join(skipped)} "
             "(--to npz --arrays exports arrays)")
    return pd.DataFrame({name: _plain(rows.frame[name]) for name in columns})


def _plain(column: pd.Series) -> Any:
    """A column as the export writes it: numpy's own dtypes kept, other values as a list (so
    that pandas infers their type, as it would from the values)."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufcmM":
        return column.to_numpy()
    return column.tolist()


def _stacked(rows: RunRows, name: str) -> np.ndarray | None:
    values = rows.values(name)
    if any(value is None for value in values):
        return None
    arrays = [np.asarray(value) for value in values]
    first = arrays[0]
    if first.dtype.kind == "O" or any(a.shape != first.shape or a.dtype != first.dtype
                                      for a in arrays):
        return None
    return np.stack(arrays)


def _write_npz(rows: RunRows, path: str, arrays: bool) -> None:
    scalars = rows.scalar_columns()
    data: dict[str, Any] = {name: np.asarray(_plain(rows.frame[name])) for name in scalars}
    skipped = []
    for name in rows.columns():
        if name in scalars:
            continue
        stacked = _stacked(rows, name) if arrays else None
        if stacked is None:
            skipped.append(name)
        else:
            data[name] = stacked
    if skipped:
        hint = "" if arrays else " (--arrays exports arrays)"
        note(f"left out values that are not scalars or arrays of one shape: "
             f"{', '.join(skipped)}{hint}")
    with open(path, "wb") as handle:
        np.savez(handle, **data)


def _write_parquet(frame: pd.DataFrame, path: str) -> None:
    try:
        frame.to_parquet(path, index=False)
    except (ValueError, TypeError, NotImplementedError) as exc:  # pyarrow's errors derive these
        raise CommandError(f"parquet cannot hold these columns: {exc}", ExitCode.REFUSED) from None


def _partial_path(out: str) -> str:
    """Where ``out`` is written before it is renamed: beside it, with its suffix (pandas
    infers a csv's compression from it)."""
    stem, suffix = os.path.splitext(out)
    return f"{stem}.partial-{os.getpid()}{suffix}"


def _write_stdout(frame: pd.DataFrame) -> None:
    try:
        frame.to_csv(sys.stdout, index=False)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader stopped early (| head): the command exits 0
    except OSError as exc:  # stdout redirected to a file on a full disk, a closed pipe...
        if exc.errno in SPACE_ERRNOS:
            raise DiskFullError(exc.errno, "<stdout>", "cannot write the export to stdout: "
                                f"{exc.strerror}") from None
        raise CommandError(f"cannot write to stdout: {exc.strerror or exc}",
                           ExitCode.REFUSED) from None


def _a_file_on_the_way(folder: str) -> bool:
    """Whether a part of ``folder`` that exists is a file rather than a folder."""
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return not os.path.isdir(folder)


def write(rows: RunRows, out: str, to: str, arrays: bool) -> None:
    """Write ``rows`` to ``out`` (``-``: stdout, csv only) as ``to`` says, whole or not at all:
    DiskFullError if the disk has no room for it, FileAccessError if it cannot be written."""
    if out == "-":
        _write_stdout(_frame(rows))
        return
    if to == "parquet" and importlib.util.find_spec("pyarrow") is None:  # pandas needs it
        raise CommandError("parquet export needs pyarrow: pip install aiostore[parquet]",
                           ExitCode.MISSING_DEPENDENCY)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):  # pandas says so in an OSError without an errno
        raise file_access(errno.ENOTDIR if _a_file_on_the_way(folder) else errno.ENOENT,
                                out)
    try:
        with replacing(out, _partial_path(out)) as partial:
            if to == "npz":
                _write_npz(rows, partial, arrays)
            elif to == "parquet":
                _write_parquet(_frame(rows), partial)
            else:
                _frame(rows).to_csv(partial, index=False)
    except AiostoreError:  # DiskFullError among them, naming out
        raise
    except OSError as exc:  # permission denied, a read-only file system, a missing folder...
        raise file_access(exc, out) from None
