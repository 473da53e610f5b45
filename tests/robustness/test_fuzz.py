"""Fuzzed bad input: values, names, flags, load_only and files that are not what they should be.

Each case ends in a clear exception from ``aiostore.errors`` (and the file byte for byte as it
was) or in an exact round trip; never in another exception, and never in a dead HDF5 thread.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables
from exactness import assert_exact
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aiostore import (
    AiostoreError,
    DataNotFoundError,
    FileFormatError,
    Msg,
    Parameter,
    Result,
    StorageService,
    Trajectory,
)
from aiostore._core.worker import current_worker

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.builds(lambda piece, times: piece * times, st.text(max_size=4), st.integers(0, 500_000)),
    st.binary(max_size=40),
    st.sampled_from([np.int8(-1), np.uint64(2**64 - 1), np.float16(np.inf), np.float32(np.nan),
                     np.complex64(1j), np.bool_(True), np.str_("x\x00"), np.bytes_(b"y"),
                     np.datetime64("2020-01-01T00:00"), np.timedelta64(-3, "ms")]),
)
arrays = hnp.arrays(
    dtype=st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(), hnp.unicode_string_dtypes(),
                    st.just(np.dtype(object))),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
values = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
names = st.one_of(st.text(max_size=12), st.sampled_from(
    ["a/b", "a.b", ".", "..", "", "_x", "x y", "ünï", "class", "a" * 300, "\x00", "r"]))
flags = st.one_of(st.none(), st.sampled_from(["ARRAY", "CARRAY", "DICT", "TABLE", "FRAME",
                                              "SERIES", "BOGUS", ""]))


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StorageService]]:
    """A file holding a trajectory, and a service (closing the file after each call)."""
    path = tmp_path_factory.mktemp("fuzz") / "f.h5"
    service = StorageService(str(path), trajectory_name="t", durability="close")
    service.store(Msg.TRAJECTORY, Trajectory("t"))
    yield path, service
    service.close()


@pytest.fixture(autouse=True)
def no_hdf5_thread_outlives_a_test() -> None:
    """The module's service lives across tests here (overrides conftest's check)."""


def _rejected_or_exact(stored: tuple[Path, StorageService], result: Result,
                       expected: dict[str, Any], **kwargs: Any) -> None:
    path, service = stored
    before = path.read_bytes()
    try:
        service.store(Msg.LEAF, result, **kwargs)
    except AiostoreError:
        assert path.read_bytes() == before, "a rejected store changed the file"
        return
    back = service.load(Msg.LEAF, Result(result.v_full_name))
    assert_exact(dict(back.data), expected, result.v_full_name)


counter = iter(range(10**9))


@FUZZ
@given(value=values, flag=flags)
def test_any_value_with_any_flag_is_refused_clearly_or_comes_back_exactly(
        stored: tuple[Path, StorageService], value: Any, flag: str | None) -> None:
    result = Result(f"results.v{next(counter)}", v=value)
    if flag is not None:
        result.set_flag("v", flag)
    _rejected_or_exact(stored, result, {"v": value})


@FUZZ
@given(item_name=names, key=names)
def test_any_name_is_refused_clearly_or_comes_back(stored: tuple[Path, StorageService],
                                                   item_name: str, key: str) -> None:
    try:
        result = Result(f"results.n{next(counter)}.{item_name}", **{key: 1.5})
    except AiostoreError:
        return  # refused by the item itself
    _rejected_or_exact(stored, result, {key: 1.5})


@FUZZ
@given(present=st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True),
       asked=st.lists(st.text(max_size=6), min_size=1, max_size=4))
def test_load_only_of_missing_keys_names_them(stored: tuple[Path, StorageService],
                                              present: list[str], asked: list[str]) -> None:
    _, service = stored
    name = f"results.l{next(counter)}"
    service.store(Msg.LEAF, Result(name, **{key: float(i) for i, key in enumerate(present)}))
    missing = [key for key in asked if key not in present]
    try:
        back = service.load(Msg.LEAF, Result(name), load_only=asked)
    except DataNotFoundError as exc:
        error = str(exc)
    except AiostoreError:
        return  # a key that is no valid name at all
    else:
        error = ""
    if missing:
        assert any(key in error for key in missing), error
        return
    assert not error
    assert set(back.keys()) == set(asked)


def test_the_hdf5_thread_outlived_the_fuzzing(stored: tuple[Path, StorageService]) -> None:
    _, service = stored
    service.store(Msg.LEAF, Result("results.after_fuzz", ok=True))
    assert service.load(Msg.LEAF, Result("results.after_fuzz"))["ok"] is True
    assert current_worker().thread is not None


# ------------------------------------------------------------------------------------ files


def _load_anything(path: Path) -> None:
    with StorageService(str(path)) as service:
        names = service.list_trajectories()
        for name in names:
            service.load(Msg.TRAJECTORY, None, trajectory_name=name, load_parameters=2,
                         load_results=2)
        service.load(Msg.LEAF, Parameter("parameters.x"), trajectory_name="t")


def _good_file(path: Path) -> bytes:
    traj = Trajectory("t")
    traj.add_parameter("x", 1.0)
    traj.explore({"x": [1.0, 2.0, 3.0]})
    traj.add_result("r", a=np.arange(1000.0), s="text", d={"k": 1})
    with StorageService(str(path)) as service:
        service.store(Msg.TRAJECTORY, traj)
    return path.read_bytes()


@FUZZ
@given(cut=st.floats(min_value=0.0, max_value=0.999))
def test_a_truncated_file_is_refused_clearly(tmp_path_factory: pytest.TempPathFactory,
                                             cut: float) -> None:
    path = tmp_path_factory.mktemp("cut") / "f.h5"
    content = _good_file(path)
    path.write_bytes(content[:int(len(content) * cut)])
    before = path.read_bytes()
    with pytest.raises(AiostoreError):
        _load_anything(path)
    assert path.read_bytes() == before


@FUZZ
@given(noise=st.binary(min_size=0, max_size=4096))
def test_a_file_that_is_not_hdf5_is_refused_and_left_alone(
        tmp_path_factory: pytest.TempPathFactory, noise: bytes) -> None:
    assume(not noise.startswith(b"\x89HDF"))
    path = tmp_path_factory.mktemp("noise") / "f.h5"
    path.write_bytes(noise)
    with pytest.raises(FileFormatError), StorageService(str(path), trajectory_name="t") as svc:
        svc.store(Msg.TRAJECTORY, Trajectory("t"))
    assert path.read_bytes() == noise


def test_files_written_by_other_programs_load_or_are_refused_clearly(tmp_path: Path) -> None:
    plain = tmp_path / "plain.h5"
    with tables.open_file(plain, "w") as h5:  # PyTables' own attributes, no aiostore ones
        group = h5.create_group("/", "t")
        h5.create_array(group, "x", obj=np.arange(3))
        h5.create_group(h5.create_group(group, "parameters"), "x")
    frame = tmp_path / "frame.h5"
    pd.DataFrame({"a": [1.0, math.nan]}).to_hdf(frame, key="t", format="table")
    for path in (plain, frame):
        before = path.read_bytes()
        with contextlib.suppress(AiostoreError):
            _load_anything(path)
        assert path.read_bytes() == before, f"reading {path.name} changed it"
        with pytest.raises(AiostoreError), StorageService(str(path), trajectory_name="t") as svc:
            svc.store(Msg.LEAF, Result("results.r", v=1))
        assert os.path.exists(path)
