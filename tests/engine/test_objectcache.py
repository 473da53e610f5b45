"""The HDF5 object cache: newest object wins, files never changed in place, damage set aside.

These call the engine's functions directly, in the test's thread (the engine is plain
synchronous code; only one thread uses it here).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables
from exactness import assert_exact

from aiostore._core.requests import PutObject, ReadObjects
from aiostore.codec.trees import decode_tree, encode_tree
from aiostore.engine.objectcache import cache as objectcache


@pytest.fixture
def cache(tmp_path: Path) -> str:
    return str(tmp_path / "user_0123.h5")


def put(cache: str, name: str, value: Any, tag: str = "") -> list[str]:
    return objectcache.put_object(PutObject(cache, name, encode_tree(name, value), tag))


def read(cache: str, allow_pickle: bool = True) -> dict[str, Any]:
    contents = objectcache.read_objects(ReadObjects(cache, allow_pickle))
    assert contents.problems == []
    return {record.name: decode_tree(record.name, record.tree) if record.tree is not None
            else record.refused for record in contents.records}


def files_of(cache: str) -> list[str]:
    return sorted(os.listdir(os.path.dirname(cache)))


def test_the_first_store_makes_the_main_file_and_later_ones_segments(cache: str) -> None:
    put(cache, "a", 1.0)
    assert files_of(cache) == ["user_0123.h5", "user_0123.lock"]
    put(cache, "b", [2.6, 9.5])
    put(cache, "a", 3.0)
    assert files_of(cache) == ["user_0123.h5", "user_0123.lock", "user_0123.seg00000002.h5",
                               "user_0123.seg00000003.h5"]
    assert read(cache) == {"a": 3.0, "b": [2.6, 9.5]}


def test_a_missing_cache_reads_as_empty(cache: str) -> None:
    assert read(cache) == {}
    assert not os.path.exists(os.path.dirname(cache) + "/user_0123.lock")


def test_folding_keeps_the_newest_of_each_name_and_drops_its_segments(
        cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objectcache, "MAX_SEGMENTS", 5)
    for step in range(12):
        put(cache, f"k{step % 4}", np.full(3, float(step)), tag=f"v{step}")
    segments = objectcache.CacheFiles(cache).segments()
    assert len(segments) < 5
    contents = objectcache.read_objects(ReadObjects(cache))
    tags = {record.name: record.tag for record in contents.records}
    assert tags == {"k0": "v8", "k1": "v9", "k2": "v10", "k3": "v11"}
    for name, value in read(cache).items():
        assert_exact(value, np.full(3, float(int(tags[name][1:]))))


def test_bytes_written_grow_linearly_with_the_objects_stored(
        cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(objectcache, "MIN_FOLD_BYTES", 64 * 1024)
    published: list[int] = []
    replacing = objectcache.replacing

    @contextlib.contextmanager
    def counting(final: str, temporary: str, outcome: str) -> Iterator[str]:
        with replacing(final, temporary, outcome) as path:
            yield path
        published.append(os.path.getsize(final))

    monkeypatch.setattr(objectcache, "replacing", counting)
    table = np.random.default_rng(1).random((2, 2000))  # 32 kB each
    for index in range(120):
        put(cache, f"table_{index}", table)
    stored = 120 * table.nbytes
    assert sum(published) < 4 * stored  # pickling everything each time: ~60 x stored
    assert len(read(cache)) == 120


def test_the_file_is_plain_hdf5(cache: str) -> None:
    xy = np.arange(20.0).reshape(2, 10)
    put(cache, "xy", xy)
    put(cache, "grid", (np.arange(3.0), np.arange(4.0), np.ones((3, 4))))
    put(cache, "norm", 0.81)
    objectcache._fold(objectcache.CacheFiles(cache))
    with tables.open_file(cache) as h5:
        np.testing.assert_array_equal(h5.root.objects.xy.read(), xy)
        np.testing.assert_array_equal(h5.root.objects.grid.item_2.read(), np.ones((3, 4)))
        assert float(h5.root.objects.norm.read()) == 0.81


@pytest.mark.parametrize("name", ["a/b", ".", "", "ünï", "_hidden", "x y", "a.b", "item_0"])
def test_any_object_name_is_kept_apart_from_the_others(cache: str, name: str) -> None:
    put(cache, "a_2f_b", "plain")
    put(cache, name, name)
    assert read(cache) == {"a_2f_b": "plain", name: name}


def test_pickles_are_not_loaded_when_not_allowed(cache: str) -> None:
    put(cache, "native", np.arange(3.0))
    put(cache, "pickled", {1: "a"})
    put(cache, "frame_of_objects", pd.DataFrame({"s": ["x", "y"]}))
    contents = objectcache.read_objects(ReadObjects(cache, allow_pickle=False))
    records = {record.name: record for record in contents.records}
    assert records["native"].tree is not None
    assert records["pickled"].tree is None
    assert "pickle" in records["pickled"].refused
    assert records["frame_of_objects"].tree is None  # pandas pickles object columns


def test_a_temporary_file_of_a_killed_writer_is_ignored_then_removed(cache: str) -> None:
    put(cache, "a", 1.0)
    files = objectcache.CacheFiles(cache)
    Path(files.temporary).write_bytes(b"\x89HDF\r\n half a file")
    assert read(cache) == {"a": 1.0}
    put(cache, "b", 2.0)
    assert not os.path.exists(files.temporary)
    assert read(cache) == {"a": 1.0, "b": 2.0}


def test_a_damaged_segment_is_skipped_with_a_problem_then_set_aside(cache: str) -> None:
    put(cache, "a", 1.0)
    put(cache, "b", 2.0)
    files = objectcache.CacheFiles(cache)
    (_, segment), = files.segments()
    Path(segment).write_bytes(b"not hdf5 at all")
    contents = objectcache.read_objects(ReadObjects(cache))
    assert [record.name for record in contents.records] == ["a"]
    assert len(contents.problems) == 1
    assert segment in contents.problems[0]
    problems = objectcache._fold(files)
    assert "set aside" in problems[0]
    assert os.path.exists(segment + ".damaged")
    assert read(cache) == {"a": 1.0}


def test_segments_left_by_an_interrupted_fold_are_not_read_again(cache: str) -> None:
    put(cache, "x", 1.0)
    put(cache, "x", 2.0)
    files = objectcache.CacheFiles(cache)
    (_, segment), = files.segments()
    kept = segment + ".copy"
    shutil.copy(segment, kept)
    objectcache._fold(files)
    os.replace(kept, segment)  # as if killed between renaming the new main and deleting
    put(cache, "x", 3.0)
    assert read(cache) == {"x": 3.0}
    objectcache._fold(files)
    assert read(cache) == {"x": 3.0}
    assert files.segments() == []
