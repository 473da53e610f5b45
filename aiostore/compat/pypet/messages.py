"""pypet's messages, as its Trajectory and Environment send them, turned into aiostore requests.

Each planner takes the shim's :class:`Context`, the item and pypet's keywords, and returns a
:class:`~aiostore.planning.Job`: the request for the HDF5 thread and what, in the caller's
thread, hands the answer to pypet's objects (marks them stored, builds the loaded tree). Bad
arguments fail here, before anything is written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...codec import encode
from ...errors import (
    DataNotFoundError,
    InvalidArgumentError,
    NoSuchServiceError,
    NotStoredError,
    RemovalError,
)
from ...planning import Call, Defaults, Job
from ...requests import (
    Backup,
    DescribeNodes,
    ForeignRead,
    LeafRecord,
    ListTrajectories,
    MergeTrajectories,
    NodeData,
    Path,
    ReadLeaf,
    ReadTrajectory,
    ReadTree,
    RemoveItems,
    RunRecord,
    Sequence,
    Target,
    TrajectoryData,
    TrajectoryHeader,
    TrajectoryLayout,
    WriteItems,
)
from . import keys, shared, storing
from .loading import LOAD_NOTHING, TreeBuilder, load_leaf, load_skeleton, split_values
from .storing import INFINITE, STORE_DATA, STORE_NOTHING, TreeWrite, store_level

Planner = Callable[..., Job]
LOAD_LEVELS = (0, 1, 2, 3)


@dataclass
class Context:
    """What a planner needs of the service: its defaults, a way to ask the HDF5 thread (for
    loads that need a second look), and the run rows it has written per trajectory."""

    defaults: Defaults
    ask: Callable[[Any], Any]
    logger: logging.Logger
    rows_written: dict[tuple[str, str], int] = field(default_factory=dict)
    layouts: dict[tuple[str, str], str] = field(default_factory=dict)
    pending: shared.PendingRows = field(init=False)

    def __post_init__(self) -> None:
        self.pending = shared.PendingRows(self.ask)

    def target(self, kwargs: dict[str, Any], trajectory: str | None = None) -> Target:
        call = Call(None, self.defaults, filename=kwargs.pop("filename", None),
                    file_title=kwargs.pop("file_title", None),
                    trajectory_name=kwargs.pop("trajectory_name", None))
        return call.target(trajectory)


def _path(node: Any) -> Path:
    return keys.path_of(node.v_full_name)


# ------------------------------------------------------------------------------ the trajectory


def _pypet_versions() -> tuple[str, str]:
    from pypet import pypetconstants
    from pypet._version import __version__

    return __version__, pypetconstants.python_version_string


def _meta_record(traj: Any) -> LeafRecord:
    """The trajectory's pypet information: versions, comment, explored parameters, and the
    root's annotations."""
    values = {"version": encode("meta.version", str(traj.v_version)),
              "python": encode("meta.python", str(traj.v_python)),
              "comment": encode("meta.comment", str(traj.v_comment or "")),
              "explored": encode("meta.explored", [str(name) for name in
                                                   traj._explored_parameters])}
    values.update(storing.encode_notes("", dict(traj.v_annotations._dict)))
    return LeafRecord((keys.META,), "TrajectoryInformation", keys.HIDDEN_COMMENTS[keys.META],
                      values, frozenset(values))


def _run_record(traj: Any, idx: int) -> RunRecord:
    info = traj.f_get_run_information(idx, copy=False)
    return RunRecord(idx, bool(info["completed"]), float(info["timestamp"]),
                     float(info["finish_timestamp"]), str(info["parameter_summary"]))


def _run_rows(context: Context, target: Target, traj: Any) -> tuple[RunRecord, ...]:
    written = context.rows_written.get((target.filename, target.trajectory), 0)
    indices = set(range(written, len(traj))) | set(traj._updated_run_information)
    return tuple(_run_record(traj, idx) for idx in sorted(indices) if idx < len(traj))


def _rows_done(context: Context, target: Target, traj: Any) -> None:
    context.rows_written[(target.filename, target.trajectory)] = len(traj)
    traj._updated_run_information = set()


def store_trajectory(context: Context, traj: Any, only_init: bool = False,
                     store_data: int = STORE_DATA, max_depth: int | None = None,
                     **kwargs: Any) -> Job:
    """pypet's TRAJECTORY store: the trajectory's information and run table, and (unless
    ``only_init``) every branch at level ``store_data``."""
    target = context.target(kwargs, traj.v_name)
    level = STORE_NOTHING if only_init else store_level(store_data)
    write = TreeWrite()
    if level != STORE_NOTHING:
        for child in list(traj._children):
            write.add_branch(traj, child, level, True, True, max_depth)
    header = TrajectoryHeader(str(traj.v_comment or ""), float(traj.v_timestamp), traj.v_time)
    request = write.request(target, _run_rows(context, target, traj), not traj._stored, header,
                            (_meta_record(traj),))

    def finish(answer: Any) -> None:
        write.mark_stored()
        traj._stored = True
        _rows_done(context, target, traj)

    return Job(request, finish)


def store_single_run(context: Context, traj: Any, recursive: bool = True,
                     store_data: int = STORE_DATA, max_depth: int | None = None,
                     **kwargs: Any) -> Job:
    """pypet's SINGLE_RUN store: the nodes and links the run added."""
    target = context.target(kwargs, traj.v_name)
    level = store_level(store_data)
    write = TreeWrite()
    limit = INFINITE if max_depth is None else max_depth
    if level != STORE_NOTHING:
        for (_, name), (parent, child) in list(traj._new_nodes.items()):
            if not child._stored:
                write.add_branch(parent, name, level, True, recursive, limit - child.v_depth)
        for (_, link), (parent, _) in list(traj._new_links.items()):
            write.add_branch(parent, link, level, True, recursive, limit - parent.v_depth - 1)
    return Job(write.request(target), lambda answer: write.mark_stored())


# ----------------------------------------------------------------------------- leaves, groups


def _tree_job(write: TreeWrite, target: Target) -> Job:
    return Job(write.request(target), lambda answer: write.mark_stored())


def store_leaf(context: Context, leaf: Any, store_data: int = STORE_DATA, overwrite: Any = None,
               store_flags: Any = None, complevel: Any = None, complib: Any = None,
               **kwargs: Any) -> Job:
    """pypet's LEAF store (compression options are the service's, per call they are ignored)."""
    target = context.target(kwargs)
    write = TreeWrite()
    write.add_leaf(leaf, store_level(store_data), overwrite)
    return _tree_job(write, target)


def store_group(context: Context, group: Any, store_data: int = STORE_DATA,
                with_links: bool = True, recursive: bool = False, max_depth: int | None = None,
                **kwargs: Any) -> Job:
    """pypet's GROUP store: the group's comment and annotations, or its whole subtree."""
    target = context.target(kwargs)
    level = store_level(store_data)
    write = TreeWrite()
    if recursive:
        limit = INFINITE if max_depth is None else max_depth
        write.add_tree(group.f_get_parent(), group.v_name, level, with_links, True, limit, 0)
    else:
        write.add_group(group, level)
    return _tree_job(write, target)


def store_tree(context: Context, node: Any, child_name: str, store_data: int = STORE_DATA,
               with_links: bool = True, recursive: bool = False, max_depth: int | None = None,
               **kwargs: Any) -> Job:
    """pypet's TREE store: along ``child_name`` below ``node``, recursively at its end."""
    target = context.target(kwargs)
    write = TreeWrite()
    write.add_branch(node, child_name, store_level(store_data), with_links, recursive, max_depth)
    return _tree_job(write, target)


def delete(context: Context, item: Any, delete_only: Any = None, remove_from_item: bool = False,
           recursive: bool = False, **kwargs: Any) -> Job:
    """pypet's DELETE: a leaf or group, or (``delete_only``) some of a leaf's data."""
    target = context.target(kwargs)
    if delete_only is None:
        path = _path(item)
        if not item.v_is_leaf and not recursive:
            _check_childless(context, target, item, path)
            recursive = True  # what is left below are pypet's hidden leaves
        return Job(RemoveItems(target, (path,), recursive=recursive, keep_explored=False))
    if not item.v_is_leaf:
        raise InvalidArgumentError(f"delete_only works on leaves; {item.v_full_name!r} is a group")
    names = [delete_only] if isinstance(delete_only, str) else list(delete_only)
    request = RemoveItems(target, (_path(item),), delete_only=tuple(map(keys.to_file, names)),
                          missing_ok=True, keep_explored=False)

    def finish(answer: Any) -> None:
        if remove_from_item:
            for name in names:
                if name in item:
                    delattr(item, name)

    return Job(request, finish)


class GroupHasChildrenError(RemovalError, TypeError):
    """A group with children removed without ``recursive`` (a TypeError in pypet)."""


def _check_childless(context: Context, target: Target, group: Any, path: Path) -> None:
    """Raise unless the group at ``path`` has no children in the file but hidden leaves."""
    below = context.ask(DescribeNodes(target, path, True, 1))
    if any(info.path[-1] not in keys.HIDDEN for info in below if len(info.path) > len(path)):
        raise GroupHasChildrenError(f"group {group.v_full_name!r} has children in the file; "
                                    "pass recursive=True to remove it")


def delete_link(context: Context, link_full_name: str, **kwargs: Any) -> Job:
    """pypet's DELETE_LINK: the link at ``link_full_name``."""
    target = context.target(kwargs)
    *group, name = keys.path_of(link_full_name)
    return Job(RemoveItems(target, ((*group, keys.LINKS),), delete_only=(name,)))


def store_list(context: Context, entries: Any, **kwargs: Any) -> Job:
    """pypet's LIST: several (msg, item, args, kwargs) stores, made in order in one call."""
    jobs = [plan(context, STORE_PLANNERS, "store", *_entry(entry, kwargs)) for entry in entries]

    def finish(answers: list[Any]) -> None:
        for job, answer in zip(jobs, answers, strict=True):
            job.finish(answer)

    return Job(Sequence(tuple(job.request for job in jobs)), finish)


class MalformedListError(InvalidArgumentError, RuntimeError):
    """A LIST entry that is not (msg, item[, args[, kwargs]]) (a RuntimeError in pypet)."""


def _entry(entry: Any, kwargs: dict[str, Any]) -> tuple[Any, Any, tuple[Any, ...], dict[str, Any]]:
    if not isinstance(entry, (tuple, list)) or not 2 <= len(entry) <= 4:
        raise MalformedListError(f"LIST takes (msg, item[, args[, kwargs]]) entries, not {entry!r}")
    msg, item, *rest = entry
    args = tuple(rest[0]) if rest else ()
    entry_kwargs = dict(rest[1]) if len(rest) > 1 else {}
    return msg, item, args, {**kwargs, **entry_kwargs}


# ------------------------------------------------------------------- merges and backups


def _summary(traj: Any) -> str:
    """pypet's parameter summary of the run the explored parameters are set to."""
    parts: list[str] = []
    for param in sorted(traj._explored_parameters.values(),
                        key=lambda p: p.v_name + p.v_location):
        text = param.f_val_to_str()
        text = text if len(text) < 512 else text[:509] + "..."
        joined = ",   ".join(parts)
        parts.append(f"{param.v_full_name if param.v_name in joined else param.v_name}: {text}")
    return ",   ".join(parts)


def prepare_merge(context: Context, traj: Any, changed_parameters: Any = (),
                  old_length: int = 0, **kwargs: Any) -> Job:
    """pypet's PREPARE_MERGE: the changed parameters removed (they are stored again), the run
    table extended by the merged runs."""
    if not traj._stored:
        traj.f_store()
    target = context.target(kwargs, traj.v_name)
    removal = RemoveItems(target, tuple(keys.path_of(name) for name in changed_parameters),
                          recursive=True, missing_ok=True, keep_explored=False)
    runs = []
    for idx in range(old_length, len(traj)):
        traj._set_explored_parameters_to_idx(idx)
        record = _run_record(traj, idx)
        runs.append(RunRecord(record.idx, record.completed, record.timestamp,
                              record.finish_timestamp, _summary(traj)))
    traj.f_restore_default()
    rows = {run.idx: run for run in (*_run_rows(context, target, traj), *runs)}
    write = WriteItems(target, leaves=(_meta_record(traj),), runs=tuple(rows.values()),
                       skip_existing=True)
    return Job(Sequence((removal, write)), lambda answer: _rows_done(context, target, traj))


def merge(context: Context, item: Any, other_trajectory_name: str, rename_dict: Any,
          move_nodes: bool = False, delete_trajectory: bool = False,
          other_filename: str | None = None, **kwargs: Any) -> Job:
    """pypet's fast MERGE within one file: the other trajectory's nodes copied (or moved) to
    the names ``rename_dict`` gives them. Another file raises a ValueError, on which pypet
    merges item by item."""
    target = context.target(kwargs)
    if other_filename is not None and os.path.abspath(other_filename) != os.path.abspath(
            target.filename):
        raise InvalidArgumentError(
            f"a fast merge works within one file; {other_filename!r} is another (pypet merges "
            "item by item then)")
    rename = {keys.path_of(old): keys.path_of(new) for old, new in rename_dict.items()}
    return Job(MergeTrajectories(target, other_trajectory_name, rename, move_nodes,
                                 delete_trajectory))


def backup(context: Context, traj: Any, backup_filename: str | None = None,
           **kwargs: Any) -> Job:
    """pypet's BACKUP: the trajectory copied into ``backup_filename`` (by default
    ``backup_<name>.hdf5`` beside the file)."""
    target = context.target(kwargs, traj.v_name)
    if backup_filename is None:
        backup_filename = os.path.join(os.path.dirname(target.filename),
                                       f"backup_{traj.v_name}.hdf5")
    return Job(Backup(target, backup_filename))


STORE_PLANNERS: dict[str, Planner] = {
    "TRAJECTORY": store_trajectory,
    "SINGLE_RUN": store_single_run,
    "LEAF": store_leaf,
    "GROUP": store_group,
    "TREE": store_tree,
    "LIST": store_list,
    "DELETE": delete,
    "REMOVE": delete,
    "DELETE_LINK": delete_link,
    "PREPARE_MERGE": prepare_merge,
    "MERGE": merge,
    "BACKUP": backup,
    "ACCESS_DATA": shared.access_data,
}


# ------------------------------------------------------------------------------------- loads


def _load_level(level: Any) -> int:
    if level not in LOAD_LEVELS:
        raise InvalidArgumentError(f"load levels are {LOAD_LEVELS}, not {level!r}")
    return int(level)


def _run_information(record: RunRecord) -> dict[str, Any]:
    from datetime import timedelta

    from ...model import format_time

    runtime = str(timedelta(seconds=max(record.finish_timestamp - record.timestamp, 0)))
    return {"idx": record.idx, "name": f"run_{record.idx:08d}",
            "timestamp": record.timestamp, "finish_timestamp": record.finish_timestamp,
            "runtime": runtime if record.completed else "",
            "time": format_time(record.timestamp) if record.timestamp else "",
            "completed": int(record.completed), "parameter_summary": record.parameter_summary,
            "short_environment_hexsha": "N/A"}


def _apply_meta(traj: Any, data: TrajectoryData, meta: NodeData | None, as_new: bool,
                with_run_information: bool, force: bool, level: int) -> None:
    """pypet's load of the trajectory's information, run table and explored names."""
    values, notes = split_values(meta.values if meta is not None else {})
    version, python = _pypet_versions()
    stored_version = values.get("version", version)
    stored_python = values.get("python", python)
    if (stored_version, stored_python) != (version, python) and not force:
        from pypet.pypetexceptions import VersionMismatchError

        raise VersionMismatchError(
            f"Current pypet version is {version} used under python {python} but your "
            f"trajectory was created with version {stored_version} and python {stored_python}. "
            "Use >>force=True<< to perform your load regardless of version mismatch.")
    if level != LOAD_NOTHING:
        load_skeleton(traj, str(values.get("comment", data.header.comment)), notes)
    if as_new:
        for idx in range(len(data.runs)):
            traj._add_run_info(idx)
    else:
        traj._comment = str(values.get("comment", data.header.comment))
        traj._timestamp = traj._trajectory_timestamp = data.header.timestamp
        traj._time = traj._trajectory_time = data.header.time
        traj._name = traj._trajectory_name = data.name
        traj._version, traj._python = stored_version, stored_python
        if with_run_information:
            for record in data.runs:
                traj._add_run_info(**_run_information(record))
        else:
            traj._length = len(data.runs)
    for name in values.get("explored", ()):
        traj._explored_parameters.setdefault(name, None)


def load_trajectory(context: Context, traj: Any, as_new: bool = False,
                    load_parameters: int = 2, load_derived_parameters: int = 2,
                    load_results: int = 2, load_other_data: int = 2, recursive: bool = True,
                    max_depth: int | None = None, with_run_information: bool = True,
                    with_meta_data: bool = True, force: bool = False,
                    trajectory_index: int | None = None, **kwargs: Any) -> Job:
    """pypet's TRAJECTORY load: information, run table and branches at their load levels."""
    levels = {"parameters": _load_level(load_parameters),
              "derived_parameters": _load_level(load_derived_parameters),
              "results": _load_level(load_results), "other": _load_level(load_other_data)}
    if as_new and (levels["derived_parameters"] or levels["results"] or levels["other"]):
        raise InvalidArgumentError("a trajectory loaded as new loads its parameters only")
    if as_new and levels["parameters"] != 2:
        raise InvalidArgumentError("a trajectory loaded as new loads its parameters' data")
    levels["config"] = 0 if as_new else levels["parameters"]
    if kwargs.get("trajectory_name") is None and trajectory_index is not None:
        kwargs["trajectory_name"] = _name_at(context, kwargs, trajectory_index)
    target = context.target(kwargs)
    # every level reads the data: hidden leaves (links, annotations) live there
    read_levels = {branch: 2 if level else 0 for branch, level in levels.items()}
    request = ReadTrajectory(target, read_levels)
    limit = INFINITE if max_depth is None else max_depth
    traj._stored = not as_new
    started = time.perf_counter()

    def level_of(path: Path) -> int:
        return levels.get(path[0], levels["other"])

    def keep(path: Path) -> bool:
        return len(path) <= limit and (recursive or len(path) == 1)

    def finish(data: TrajectoryData) -> Any:
        if with_meta_data:
            try:
                meta = context.ask(ReadLeaf(target, (keys.META,)))
            except KeyError:  # DataNotFoundError: a trajectory stored by aiostore's own API
                meta = None
            _apply_meta(traj, data, meta, as_new, with_run_information, force,
                        max(levels.values()))
        builder = TreeBuilder(traj, as_new)
        builder.add(data.nodes, level_of, keep, whole_branches=True)
        _finish_links(context, target, builder)
        seconds = max(time.perf_counter() - started, 1e-9)
        context.logger.info("loaded %d nodes of %r in %.2f s (%.0f nodes/s)", len(data.nodes),
                            data.name, seconds, len(data.nodes) / seconds)
        return traj

    return Job(request, finish)


def _name_at(context: Context, kwargs: dict[str, Any], index: int) -> str:
    filename = str(kwargs.get("filename") or context.defaults.filename)
    names = context.ask(ListTrajectories(filename, context.defaults.in_memory))
    try:
        return str(names[index])
    except IndexError:
        raise InvalidArgumentError(f"trajectory no. {index} does not exist: {filename!r} holds "
                                   f"{len(names)}") from None


def _finish_links(context: Context, target: Target, builder: TreeBuilder) -> None:
    """Add the links read; a link's target not yet in the tree is loaded as a skeleton."""
    for full_name in builder.missing_link_targets():
        path = keys.path_of(full_name)
        reads = tuple(ReadTree(target, path[:depth], recursive=False)
                      for depth in range(1, len(path) + 1))
        try:
            answers = context.ask(Sequence(reads))
        except KeyError:  # DataNotFoundError: a broken link, left out as pypet leaves it
            continue
        builder.add([nodes[0] for nodes in answers], lambda path: 1)
    builder.add_links()


def load_leaf_message(context: Context, leaf: Any, load_data: int = 2, load_only: Any = None,
                      load_except: Any = None, load_flags: Any = None,
                      **kwargs: Any) -> Job:
    """pypet's LEAF load."""
    target = context.target(kwargs)
    level = _load_level(load_data)

    def finish(answer: NodeData) -> Any:
        load_leaf(leaf, answer, level, load_only, load_except)
        return leaf

    return Job(ReadLeaf(target, _path(leaf)), finish)


def _subtree_job(context: Context, target: Target, top: Any, reads: tuple[ReadTree, ...],
                 level: int, keep: Callable[[Path], bool]) -> Job:
    def finish(answer: list[list[NodeData]]) -> Any:
        builder = TreeBuilder(top.v_root)
        builder.add([node for nodes in answer for node in nodes], lambda path: level, keep)
        _finish_links(context, target, builder)
        return top

    return Job(Sequence(reads), finish)


def load_group(context: Context, group: Any, load_data: int = 2, with_links: bool = True,
               recursive: bool = False, max_depth: int | None = None, **kwargs: Any) -> Job:
    """pypet's GROUP load: the group's comment and annotations, or its subtree."""
    target = context.target(kwargs)
    level = _load_level(load_data)
    path = _path(group)
    limit = INFINITE if max_depth is None else max_depth

    def keep(node_path: Path) -> bool:
        below = len(node_path) - len(path)
        return below == 0 or (recursive and below <= limit)

    depth = None if recursive else 1
    return _subtree_job(context, target, group, (ReadTree(target, path, True, True, depth),),
                        level, keep)


def load_tree(context: Context, node: Any, child_name: str, load_data: int = 2,
              recursive: bool = False, max_depth: int | None = None, with_links: bool = True,
              **kwargs: Any) -> Job:
    """pypet's TREE load: the nodes along ``child_name`` below ``node``, and (if
    ``recursive``) what lies below its end. Its end may be a link."""
    target = context.target(kwargs)
    level = _load_level(load_data)
    base = _path(node)
    branch = keys.path_of(child_name)
    end = (*base, *branch)
    limit = INFINITE if max_depth is None else max_depth
    # each group on the way with its children: the next node, or the link to it, is there
    reads = tuple(ReadTree(target, (*base, *branch[:depth]), True, True, 1)
                  for depth in range(len(branch)))

    def keep(path: Path) -> bool:
        below = len(path) - len(base)
        if below > limit or below < 0:
            return False
        if len(path) <= len(end):
            return path == end[:len(path)]
        return recursive and path[:len(end)] == end

    def finish(answer: list[list[NodeData]]) -> Any:
        nodes = [found for part in answer for found in part]
        builder = TreeBuilder(node.v_root)
        builder.add(nodes, lambda path: level, keep)
        if not any(found.path == end for found in nodes) and not _links_to(nodes, end):
            raise DataNotFoundError(f"no item {child_name!r} below {node.v_full_name!r} in "
                                    f"trajectory {target.trajectory!r}")
        if recursive and any(found.path == end and not found.is_leaf for found in nodes):
            below = context.ask(ReadTree(target, end, True, True, None))
            builder.add(below[1:], lambda path: level, keep)
        _finish_links(context, target, builder)
        return node

    return Job(Sequence(reads), finish)


def _links_to(nodes: list[NodeData], path: Path) -> bool:
    """Whether ``path`` is a link among the links ``nodes`` hold."""
    links_path = (*path[:-1], keys.LINKS)
    return any(found.path == links_path and path[-1] in (found.values or {}) for found in nodes)


def load_list(context: Context, entries: Any, **kwargs: Any) -> Job:
    """pypet's LIST load: each entry loaded in turn (a later one may need an earlier one)."""
    items = [_entry(entry, kwargs) for entry in entries]
    jobs = [plan(context, LOAD_PLANNERS, "load", *items[0])] if items else []

    def finish(answer: Any) -> None:
        if jobs:
            jobs[0].finish(answer)
        for msg, item, args, entry_kwargs in items[1:]:
            job = plan(context, LOAD_PLANNERS, "load", msg, item, args, entry_kwargs)
            job.finish(context.ask(job.request))

    return Job(jobs[0].request if jobs else Sequence(()), finish)


LOAD_PLANNERS: dict[str, Planner] = {
    "TRAJECTORY": load_trajectory,
    "LEAF": load_leaf_message,
    "GROUP": load_group,
    "TREE": load_tree,
    "LIST": load_list,
}


def pypet_written_load(context: Context, msg: Any, item: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Job | None:
    """The load of a trajectory pypet's own service wrote, made by pypet's own service on the
    HDF5 thread (None for aiostore's trajectories): a pypet user keeps reading old files."""
    probe = dict(kwargs)
    if probe.get("trajectory_name") is None and probe.get("trajectory_index") is not None:
        probe["trajectory_name"] = _name_at(context, probe, probe["trajectory_index"])
    try:
        target = context.target(probe)
    except InvalidArgumentError:
        return None
    key = (target.filename, target.trajectory)
    if key not in context.layouts:
        written_by = context.ask(TrajectoryLayout(target))
        if not written_by:
            return None
        context.layouts[key] = written_by
    if context.layouts[key] != "pypet":
        return None

    def read(filename: str) -> Any:
        from pypet.storageservice import HDF5StorageService as PypetService

        return PypetService(filename=filename).load(msg, item, *args, **kwargs)

    return Job(ForeignRead(target.filename, read))


def plan(context: Context, planners: dict[str, Planner], verb: str, msg: Any, item: Any,
         args: tuple[Any, ...], kwargs: dict[str, Any]) -> Job:
    """The job for pypet's ``verb(msg, item, *args, **kwargs)``."""
    planner = planners.get(str(msg))
    if planner is None:
        target = context.target(dict(kwargs))  # pypet first checks the trajectory is there
        if target.trajectory not in context.ask(ListTrajectories(target.filename,
                                                                 target.in_memory)):
            raise NotStoredError(f"trajectory {target.trajectory!r} is not in "
                                 f"{target.filename!r}: store it first")
        raise NoSuchServiceError(f"the pypet shim cannot {verb} with message {msg!r}")
    try:
        return planner(context, item, *args, **dict(kwargs))
    except TypeError as exc:
        if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
            raise InvalidArgumentError(f"{verb} {msg}: {exc}") from None
        raise


