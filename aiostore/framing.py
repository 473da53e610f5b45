"""``load_frame``: one result of every completed run as a pandas DataFrame.

Planned in two jobs, both in the caller's thread around the engine's two requests (see
:mod:`aiostore.engine.frames`): the first reads the completed runs, the explored parameters
and the result's keys; its ``finish`` checks ``keys`` and ``where`` against them (an unknown
name raises before any result is read), keeps the runs ``where`` matches (its callables run
here, never on the HDF5 thread) and returns the second job, which reads those runs' values
and whose ``finish`` builds the DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidArgumentError
from .names import RUNS_GROUP, check_name, run_index
from .planning import Call, Defaults, Job
from .requests import FrameColumns, FrameIndex, Path, ReadFrame, ReadFrameIndex

__all__ = ["RUN_INDEX", "plan_frame", "split_result_name"]

RUN_INDEX = "run"
_RUN_BRANCHES = ("results", "derived_parameters")
_PARAMETERS = "parameters."

Where = Mapping[str, Any]


def split_result_name(result: str) -> tuple[str, Path]:
    """``(branch, path below the run's group)`` of a result of every run: ``"z"`` or
    ``"sub.z"`` (below ``results.runs.run_XXXXXXXX``), or written out,
    ``"results.runs.*.z"`` / ``"results.runs.run_00000003.z"`` (any run: the same result of
    every run), ``derived_parameters.runs.*.z``."""
    if not isinstance(result, str) or not result:
        raise InvalidArgumentError(f"a result is named by a str such as 'z', not {result!r}")
    parts = result.split(".")
    if (len(parts) >= 4 and parts[0] in _RUN_BRANCHES and parts[1] == RUNS_GROUP
            and (parts[2] == "*" or run_index(parts[2]) is not None)):
        branch, parts = parts[0], parts[3:]
    else:
        branch = "results"
    return branch, tuple(check_name(part, "result name") for part in parts)


def plan_frame(defaults: Defaults, trajectory_name: str | None, result: str,
               keys: str | Iterable[str] | None, where: Where | None) -> Job:
    """The first job of ``load_frame``; its ``finish`` returns the second (see module doc)."""
    branch, relative = split_result_name(result)
    chosen = None if keys is None else ((keys,) if isinstance(keys, str) else tuple(keys))
    conditions = dict(where or {})
    if not all(isinstance(name, str) for name in conditions):
        raise InvalidArgumentError("where= maps parameter names to values or callables")
    target = Call(None, defaults, trajectory_name=trajectory_name).target()

    def choose(index: FrameIndex) -> Job:
        names = _check_keys(chosen, index, result)
        runs = _matching(index, conditions)
        request = ReadFrame(target, branch, relative, tuple(int(idx) for idx in runs), names,
                            {name: index.keys[name] for name in names})
        return Job(request, lambda answer: _frame(answer, index, relative[-1]))

    return Job(ReadFrameIndex(target, branch, relative), choose)


def _check_keys(chosen: tuple[str, ...] | None, index: FrameIndex,
                result: str) -> tuple[str, ...]:
    if chosen is None:
        return tuple(index.keys)
    unknown = [key for key in chosen if key not in index.keys]
    if unknown:
        raise InvalidArgumentError(f"result {result!r} has no key {', '.join(map(repr, unknown))} "
                                   f"(its keys: {', '.join(index.keys)})")
    return tuple(dict.fromkeys(chosen))


def _matching(index: FrameIndex, conditions: dict[str, Any]) -> np.ndarray:
    """The completed runs whose explored parameters match every condition."""
    runs = np.asarray(index.runs, dtype=np.int64)
    columns = {name: _parameter(index, name) for name in conditions}  # all checked first
    for name, condition in conditions.items():
        column = columns[name]
        inside = runs < len(column)
        runs = runs[inside]
        values = column[runs]
        if callable(condition):
            keep = np.fromiter((bool(condition(value)) for value in values), bool, len(values))
        elif values.dtype.kind in "biufcmM":
            keep = np.asarray(values == condition, dtype=bool)
        else:
            keep = np.fromiter((_equal(value, condition) for value in values), bool, len(values))
        runs = runs[keep]
    return runs


def _parameter(index: FrameIndex, name: str) -> np.ndarray:
    short = name.removeprefix(_PARAMETERS)
    if short not in index.parameters:
        explored = ", ".join(index.parameters) or "none"
        raise InvalidArgumentError(f"where= names {name!r}, which is not an explored parameter "
                                   f"(explored: {explored})")
    column: np.ndarray = index.parameters[short]
    return column


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, np.ndarray) or isinstance(wanted, np.ndarray):
        return bool(np.array_equal(value, wanted))
    return bool(value == wanted)


def _frame(answer: FrameColumns, index: FrameIndex, result_name: str) -> pd.DataFrame:
    """The DataFrame: the run index, the explored parameters, then the result's columns (a
    key named like a parameter, or ``run``, is prefixed with the result's name)."""
    runs = np.asarray(answer.runs, dtype=np.int64)
    data: dict[str, Any] = {}
    for name, column in index.parameters.items():
        data[name] = _take(column, runs)
    taken = {RUN_INDEX, *index.parameters}
    for key, label, column in answer.columns:
        name = f"{result_name}.{key}" if key in taken else key
        data[name if label is None else f"{name}.{label}"] = column
    return pd.DataFrame(data, index=pd.Index(runs, name=RUN_INDEX), copy=False)


def _take(column: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """The values of ``runs`` (None for a run beyond the explored range)."""
    if not len(runs) or int(runs.max()) < len(column):
        return column[runs]
    values = np.empty(len(runs), dtype=object)
    for position, idx in enumerate(runs):
        values[position] = column[idx] if idx < len(column) else None
    return values
