"""Rules for names: items, data keys and trajectories; and run names.

A name is an ASCII python identifier that is not a keyword and does not start with ``_``
(aiostore and PyTables keep those for themselves): what PyTables can reach by natural naming
(``h5.root.sweep.results.z``), and within what pypet allows. A full name joins names with
dots: ``results.runs.run_00000003.z``; in the file each dot is a ``/`` below the trajectory's
group.
"""

from __future__ import annotations

import keyword
import re

from .errors import InvalidNameError

RUN_NAME_FORMAT = "run_%08d"
RUNS_GROUP = "runs"
STANDARD_GROUPS = ("config", "parameters", "derived_parameters", "results")


# A full name whose every part is valid, but for keywords (ASCII identifiers not starting
# with "_"): matched in one go, as a run's store splits several full names.
_FULL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_KEYWORDS = frozenset(keyword.kwlist)

# Short full names split so far (a run's parameters are looked up by full name in every run).
_split_names: dict[str, tuple[str, ...]] = {}

# Names found valid so far (a store checks the same few names again and again).
_valid_names: set[str] = set()


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it is a valid name, else :class:`InvalidNameError` saying why."""
    if isinstance(name, str) and name in _valid_names:
        return name
    if not isinstance(name, str):
        raise InvalidNameError(name, f"a {what} must be a str, not {type(name).__name__}")
    if not (name.isidentifier() and name.isascii()):
        raise InvalidNameError(
            name, f"a {what} must be an ASCII python identifier (letters, digits and '_'; no "
            "'.', '/', spaces or leading digits)")
    if keyword.iskeyword(name):
        raise InvalidNameError(name, f"a {what} must not be a python keyword")
    if name.startswith("_"):
        raise InvalidNameError(name, f"a {what} must not start with '_' (reserved)")
    if len(_valid_names) < 100_000:
        _valid_names.add(name)
    return name


def split_full_name(full_name: object) -> tuple[str, ...]:
    """The names of a dotted full name, each checked; the empty name is the trajectory root."""
    if not isinstance(full_name, str):
        raise InvalidNameError(full_name, "a full name must be a str")
    parts = _split_names.get(full_name)
    if parts is not None:
        return parts
    if full_name == "":
        return ()
    parts = tuple(full_name.split("."))
    if _FULL_NAME.fullmatch(full_name) is None or not _KEYWORDS.isdisjoint(parts):
        for part in parts:  # the invalid one raises, saying why
            check_name(part, "name in a full name")
    if len(parts) < 3 and len(_split_names) < 10_000:  # not a run's (results.runs.run_X.r)
        _split_names[full_name] = parts
    return parts


def run_name(index: int) -> str:
    """pypet's name of run ``index``: ``run_00000003``."""
    return RUN_NAME_FORMAT % index


def run_index(name: str) -> int | None:
    """The index in a run name ``run_XXXXXXXX``, or None if ``name`` is not one."""
    if name.startswith("run_") and len(name) == 12 and name[4:].isdigit():
        return int(name[4:])
    return None
