"""``load_frame``: one result of every completed run as a pandas DataFrame.

Planned in two jobs, both in the caller's thread around the engine's two requests (see
:mod:`aiostore.engine.frames`): the first reads the completed runs, the explored parameters
and the result's keys; its ``finish`` checks ``keys`` and ``where`` against them (an unknown
name raises before any result is read), keeps the runs ``where`` matches (its callables run
here, never on the HDF5 thread, once per distinct value of the parameter) and returns the
second job, which reads those runs' values and whose ``finish`` builds the DataFrame.
``load_dataset`` (:mod:`aiostore._core.datasets`) plans the same two requests for several results.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..codec.columns import row_cells
from ..codec.flags import Flag
from ..errors import InvalidArgumentError
from .answers import FrameColumns, FrameIndex
from .names import RUNS_GROUP, check_name, run_index
from .planning import Call, Defaults, Job
from .requests import FramePart, Path, ReadFrame, ReadFrameIndex

__all__ = ["RUN_INDEX", "check_where", "matching", "plan_frame", "split_result_name", "take"]

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


def check_where(where: Where | None) -> dict[str, Any]:
    conditions = dict(where or {})
    if not all(isinstance(name, str) for name in conditions):
        raise InvalidArgumentError("where= maps parameter names to values or callables")
    return conditions


def plan_frame(defaults: Defaults, trajectory_name: str | None, result: str,
               keys: str | Iterable[str] | None, where: Where | None) -> Job:
    """The first job of ``load_frame``; its ``finish`` returns the second (see module doc)."""
    branch, relative = split_result_name(result)
    chosen = None if keys is None else ((keys,) if isinstance(keys, str) else tuple(keys))
    conditions = check_where(where)
    target = Call(None, defaults, trajectory_name=trajectory_name).target()

    def choose(index: FrameIndex) -> Job:
        specs = index.results[(branch, relative)]
        selection = _selection(chosen, specs, result)
        names = tuple(dict.fromkeys(key for key, _ in selection))
        part = FramePart(branch, relative, names, {name: specs[name] for name in names})
        request = ReadFrame(target, matching(index, conditions), (part,))
        return Job(request, lambda answer: _frame(answer[0], index, relative[-1], selection))

    return Job(ReadFrameIndex(target, ((branch, relative),)), choose)


Selection = tuple[tuple[str, str | None], ...]  # (key, a dict's field or None: all of the key)


def _selection(chosen: tuple[str, ...] | None, specs: dict[str, Any], result: str) -> Selection:
    """What ``keys=`` asks for: whole keys, or a dict's field written ``"d.a"``."""
    if chosen is None:
        return tuple((key, None) for key in specs)
    picked: list[tuple[str, str | None]] = []
    unknown: list[str] = []
    for name in chosen:
        key, _, label = name.partition(".") if isinstance(name, str) else (name, "", "")
        if name in specs:
            picked.append((name, None))
        elif label and key in specs and label in _fields(specs[key]):
            picked.append((key, label))
        else:
            unknown.append(repr(name))
    if unknown:
        raise InvalidArgumentError(f"result {result!r} has no key {', '.join(unknown)} "
                                   f"(its keys: {', '.join(_key_names(specs))})")
    return tuple(dict.fromkeys(picked))


def _fields(spec: dict[str, Any]) -> list[str]:
    """A dict's fields (its keys, as labels), or none for another value."""
    if spec.get("flag") != Flag.DICT:
        return []
    return [str(label) for _, label, _ in spec["columns"]]


def _key_names(specs: dict[str, Any]) -> list[str]:
    return [f"{key}.{field}" if field else key
            for key, spec in specs.items() for field in (_fields(spec) or [""])]


def matching(index: FrameIndex, conditions: dict[str, Any]) -> np.ndarray:
    """The completed runs whose explored parameters match every condition (sorted)."""
    runs = np.asarray(index.runs, dtype=np.int64)
    columns = {name: _parameter(index, name) for name in conditions}  # all checked first
    for name, condition in conditions.items():
        column = columns[name]
        runs = runs[runs < len(column)]
        runs = runs[_keep(column[runs], condition)]
    return runs


def _keep(values: np.ndarray, condition: Any) -> np.ndarray:
    """Which of ``values`` match ``condition``: a value compared in one go, or a callable
    called once per distinct value (a sweep has few), not once per run."""
    if not callable(condition) and values.dtype.kind in "biufcmM":
        return np.asarray(values == condition, dtype=bool)
    test = ((lambda value: bool(condition(value))) if callable(condition)
            else (lambda value: _equal(value, condition)))
    try:
        distinct, inverse = np.unique(values, return_inverse=True)
    except (TypeError, ValueError):  # values that cannot be sorted (arrays): one by one
        distinct, inverse = values, np.arange(len(values))
    verdicts = np.fromiter((test(value) for value in distinct), bool, len(distinct))
    kept: np.ndarray = verdicts[inverse.reshape(-1)]
    return kept


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


def _frame(answer: FrameColumns, index: FrameIndex, result_name: str,
           selection: Selection) -> pd.DataFrame:
    """The DataFrame: the run index, the explored parameters, then the result's columns in the
    order ``selection`` asks (a key named like a parameter, or ``run``, is prefixed with the
    result's name); an array key's cells are row views of its block."""
    runs = np.asarray(answer.runs, dtype=np.int64)
    data: dict[str, Any] = {name: take(column, runs) for name, column in index.parameters.items()}
    taken = {RUN_INDEX, *index.parameters}
    found = {(key, label): column for key, label, column in answer.columns}
    for key, wanted in selection:
        name = f"{result_name}.{key}" if key in taken else key
        for (held, label), column in found.items():
            if held == key and (wanted is None or label == wanted):
                cells = row_cells(column) if column.ndim > 1 else column
                data[name if label is None else f"{name}.{label}"] = cells
    return pd.DataFrame(data, index=pd.Index(runs, name=RUN_INDEX), copy=False)


def take(column: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """The values of ``runs`` (None for a run beyond the explored range)."""
    if not len(runs) or int(runs.max()) < len(column):
        return column[runs]
    values = np.empty(len(runs), dtype=object)
    for position, idx in enumerate(runs):
        values[position] = column[idx] if idx < len(column) else None
    return values
