"""From ``(msg, item, *args, **kwargs)`` to a typed request plus what to do with its answer.

Planning runs in the caller's thread when a call is made: it checks the arguments and names and
encodes the data (a snapshot: mutating the item afterwards changes nothing), so bad input fails
here, before anything reaches the file. ``Job.finish`` runs in the caller's thread too, after the
engine answered: it hands loaded data to the items and marks stored items as stored.
Messages are translated once, through ``STORE_PLANNERS`` and ``LOAD_PLANNERS``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..codec import encode
from ..codec.rows import PackedRow
from ..errors import InvalidArgumentError, MergeError, NoSuchServiceError, UnsupportedTypeError
from ..messages import Msg, to_msg
from ..model import Group, Parameter, RunInfo, SingleRun, Trajectory, format_time
from .names import check_name, split_full_name
from .requests import (
    Backup,
    DescribeNodes,
    GroupRecord,
    LeafRecord,
    ListTrajectories,
    MergeTrajectories,
    Path,
    ReadLeaf,
    ReadTrajectory,
    ReadTree,
    RemoveIncompleteRuns,
    RemoveItems,
    RunRecord,
    RunRecords,
    Sequence,
    Target,
    TrajectoryHeader,
    WriteItems,
)
from .restoring import apply_leaf, apply_tree, build_trajectory
from .rowpacking import packed_row


@dataclass
class Defaults:
    """What a service remembers between calls (pypet's service keeps these too)."""

    filename: str | None = None
    file_title: str = "Experiment"
    trajectory_name: str | None = None
    compression: tuple[str, int] | None = None
    packed_runs: bool = False
    journal: bool = True
    in_memory: bool = False
    save_on_close: bool = False


@dataclass
class Job:
    """A request for the engine, and what turns its answer into the call's return value."""

    request: Any
    finish: Callable[[Any], Any] = lambda answer: answer


def _nothing(answer: Any) -> None:
    return None


# ------------------------------------------------------------------------------- arguments


@dataclass
class Call:
    """One call's item, file arguments and service defaults."""

    item: Any
    defaults: Defaults
    filename: str | None = None
    file_title: str | None = None
    trajectory_name: str | None = None

    def target(self, trajectory: str | None = None) -> Target:
        filename = self.filename or self.defaults.filename
        if filename is None:
            raise InvalidArgumentError("no filename: give the service one, or pass filename=")
        if self.defaults.in_memory and filename != self.defaults.filename:
            raise InvalidArgumentError("a service on a file in memory works on that file only: "
                                       "filename= cannot name another")
        name = trajectory or self.trajectory_name or _trajectory_of(self.item)
        name = name or self.defaults.trajectory_name
        if name is None:
            raise InvalidArgumentError("which trajectory? pass trajectory_name=")
        return _target(filename, check_name(name, "trajectory name"),
                       self.file_title or self.defaults.file_title, self.defaults.compression,
                       self.defaults.packed_runs, self.defaults.journal, self.defaults.in_memory,
                       self.defaults.save_on_close)


# The same few targets again and again: one object each, so that the HDF5 thread tells two
# requests' targets equal by identity.
_target = functools.lru_cache(maxsize=256)(Target)


def _trajectory_of(item: Any) -> str | None:
    if isinstance(item, Trajectory):
        return item.v_name
    if isinstance(item, SingleRun):
        return item.trajectory.v_name
    return getattr(item, "_trajectory_name", None)


def _path_of(item: Any) -> Path:
    try:
        return split_full_name(item.v_full_name)
    except AttributeError:
        raise NoSuchServiceError(f"{type(item).__name__} has no v_full_name: not an item") from None


# ---------------------------------------------------------------------------------- leaves


def leaf_record(item: Any, store_flags: dict[str, str] | None = None) -> LeafRecord:
    """Snapshot and encode a leaf (anything with ``v_full_name`` and ``_store()``)."""
    path = _path_of(item)
    full_name = item.v_full_name  # checked: the names of ``path`` joined
    if not path or not callable(getattr(item, "_store", None)):
        raise NoSuchServiceError(f"{full_name or type(item).__name__!r} is not a leaf")
    data = item._store()
    if not isinstance(data, dict):
        raise UnsupportedTypeError(full_name, "_store() must return a dict")
    flags = dict(item._store_flags()) if callable(getattr(item, "_store_flags", None)) else {}
    flags.update(store_flags or {})
    values = {check_name(key, "data key"): encode(f"{full_name}.{key}", value, flags.get(key))
              for key, value in data.items()}
    comment = getattr(item, "v_comment", "") or ""
    if not isinstance(comment, str):
        raise UnsupportedTypeError(f"{full_name}.v_comment", "a comment must be a str")
    return LeafRecord(path, type(item).__name__, comment, values)


def _header(traj: Trajectory | None = None) -> TrajectoryHeader:
    if traj is None:
        now = time.time()
        return TrajectoryHeader("", now, format_time(now))
    return TrajectoryHeader(traj.v_comment, traj.v_timestamp, traj.v_time)


def _mark_stored(items: Iterable[Any]) -> Callable[[Any], None]:
    items = list(items)

    def finish(answer: Any) -> None:
        for item in items:
            item.v_stored = True

    return finish


def _unstored_leaves(node: Any) -> list[Any]:
    if isinstance(node, Group):
        return [leaf for leaf in node.leaves() if not leaf.v_stored]
    return [node] if not getattr(node, "v_stored", False) else []


def _group_records(node: Any) -> tuple[GroupRecord, ...]:
    groups = [node, *node.groups()] if isinstance(node, Group) else []
    return tuple(GroupRecord(split_full_name(g.v_full_name), g.v_comment) for g in groups
                 if g.v_full_name and (g.v_comment or not g.children))


def _summarize(traj: Trajectory, runs: list[RunInfo]) -> None:
    """Make the parameter summaries ``runs`` lack, a block of runs at a time: the lists of a
    million runs' indices and summaries, freed at once, held the GIL for ~20 ms."""
    for start in range(0, len(runs), _SUMMARY_BLOCK):
        missing = [run for run in runs[start:start + _SUMMARY_BLOCK] if not run.parameter_summary]
        summaries = traj.parameter_summaries([run.idx for run in missing])
        for run, summary in zip(missing, summaries, strict=True):
            run.parameter_summary = summary


_SUMMARY_BLOCK = 8192


def _run_record(traj: Trajectory, idx: int, completed: bool, timestamp: float,
                finish: float) -> RunRecord:
    info = traj.runs[idx]
    if not info.parameter_summary:  # made once and kept: a sweep's stores reuse it
        info.parameter_summary = traj.parameter_summary(idx)
    return RunRecord(idx, completed, timestamp, finish, info.parameter_summary)


# ---------------------------------------------------------------------------------- stores


def store_trajectory(call: Call, *, only_init: bool = False) -> Job:
    traj = _require(call.item, Trajectory, Msg.TRAJECTORY)
    leaves = [] if only_init else _unstored_leaves(traj)
    _summarize(traj, traj.runs)
    records = RunRecords.of(traj.runs)  # RunInfo has a RunRecord's fields
    request = WriteItems(call.target(), _header(traj), _group_records(traj),
                         tuple(leaf_record(leaf) for leaf in leaves), records)
    stored = _mark_stored([*leaves, traj])
    call.defaults.trajectory_name = traj.v_name
    return Job(request, stored)


def store_single_run(call: Call, *, run_index: int | None = None) -> Job:
    run = call.item
    if isinstance(run, Trajectory):
        if run_index is None:
            raise InvalidArgumentError("SINGLE_RUN of a trajectory needs run_index=")
        run = run.run(run_index)
    run = _require(run, SingleRun, Msg.SINGLE_RUN)
    leaves = tuple(item for item in run.new_items if not getattr(item, "v_stored", False))
    record = _run_record(run.trajectory, run.v_idx, True, run.timestamp, time.time())
    target = call.target()
    records: list[LeafRecord] = []
    rows: list[PackedRow] = []
    for leaf in leaves:
        row = packed_row(leaf, run.v_idx, leaf_record) if target.packed_runs else None
        if row is None:
            records.append(leaf_record(leaf))
        else:
            rows.append(row)
    request = WriteItems(target, leaves=tuple(records), runs=(record,), rows=tuple(rows))
    return Job(request, _RunStored(run, leaves, record))


class _RunStored:
    """A stored run's finish: its items stored, its run record completed (an object, not a
    closure: a sweep keeps many queued, and each object costs the garbage collector)."""

    __slots__ = ("leaves", "record", "run")

    def __init__(self, run: SingleRun, leaves: tuple[Any, ...], record: RunRecord) -> None:
        self.run, self.leaves, self.record = run, leaves, record

    def __call__(self, answer: Any) -> None:
        for leaf in self.leaves:
            leaf.v_stored = True
        record, run = self.record, self.run
        info = run.trajectory.runs[run.v_idx]
        info.completed, info.timestamp = True, run.timestamp
        info.finish_timestamp = record.finish_timestamp
        info.parameter_summary = record.parameter_summary


def store_leaf(call: Call, *, store_flags: dict[str, str] | None = None,
               replace: bool = False) -> Job:
    record = leaf_record(call.item, store_flags)
    request = WriteItems(call.target(), _header(), leaves=(record,), replace=replace)
    return Job(request, _mark_stored([call.item]))


def update_leaf(call: Call, *, store_flags: dict[str, str] | None = None) -> Job:
    return store_leaf(call, store_flags=store_flags, replace=True)


def store_group(call: Call) -> Job:
    path = _path_of(call.item)
    comment = getattr(call.item, "v_comment", "") or ""
    request = WriteItems(call.target(), _header(), groups=(GroupRecord(path, comment),))
    return Job(request, _mark_stored([call.item]))


def _child(parent: Any, child_name: str | None) -> Any:
    if child_name is None:
        return parent
    node = parent
    for part in split_full_name(child_name):
        children = getattr(node, "children", {})
        if part not in children:
            raise InvalidArgumentError(f"{parent!r} has no child {child_name!r}")
        node = children[part]
    return node


def store_tree(call: Call, child_name: str | None = None, *, recursive: bool = True) -> Job:
    node = _child(call.item, child_name)
    if not isinstance(node, Group):
        return store_leaf(Call(node, call.defaults, call.filename, call.file_title,
                               call.trajectory_name or _trajectory_of(call.item)))
    if recursive:
        leaves, groups = _unstored_leaves(node), _group_records(node)
    else:
        leaves = [child for child in node.children.values()
                  if not isinstance(child, Group) and not child.v_stored]
        path = split_full_name(node.v_full_name)
        groups = (GroupRecord(path, node.v_comment),) if path else ()
    target = call.target(trajectory=_trajectory_of(node) or _trajectory_of(call.item))
    request = WriteItems(target, _header(), groups, tuple(leaf_record(leaf) for leaf in leaves))
    return Job(request, _mark_stored(leaves))


def store_list(call: Call) -> Job:
    jobs = [_sub_job(call, entry, plan_store) for entry in call.item]
    requests, owners = _merge_writes([job.request for job in jobs])
    return Job(Sequence(requests), _finish_all(jobs, owners))


def remove(call: Call, *, recursive: bool = False, remove_empty_groups: bool = False,
           delete_only: str | list[str] | tuple[str, ...] | None = None,
           remove_from_item: bool = False) -> Job:
    only = _names(delete_only)
    request = RemoveItems(call.target(), (_path_of(call.item),), recursive, remove_empty_groups,
                          only)
    item = call.item

    def finish(answer: Any) -> None:
        if only is None:
            item.v_stored = False
        elif remove_from_item and hasattr(item, "data"):
            for key in only:
                item.data.pop(key, None)

    return Job(request, finish)


def remove_incomplete_runs(call: Call) -> Job:
    return Job(RemoveIncompleteRuns(call.target()))


def prepare_merge(call: Call, changed_parameters: Iterable[Any] = (), old_length: int = 0) -> Job:
    traj = _require(call.item, Trajectory, Msg.PREPARE_MERGE)
    params = [p if isinstance(p, Parameter) else traj[p] for p in changed_parameters]
    _summarize(traj, traj.runs[old_length:])
    records = tuple(
        _run_record(traj, run.idx, run.completed, run.timestamp, run.finish_timestamp)
        for run in traj.runs[old_length:]
    )
    request = WriteItems(call.target(), leaves=tuple(leaf_record(p) for p in params),
                         runs=records, replace=True)
    return Job(request, _mark_stored(params))


def merge(call: Call, other_trajectory_name: str | None = None, *,
          rename_dict: dict[str, str] | None = None, move_nodes: bool = False,
          delete_trajectory: bool = False) -> Job:
    if other_trajectory_name is None:
        raise InvalidArgumentError("MERGE needs other_trajectory_name=")
    # pypet's Trajectory.f_merge passes the item "FAST MERGE", a string that names no
    # trajectory (_trajectory_of gives None): its trajectory_name= says which one
    target = call.target(trajectory=_trajectory_of(call.item))
    rename = None if rename_dict is None else {
        split_full_name(old): split_full_name(new) for old, new in rename_dict.items()}
    if other_trajectory_name == target.trajectory:
        raise MergeError(f"cannot merge trajectory {target.trajectory!r} into itself: name "
                         "another trajectory of the file to merge into it")
    request = MergeTrajectories(target, check_name(other_trajectory_name, "trajectory name"),
                                rename, move_nodes, delete_trajectory)
    return Job(request, _nothing)


def backup(call: Call, *, backup_filename: str | None = None) -> Job:
    target = call.target()
    if backup_filename is None:
        folder = os.path.dirname(os.path.abspath(target.filename))
        backup_filename = os.path.join(folder, f"backup_{target.trajectory}.hdf5")
    return Job(Backup(target, backup_filename))


# ----------------------------------------------------------------------------------- loads


def load_trajectory(call: Call, *, as_new: bool = False, load_parameters: int = 2,
                    load_derived_parameters: int = 1, load_results: int = 1,
                    load_other_data: int = 1, load_data: int | None = None,
                    load_params: int | None = None, load_derived_params: int | None = None,
                    with_run_information: bool = True) -> Job:
    item = call.item
    if item is not None:
        _require(item, Trajectory, Msg.TRAJECTORY)
    levels = {
        "parameters": load_level(load_params if load_params is not None else load_parameters),
        "derived_parameters": load_level(
            load_derived_params if load_derived_params is not None else load_derived_parameters),
        "results": load_level(load_results),
        "other": load_level(load_other_data),
    }
    if load_data is not None:
        levels = dict.fromkeys(levels, load_level(load_data))
    if as_new:
        levels.update(derived_parameters=0, results=0, other=0)
    levels["config"] = levels["parameters"]
    target = call.target(trajectory=call.trajectory_name)
    call.defaults.trajectory_name = target.trajectory

    def finish(answer: Any) -> Trajectory:
        return build_trajectory(answer, item, levels, as_new, with_run_information)

    return Job(ReadTrajectory(target, levels), finish)


def load_level(level: int) -> int:
    """``level`` if it is one of pypet's load levels (0 to 3), else InvalidArgumentError."""
    if level not in (0, 1, 2, 3):
        raise InvalidArgumentError(f"load levels are 0, 1, 2 or 3, not {level!r}")
    return int(level)


def load_leaf(call: Call, *, load_only: str | Iterable[str] | None = None,
              load_except: str | Iterable[str] | None = None, load_data: int = 2) -> Job:
    if load_only is not None and load_except is not None:
        raise InvalidArgumentError("use either load_only or load_except, not both")
    item = call.item
    path = _path_of(item)
    request = ReadLeaf(call.target(), path, _names(load_only), _names(load_except) or ())
    return Job(request, lambda answer: apply_leaf(item, answer))


def load_tree(call: Call, child_name: str | None = None, *, recursive: bool = True,
              load_data: int = 2, max_depth: int | None = None) -> Job:
    parent = call.item
    path = (*_path_of(parent), *split_full_name(child_name or ""))
    request = ReadTree(call.target(trajectory=_trajectory_of(parent)), path, recursive,
                       load_level(load_data) >= 2, max_depth)
    return Job(request, lambda answer: apply_tree(parent, path, answer, load_data))


def load_list(call: Call) -> Job:
    jobs = [_sub_job(call, entry, plan_load) for entry in call.item]
    return Job(Sequence(tuple(job.request for job in jobs)), _finish_all(jobs, list(range(len(jobs)))))


def list_trajectories(filename: str, in_memory: bool = False) -> Job:
    return Job(ListTrajectories(filename, in_memory))


def describe(defaults: Defaults, trajectory_name: str | None, path: str | None,
             recursive: bool, max_depth: int | None) -> Job:
    """The job of a service's ``describe``: names checked here, nothing else to finish."""
    if max_depth is not None and max_depth < 0:
        raise InvalidArgumentError(f"max_depth must be at least 0, not {max_depth!r}")
    target = Call(None, defaults, trajectory_name=trajectory_name).target()
    return Job(DescribeNodes(target, split_full_name(path or ""), recursive, max_depth))


# -------------------------------------------------------------------------------- dispatch

Planner = Callable[..., Job]

STORE_PLANNERS: dict[Msg, Planner] = {
    Msg.TRAJECTORY: store_trajectory,
    Msg.SINGLE_RUN: store_single_run,
    Msg.LEAF: store_leaf,
    Msg.UPDATE_LEAF: update_leaf,
    Msg.GROUP: store_group,
    Msg.TREE: store_tree,
    Msg.LIST: store_list,
    Msg.REMOVE: remove,
    Msg.REMOVE_INCOMPLETE_RUNS: remove_incomplete_runs,
    Msg.PREPARE_MERGE: prepare_merge,
    Msg.MERGE: merge,
    Msg.BACKUP: backup,
}

LOAD_PLANNERS: dict[Msg, Planner] = {
    Msg.TRAJECTORY: load_trajectory,
    Msg.LEAF: load_leaf,
    Msg.TREE: load_tree,
    Msg.LIST: load_list,
}


_signature = functools.cache(inspect.signature)


def _plan(planners: dict[Msg, Planner], verb: str, msg: object, item: Any,
          args: tuple[Any, ...], kwargs: dict[str, Any], defaults: Defaults) -> Job:
    message = to_msg(msg)
    planner = planners.get(message)
    if planner is None:
        raise NoSuchServiceError(f"cannot {verb} with message {message.value!r}")
    file_args = {key: kwargs.pop(key) for key in ("filename", "file_title", "trajectory_name")
                 if key in kwargs}
    call = Call(item, defaults, **file_args)
    if args or kwargs:  # every planner takes the call alone
        try:
            _signature(planner).bind(call, *args, **kwargs)
        except TypeError as exc:
            raise InvalidArgumentError(f"{verb} {message.value}: {exc}") from None
    return planner(call, *args, **kwargs)


def plan_store(msg: object, item: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
               defaults: Defaults) -> Job:
    """The job for ``store(msg, item, *args, **kwargs)``."""
    return _plan(STORE_PLANNERS, "store", msg, item, args, dict(kwargs), defaults)


def plan_load(msg: object, item: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
              defaults: Defaults) -> Job:
    """The job for ``load(msg, item, *args, **kwargs)``."""
    return _plan(LOAD_PLANNERS, "load", msg, item, args, dict(kwargs), defaults)


# --------------------------------------------------------------------------------- helpers


def _require(item: Any, kind: type, msg: Msg) -> Any:
    if not isinstance(item, kind):
        raise NoSuchServiceError(f"{msg.value} takes a {kind.__name__}, not {type(item).__name__}")
    return item


def _names(names: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    return (names,) if isinstance(names, str) else tuple(names)


def _sub_job(call: Call, entry: Any, plan: Callable[..., Job]) -> Job:
    if not isinstance(entry, tuple) or not 2 <= len(entry) <= 4:
        raise InvalidArgumentError("LIST takes (msg, item[, args[, kwargs]]) tuples")
    msg, item, *rest = entry
    args = tuple(rest[0]) if rest else ()
    kwargs = dict(rest[1]) if len(rest) > 1 else {}
    file_args = {key: value for key, value in (("filename", call.filename),
                 ("file_title", call.file_title), ("trajectory_name", call.trajectory_name))
                 if value is not None}
    return plan(msg, item, args, {**file_args, **kwargs}, call.defaults)


def _merge_writes(requests: list[Any]) -> tuple[tuple[Any, ...], list[int]]:
    """Consecutive writes to one place become one write, checked (and failing) as one.

    Returns the requests and, for each given request, the position of the one that carries it.
    """
    merged: list[Any] = []
    owners: list[int] = []
    for request in requests:
        last = merged[-1] if merged else None
        if (isinstance(request, WriteItems) and isinstance(last, WriteItems)
                and last.target == request.target and last.replace == request.replace
                and last.skip_existing == request.skip_existing
                and not (last.new_trajectory or request.new_trajectory)
                and not request.runs and not last.runs):  # so no packed rows either
            merged[-1] = dataclasses.replace(last, header=last.header or request.header,
                                             groups=last.groups + request.groups,
                                             leaves=last.leaves + request.leaves)
        else:
            merged.append(request)
        owners.append(len(merged) - 1)
    return tuple(merged), owners


def _finish_all(jobs: list[Job], owners: list[int]) -> Callable[[Any], list[Any]]:
    def finish(answers: list[Any]) -> list[Any]:
        return [job.finish(answers[owner]) for job, owner in zip(jobs, owners, strict=True)]

    return finish
