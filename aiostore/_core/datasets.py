"""``load_dataset``: results of the completed runs as an xarray Dataset.

xarray is an optional dependency (``pip install aiostore[xarray]``); without it
``load_dataset`` raises :class:`~aiostore.errors.MissingDependencyError` before anything is read.

Planned like ``load_frame`` (:mod:`aiostore._core.framing`), with the same two engine requests: the
first finds the completed runs, the explored parameters and the keys of the results asked for
(or of every result the completed runs hold); its ``finish`` keeps the runs ``where`` matches
and returns the second, which reads every result's columns in one request (a packed table in one
read, never a run at a time). Its ``finish`` builds the Dataset:

- when the selected runs' explored parameters form a full grid (every combination of their
  distinct values present exactly once), a dimension per explored parameter, its coordinate the
  sorted distinct values, and a ``run`` coordinate over the grid giving each cell's run index;
  otherwise a ``run`` dimension (the run indices) with the parameters as coordinates on it;
- a variable ``<result>.<key>`` per key, ``<result>.<key>.<field>`` per field of a dict; an
  array key gets its own dimensions after the runs', ``<variable>_dim0``...; values keep their
  dtypes exactly (an object variable for what is not a number: text, lists, arrays that differ);
- a run that does not hold one of the results has a missing value there: NaN (ints become
  float64), NaT, or None (bools, text and objects become object variables).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgumentError, MissingDependencyError
from .answers import FrameColumns, FrameIndex
from .framing import RUN_INDEX, Where, check_where, matching, split_result_name, take
from .planning import Call, Defaults, Job
from .requests import FramePart, Path, ReadFrame, ReadFrameIndex

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["dataset_job", "plan_dataset"]

_MISSING_BY_KIND = {"f": np.nan, "c": np.nan, "M": np.datetime64("NaT"), "m": np.timedelta64("NaT")}


def _xarray() -> Any:
    try:
        import xarray
    except ImportError as exc:
        raise MissingDependencyError("load_dataset", "xarray", "xarray") from exc
    return xarray


def dataset_job(session: Any, trajectory_name: str | None, results: str | Iterable[str] | None,
                where: Where | None) -> Job:
    """The first job of ``load_dataset`` on a service's session (checked open first)."""
    session.check_open()
    return plan_dataset(session.defaults, trajectory_name, results, where)


def plan_dataset(defaults: Defaults, trajectory_name: str | None,
                 results: str | Iterable[str] | None, where: Where | None) -> Job:
    """The first job of ``load_dataset``; its ``finish`` returns the second (see module doc)."""
    _xarray()
    names = None if results is None else _result_names(results)
    conditions = check_where(where)
    target = Call(None, defaults, trajectory_name=trajectory_name).target()

    def choose(index: FrameIndex) -> Job:
        parts = tuple(FramePart(branch, relative, tuple(specs), specs)
                      for (branch, relative), specs in index.results.items())
        request = ReadFrame(target, matching(index, conditions), parts)
        return Job(request, lambda answer: _dataset(index, parts, answer, target.trajectory))

    return Job(ReadFrameIndex(target, names), choose)


def _result_names(results: str | Iterable[str]) -> tuple[tuple[str, Path], ...]:
    listed = (results,) if isinstance(results, str) else tuple(results)
    if not listed:
        raise InvalidArgumentError("results= names at least one result (None: every result)")
    return tuple(dict.fromkeys(split_result_name(result) for result in listed))


def _label(branch: str, relative: Path) -> str:
    """A result's name in variable names: ``"z"`` for ``results.runs.*.z``."""
    return ".".join(relative if branch == "results" else (branch, *relative))


# ------------------------------------------------------------------------------------ build


@dataclass
class _Grid:
    """Where each run sits in the full grid of the explored parameters' distinct values."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    cells: np.ndarray | None  # each run's flat position in the grid; None: in C order already
    coords: dict[str, Any]


def _dataset(index: FrameIndex, parts: tuple[FramePart, ...], answers: list[FrameColumns],
             trajectory: str) -> xr.Dataset:
    runs = _union([np.asarray(answer.runs, dtype=np.int64) for answer in answers])
    parameters = {name: take(column, runs) for name, column in index.parameters.items()}
    grid = _grid(parameters, runs)
    variables: dict[str, Any] = {}
    for part, answer in zip(parts, answers, strict=True):
        spread = len(answer.runs) != len(runs)
        positions = np.searchsorted(runs, answer.runs) if spread else None
        for key, field, column in answer.columns:
            name = ".".join(n for n in (_label(part.branch, part.relative), key, field) if n)
            data = _block(column)
            if positions is not None:
                data = _spread(data, positions, len(runs))
            variables[name] = _variable(name, data, grid)
    coords = grid.coords if grid is not None else _run_coords(runs, parameters)
    dataset: xr.Dataset = _xarray().Dataset(variables, coords=coords,
                                            attrs={"trajectory": trajectory})
    return dataset


def _union(held: list[np.ndarray]) -> np.ndarray:
    """The runs holding any of the results (sorted): one array when they all hold the same."""
    first = held[0]
    if all(len(runs) == len(first) and np.array_equal(runs, first) for runs in held[1:]):
        return first
    return np.unique(np.concatenate(held))


def _run_coords(runs: np.ndarray, parameters: dict[str, np.ndarray]) -> dict[str, Any]:
    coords: dict[str, Any] = {RUN_INDEX: runs}
    coords.update({name: (RUN_INDEX, values) for name, values in parameters.items()
                   if name != RUN_INDEX})
    return coords


def _grid(parameters: dict[str, np.ndarray], runs: np.ndarray) -> _Grid | None:
    """The full grid the runs' parameters form, or None if they do not form one."""
    if not parameters or not len(runs):
        return None
    axes: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for values in parameters.values():
        try:
            distinct, inverse = np.unique(values, return_inverse=True)
        except (TypeError, ValueError):  # values that cannot be sorted (None, arrays)
            return None
        axes.append(distinct)
        codes.append(inverse.reshape(-1))
    shape = tuple(len(axis) for axis in axes)
    if math.prod(shape) != len(runs):
        return None
    cells = np.ravel_multi_index(codes, shape)
    if np.bincount(cells, minlength=len(runs)).max() != 1:
        return None  # a combination twice, so another is missing
    dims = tuple(parameters)
    coords: dict[str, Any] = dict(zip(dims, axes, strict=True))
    if RUN_INDEX not in coords:
        run_grid = np.empty(len(runs), dtype=np.int64)
        run_grid[cells] = runs
        coords[RUN_INDEX] = (dims, run_grid.reshape(shape))
    in_order = bool(np.array_equal(cells, np.arange(len(cells))))  # a product explored in order
    return _Grid(dims, shape, None if in_order else cells, coords)


def _block(column: np.ndarray) -> np.ndarray:
    """A column as a block: an object column of arrays of one dtype and shape stacked."""
    if column.dtype != object or not len(column):
        return column
    first = column[0]
    if not isinstance(first, np.ndarray) or not all(
            isinstance(cell, np.ndarray) and cell.shape == first.shape
            and cell.dtype == first.dtype for cell in column):
        return column
    return np.stack(list(column))


def _spread(data: np.ndarray, positions: np.ndarray, count: int) -> np.ndarray:
    """``data`` at rows ``positions`` of ``count`` rows, the others missing (see module doc)."""
    kind = data.dtype.kind
    missing = _MISSING_BY_KIND.get(kind, np.nan if kind in "iu" else None)
    dtype = (data.dtype if kind in _MISSING_BY_KIND
             else np.dtype(np.float64) if kind in "iu" else np.dtype(object))
    spread = np.full((count, *data.shape[1:]), missing, dtype=dtype)
    spread[positions] = data
    return spread


def _variable(name: str, data: np.ndarray, grid: _Grid | None) -> tuple[tuple[str, ...], Any]:
    """A variable's dimensions and values: the runs', or the grid's, then its own."""
    own = tuple(f"{name}_dim{axis}" for axis in range(data.ndim - 1))
    if grid is None:
        return (RUN_INDEX, *own), data
    placed = data
    if grid.cells is not None:
        placed = np.empty_like(data)
        placed[grid.cells] = data
    return (*grid.dims, *own), placed.reshape(*grid.shape, *data.shape[1:])
