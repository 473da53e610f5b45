"""Exact round trips of the type-preserving codec: in memory and through a real HDF5 file.

Every value must come back with the same type and the same value (NaN equal to NaN, -0.0 keeps
its sign, numpy dtypes keep their byte order); anything the codec cannot store exactly must be
refused with :class:`aiostore.errors.UnsupportedTypeError` naming the key, before the file
is touched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables
from exactness import assert_exact
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aiostore
from aiostore import Flag, ObjectTable, Result
from aiostore.codec import TYPE_FLAG_MAPPING, decode, encode, infer_flag
from aiostore.errors import InvalidNameError, UnsupportedTypeError

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

# ------------------------------------------------------------------------------ helpers


def codec_round_trip(value: Any, flag: Any = None) -> Any:
    enc = encode("v", value, flag)
    return decode(enc.spec, enc.payload)


def _store_and_load(path: Path | str, value: Any, flag: Any = None, name: str = "r") -> Any:
    store_flags = {"v": flag} if flag is not None else None
    with aiostore.StorageService(str(path)) as svc:
        kwargs: dict[str, Any] = {"trajectory_name": "t"}
        if store_flags is not None:
            kwargs["store_flags"] = store_flags
        svc.store("LEAF", Result(f"results.{name}", v=value), **kwargs)
    with aiostore.StorageService(str(path)) as svc:
        fresh = Result(f"results.{name}")
        svc.load("LEAF", fresh, trajectory_name="t")
    return fresh["v"]


def file_round_trip(tmp_path: Path, value: Any, flag: Any = None) -> Any:
    return _store_and_load(tmp_path / "data.h5", value, flag)


def file_round_trip_tempdir(value: Any, flag: Any = None) -> Any:
    with tempfile.TemporaryDirectory() as directory:
        return _store_and_load(os.path.join(directory, "data.h5"), value, flag)


def node_list(path: Path | str) -> list[str]:
    with tables.open_file(str(path), "r") as h5:
        return [node._v_pathname for node in h5.walk_nodes()]


def check_both(tmp_path: Path, value: Any, flag: Any = None) -> None:
    assert_exact(value, codec_round_trip(value, flag), "codec")
    assert_exact(value, file_round_trip(tmp_path, value, flag), "file")


def _id(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------------------ examples

PY_SCALARS = [
    0, -1, 1, 2**40, 2**63 - 1, -(2**63), 2**63, 2**64, -(2**70),
    0.0, -0.0, 1.5, -2.25e-300, float("nan"), float("inf"), float("-inf"),
    True, False,
    1 + 2j, complex(float("nan"), -0.0), complex(float("inf"), 1),
    "", "abc", "é", "a\x00", "\x00", "a\x00b", "日本語 🐍", " trailing space ", "\ud800", "a\udfffb",
    b"", b"ab", b"ab\x00", b"\x00\x00", b"\xff\x00\x01",
]

NP_SCALARS = [
    np.int8(-5), np.int16(300), np.int32(-(2**31)), np.int64(2**63 - 1),
    np.uint8(255), np.uint16(65535), np.uint32(2**32 - 1), np.uint64(2**64 - 1),
    np.float16(1.5), np.float32(np.nan), np.float32(-0.0), np.float64(np.inf), np.float64(0.1),
    np.complex64(1 - 2j), np.complex128(complex(np.nan, 3)),
    np.bool_(True), np.bool_(False),
    np.str_("héllo"), np.str_(""), np.str_("a\x00"),
    np.bytes_(b"xy"), np.bytes_(b""),
    np.datetime64("2020-01-01"), np.datetime64("2020-01-01T12:30:00.123456789"),
    np.datetime64("NaT", "s"),
    np.timedelta64(5, "s"), np.timedelta64(-3, "D"),
]

# homogeneous lists, by element type
SEQUENCES = [
    [0, -1, 2**40],
    [2**64, -(2**70), 0],
    [1.5, float("nan"), -0.0, float("inf")],
    [True, False, True],
    [1 + 2j, -0.0j],
    ["", "é", "a\x00", "\x00", "a\x00b"],
    ["a", "bc"],
    [b"", b"ab\x00", b"\x00\x00"],
    [b"x", b"yz"],
    [np.int8(1), np.int8(-1)],
    [np.int16(1), np.int16(2)],
    [np.int32(1), np.int32(2)],
    [np.int64(1), np.int64(2)],
    [np.uint8(1), np.uint8(255)],
    [np.uint16(1)],
    [np.uint32(7), np.uint32(8)],
    [np.uint64(2**64 - 1), np.uint64(0)],
    [np.float16(0.5), np.float16(np.nan)],
    [np.float32(0.5), np.float32(-0.0)],
    [np.float64(0.1), np.float64(np.inf)],
    [np.complex64(1j), np.complex64(2)],
    [np.complex128(1j), np.complex128(2)],
    [np.bool_(True), np.bool_(False)],
    [np.str_("a"), np.str_("é\x00")],
    [np.bytes_(b"a"), np.bytes_(b"b\x00")],
    [np.datetime64("2020-01-01"), np.datetime64("2021-06-30")],
    [np.timedelta64(5, "s"), np.timedelta64(-1, "s")],
    [np.arange(3), np.arange(3, 6)],
    [np.zeros((2, 2), dtype=">f4"), np.ones((2, 2), dtype=">f4")],
    [np.array(["a", "bé"]), np.array(["c", "dé"])],
]

LISTS = [*SEQUENCES, []]
TUPLES = [tuple(items) for items in SEQUENCES] + [()]


def _fortran() -> np.ndarray:
    return np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))


ARRAYS = [
    *[np.arange(-3, 3, dtype=dt) for dt in ("i1", "i2", "i4", "i8")],
    *[np.arange(0, 6, dtype=dt) for dt in ("u1", "u2", "u4", "u8")],
    np.array([0.5, np.nan, -0.0, np.inf], dtype=np.float16),
    np.array([0.5, np.nan, -0.0, np.inf], dtype=np.float32),
    np.array([0.5, np.nan, -0.0, -np.inf], dtype=np.float64),
    np.array([1j, complex(np.nan, 1)], dtype=np.complex64),
    np.array([1j, complex(np.nan, 1)], dtype=np.complex128),
    np.array([True, False]),
    np.array(5),
    np.array(2.5),
    np.array("é"),
    np.array(b"x"),
    np.array(True),
    np.zeros(0),
    np.zeros((0, 3)),
    np.zeros((0, 3), dtype="i2"),
    np.zeros(0, dtype="U3"),
    np.zeros((2, 0), dtype="S2"),
    np.arange(6, dtype=">i4").reshape(2, 3),
    np.arange(6, dtype=">f8"),
    np.array([1 + 1j], dtype=">c16"),
    np.array(["ab", "é", "", "🐍🐍🐍🐍🐍"], dtype="<U5"),
    np.array(["a\x00b", "x"], dtype="<U5"),
    np.array([b"ab", b"", b"\xff"], dtype="S3"),
    np.array(["2020-01-01", "NaT", "1969-12-31"], dtype="datetime64[D]"),
    np.array(["2020-01-01T00:00:01"], dtype="datetime64[ns]"),
    np.array([1, -2, "NaT"], dtype="timedelta64[ms]"),
    np.array(["2020-01-01"], dtype=">M8[D]"),
    _fortran(),
    np.arange(24, dtype=np.int32).reshape(2, 3, 4),
    np.matrix([[1, 2], [3, 4]]),
    np.matrix([[1.5, np.nan]]),
]

DICTS = [
    {"a": 1, "b": 2.5, "c": "x", "d": b"y", "e": True, "f": 1j, "g": np.int32(4)},
    {"learning rate": 0.1, "é": "accent", "1x": 2**64, "_private": 0, "": "empty key"},
    {"lst": [1, 2, 3], "arr": np.arange(4, dtype=">i2"), "empty": [], "tup": ("a", "b")},
    {"nan": float("nan"), "neg0": -0.0, "dt": np.datetime64("2020-01-01"),
     "td": np.timedelta64(5, "s"), "s": np.str_("q"), "bb": np.bytes_(b"z\x00")},
    {"mat": np.matrix([[1, 2]]), "zero_d": np.array(3.0), "nul": "a\x00"},
    {"x": 1, "X": 2, "_c0": 3},
    {"class": 1, "if": "kw", "None": 2.0, "ü": 3, "\ud800": "lone surrogate"},
    {"empty_arr": np.zeros((0, 3)), "empty_u": np.zeros(0, dtype="U2"), "empty_t": (), "n": 1},
    {},
]


def object_tables() -> list[ObjectTable]:
    return [
        ObjectTable({"i": [1, 2**40, -3], "s": ["a", "é", ""], "n": [np.int32(1), np.int32(2),
                                                                      np.int32(3)]}),
        ObjectTable({"arr": [np.arange(3), np.arange(3, 6), np.zeros(3, dtype=np.int64)],
                     "tup": [(1, 2), (3, 4), (5, 6)]}),
        ObjectTable({"f": [0.5, float("nan"), -0.0], "b": [True, False, True]},
                    index=["x", "y", "z"]),
        ObjectTable({"v": [1, 2]}, index=pd.Index([10, 20], name="idx")),
        ObjectTable({"learning rate": [1.0], "é": ["x"], 3: [b"\x00"]}),
        ObjectTable(columns=["a", "b"]),
        ObjectTable({"e": [[], []], "z": [np.zeros((0, 2)), np.zeros((0, 2))], "class": [1, 2]}),
        ObjectTable({"s": [np.str_("a\x00"), np.str_("")], "d": [np.datetime64("2020-01-01")] * 2}),
    ]


def frames() -> list[pd.DataFrame]:
    dates = pd.to_datetime(["2020-01-01", "2021-02-03", "2022-12-31"])
    base = pd.DataFrame({
        "i": np.array([1, -2, 3], dtype=np.int64),
        "i32": np.array([1, 2, 3], dtype=np.int32),
        "f": [0.5, np.nan, -1.0],
        "s": ["a", "é", "xyz"],
        "o": pd.Series(["p", "q", "r"], dtype=object),
        "d": dates,
        "b": [True, False, True],
    })
    named = base.copy()
    named.index = pd.Index([10, 20, 30], name="row")
    multi = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "c", "d"]},
        index=pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1), ("b", 2)],
                                        names=["k1", "k2"]),
    )
    with_columns_name = pd.DataFrame({"a": [1, 2], "b": [3.0, 4.0]})
    with_columns_name.columns.name = "features"
    return [base, named, multi, with_columns_name, pd.DataFrame({"a": pd.Series([], dtype=float)})]


def table_frames() -> list[pd.DataFrame]:
    """Plain DataFrames with the TABLE flag."""
    dates = pd.to_datetime(["2020-01-01", "2021-02-03", "2022-12-31"])
    base = pd.DataFrame({
        "i": np.array([1, -2, 3], dtype=np.int64),
        "u8": np.array([1, 2, 255], dtype=np.uint8),
        "f": [0.5, np.nan, -1.0],
        "s": ["a", "é", "xyz"],
        "o": pd.Series(["p", "q", "r"], dtype=object),
        "d": dates,
        "b": [True, False, True],
    })
    named = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="key"))
    named.columns.name = "cols"
    odd = pd.DataFrame({"learning rate": [1.5], 7: [2], "_c0": ["z"], "é": [1], "for": [2]})
    big_endian = pd.DataFrame({"b": np.arange(3, dtype=">i4"), "l": np.arange(3, dtype="<f8")},
                              index=pd.Index([1.5, 2.5, 3.5], name="x"))
    return [base, named, odd, big_endian, pd.DataFrame({"a": pd.Series([], dtype="int32")})]


def series() -> list[pd.Series]:
    return [
        pd.Series([1.0, np.nan, -0.0], name="s"),
        pd.Series([1, 2, 3], index=["a", "b", "c"], dtype=np.int32),
        pd.Series(["x", "é"], name="txt"),
        pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02"])),
        pd.Series([True, False], index=pd.Index([5, 6], name="ix")),
    ]


# ------------------------------------------------------------------------------ infer_flag


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (ObjectTable({"a": [1]}), Flag.TABLE),
        (ObjectTable(columns=["a"]), Flag.TABLE),
        (pd.DataFrame({"a": [1]}), Flag.FRAME),
        (pd.Series([1]), Flag.SERIES),
        ({"a": 1}, Flag.DICT),
        ({}, Flag.ARRAY),
        (np.arange(3), Flag.CARRAY),
        (np.zeros((2, 2)), Flag.CARRAY),
        (np.matrix([[1]]), Flag.CARRAY),
        (np.array(3), Flag.ARRAY),
        (np.zeros(0), Flag.ARRAY),
        (np.zeros((0, 3)), Flag.ARRAY),
        ([1, 2], Flag.ARRAY),
        ([], Flag.ARRAY),
        ((1, 2), Flag.ARRAY),
        ((), Flag.ARRAY),
        (1, Flag.ARRAY),
        (1.5, Flag.ARRAY),
        ("s", Flag.ARRAY),
        (b"s", Flag.ARRAY),
        (True, Flag.ARRAY),
        (1j, Flag.ARRAY),
        (np.int32(1), Flag.ARRAY),
        (np.str_("x"), Flag.ARRAY),
        (np.datetime64("2020-01-01"), Flag.ARRAY),
    ],
    ids=_id,
)
def test_infer_flag(value: Any, flag: Flag) -> None:
    assert infer_flag(value) is flag
    assert encode("v", value).flag is flag


def test_type_flag_mapping_matches_docstring() -> None:
    assert TYPE_FLAG_MAPPING[ObjectTable] is Flag.TABLE
    assert TYPE_FLAG_MAPPING[pd.DataFrame] is Flag.FRAME
    assert TYPE_FLAG_MAPPING[pd.Series] is Flag.SERIES
    assert TYPE_FLAG_MAPPING[dict] is Flag.DICT
    assert TYPE_FLAG_MAPPING[np.ndarray] is Flag.CARRAY
    assert TYPE_FLAG_MAPPING[np.matrix] is Flag.CARRAY
    assert TYPE_FLAG_MAPPING[list] is Flag.ARRAY
    assert TYPE_FLAG_MAPPING[tuple] is Flag.ARRAY


def test_encode_payload_shares_no_memory() -> None:
    array = np.arange(10.0)
    enc = encode("v", array)
    assert not np.shares_memory(enc.payload, array)
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    enc = encode("v", frame)
    enc.payload.iloc[0, 0] = 99.0
    assert frame.iloc[0, 0] == 1.0


# ------------------------------------------------------------------------------ scalars


@pytest.mark.parametrize("value", PY_SCALARS + NP_SCALARS, ids=_id)
def test_scalar_round_trip(tmp_path: Path, value: Any) -> None:
    check_both(tmp_path, value)


@pytest.mark.parametrize("value", [1, "é", np.float32(1.5), b"\x00"], ids=_id)
def test_scalar_round_trip_carray_flag(tmp_path: Path, value: Any) -> None:
    check_both(tmp_path, value, "CARRAY")
    assert encode("v", value, "CARRAY").flag is Flag.ARRAY  # 0-d falls back to ARRAY


# ------------------------------------------------------------------------------ sequences


@pytest.mark.parametrize("value", LISTS, ids=_id)
def test_list_round_trip(tmp_path: Path, value: list[Any]) -> None:
    check_both(tmp_path, value)


@pytest.mark.parametrize("value", TUPLES, ids=_id)
def test_tuple_round_trip(tmp_path: Path, value: tuple[Any, ...]) -> None:
    check_both(tmp_path, value)


def test_tuple_of_int64_stays_tuple_of_int64(tmp_path: Path) -> None:
    value = (np.int64(1), np.int64(-2), np.int64(2**62))
    for back in (codec_round_trip(value), file_round_trip(tmp_path, value)):
        assert type(back) is tuple
        assert all(type(item) is np.int64 for item in back)
        assert_exact(value, back)


@pytest.mark.parametrize("value", [[1, 2], ("a", "b"), [np.arange(3), np.arange(3)]], ids=_id)
def test_sequence_round_trip_carray_flag(tmp_path: Path, value: Any) -> None:
    check_both(tmp_path, value, "CARRAY")


# ------------------------------------------------------------------------------ arrays


@pytest.mark.parametrize("value", ARRAYS, ids=_id)
def test_array_round_trip(tmp_path: Path, value: np.ndarray) -> None:
    check_both(tmp_path, value)


@pytest.mark.parametrize("value", ARRAYS, ids=_id)
def test_array_round_trip_array_flag(tmp_path: Path, value: np.ndarray) -> None:
    check_both(tmp_path, value, "ARRAY")


def test_fortran_array_keeps_values(tmp_path: Path) -> None:
    value = _fortran()
    back = file_round_trip(tmp_path, value)
    assert_exact(value, back)
    assert back[1, 2] == 6.0


@pytest.mark.parametrize("flag", [None, "ARRAY", "CARRAY"])
def test_large_array(tmp_path: Path, flag: str | None) -> None:
    rng = np.random.default_rng(0)
    value = rng.standard_normal(3 * 2**20 // 8).reshape(-1, 128)
    value[0, 0] = np.nan
    enc = encode("v", value, flag)
    assert enc.flag is (Flag.ARRAY if flag == "ARRAY" else Flag.CARRAY)
    assert enc.nbytes == value.nbytes
    check_both(tmp_path, value, flag)


# ------------------------------------------------------------------------------ dicts


@pytest.mark.parametrize("value", DICTS, ids=_id)
def test_dict_round_trip(tmp_path: Path, value: dict[str, Any]) -> None:
    check_both(tmp_path, value)


def test_dict_payload_is_structured() -> None:
    enc = encode("v", {"a": 1, "learning rate": 2.0})
    assert enc.flag is Flag.DICT
    assert isinstance(enc.payload, np.ndarray)
    assert enc.payload.dtype.names is not None
    assert len(enc.payload) == 1


def test_empty_dict_with_dict_flag(tmp_path: Path) -> None:
    check_both(tmp_path, {}, "DICT")


# ------------------------------------------------------------------------------ tables


@pytest.mark.parametrize("index", range(len(object_tables())))
def test_object_table_round_trip(tmp_path: Path, index: int) -> None:
    value = object_tables()[index]
    check_both(tmp_path, value)


@pytest.mark.parametrize("index", range(len(object_tables())))
def test_object_table_round_trip_frame_flag(tmp_path: Path, index: int) -> None:
    value = object_tables()[index]
    check_both(tmp_path, value, "FRAME")


def test_object_tables_pandas_keeps_are_frames_the_others_tables() -> None:
    # [7]: np.str_ cells (one ending in NUL), np.datetime64 cells: pandas' reader gives back str
    # without the NUL and Timestamps
    flags = [encode("v", value, "FRAME").flag for value in object_tables()]
    assert flags == [Flag.FRAME] * 7 + [Flag.TABLE]
    numpy_text = ObjectTable({"s": [np.str_("a"), np.str_("")]})  # comes back as str
    assert encode("v", numpy_text, "FRAME").flag is Flag.TABLE


FRAMES_WITH_NUL_TEXT = [
    pd.DataFrame({"a": [1, 2]}, index=["x\x00", "y"]),
    pd.DataFrame({"a": [1, 2]}, index=pd.Index([b"x\x00", b"y"], dtype=object)),
    pd.DataFrame({"a\x00": [1, 2], "b": [3, 4]}),
    pd.DataFrame({"a": [1, 2]}, index=pd.Index([1, 2], name="n\x00")),
    pd.DataFrame({"s": pd.Series([np.str_("a\x00"), np.str_("b")], dtype=object)}),
    pd.DataFrame({"s": pd.Series([np.bytes_(b"a\x00"), np.bytes_(b"b")], dtype=object)}),
]


@pytest.mark.parametrize("index", range(len(FRAMES_WITH_NUL_TEXT)))
def test_frame_text_ending_with_nul_is_kept_in_a_table(tmp_path: Path, index: int) -> None:
    # pandas' writer drops a trailing NUL of its axes' text and names, and numpy's pickles of
    # np.str_ and np.bytes_ do; such a frame is stored as a TABLE, which keeps it
    value = FRAMES_WITH_NUL_TEXT[index]
    assert encode("v", value, "FRAME").flag is Flag.TABLE
    check_both(tmp_path, value, "FRAME")
    assert_exact(value, file_round_trip_tempdir(value), "inferred flag")


@pytest.mark.parametrize("value", [
    pd.Series([1, 2], index=["x\x00", "y"]),
    pd.Series([1, 2], name="n\x00"),
    pd.Series([np.str_("a\x00"), "b"], dtype=object),
    pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([("x\x00", 1), ("y", 2)])),
], ids=["series index", "series name", "series cells", "multiindex"])
def test_nul_text_no_table_holds_is_refused_before_writing(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "f.h5"
    with aiostore.StorageService(str(path)) as svc:
        svc.store("LEAF", Result("results.before", v=1), trajectory_name="t")
    before = path.read_bytes()
    with aiostore.StorageService(str(path)) as svc, pytest.raises(
            UnsupportedTypeError, match=r"'results\.r\.v': pandas' HDF5 format would lose the NUL"):
        svc.store("LEAF", Result("results.r", v=value), trajectory_name="t")
    assert path.read_bytes() == before


def test_a_frame_stored_before_the_table_fallback_still_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what was written before: pandas' format, whose reader dropped the NUL; it loads as it did
    value = pd.DataFrame({"a": [1, 2]}, index=["x\x00", "y"])
    with monkeypatch.context() as patched:
        patched.setattr(aiostore.codec, "frame_loss", lambda frame: None)
        assert encode("v", value, "FRAME").flag is Flag.FRAME
        back = file_round_trip(tmp_path, value, "FRAME")
    assert list(back.index) == ["x", "y"]
    assert back["a"].tolist() == [1, 2]
    with aiostore.StorageService(str(tmp_path / "data.h5")) as svc:
        svc.store("LEAF", Result("results.s", v=value), trajectory_name="t",
                  store_flags={"v": "FRAME"})
        assert list(svc.load("LEAF", Result("results.s"), trajectory_name="t")["v"].index) == [
            "x\x00", "y"]


def test_frame_columns_text_ending_with_nul(tmp_path: Path) -> None:
    check_both(tmp_path, pd.DataFrame({"s": ["a\x00", ""]}), "FRAME")
    assert_exact(
        pd.Series(["a\x00", ""]), file_round_trip_tempdir(pd.Series(["a\x00", ""]), "SERIES")
    )


def test_frame_text_pandas_cannot_read_back_is_refused_before_writing() -> None:
    # pandas writes a lone surrogate, but where pyarrow is installed its reader fails on it
    surrogate = pd.Series(["a", "\ud800"], dtype=object, name="s")
    for value in (pd.DataFrame({"s": surrogate}), surrogate):
        with pytest.raises(UnsupportedTypeError, match="lone surrogate"):
            encode("v", value)


def test_object_table_cells_keep_types(tmp_path: Path) -> None:
    value = object_tables()[0]
    back = file_round_trip(tmp_path, value)
    assert type(back) is ObjectTable
    assert [type(x) for x in back["i"]] == [int, int, int]
    assert [type(x) for x in back["s"]] == [str, str, str]
    assert [type(x) for x in back["n"]] == [np.int32] * 3


@pytest.mark.parametrize("index", range(len(frames())))
def test_frame_round_trip(tmp_path: Path, index: int) -> None:
    value = frames()[index]
    assert infer_flag(value) is Flag.FRAME
    check_both(tmp_path, value)


@pytest.mark.parametrize("index", range(len(table_frames())))
def test_dataframe_table_flag_round_trip(tmp_path: Path, index: int) -> None:
    value = table_frames()[index]
    check_both(tmp_path, value, "TABLE")


@pytest.mark.parametrize("index", range(len(series())))
def test_series_round_trip(tmp_path: Path, index: int) -> None:
    value = series()[index]
    assert infer_flag(value) is Flag.SERIES
    check_both(tmp_path, value)


@pytest.mark.parametrize("index", range(len(series())))
def test_series_round_trip_series_flag(tmp_path: Path, index: int) -> None:
    check_both(tmp_path, series()[index], "SERIES")


def test_several_values_in_one_leaf(tmp_path: Path) -> None:
    values = {
        "a": 1, "b": [1.5, 2.5], "c": {"k": "v"}, "d": np.arange(5), "e": object_tables()[0],
        "f": frames()[0], "g": series()[0], "h": (), "i": {},
    }
    path = tmp_path / "multi.h5"
    with aiostore.StorageService(str(path)) as svc:
        svc.store("LEAF", Result("results.r", **values), trajectory_name="t")
    with aiostore.StorageService(str(path)) as svc:
        fresh = Result("results.r")
        svc.load("LEAF", fresh, trajectory_name="t")
    assert fresh.keys() == list(values) or sorted(fresh.keys()) == sorted(values)
    for key, value in values.items():
        assert_exact(value, fresh[key], key)


# ------------------------------------------------------------------------------ bad input


def _masked() -> np.ndarray:
    return np.ma.masked_array([1, 2], mask=[0, 1])


BAD_VALUES = [
    pytest.param(None, None, id="None"),
    pytest.param(set(), None, id="set"),
    pytest.param(object(), None, id="object"),
    pytest.param({"a": {"b": 1}}, None, id="nested-dict"),
    pytest.param({"a": {}}, None, id="dict-with-empty-dict"),
    pytest.param({"a": None}, None, id="dict-with-None"),
    pytest.param({1: 2}, None, id="dict-int-key"),
    pytest.param([1, "a"], None, id="list-int-str"),
    pytest.param([1, True], None, id="list-int-bool"),
    pytest.param([1, 1.0], None, id="list-int-float"),
    pytest.param([np.int32(1), np.int64(1)], None, id="list-int32-int64"),
    pytest.param(("a", b"a"), None, id="tuple-str-bytes"),
    pytest.param([[1], [2]], None, id="nested-list"),
    pytest.param([(1,), (2,)], None, id="list-of-tuples"),
    pytest.param([np.arange(2), np.arange(3)], None, id="arrays-different-shape"),
    pytest.param([np.arange(2), np.arange(2.0)], None, id="arrays-different-dtype"),
    pytest.param([np.datetime64("2020-01-01"), np.datetime64("2020-01-01T00:00")], None,
                 id="datetimes-different-units"),
    pytest.param([None, None], None, id="list-of-None"),
    pytest.param(np.array([1, "a"], dtype=object), None, id="object-array"),
    pytest.param(np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), None, id="structured-array"),
    pytest.param(np.zeros(2, dtype="V4"), None, id="void-array"),
    pytest.param(_masked(), None, id="masked-array"),
    pytest.param(np.void(b"ab"), None, id="void-scalar"),
    pytest.param(pd.DataFrame({"c": pd.Categorical(["a", "b"])}), "FRAME", id="categorical-frame"),
    pytest.param(pd.Series(pd.Categorical(["a", "b"])), None, id="categorical-series"),
    pytest.param({"a": 1}, "ARRAY", id="dict-as-ARRAY"),
    pytest.param({"a": 1}, "CARRAY", id="dict-as-CARRAY"),
    pytest.param([1, 2], "TABLE", id="list-as-TABLE"),
    pytest.param([1, 2], "DICT", id="list-as-DICT"),
    pytest.param(np.arange(3), "FRAME", id="array-as-FRAME"),
    pytest.param(pd.DataFrame({"a": [1]}), "SERIES", id="frame-as-SERIES"),
    pytest.param(pd.Series([1]), "FRAME", id="series-as-FRAME"),
    pytest.param(pd.DataFrame({"a": [1]}), "ARRAY", id="frame-as-ARRAY"),
    pytest.param(1, "NOPE", id="unknown-flag"),
    pytest.param(pd.DataFrame(index=[0, 1]), "TABLE", id="table-without-columns"),
    pytest.param(pd.DataFrame([[1, 2]], columns=["a", "a"]), "TABLE", id="table-duplicate-labels"),
    pytest.param(pd.DataFrame({("a", "b"): [1]}), "TABLE", id="table-tuple-label"),
    pytest.param(ObjectTable({"a": [1, "x"]}), None, id="object-table-mixed-column"),
    pytest.param(ObjectTable({"a": [np.arange(2), np.arange(3)]}), None,
                 id="object-table-ragged-arrays"),
    pytest.param(ObjectTable({"a": [None, 1]}), None, id="object-table-None-cell"),
    pytest.param(
        pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([(1, 2), (3, 4)])),
        "TABLE", id="table-multiindex",
    ),
]


@pytest.mark.parametrize(("value", "flag"), BAD_VALUES)
def test_bad_value_rejected_by_codec(value: Any, flag: str | None) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        encode("v", value, flag)
    assert isinstance(info.value, TypeError)
    assert "v" in str(info.value)
    assert info.value.key.startswith("v")


@pytest.mark.parametrize(("value", "flag"), BAD_VALUES)
def test_bad_value_leaves_file_unchanged(tmp_path: Path, value: Any, flag: str | None) -> None:
    path = tmp_path / "data.h5"
    with aiostore.StorageService(str(path)) as svc:
        svc.store("LEAF", Result("results.good", v=1), trajectory_name="t")
    before = node_list(path)
    kwargs: dict[str, Any] = {"trajectory_name": "t"}
    if flag is not None:
        kwargs["store_flags"] = {"v": flag}
    bad = Result("results.bad", v=value)
    with aiostore.StorageService(str(path)) as svc, pytest.raises(UnsupportedTypeError) as info:
        svc.store("LEAF", bad, **kwargs)
    assert "results.bad.v" in str(info.value)
    assert info.value.key.startswith("results.bad.v")
    assert node_list(path) == before


def test_bad_value_next_to_good_values_leaves_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    with aiostore.StorageService(str(path)) as svc:
        svc.store("LEAF", Result("results.good", v=1), trajectory_name="t")
    before = node_list(path)
    bad = Result("results.bad", a=np.arange(3), b="x", zz={1, 2})
    with aiostore.StorageService(str(path)) as svc, pytest.raises(UnsupportedTypeError, match="zz"):
        svc.store("LEAF", bad, trajectory_name="t")
    assert node_list(path) == before


def test_an_unsupported_value_says_what_its_flag_takes() -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        encode("results.r.v", object())
    assert str(info.value) == (
        "cannot store 'results.r.v': type builtins.object cannot be stored as ARRAY, which takes "
        "python and numpy scalars, text, bytes, lists and tuples of one type, arrays: convert it "
        "to one of those first")
    with pytest.raises(UnsupportedTypeError, match="as TABLE, which takes ObjectTables and "
                       "DataFrames: convert it"):
        encode("results.r.v", 1, "TABLE")


BAD_KEYS = ["a.b", "a/b", "1x", "_x", "", "a b", "é.x"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_data_key_in_result(key: str) -> None:
    result = Result("results.r")
    with pytest.raises(InvalidNameError):
        result[key] = 1
    with pytest.raises(InvalidNameError):
        Result("results.r", **{key: 1})


class _DuckLeaf:
    def __init__(self, data: dict[str, Any]) -> None:
        self.v_full_name = "results.duck"
        self.v_comment = ""
        self._data = data

    def _store(self) -> dict[str, Any]:
        return dict(self._data)

    def _load(self, load_dict: dict[str, Any]) -> None:
        self._data.update(load_dict)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_data_key_from_duck_item(tmp_path: Path, key: str) -> None:
    path = tmp_path / "data.h5"
    with aiostore.StorageService(str(path)) as svc:
        svc.store("LEAF", Result("results.good", v=1), trajectory_name="t")
    before = node_list(path)
    duck = _DuckLeaf({"ok": 1, key: 2})
    with aiostore.StorageService(str(path)) as svc, pytest.raises(InvalidNameError):
        svc.store("LEAF", duck, trajectory_name="t")
    assert node_list(path) == before


def test_duck_item_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    data = {"x": [np.float32(1.5)], "y": {"k": b"\x00"}}
    with aiostore.StorageService(str(path)) as svc:
        svc.store("LEAF", _DuckLeaf(data), trajectory_name="t")
    with aiostore.StorageService(str(path)) as svc:
        fresh = _DuckLeaf({})
        svc.load("LEAF", fresh, trajectory_name="t")
    assert_exact(data, {k: fresh._data[k] for k in data})


# ------------------------------------------------------------------------------ hypothesis

HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalar_strategies = {
    "int": st.integers(),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "text": st.text() | st.text(st.characters(codec=None, categories=["Cs", "Lu", "Cc"])),
    "binary": st.binary(),
    "bool": st.booleans(),
    "complex": st.complex_numbers(allow_nan=True, allow_infinity=True),
}
scalars = st.one_of(*scalar_strategies.values())

homogeneous_sequences = st.one_of(
    *[st.lists(s, max_size=8) for s in scalar_strategies.values()],
    *[st.lists(s, max_size=8).map(tuple) for s in scalar_strategies.values()],
)

numpy_dtypes = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
)
numpy_arrays = hnp.arrays(
    dtype=numpy_dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
)

numpy_scalars = numpy_dtypes.flatmap(lambda dt: hnp.from_dtype(dt).map(dt.type))

flat_dicts = st.dictionaries(st.text(max_size=10), st.one_of(scalars, numpy_scalars), max_size=6)


@HYP
@given(scalars)
def test_hyp_scalar_codec(value: Any) -> None:
    assert_exact(value, codec_round_trip(value))


@HYP
@given(scalars)
def test_hyp_scalar_file(value: Any) -> None:
    assert_exact(value, file_round_trip_tempdir(value))


@HYP
@given(numpy_scalars)
def test_hyp_numpy_scalar_codec(value: Any) -> None:
    assert_exact(value, codec_round_trip(value))


@HYP
@given(homogeneous_sequences)
def test_hyp_sequence_codec(value: Any) -> None:
    assert_exact(value, codec_round_trip(value))


@HYP
@given(homogeneous_sequences)
def test_hyp_sequence_file(value: Any) -> None:
    assert_exact(value, file_round_trip_tempdir(value))


@HYP
@given(numpy_arrays)
def test_hyp_array_codec(value: np.ndarray) -> None:
    assert_exact(value, codec_round_trip(value))
    assert_exact(value, codec_round_trip(value, "ARRAY"))


@HYP
@given(numpy_arrays)
def test_hyp_array_file(value: np.ndarray) -> None:
    assert_exact(value, file_round_trip_tempdir(value))


@HYP
@given(flat_dicts)
def test_hyp_dict_codec(value: dict[str, Any]) -> None:
    assert_exact(value, codec_round_trip(value))


@HYP
@given(flat_dicts)
def test_hyp_dict_file(value: dict[str, Any]) -> None:
    assert_exact(value, file_round_trip_tempdir(value))
