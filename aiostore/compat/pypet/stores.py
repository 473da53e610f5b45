"""pypet's stores (TRAJECTORY, SINGLE_RUN, LEAF, GROUP, TREE, LIST, DELETE, DELETE_LINK,
PREPARE_MERGE, MERGE, BACKUP, ACCESS_DATA) planned as aiostore writes."""

from __future__ import annotations

import os
from typing import Any

from ..._core.planning import Job
from ..._core.requests import (
    Backup,
    DescribeNodes,
    LeafRecord,
    MergeTrajectories,
    Path,
    RemoveItems,
    RunRecord,
    Sequence,
    Target,
    TrajectoryHeader,
    WriteItems,
)
from ...codec import encode
from ...errors import (
    InvalidArgumentError,
    RemovalError,
)
from . import keys, shared, storing
from .messages import Context, Planner, list_entry, node_path, plan
from .storing import INFINITE, STORE_DATA, STORE_NOTHING, TreeWrite, store_level


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
    # flat runs groups: pypet's own names may hold run sets ("$set": run_set_XXXXX)
    header = TrajectoryHeader(str(traj.v_comment or ""), float(traj.v_timestamp), traj.v_time,
                              run_sets=False)
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
        path = node_path(item)
        if not item.v_is_leaf and not recursive:
            _check_childless(context, target, item, path)
            recursive = True  # what is left below are pypet's hidden leaves
        return Job(RemoveItems(target, (path,), recursive=recursive, keep_explored=False))
    if not item.v_is_leaf:
        raise InvalidArgumentError(f"delete_only works on leaves; {item.v_full_name!r} is a group")
    names = [delete_only] if isinstance(delete_only, str) else list(delete_only)
    request = RemoveItems(target, (node_path(item),), delete_only=tuple(map(keys.to_file, names)),
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
    jobs = [plan(context, STORE_PLANNERS, "store", *list_entry(entry, kwargs)) for entry in entries]

    def finish(answers: list[Any]) -> None:
        for job, answer in zip(jobs, answers, strict=True):
            job.finish(answer)

    return Job(Sequence(tuple(job.request for job in jobs)), finish)



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
