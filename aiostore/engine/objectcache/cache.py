"""A cache of named objects in HDF5 files that a crash or a second process cannot corrupt.

HDF5 updates a file in place, with no journal: a process killed while writing can leave a file
that no longer opens, taking older data with it. So a cache file is never changed once it is
complete. For a cache ``<stem>.h5`` in a directory:

- a store writes its one object into a new segment file ``<stem>.seg<seq>.h5`` (through a
  temporary file that is fsync'd, then renamed: it appears complete or not at all); the first
  store of a cache writes ``<stem>.h5`` itself;
- now and then the segments are folded into a new ``<stem>.h5`` written the same way, which
  records the last segment it holds (``AIOSTORE_THROUGH``); older segments are then deleted.
  Folding when the segments hold as many bytes as the main file keeps the bytes written
  linear in what is stored (a store pickling the whole cache each time is quadratic);
- a load reads the main file, then the newer segments in order: the last object of a name wins.

Processes sharing the directory take ``<stem>.lock`` with ``flock``: exclusively to store and
fold, shared to load. A killed process drops its lock, and its temporary file is removed by the
next store. (Windows has no ``flock``: there, one process at a time may use a cache.)

A file the disk has no room for is never published: libhdf5 does not always make PyTables
raise when a write fails (raw data, flushes), so its own reports are read too
(:func:`~.files.replacing`). A store that runs out of space raises DiskFullError and leaves the
cache as it was; a fold that does (it rewrites the whole cache), or that finds no room to
start, is left for later with a warning (its store is made already): the segments stay.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import tables

try:
    import fcntl
except ImportError:  # Windows: no flock; one process per cache there
    fcntl = None  # type: ignore[assignment]

from ..._core.answers import CacheContents, ObjectRecord
from ..._core.requests import PutObject, ReadObjects
from ...codec.trees import Node, PickleRefusedError
from ...errors import AiostoreError, FileFormatError
from .. import space
from ..files import OpenFile, open_file, replacing
from . import files as objectfiles

FORMAT = "AIOSTORE_OBJECTS"
FORMAT_VERSION = "aiostore-objects-1"
SEQ = "AIOSTORE_SEQ"
THROUGH = "AIOSTORE_THROUGH"
OBJECTS = "objects"

# Fold the segments into the main file once they are this many, or hold this many bytes and
# at least as many as the main file.
MAX_SEGMENTS = 64
MIN_FOLD_BYTES = 2**20


@dataclass(frozen=True)
class CacheFiles:
    """The files of the cache whose main file is ``main``."""

    main: str

    @property
    def _stem_ext(self) -> tuple[str, str]:
        stem, ext = os.path.splitext(self.main)
        return stem, ext or ".h5"

    @property
    def directory(self) -> str:
        return os.path.dirname(self.main) or "."

    @property
    def lock(self) -> str:
        return self._stem_ext[0] + ".lock"

    @property
    def temporary(self) -> str:
        stem, ext = self._stem_ext
        return f"{stem}.tmp{ext}"

    def segment(self, seq: int) -> str:
        stem, ext = self._stem_ext
        return f"{stem}.seg{seq:08d}{ext}"

    def segments(self) -> list[tuple[int, str]]:
        """The segment files present, oldest first."""
        stem, ext = self._stem_ext
        pattern = re.compile(re.escape(os.path.basename(stem)) + r"\.seg(\d+)" + re.escape(ext) + "$")
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                match = pattern.match(entry.name)
                if match:
                    found.append((int(match.group(1)), entry.path))
        return sorted(found)


@contextlib.contextmanager
def _locked(files: CacheFiles, exclusive: bool) -> Iterator[None]:
    os.makedirs(files.directory, exist_ok=True)
    descriptor = os.open(files.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@contextlib.contextmanager
def _publishing(files: CacheFiles, final: str, attrs: dict[str, object],
                outcome: str) -> Iterator[tuple[OpenFile, tables.Group]]:
    """A new cache file (its objects group) that appears as ``final`` once complete, durably
    and in one step; DiskFullError naming ``final`` (ending with ``outcome``) if the disk has
    no room for it, and nothing of it left behind."""
    with replacing(final, files.temporary, outcome) as temporary:
        opened = _new_file(temporary, attrs)
        try:
            yield opened, opened.h5.root._f_get_child(OBJECTS)
        finally:
            opened.close()


def _new_file(path: str, attrs: dict[str, object]) -> OpenFile:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)  # a temporary file left by a killed process
    opened = open_file(path, writable=True, file_title="aiostore object cache")
    root = opened.h5.root._v_attrs
    root[FORMAT] = FORMAT_VERSION
    for key, value in attrs.items():
        root[key] = value
    opened.h5.create_group("/", OBJECTS)
    return opened


def _node_name(name: str) -> str:
    """A PyTables-safe node name for object ``name``, different for different names."""
    if name.isascii() and name.isidentifier() and not name.startswith("_"):
        return name
    escaped = "".join(char if char.isascii() and char.isalnum() else f"_{ord(char):x}_"
                      for char in name)
    return "_e_" + escaped


# -------------------------------------------------------------------------------- reading


class _Source:
    """One complete cache file, open for reading."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.file = open_file(path, writable=False)
        try:
            root = self.file.h5.root
            if FORMAT not in root._v_attrs._v_attrnamesuser or OBJECTS not in root:
                raise FileFormatError(f"{path!r} is not an aiostore object cache")
            self.through = int(root._v_attrs[THROUGH]) if THROUGH in root._v_attrs else 0
            self.objects: dict[str, tuple[Any, dict[str, Any]]] = {}
            for node in root._f_get_child(OBJECTS)._f_iter_nodes():
                header = objectfiles.read_header(node)
                self.objects[header["name"]] = (node, header)
        except BaseException:
            self.file.close()
            raise

    def close(self) -> None:
        self.file.close()


@contextlib.contextmanager
def _sources(files: CacheFiles, problems: list[tuple[str, str]]) -> Iterator[list[_Source]]:
    """The main file and the segments it does not hold yet, oldest first; unreadable ones are
    skipped and described in ``problems``."""
    opened: list[_Source] = []
    try:
        through = 0
        if os.path.exists(files.main):
            main = _open_source(files.main, problems)
            if main is not None:
                opened.append(main)
                through = main.through
        for seq, path in files.segments():
            if seq > through and (source := _open_source(path, problems)) is not None:
                opened.append(source)
        yield opened
    finally:
        for source in opened:
            source.close()


def _open_source(path: str, problems: list[tuple[str, str]]) -> _Source | None:
    try:
        return _Source(path)
    except FileNotFoundError:
        return None
    except (AiostoreError, tables.HDF5ExtError, OSError, KeyError, ValueError) as exc:
        problems.append((path, f"{type(exc).__name__}: {exc}"))
        return None


def _described(problems: list[tuple[str, str]], action: str) -> list[str]:
    return [f"{action} unreadable cache file {path!r} ({reason})" for path, reason in problems]


def _newest(sources: list[_Source]) -> dict[str, tuple[_Source, Any, dict[str, Any]]]:
    """For each name, the newest source holding it, its node and its header."""
    newest: dict[str, tuple[_Source, Any, dict[str, Any]]] = {}
    for source in sources:
        for name, (node, header) in source.objects.items():
            newest[name] = (source, node, header)
    return newest


def read_objects(request: ReadObjects) -> CacheContents:
    """Every object of the cache (the newest of each name), read in a shared lock."""
    files = CacheFiles(request.path)
    if not os.path.exists(files.main) and not files.segments():
        return CacheContents([], [])
    problems: list[tuple[str, str]] = []
    records = []
    with _locked(files, exclusive=False), _sources(files, problems) as sources:
        for name, (source, node, header) in _newest(sources).items():
            records.append(_read_record(source, name, node, header, request.allow_pickle))
    return CacheContents(records, _described(problems, "skipped"))


def _read_record(source: _Source, name: str, node: Any, header: dict[str, Any],
                 allow_pickle: bool) -> ObjectRecord:
    tag = str(header.get("tag", ""))
    try:
        tree: Node | None = objectfiles.read_tree(source.file, node, header["tree"], allow_pickle)
    except PickleRefusedError as exc:
        return ObjectRecord(name, None, tag, str(exc))
    except (tables.HDF5ExtError, KeyError, ValueError, AiostoreError) as exc:
        return ObjectRecord(name, None, tag, f"unreadable in {source.path!r}: {exc}")
    return ObjectRecord(name, tree, tag)


# -------------------------------------------------------------------------------- writing


def put_object(request: PutObject) -> list[str]:
    """Write one object as a new segment, durably; fold the segments if they are many.

    Returns what went wrong with files found damaged on the way (set aside, not fatal).
    """
    files = CacheFiles(request.path)
    with _locked(files, exclusive=True):
        segments = files.segments()
        seq = (segments[-1][0] if segments else _main_through(files)) + 1
        first = not segments and not os.path.exists(files.main)
        # The first object of a cache makes its main file at once.
        outcome = (f"object {request.name!r} was not stored; the cache {files.main!r} keeps "
                   "every object stored before")
        with _publishing(files, files.main if first else files.segment(seq),
                         {THROUGH: seq} if first else {SEQ: seq}, outcome) as (opened, objects):
            objectfiles.write_object(opened, objects, _node_name(request.name), request.name,
                                     request.tag, request.tree)
        if _worth_folding(files):
            return _fold_if_room(files)
    return []


def _main_through(files: CacheFiles) -> int:
    if not os.path.exists(files.main):
        return 0
    problems: list[tuple[str, str]] = []
    main = _open_source(files.main, problems)
    if main is None:
        return 0
    main.close()
    return main.through


def _worth_folding(files: CacheFiles) -> bool:
    segments = files.segments()
    if len(segments) >= MAX_SEGMENTS:
        return True
    segment_bytes = sum(_size(path) for _, path in segments)
    return segment_bytes >= max(MIN_FOLD_BYTES, _size(files.main))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def _fold_if_room(files: CacheFiles) -> list[str]:
    """Fold the segments, unless the disk has no room for a new main file (then the segments
    stay, and a warning says so: the store itself is made)."""
    need = _size(files.main) + sum(_size(path) for _, path in files.segments())
    free = space.free_bytes(files.directory)
    if need + space.HEADROOM_BYTES > free:
        return [f"the cache {files.main!r} was not folded: rewriting it needs about "
                f"{need / 1e6:.1f} MB and {free / 1e6:.1f} MB are free; its objects stay in "
                "segment files until there is room"]
    try:
        return _fold(files)
    except AiostoreError as exc:  # DiskFullError most often: the store itself is made
        return [f"the cache {files.main!r} was not folded: {exc}"]


def _fold(files: CacheFiles) -> list[str]:
    """Write the newest object of each name into a new main file; drop the segments it holds."""
    problems: list[tuple[str, str]] = []
    outcome = "the cache keeps its objects in its segment files until there is room"
    # the sources are closed before the new main file replaces the old (Windows needs it)
    with _publishing(files, files.main, {}, outcome) as (opened, objects), \
            _sources(files, problems) as sources:
        through = max([source.through for source in sources]
                      + [seq for seq, _ in files.segments()], default=0)
        opened.h5.root._v_attrs[THROUGH] = through
        for _, node, _ in _newest(sources).values():
            node._f_copy(newparent=objects, recursive=True)
    for path, _ in problems:  # kept for whoever wants to look, out of the cache's way
        with contextlib.suppress(OSError):
            os.replace(path, path + ".damaged")
    for seq, path in files.segments():
        if seq <= through:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    return _described(problems, "set aside (.damaged)")
