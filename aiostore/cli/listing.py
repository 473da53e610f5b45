"""``aiostore ls``: the tree of trajectories, groups and leaves, from metadata alone."""

from __future__ import annotations

from collections.abc import Iterator

from .._core.answers import KeyInfo, NodeInfo
from ..blocking import StorageService
from .paths import ItemPath, load_runs
from .wording import plural

__all__ = ["format_size", "list_items"]

INDENT = "  "


def format_size(nbytes: int, exact: bool = False) -> str:
    """``40 B``, ``1.5 KiB``, ``8.0 MiB`` (or the exact number of bytes)."""
    if exact or nbytes < 1024:
        return f"{nbytes} B"
    size, unit = nbytes / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    return f"{size:.1f} {unit}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _kind(info: NodeInfo) -> str:
    words = [info.kind.replace("_", " ")]
    if info.explored_length is not None:
        words.append(f"explored: {plural(info.explored_length, 'value')}")
    if info.packed:
        words.append("packed")
    if info.problem:
        words.append(f"PROBLEM: {info.problem}")
    return ", ".join(words)


def _key_lines(keys: tuple[KeyInfo, ...], indent: str, exact: bool) -> Iterator[str]:
    rows = [(key.name, key.type_name, _shape(key.shape), key.dtype,
             format_size(key.nbytes, exact)) for key in keys]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        yield f"{indent}- {'  '.join(cells)}  {row[4].rjust(10)}".rstrip()


def _node_lines(info: NodeInfo, depth: int, exact: bool) -> Iterator[str]:
    indent = INDENT * depth
    if not info.is_leaf:
        yield f"{indent}{info.path[-1]}/"
        return
    yield f"{indent}{info.path[-1]}  [{_kind(info)}]  {format_size(info.nbytes, exact)}"
    yield from _key_lines(info.keys, indent + INDENT + INDENT, exact)


def _header(service: StorageService, trajectory: str) -> str:
    runs = load_runs(service, trajectory).runs
    completed = sum(run.completed for run in runs)
    return f"{trajectory}/  [trajectory, {plural(len(runs), 'run')}, {completed} completed]"


def list_items(service: StorageService, where: ItemPath | None, max_depth: int | None,
               exact: bool) -> Iterator[str]:
    """The lines of ``ls``: every trajectory of the file, or the item ``where`` and below."""
    if where is None:
        for trajectory in service.list_trajectories():
            yield from list_items(service, ItemPath(trajectory, ()), max_depth, exact)
        return
    infos = service.describe(where.trajectory, where.full_name or None, max_depth=max_depth)
    if not where.path:
        yield _header(service, where.trajectory)
    for info in infos:
        yield from _node_lines(info, len(info.path) - len(where.path), exact)
