"""Assertions for tests of code that stores through aiostore: exact values, items, trajectories.

Equality here is the codec's promise (:mod:`aiostore.codec.equality`): the same type and the
same value, recursively (a tuple of ``np.int64`` is not a list of ``int``; ``-0.0`` is not
``0.0``; NaN equals NaN; dtypes and byte orders count). Every difference is listed, one line
each, with where it is::

    AssertionError: 2 differences between trajectory 'sweep' and trajectory 'sweep':
      results.runs.run_00000003.z['trace']: dtype float64 != float32
      results.runs.run_00000004.z: only in the first

:func:`assert_exact` compares values, :func:`assert_items_equal` leaves, groups and whole
trajectories (every leaf, comments, explored ranges and the run table), and
:func:`differences` gives the lines without asserting.
"""

from __future__ import annotations

from typing import Any

from .codec.equality import value_differences
from .model import Group, Leaf, Parameter, Trajectory

__all__ = ["assert_exact", "assert_items_equal", "differences"]


def assert_exact(first: Any, second: Any, name: str = "value") -> None:
    """Assert that two values have the same type and value, recursively, as the codec keeps
    them; ``name`` names the value in the lines that say what differs."""
    _raise(value_differences(first, second, name), "values")


def assert_items_equal(first: Any, second: Any, *, timestamps: bool = False) -> None:
    """Assert that two items are equal: leaves (class, comment, every value exactly, explored
    range), groups (every item below), or trajectories (also the run table: each run's index,
    completed flag and parameter summary; its times too with ``timestamps=True``)."""
    _raise(differences(first, second, timestamps=timestamps), _names(first, second))


def differences(first: Any, second: Any, *, timestamps: bool = False) -> list[str]:
    """What differs between two values or items, one line each (empty if they are equal)."""
    if isinstance(first, Group) and isinstance(second, Group):
        return _group_differences(first, second, timestamps)
    if isinstance(first, Leaf) and isinstance(second, Leaf):
        return _leaf_differences(first, second, first.v_full_name or "item")
    return value_differences(first, second, "value")


def _raise(found: list[str], what: str) -> None:
    if found:
        lines = "\n".join(f"  {line}" for line in found)
        count = f"{len(found)} difference{'s' if len(found) > 1 else ''}"
        raise AssertionError(f"{count} between {what}:\n{lines}")


def _names(first: Any, second: Any) -> str:
    def name(item: Any) -> str:
        kind = type(item).__name__.lower()
        label = getattr(item, "v_name", None) if isinstance(item, Trajectory) else getattr(
            item, "v_full_name", None)
        return f"{kind} {label!r}" if label else kind
    return f"{name(first)} and {name(second)}"


# ------------------------------------------------------------------------------------ items


def _group_differences(first: Group, second: Group, timestamps: bool) -> list[str]:
    found = []
    if type(first) is not type(second):
        found.append(f"{first.v_full_name or 'group'}: {type(first).__name__} != "
                     f"{type(second).__name__}")
    if isinstance(first, Trajectory) and isinstance(second, Trajectory):
        found += _trajectory_differences(first, second, timestamps)
    ours = {leaf.v_full_name: leaf for leaf in first.leaves()}
    theirs = {leaf.v_full_name: leaf for leaf in second.leaves()}
    for name in sorted(ours.keys() | theirs.keys()):
        if name not in theirs:
            found.append(f"{name}: only in the first")
        elif name not in ours:
            found.append(f"{name}: only in the second")
        else:
            found += _leaf_differences(ours[name], theirs[name], name)
    return found


def _trajectory_differences(first: Trajectory, second: Trajectory,
                            timestamps: bool) -> list[str]:
    found = []
    if first.v_name != second.v_name:
        found.append(f"name: {first.v_name!r} != {second.v_name!r}")
    if first.v_comment != second.v_comment:
        found.append(f"comment: {first.v_comment!r} != {second.v_comment!r}")
    if len(first.runs) != len(second.runs):
        found.append(f"runs: {len(first.runs)} != {len(second.runs)}")
    fields = ["idx", "completed", "parameter_summary"]
    if timestamps:
        fields += ["timestamp", "finish_timestamp"]
    for ours, theirs in zip(first.runs, second.runs, strict=False):
        for name in fields:
            a, b = getattr(ours, name), getattr(theirs, name)
            if a != b:
                found.append(f"runs[{ours.idx}].{name}: {a!r} != {b!r}")
    return found


def _leaf_differences(first: Leaf, second: Leaf, path: str) -> list[str]:
    found = []
    if type(first) is not type(second):
        found.append(f"{path}: {type(first).__name__} != {type(second).__name__}")
    if first.v_comment != second.v_comment:
        found.append(f"{path}: comment {first.v_comment!r} != {second.v_comment!r}")
    if isinstance(first, Parameter) and isinstance(second, Parameter):
        found += value_differences(first.range, second.range, f"{path} (explored range)")
    found += value_differences(first.data, second.data, path)
    return found
