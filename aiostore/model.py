"""The native items: Parameter, Result, Group, Trajectory, its runs, and ObjectTable.

Every leaf follows the protocol of pypet's storage service, so the service takes these and
duck-typed items of other code alike: ``v_full_name``, ``v_comment``, ``_store() -> dict``,
``_load(dict)``, and optionally ``_store_flags() -> dict``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ._core.names import (
    RUNS_GROUP,
    STANDARD_GROUPS,
    check_name,
    run_index,
    run_name,
    split_full_name,
)

__all__ = [
    "Group",
    "Leaf",
    "ObjectTable",
    "Parameter",
    "Result",
    "RunChildren",
    "RunInfo",
    "SingleRun",
    "Trajectory",
    "format_time",
]


def format_time(timestamp: float) -> str:
    """pypet's time format: ``2026_11_21_13h05m09s``."""
    return _format_second(math.floor(timestamp))  # as time.localtime rounds


@functools.lru_cache(maxsize=64)
def _format_second(second: int) -> str:
    # a sweep's runs start thousands to a second: their run table rows share the string
    return time.strftime("%Y_%m_%d_%Hh%Mm%Ss", time.localtime(second))


class ObjectTable(pd.DataFrame):
    """A DataFrame whose columns hold python objects (dtype ``object``), as in pypet.

    Each cell keeps its own type: a column of python ints comes back as python ints, a column
    of ``np.int32`` as ``np.int32``, a column of equal-shaped arrays as arrays.
    """

    def __init__(
        self, data: Any = None, index: Any = None, columns: Any = None, copy: bool = False
    ) -> None:
        super().__init__(data=data, index=index, columns=columns, dtype=object, copy=copy)  # type: ignore[call-arg]

    @property
    def _constructor(self) -> type[ObjectTable]:
        return ObjectTable


class _Node:
    """What groups and leaves share: a checked full name and a comment."""

    def __init__(self, full_name: str, comment: str = "") -> None:
        split_full_name(full_name)  # checked
        self.v_full_name = full_name
        self.v_comment = comment
        self.v_stored = False
        self._trajectory_name: str | None = None

    # Made when asked, not kept: two strings a node, a quarter of what a million runs' groups
    # and results held.
    @property
    def v_name(self) -> str:
        """The last part of the full name."""
        return self.v_full_name.rpartition(".")[2]

    @property
    def v_location(self) -> str:
        """The full name of the group above (``""`` at the top)."""
        return self.v_full_name.rpartition(".")[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.v_full_name!r}>"


class Leaf(_Node):
    """Base class of the native leaves: a named dict of values stored as one HDF5 group."""

    v_is_leaf = True

    def __init__(self, full_name: str, comment: str = "") -> None:
        super().__init__(full_name, comment)
        self._data: dict[str, Any] = {}
        self._flags: dict[str, str] | None = None  # a dict once a flag is set: most have none

    @property
    def data(self) -> dict[str, Any]:
        """The values, by key."""
        return self._data

    def set_flag(self, key: str, flag: str) -> None:
        """Store ``key`` with ``flag`` (an :class:`~aiostore.Flag`) instead of the inferred flag."""
        if self._flags is None:
            self._flags = {}
        self._flags[check_name(key, "data key")] = flag

    def is_empty(self) -> bool:
        return not self._data

    def _store(self) -> dict[str, Any]:
        return dict(self._data)

    def _store_flags(self) -> dict[str, str]:
        return dict(self._flags or {})

    def _load(self, load_dict: Mapping[str, Any]) -> None:
        self._data.update(load_dict)


class Result(Leaf):
    """A result: any number of named values.

    ``Result("results.z", 1.0, arr=np.arange(3))`` holds ``z=1.0`` and ``arr``; a first positional
    value takes the result's own name, further ones ``<name>_1``, ``<name>_2``, ... (as in pypet).
    """

    def __init__(self, full_name: str, *args: Any, comment: str = "", **values: Any) -> None:
        super().__init__(full_name, comment)
        self.f_set(*args, **values)

    def f_set(self, *args: Any, **values: Any) -> None:
        """Add values: positional ones under the result's name, keyword ones under their key."""
        for position, value in enumerate(args):
            self[self.v_name if position == 0 else f"{self.v_name}_{position}"] = value
        for key, value in values.items():
            self[key] = value

    def f_get(self, *keys: str) -> Any:
        """One value (the one named like the result if no key is given), or a tuple of values."""
        if not keys:
            keys = (self.v_name,) if self.v_name in self._data else tuple(self._data)[:1]
        values = tuple(self._data[key] for key in keys)
        return values[0] if len(values) == 1 else values

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[check_name(key, "data key")] = value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def keys(self) -> list[str]:
        return list(self._data)


class Parameter(Leaf):
    """A parameter: one value, and for an explored parameter the range of values of the runs."""

    def __init__(self, full_name: str, value: Any = None, comment: str = "") -> None:
        super().__init__(full_name, comment)
        if value is not None:
            self._data["data"] = value

    @property
    def value(self) -> Any:
        """The default value (for an explored parameter, the value outside of any run)."""
        return self._data.get("data")

    @value.setter
    def value(self, value: Any) -> None:
        self._data["data"] = value

    @property
    def range(self) -> list[Any] | None:
        """The explored values, one per run, or None if the parameter is not explored."""
        explored = self._data.get("explored_data")
        return None if explored is None else list(explored)

    @property
    def is_explored(self) -> bool:
        return "explored_data" in self._data

    def explore(self, values: list[Any] | tuple[Any, ...]) -> None:
        values = list(values)
        if not values:
            raise ValueError(f"{self.v_full_name}: an explored range needs at least one value")
        if "data" not in self._data:
            self._data["data"] = values[0]
        self._data["explored_data"] = values

    def value_at(self, index: int) -> Any:
        """The value in run ``index``."""
        explored = self._data.get("explored_data")
        return self.value if explored is None else explored[index]

    def f_get(self) -> Any:
        return self.value


RUN_BLOCK_BITS = 12  # 4,096 runs a block: a block's dict rehashes in microseconds


class RunChildren(MutableMapping[str, "Group | Leaf"]):
    """The children of a ``runs`` group: a dict per block of consecutive run indices.

    A sweep adds a group per run under ``results.runs``, and one dict of a million children
    rehashes itself in one piece each time it doubles: 16 ms at 350,000 runs and about 50 ms at
    700,000 here, with every thread stopped, the event loop's worst lag of a million-run sweep.
    Names that are not run names are kept in a dict of their own. Iteration goes block by block
    in run-index order (within a block, in the order the runs came), then the other names.
    """

    __slots__ = ("_blocks", "_count", "_others")

    def __init__(self) -> None:
        self._blocks: list[dict[str, Group | Leaf] | None] = []
        self._others: dict[str, Group | Leaf] = {}
        self._count = 0

    def _block(self, name: object, create: bool = False) -> dict[str, Group | Leaf] | None:
        index = run_index(name) if isinstance(name, str) else None
        if index is None:
            return self._others
        number = index >> RUN_BLOCK_BITS
        if number >= len(self._blocks):
            if not create:
                return None
            self._blocks.extend([None] * (number + 1 - len(self._blocks)))
        block = self._blocks[number]
        if block is None and create:
            block = self._blocks[number] = {}
        return block

    def __getitem__(self, name: str) -> Group | Leaf:
        block = self._block(name)
        if block is None:
            raise KeyError(name)
        return block[name]

    def get(self, name: str, default: Any = None) -> Any:
        block = self._block(name)
        return default if block is None else block.get(name, default)

    def __contains__(self, name: object) -> bool:
        block = self._block(name)
        return block is not None and name in block

    def __setitem__(self, name: str, child: Group | Leaf) -> None:
        block = self._block(name, create=True)
        assert block is not None
        count = len(block)
        block[name] = child
        self._count += len(block) - count

    def __delitem__(self, name: str) -> None:
        block = self._block(name)
        if block is None:
            raise KeyError(name)
        del block[name]
        self._count -= 1

    def __iter__(self) -> Iterator[str]:
        for block in self._blocks:
            if block:
                yield from block
        yield from self._others

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"<RunChildren of {self._count}>"


class Group(_Node):
    """A group of the tree: named children, groups or leaves."""

    v_is_leaf = False

    def __init__(self, full_name: str, comment: str = "") -> None:
        super().__init__(full_name, comment)
        self.children: MutableMapping[str, Group | Leaf] = (
            RunChildren() if full_name.rpartition(".")[2] == RUNS_GROUP else {})

    def _child_full_name(self, name: str) -> str:
        return f"{self.v_full_name}.{name}" if self.v_full_name else name

    def _ensure_group(self, name: str) -> Group:
        child = self.children.get(name)
        if child is None:
            child = self.children[name] = Group(self._child_full_name(name))
            child._trajectory_name = self._trajectory_name
        if not isinstance(child, Group):
            raise ValueError(f"{child.v_full_name!r} is a leaf, not a group")
        return child

    def leaves(self) -> Iterator[Leaf]:
        """Every leaf below this group, depth first."""
        for child in self.children.values():
            if isinstance(child, Group):
                yield from child.leaves()
            else:
                yield child

    def groups(self) -> Iterator[Group]:
        """Every group below this group, depth first, parents before children."""
        for child in self.children.values():
            if isinstance(child, Group):
                yield child
                yield from child.groups()


@dataclass
class RunInfo:
    """One row of the run table."""

    idx: int
    completed: bool = False
    timestamp: float = 0.0
    finish_timestamp: float = 0.0
    parameter_summary: str = ""

    @property
    def name(self) -> str:
        return run_name(self.idx)

    @property
    def runtime(self) -> float:
        return max(self.finish_timestamp - self.timestamp, 0.0) if self.completed else 0.0


class Trajectory(Group):
    """A parameter sweep: parameters (some explored), derived parameters, results and config.

    ``len(traj)`` is the number of runs (1 when nothing is explored); ``traj.runs`` the run
    records; ``traj["parameters.x"]`` the item at a full name; ``traj.run(i)`` a view of run ``i``
    that adds results under ``results.runs.run_0000000i``.
    """

    def __init__(self, name: str = "my_trajectory", comment: str = "") -> None:
        super().__init__("", comment)
        self._trajectory_name = check_name(name, "trajectory name")
        self.v_timestamp = time.time()
        self.v_time = format_time(self.v_timestamp)
        self.runs: list[RunInfo] = [RunInfo(0)]
        for group in STANDARD_GROUPS:
            self._ensure_group(group)

    @property
    def v_name(self) -> str:
        """The trajectory's name."""
        return self._trajectory_name or ""

    @v_name.setter
    def v_name(self, name: str) -> None:
        self._trajectory_name = name

    def __repr__(self) -> str:
        return f"<Trajectory {self.v_name!r} with {len(self)} runs>"

    def __len__(self) -> int:
        return len(self.runs)

    # -- lookup ------------------------------------------------------------------------------

    def get(self, full_name: str) -> Group | Leaf | None:
        """The item at ``full_name``, or None."""
        node: Group | Leaf = self
        for part in split_full_name(full_name):
            if not isinstance(node, Group) or part not in node.children:
                return None
            node = node.children[part]
        return node

    def __getitem__(self, full_name: str) -> Any:
        node = self.get(full_name)
        if node is None:
            raise KeyError(full_name)
        return node

    def __contains__(self, full_name: object) -> bool:
        return isinstance(full_name, str) and self.get(full_name) is not None

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Every parameter (not derived), by full name."""
        return {leaf.v_full_name: leaf for leaf in self._group("parameters").leaves()
                if isinstance(leaf, Parameter)}

    @property
    def explored_parameters(self) -> dict[str, Parameter]:
        return {name: p for name, p in self.parameters.items() if p.is_explored}

    def _group(self, name: str) -> Group:
        return self._ensure_group(name)

    # -- building ----------------------------------------------------------------------------

    def add_item(self, item: Any) -> Any:
        """Attach a leaf or group (native or duck-typed) at its full name, making the groups above."""
        parts = split_full_name(item.v_full_name)
        if not parts:
            raise ValueError("an item needs a full name")
        parent: Group = self
        for part in parts[:-1]:
            parent = parent._ensure_group(part)
        existing = parent.children.get(parts[-1])
        if existing is not None and existing is not item:
            raise ValueError(f"{item.v_full_name!r} already exists in trajectory {self.v_name!r}")
        parent.children[parts[-1]] = item
        item._trajectory_name = self.v_name
        return item

    def add_group(self, full_name: str, comment: str = "") -> Group:
        group: Group = self
        for part in split_full_name(full_name):
            group = group._ensure_group(part)
        if comment:
            group.v_comment = comment
        return group

    def add_parameter(self, name: str, value: Any = None, comment: str = "") -> Parameter:
        """Add ``parameters.<name>`` (``name`` may be dotted: ``"neuron.tau"``)."""
        param: Parameter = self.add_item(Parameter(f"parameters.{name}", value, comment))
        return param

    def add_derived_parameter(self, name: str, value: Any = None, comment: str = "") -> Parameter:
        param: Parameter = self.add_item(Parameter(f"derived_parameters.{name}", value, comment))
        return param

    def add_config(self, name: str, value: Any = None, comment: str = "") -> Parameter:
        param: Parameter = self.add_item(Parameter(f"config.{name}", value, comment))
        return param

    def add_result(self, name: str, *args: Any, comment: str = "", **values: Any) -> Result:
        result: Result = self.add_item(Result(f"results.{name}", *args, comment=comment, **values))
        return result

    def _parameter(self, name: str) -> Parameter:
        for full_name in (name, f"parameters.{name}"):
            node = self.get(full_name)
            if isinstance(node, Parameter):
                return node
        raise KeyError(f"no parameter {name!r} in trajectory {self.v_name!r}")

    def explore(self, ranges: Mapping[str, list[Any] | tuple[Any, ...]]) -> None:
        """Explore parameters (short or full names): one run per position of the equal-length ranges."""
        lengths = {len(values) for values in ranges.values()}
        if len(lengths) != 1:
            raise ValueError(f"explored ranges must have one length, got {sorted(lengths)}")
        params = {name: self._parameter(name) for name in ranges}
        if any(p.is_explored and p.v_stored for p in params.values()):
            raise ValueError("stored explored parameters cannot be explored again; use expand()")
        for name, param in params.items():
            param.explore(ranges[name])
        self.runs = [RunInfo(index) for index in range(lengths.pop())]

    def expand(self, ranges: Mapping[str, list[Any] | tuple[Any, ...]]) -> list[Parameter]:
        """Append runs: extend the ranges of explored parameters; returns the changed parameters."""
        lengths = {len(values) for values in ranges.values()}
        explored = self.explored_parameters
        if len(lengths) != 1 or set(map(self._full_parameter_name, ranges)) != set(explored):
            raise ValueError("expand() needs equal-length ranges for every explored parameter")
        changed = []
        for name, values in ranges.items():
            param = self._parameter(name)
            param.explore([*(param.range or []), *values])
            changed.append(param)
        start = len(self.runs)
        self.runs.extend(RunInfo(start + offset) for offset in range(lengths.pop()))
        return changed

    def _full_parameter_name(self, name: str) -> str:
        return self._parameter(name).v_full_name

    def run(self, index: int) -> SingleRun:
        """A view of run ``index``, to add its results and store it with ``Msg.SINGLE_RUN``."""
        if not 0 <= index < len(self.runs):
            raise IndexError(f"run {index} out of range for {len(self.runs)} runs")
        return SingleRun(self, index)

    def parameter_summary(self, index: int) -> str:
        """A summary of a run's explored values: ``"x: 1.0, y: 10"`` (pypet's has three spaces
        after each comma; files and trajectories made before issue 19 have that)."""
        return self.parameter_summaries([index])[0]

    def parameter_summaries(self, indices: Iterable[int]) -> list[str]:
        """:meth:`parameter_summary` of each of ``indices`` (the explored parameters found
        once, not once a run: a trajectory's store summarizes every run)."""
        indices = list(indices)
        explored = [parameter for _, parameter in sorted(self.explored_parameters.items())]
        summaries: list[str] = []
        for start in range(0, len(indices), _SUMMARY_BLOCK):
            summaries += _summaries(explored, indices[start:start + _SUMMARY_BLOCK])
        return summaries


# A trajectory's store summarizes every run, a block of runs at a time: a column of
# "name: value" per parameter, then joined (a generator per run took twice as long), in blocks
# because freeing a million temporary strings at once holds the GIL for tens of milliseconds.
_SUMMARY_BLOCK = 8192


def _summaries(explored: list[Parameter], indices: list[int]) -> list[str]:
    columns = [[f"{parameter.v_name}: {values[index]!s}" for index in indices]
               for parameter, values in ((p, p._data["explored_data"]) for p in explored)]
    if not columns:
        return [""] * len(indices)
    if len(columns) == 1:
        return [part[:512] for part in columns[0]]
    return [", ".join(parts)[:512] for parts in zip(*columns, strict=True)]


@dataclass
class SingleRun:
    """Run ``idx`` of a trajectory: its parameter values, and the items it adds.

    Results added here go to ``results.runs.run_XXXXXXXX.<name>`` in the trajectory; storing the
    run (``Msg.SINGLE_RUN``) writes them and marks the run completed.
    """

    trajectory: Trajectory
    v_idx: int
    new_items: list[Any] = field(default_factory=list)
    timestamp: float = field(default_factory=time.time)

    @property
    def v_name(self) -> str:
        return run_name(self.v_idx)

    v_crun = v_name

    def __getitem__(self, name: str) -> Any:
        """The value of parameter ``name`` (short or full) in this run."""
        return self.trajectory._parameter(name).value_at(self.v_idx)

    @property
    def params(self) -> dict[str, Any]:
        """The values of all parameters in this run, by short name."""
        return {p.v_name: p.value_at(self.v_idx) for p in self.trajectory.parameters.values()}

    def _add(self, item: Any) -> Any:
        self.trajectory.add_item(item)
        self.new_items.append(item)
        return item

    def add_result(self, name: str, *args: Any, comment: str = "", **values: Any) -> Result:
        full_name = f"results.{RUNS_GROUP}.{self.v_name}.{name}"
        result: Result = self._add(Result(full_name, *args, comment=comment, **values))
        return result

    def add_derived_parameter(self, name: str, value: Any = None, comment: str = "") -> Parameter:
        full_name = f"derived_parameters.{RUNS_GROUP}.{self.v_name}.{name}"
        param: Parameter = self._add(Parameter(full_name, value, comment))
        return param
