"""Leaves on disk: one HDF5 group per leaf, one node per value, the specs in one attribute."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import tables

from .._core.answers import SharedNode
from ..codec import Encoded, Spec, decode, dumps_specs
from ..codec.flags import Flag
from ..errors import (
    AiostoreError,
    DataNotFoundError,
    FileFormatError,
    InvalidArgumentError,
    UnsupportedTypeError,
)
from . import layout
from .files import OpenFile

# A chunked array is written in slices of about this size, letting other threads (an event
# loop) run between slices: PyTables holds the GIL for the whole of each write.
WRITE_SLICE_BYTES = 2**20


@functools.cache
def filters_for(compression: tuple[str, int] | None) -> tables.Filters | None:
    """The PyTables filters for a target's ``compression`` (library, level); None for none."""
    if compression is None:
        return None
    library, level = compression
    try:
        return tables.Filters(complevel=level, complib=library, shuffle=True)
    except (ValueError, TypeError) as exc:
        raise InvalidArgumentError(f"compression {compression!r}: {exc}") from None


# The tables aiostore keeps itself, the run table and the packed runs' tables, are appended a
# batch of runs at a time (a flush per batch) and read a whole column at a time: chunks of about
# this size, a few hundred rows at most, which a batch fills in one or two flushes (a partial
# chunk is compressed again at every flush).
TABLE_CHUNK_BYTES = 2**16

# The run table's rows (pypet's columns) are mostly zero padding, 713 bytes uncompressed. Measured
# on 20,000-100,000 rows appended in batches of 100-500 (benchmarks: README, Compression):
# blosc:lz4 makes a row 43 bytes for about 1 microsecond more to append and reads a column as
# fast as none; zlib 1 makes it 14 bytes but costs 4-5 microseconds more to append and 4 more per
# column read (inflate), 5-9x the read of none, on the path of every load_frame. Every PyTables
# (so pandas, pypet) reads blosc without a plugin; h5py needs ``import hdf5plugin`` for this
# table only (results are not compressed unless asked, see packed_table_options).
RUN_TABLE_FILTERS = tables.Filters(complevel=5, complib="blosc:lz4", shuffle=False)


def _table_chunkshape(row_type: np.dtype) -> tuple[int]:
    return (max(TABLE_CHUNK_BYTES // max(row_type.itemsize, 1), 1),)


def run_table_options(row_type: np.dtype, compression: tuple[str, int] | None = None
                      ) -> dict[str, Any]:
    """``create_table`` keywords of a trajectory's run table: blosc:lz4 unless ``compression``."""
    filters = RUN_TABLE_FILTERS if compression is None else filters_for(compression)
    return {"filters": filters, "chunkshape": _table_chunkshape(row_type)}


def packed_table_options(row_type: np.dtype, compression: tuple[str, int] | None = None
                         ) -> dict[str, Any]:
    """``create_table`` keywords of a packed runs' table: uncompressed unless ``compression``.

    Results are mostly floats, which no fast codec shrinks (noise: zlib 1 saves 9% and makes an
    append 25 times dearer); the user's ``compression`` applies as to any table.
    """
    return {"filters": filters_for(compression), "chunkshape": _table_chunkshape(row_type),
            "expectedrows": 10_000}


def _chunkshape(data: np.ndarray) -> tuple[int, ...] | None:
    """Chunks of whole rows, up to one write slice, never longer than the data.

    PyTables' own choice for a small array is a chunk far bigger than it (8192 elements for a
    100-element array: 64 kB on disk for 800 bytes). None (PyTables' choice) for huge rows.
    """
    row_bytes = max(data[0:1].nbytes, 1)
    if row_bytes > WRITE_SLICE_BYTES:
        return None
    return (max(min(len(data), WRITE_SLICE_BYTES // row_bytes), 1), *data.shape[1:])


def _write_carray(file: OpenFile, group: tables.Group, key: str, data: np.ndarray,
                  filters: tables.Filters | None) -> None:
    h5 = file.h5
    step = _rows_per_slice(data)
    if len(data) <= step:  # one slice: created and written in one call
        h5.create_carray(group, key, obj=data, filters=filters, chunkshape=_chunkshape(data))
        return
    node = h5.create_carray(group, key, atom=tables.Atom.from_dtype(data.dtype),
                            shape=data.shape, filters=filters, chunkshape=_chunkshape(data))
    _write_slices(file, node, data, step)


def _write_array(file: OpenFile, group: tables.Group, key: str, data: Any) -> None:
    """A contiguous array (a list's, a tuple's), written in slices when big: a million floats
    written in one call held the GIL, and an event loop waiting for it, for 16-23 ms here."""
    h5 = file.h5
    if not isinstance(data, np.ndarray) or data.ndim == 0 or data.nbytes <= WRITE_SLICE_BYTES:
        h5.create_array(group, key, obj=data)
        return
    step = _rows_per_slice(data)
    node = h5.create_array(group, key, atom=tables.Atom.from_dtype(data.dtype), shape=data.shape)
    _write_slices(file, node, data, step)


def _rows_per_slice(data: np.ndarray) -> int:
    return max(WRITE_SLICE_BYTES // max(data[0:1].nbytes, 1), 1)


def _write_slices(file: OpenFile, node: tables.Array, data: np.ndarray, step: int) -> None:
    for start in range(0, len(data), step):
        node[start:start + step] = data[start:start + step]
        _write_back(file)
        time.sleep(0)
    node.flush()  # its cached chunks too, or the batch's flush writes them holding the GIL
    _write_back(file)


@functools.lru_cache(maxsize=256)
def table_description(dtype: np.dtype) -> Any:
    """PyTables' description of a row type, made once: making it costs half a table's creation."""
    return tables.description.descr_from_dtype(dtype)[0]


def _write_back(file: OpenFile) -> None:
    """Hand the file's dirty pages to the disk now, in a call that releases the GIL.

    Otherwise the kernel throttles a writer of many dirty pages inside a later write or flush,
    which PyTables makes while holding the GIL: the event loop stalled for up to 570 ms here.
    """
    if file.in_memory:
        return  # no descriptor: HDF5's core driver answers fileno() with a pointer
    os.fdatasync(file.h5.fileno())


def write_value(file: OpenFile, group: tables.Group, key: str, encoded: Encoded,
                filters: tables.Filters | None) -> None:
    """Write one encoded value as node ``key`` of ``group``."""
    h5 = file.h5
    flag = encoded.flag
    try:
        if flag is Flag.ARRAY:
            _write_array(file, group, key, encoded.payload)
        elif flag is Flag.CARRAY:
            _write_carray(file, group, key, encoded.payload, filters)
        elif flag in (Flag.DICT, Flag.TABLE):
            table = h5.create_table(group, key, description=table_description(encoded.payload.dtype),
                                    filters=filters, expectedrows=max(len(encoded.payload), 1),
                                    chunkshape=_chunkshape(encoded.payload))
            table.append(encoded.payload)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
                file.store.put(f"{group._v_pathname}/{key}", encoded.payload, format="fixed",
                               track_times=False)
    except AiostoreError:
        raise
    except Exception as exc:
        raise UnsupportedTypeError(f"{group._v_pathname}/{key}", f"{type(exc).__name__}: {exc}") from exc


def read_value(file: OpenFile, group: tables.Group, key: str, spec: Spec) -> Any:
    """Read and decode node ``key`` of ``group``, written with ``spec``."""
    if spec["flag"] in (Flag.FRAME, Flag.SERIES):
        return decode(spec, file.store.get(f"{group._v_pathname}/{key}"))
    return decode(spec, group._f_get_child(key).read())


def write_leaf_attrs(group: tables.Group, class_name: str, comment: str,
                     specs: dict[str, Spec]) -> None:
    attrs = group._v_attrs
    try:
        attrs[layout.CLASS_NAME] = class_name
        if comment:
            attrs[layout.COMMENT] = comment
        attrs[layout.LEAF] = dumps_specs(specs)
    except Exception as exc:  # e.g. an attribute too big for the HDF5 object header
        raise UnsupportedTypeError(group._v_pathname,
                                   f"its comment or specs do not fit an HDF5 attribute: "
                                   f"{type(exc).__name__}") from exc


def read_leaf_values(file: OpenFile, group: tables.Group, load_only: Iterable[str] | None = None,
                     load_except: Iterable[str] = (), name: str | None = None) -> dict[str, Any]:
    """The values of a leaf group: all of them, or those named by ``load_only`` (a key it has
    not raises DataNotFoundError naming the leaf: ``name``, its full name, if given).

    A value that cannot be read or decoded (a damaged node, specs that do not match it) raises
    :class:`~aiostore.errors.FileFormatError` naming its node.
    """
    with damaged_data(group._v_pathname):
        specs = layout.leaf_specs(group)
    keys = list(specs) if load_only is None else list(load_only)
    missing = [key for key in (*keys, *load_except) if key not in specs]
    if missing:
        raise DataNotFoundError(f"{name or group._v_pathname} has no data named", missing)
    excluded = set(load_except)
    values: dict[str, Any] = {}
    for key in keys:
        if key not in excluded:
            with damaged_data(f"{group._v_pathname}/{key}"):
                values[key] = read_value(file, group, key, specs[key])
    if load_only is None and layout.SHARED in group._v_attrs._v_attrnamesuser:
        with damaged_data(group._v_pathname):
            shared = json.loads(group._v_attrs[layout.SHARED])
        values.update((key, SharedNode(entry["flag"])) for key, entry in shared.items()
                      if key not in excluded)
    return values


@contextlib.contextmanager
def damaged_data(where: str) -> Iterator[None]:
    """Turn whatever reading or decoding a damaged node raises into a FileFormatError.

    HDF5, numpy and the codec raise all kinds of errors on data that is not what its specs say;
    a caller (``aiostore check``) needs to tell them from a bug, and to know which node it was.
    """
    try:
        yield
    except AiostoreError:
        raise
    except Exception as exc:
        raise FileFormatError(f"cannot read {where}: {type(exc).__name__}: {exc}") from exc


def read_columns(table: tables.Table, names: Iterable[str], first: int = 0,
                 last: int | None = None, rows: int = 2048) -> list[np.ndarray]:
    """Columns ``names`` of ``table`` from row ``first`` to ``last`` (the end: None), read whole
    rows ``rows`` at a time
    into one buffer: a row of the run table is 345 bytes (713 in files before issue 18), and
    this costs about half of ``Table.col`` (which converts each field) or of ``Table.read``
    (which fills new memory with all of them)."""
    names = tuple(names)
    count = max((table.nrows if last is None else min(last, table.nrows)) - first, 0)
    columns = [np.empty(count, dtype=table.dtype[name]) for name in names]
    buffer = np.empty(min(rows, count), dtype=table.dtype)
    for start in range(0, count, rows):
        stop = min(start + rows, count)
        block = buffer[:stop - start]
        table.read(first + start, first + stop, out=block)
        for column, name in zip(columns, names, strict=True):
            column[start:stop] = block[name]
    return columns
