"""pypet's names in aiostore's files: a reversible mapping onto aiostore's names.

pypet allows names aiostore keeps for itself or cannot put in a file by natural naming: data
keys with dots (nested data, ``explored__rr__.set_00000.xa_00000000``), keys starting with
``_`` (``__pckl_prtcl__``), python keywords. Such a name is written as ``pk_`` followed by the
name with every character but ASCII letters and digits escaped as ``_<hex>_`` (``.`` is
``_2e_``); a valid name that starts with ``pk_`` is escaped too, so every stored name reads back
as exactly one pypet name.

What pypet keeps as HDF5 attributes, aiostore keeps as values of hidden leaves and keys, whose
names no escaped name can take (an escape after ``pk_`` starts with ``_`` and a hex digit):
``pk__links`` (a group's links), ``pk__annotations`` (a group's annotations), ``pk__meta`` (the
trajectory's pypet information) and a leaf's annotation keys ``pk__note_<escaped name>``.
"""

from __future__ import annotations

import re

from ..._core.names import check_name
from ..._core.requests import SkeletonReads
from ...errors import FileFormatError, InvalidNameError

PREFIX = "pk_"
LINKS = "pk__links"
ANNOTATIONS = "pk__annotations"
META = "pk__meta"
NOTE = "pk__note_"
PICKLED_NOTE = "pk__pnote_"
HIDDEN = frozenset({LINKS, ANNOTATIONS, META})
# the comments of the hidden leaves, for whoever looks at the file with other tools
HIDDEN_COMMENTS = {LINKS: "pypet's links of this group: link name -> full name of its target",
                   ANNOTATIONS: "pypet's annotations of this group",
                   META: "pypet's information about this trajectory"}

# a skeleton load still reads the hidden leaves and the leaves' annotations
SKELETON = SkeletonReads(HIDDEN, (NOTE, PICKLED_NOTE))

_ESCAPED = re.compile(r"(?:[A-Za-z0-9]|_[0-9a-f]+_)*")
_ESCAPE = re.compile(r"_([0-9a-f]+)_")
_plain_cache: dict[str, bool] = {}


def _escape(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in name)


def _unescape(text: str) -> str:
    if not _ESCAPED.fullmatch(text):
        raise FileFormatError(f"{PREFIX}{text!r} is not a name the pypet shim wrote")
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


def _is_plain(name: str) -> bool:
    plain = _plain_cache.get(name)
    if plain is None:
        try:
            check_name(name)
            plain = not name.startswith(PREFIX)
        except InvalidNameError:
            plain = False
        if len(_plain_cache) < 100_000:
            _plain_cache[name] = plain
    return plain


def to_file(name: str) -> str:
    """The name in the file of pypet's node name or data key ``name``."""
    if not isinstance(name, str) or not name:
        raise InvalidNameError(name, "a pypet name must be a non-empty str")
    return name if _is_plain(name) else PREFIX + _escape(name)


def from_file(stored: str) -> str:
    """pypet's name of the node or key written as ``stored``."""
    if stored.startswith(PREFIX):
        return _unescape(stored[len(PREFIX):])
    return stored


def note_key(name: str) -> str:
    """The key in a leaf's values of its annotation ``name``."""
    return NOTE + _escape(name)


def pickled_note_key(name: str) -> str:
    """The key of annotation ``name`` whose value only pickle can keep (as pypet keeps it)."""
    return PICKLED_NOTE + _escape(name)


def note_name(key: str) -> tuple[str, bool] | None:
    """The annotation a leaf's value key holds and whether it is pickled; None for data."""
    for prefix, pickled in ((NOTE, False), (PICKLED_NOTE, True)):
        if key.startswith(prefix):
            return _unescape(key[len(prefix):]), pickled
    return None


def path_of(full_name: str) -> tuple[str, ...]:
    """The path in the file of pypet's full name ``full_name`` (``''`` is the root)."""
    return tuple(to_file(name) for name in full_name.split(".")) if full_name else ()


def full_name_of(path: tuple[str, ...]) -> str:
    """pypet's full name of the node at ``path``."""
    return ".".join(from_file(name) for name in path)
