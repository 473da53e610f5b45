"""pypet's loads (TRAJECTORY, LEAF, GROUP, TREE, LIST) planned as aiostore reads, built into
pypet's tree; a trajectory pypet's own service wrote is read by pypet's own service."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..._core.answers import NodeData, TrajectoryData
from ..._core.planning import Job, load_level
from ..._core.requests import (
    ForeignRead,
    ListTrajectories,
    Path,
    ReadLeaf,
    ReadTrajectory,
    ReadTree,
    RunRecord,
    Sequence,
    Target,
    TrajectoryLayout,
)
from ...errors import (
    DataNotFoundError,
    InvalidArgumentError,
)
from . import keys
from .loading import LOAD_NOTHING, TreeBuilder, load_leaf, load_skeleton, split_values
from .messages import Context, Planner, list_entry, node_path, plan, pypet_versions
from .storing import INFINITE


def _run_information(record: RunRecord) -> dict[str, Any]:
    return {"idx": record.idx, "name": record.name, "timestamp": record.timestamp,
            "finish_timestamp": record.finish_timestamp, "runtime": record.runtime,
            "time": record.time, "completed": int(record.completed),
            "parameter_summary": record.parameter_summary, "short_environment_hexsha": "N/A"}


def _apply_meta(traj: Any, data: TrajectoryData, meta: NodeData | None, as_new: bool,
                with_run_information: bool, force: bool, level: int) -> None:
    """pypet's load of the trajectory's information, run table and explored names."""
    values, notes = split_values(meta.values if meta is not None else {})
    version, python = pypet_versions()
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
    levels = {"parameters": load_level(load_parameters),
              "derived_parameters": load_level(load_derived_parameters),
              "results": load_level(load_results), "other": load_level(load_other_data)}
    if as_new and (levels["derived_parameters"] or levels["results"] or levels["other"]):
        raise InvalidArgumentError("a trajectory loaded as new loads its parameters only")
    if as_new and levels["parameters"] != 2:
        raise InvalidArgumentError("a trajectory loaded as new loads its parameters' data")
    levels["config"] = 0 if as_new else levels["parameters"]
    if kwargs.get("trajectory_name") is None and trajectory_index is not None:
        kwargs["trajectory_name"] = _name_at(context, kwargs, trajectory_index)
    target = context.target(kwargs)
    request = ReadTrajectory(target, levels, keys.SKELETON)
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


def _finish_links(context: Context, target: Target, builder: TreeBuilder,
                  with_links: bool = True) -> None:
    """Add the links read (unless not ``with_links``); a link's target not yet in the tree is
    loaded as a skeleton."""
    if not with_links:
        builder.links.clear()
        return
    for full_name in builder.missing_link_targets():
        path = keys.path_of(full_name)
        reads = tuple(ReadTree(target, path[:depth], False, False, None, keys.SKELETON)
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
    level = load_level(load_data)

    def finish(answer: NodeData) -> Any:
        load_leaf(leaf, answer, level, load_only, load_except)
        return leaf

    return Job(ReadLeaf(target, node_path(leaf)), finish)


def _subtree_job(context: Context, target: Target, top: Any, reads: tuple[ReadTree, ...],
                 level: int, keep: Callable[[Path], bool], with_links: bool) -> Job:
    def finish(answer: list[list[NodeData]]) -> Any:
        builder = TreeBuilder(top.v_root)
        builder.add([node for nodes in answer for node in nodes], lambda path: level, keep)
        _finish_links(context, target, builder, with_links)
        return top

    return Job(Sequence(reads), finish)


def load_group(context: Context, group: Any, load_data: int = 2, with_links: bool = True,
               recursive: bool = False, max_depth: int | None = None, **kwargs: Any) -> Job:
    """pypet's GROUP load: the group's comment and annotations, or its subtree."""
    target = context.target(kwargs)
    level = load_level(load_data)
    path = node_path(group)
    limit = INFINITE if max_depth is None else max_depth

    def keep(node_path: Path) -> bool:
        below = len(node_path) - len(path)
        return below == 0 or (recursive and below <= limit)

    depth = None if recursive else 1
    read = ReadTree(target, path, True, level >= 2, depth, keys.SKELETON)
    return _subtree_job(context, target, group, (read,),
                        level, keep, with_links)


def load_tree(context: Context, node: Any, child_name: str, load_data: int = 2,
              recursive: bool = False, max_depth: int | None = None, with_links: bool = True,
              **kwargs: Any) -> Job:
    """pypet's TREE load: the nodes along ``child_name`` below ``node``, and (if
    ``recursive``) what lies below its end. Its end may be a link."""
    target = context.target(kwargs)
    level = load_level(load_data)
    base = node_path(node)
    branch = keys.path_of(child_name)
    end = (*base, *branch)
    limit = INFINITE if max_depth is None else max_depth
    # each group on the way with its children: the next node, or the link to it, is there
    reads = tuple(ReadTree(target, (*base, *branch[:depth]), True, level >= 2, 1, keys.SKELETON)
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
            below = context.ask(ReadTree(target, end, True, level >= 2, None, keys.SKELETON))
            builder.add(below[1:], lambda path: level, keep)
        _finish_links(context, target, builder, with_links)
        return node

    return Job(Sequence(reads), finish)


def _links_to(nodes: list[NodeData], path: Path) -> bool:
    """Whether ``path`` is a link among the links ``nodes`` hold."""
    links_path = (*path[:-1], keys.LINKS)
    return any(found.path == links_path and path[-1] in (found.values or {}) for found in nodes)


def load_list(context: Context, entries: Any, **kwargs: Any) -> Job:
    """pypet's LIST load: each entry loaded in turn (a later one may need an earlier one)."""
    items = [list_entry(entry, kwargs) for entry in entries]
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
