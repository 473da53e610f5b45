"""Write the pypet 0.6.1 fixture files of tests/engine/test_pypet_files.py, with what pypet loads from them.

Run it with the python of a side virtualenv that has pypet 0.6.1 and numpy < 2 (pypet cannot be
imported with numpy 2); from the repository's root::

    bash benchmarks/make_pypet_env.sh /tmp/pypet-venv && \\
        /tmp/pypet-venv/bin/python tests/data/make_pypet_files.py [--out DIR] [FILE ...]

(about 1.5 minutes from nothing, measured).
It (re)writes ``tests/data/pypet/*.h5`` and, beside each, ``<file>.expected.json``: every leaf
of every trajectory as pypet itself loads it back from that file (``f_load(load_all=2)``, then
``f_get``/``f_get_range``/``f_to_dict``), each value in a tagged JSON form that numpy 2 can rebuild
exactly (see ``tag``), plus the run table and comments. Where pypet's load is known to differ from
what was stored, ``stored`` records the value as it was given. The test suite imports no pypet.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pypet
from pypet import (
    ArrayParameter,
    Environment,
    ObjectTable,
    PickleParameter,
    PickleResult,
    SparseParameter,
    Trajectory,
)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pypet")


# ------------------------------------------------------------------------------ tagged JSON

def _number(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)  # 'nan', 'inf', '-inf'
    return value


def _tag_frame(value: Any) -> dict[str, Any] | None:
    if isinstance(value, ObjectTable):
        return {"t": "ObjectTable", "columns": [str(c) for c in value.columns],
                "range_index": isinstance(value.index, pd.RangeIndex),
                "index": [tag(i) for i in value.index],
                "cells": {str(c): [tag(v) for v in value[c]] for c in value.columns}}
    if isinstance(value, pd.DataFrame):
        return {"t": "DataFrame", "split": json.loads(value.to_json(orient="split")),
                "dtypes": [str(d) for d in value.dtypes], "index_dtype": str(value.index.dtype),
                "range_index": isinstance(value.index, pd.RangeIndex)}
    if isinstance(value, pd.Series):
        return {"t": "Series", "name": value.name, "dtype": str(value.dtype),
                "range_index": isinstance(value.index, pd.RangeIndex),
                "index": [tag(i) for i in value.index], "values": [tag(v) for v in value]}
    return None


def _tag_numpy(value: Any) -> dict[str, Any] | None:
    if isinstance(value, np.matrix):
        return {"t": "matrix", "array": tag(np.asarray(value))}
    if isinstance(value, np.ndarray):
        flat = [tag(v) for v in value.ravel().tolist()] if value.dtype.kind in "SUc" else None
        return {"t": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape),
                "data": flat if flat is not None else [_number(v) for v in value.ravel().tolist()]}
    if isinstance(value, np.generic):
        return {"t": "np", "dtype": value.dtype.str, "v": tag(value.item())}
    return None


_PYTHON_TAGS = {
    bool: lambda v: {"t": "bool", "v": v},
    int: lambda v: {"t": "int", "v": str(v)},
    float: lambda v: {"t": "float", "v": repr(v)},
    complex: lambda v: {"t": "complex", "re": repr(v.real), "im": repr(v.imag)},
    str: lambda v: {"t": "str", "v": v},
    bytes: lambda v: {"t": "bytes", "hex": v.hex()},
    list: lambda v: {"t": "list", "items": [tag(i) for i in v]},
    tuple: lambda v: {"t": "tuple", "items": [tag(i) for i in v]},
    dict: lambda v: {"t": "dict", "keys": list(v), "items": [tag(i) for i in v.values()]},
}


def tag(value: Any) -> dict[str, Any]:
    """A JSON form of ``value`` that names its exact type (numpy scalars by dtype)."""
    tagged = _tag_frame(value) or _tag_numpy(value)
    if tagged is not None:
        return tagged
    if type(value) not in _PYTHON_TAGS:
        raise TypeError(f"cannot tag {type(value)!r}")
    return _PYTHON_TAGS[type(value)](value)


# ----------------------------------------------------------------------------------- values

SCALARS: dict[str, Any] = {
    "an_int": 42, "a_float": 0.25, "a_bool": True, "a_complex": 1.5 - 2j, "a_str": "hello",
    "a_bytes": b"raw", "a_negative": -7, "np_int8": np.int8(-5), "np_int16": np.int16(300),
    "np_int32": np.int32(-70000), "np_int64": np.int64(2**40), "np_uint8": np.uint8(200),
    "np_uint16": np.uint16(60000), "np_uint32": np.uint32(4000000000),
    "np_uint64": np.uint64(2**63), "np_float32": np.float32(1.25), "np_float64": np.float64(-3.5),
    "np_complex64": np.complex64(1 + 1j), "np_complex128": np.complex128(2 - 3j),
    "np_bool": np.bool_(False),
}

RESULT_VALUES: dict[str, Any] = {
    **dict(SCALARS.items()),
    "an_array": np.arange(12, dtype=np.float64).reshape(3, 4),
    "int32_array": np.array([1, -2, 3], dtype=np.int32),
    "float32_array": np.linspace(0, 1, 5, dtype=np.float32),
    "bool_array": np.array([True, False, True]),
    "complex_array": np.array([1 + 2j, 3 - 4j]),
    "str_array": np.array(["ab", "c", "def"]),
    "empty_array": np.array([], dtype=np.float64),
    "a_matrix": np.matrix([[1, 2], [3, 4]]),
    "int_tuple": (1, 2, 3),
    "np_int_tuple": (np.int64(4), np.int64(5)),
    "float_list": [0.5, 1.5, 2.5],
    "str_list": ["a", "bb", "ccc"],
    "bool_list": [True, False],
    "empty_tuple": (),
    "empty_dict": {},
    "a_dict": {"a": 1, "b": "two", "c": 3.0, "d": np.int32(4), "e": True},
    "a_frame": pd.DataFrame({"x": [1.0, 2.0, 3.0], "n": [1, 2, 3], "s": ["a", "b", "c"]}),
    "a_series": pd.Series([1.5, 2.5, 3.5], name="s"),
    "an_object_table": ObjectTable({"i": [1, 2, 3], "s": ["x", "yy", "zzz"],
                                    "f": [np.float32(0.5), np.float32(1.5), np.float32(2.5)]}),
}

WIDE_DICT = {f"k{i:03d}": i * 1.5 for i in range(600)}

PARAMETER_VALUES: dict[str, Any] = {
    **SCALARS,
    "an_array": np.array([1.0, 2.0, 3.0]),
    "int_array_2d": np.arange(6, dtype=np.int16).reshape(2, 3),
    "int_tuple": (1, 2, 3),
    "float_list": [0.5, 1.5],
    "str_tuple": ("a", "bc"),
}


def _run(traj: Any) -> None:
    """One run of the Environment: results of several kinds, one derived parameter."""
    x, y, label = traj.x, traj.y, traj.label
    traj.f_add_result("runs.$.z", x * y, comment="the product")
    traj.f_add_result("runs.$.trace", trace=np.arange(4) * x, steps=(y, y + 1),
                      info={"x": x, "y": y, "label": label}, comment="several keys")
    traj.f_add_result("runs.$.nested.deeper.table",
                      frame=pd.DataFrame({"t": np.arange(3.0), "v": np.arange(3.0) * y}),
                      comment="a result in nested groups")
    traj.f_add_derived_parameter("runs.$.product", float(x * y), comment="x times y")


def _environment_file(path: str) -> None:
    """An Environment run (zlib 9, pypet's default): run table, config, explored parameters."""
    env = Environment(trajectory="sweep", filename=path, file_title="pypet fixture",
                      comment="an environment run", overwrite_file=True, log_config=None,
                      multiproc=False, complevel=9, complib="zlib")
    traj = env.trajectory
    traj.f_add_parameter("x", 1.0, comment="the x axis")
    traj.f_add_parameter("y", 10, comment="the y axis")
    traj.f_add_parameter("label", "first", comment="a str explored")
    traj.f_add_parameter("model.tau", np.float32(0.02), comment="a time constant")
    traj.f_add_parameter("model.sizes", (10, 20, 30))
    traj.f_add_parameter(ArrayParameter, "model.weights", np.array([0.5, 0.25]),
                         comment="an array parameter")
    traj.f_add_derived_parameter("model.ratio", 0.5, comment="derived before the runs")
    traj.f_explore({"x": [1.0, 2.0, 3.0, 4.0], "y": [10, 20, 10, 20],
                    "label": ["first", "second", "third", "fourth"]})
    env.run(_run)
    env.disable_logging()


def _direct_file(path: str) -> None:
    """A trajectory stored directly (blosc 5): every parameter and result type."""
    traj = Trajectory("types", filename=path, file_title="pypet types", overwrite_file=True,
                      comment="direct stores of every type", complib="blosc", complevel=5)
    for name, value in PARAMETER_VALUES.items():
        traj.f_add_parameter(f"kinds.{name}", value, comment=f"a {type(value).__name__}")
    traj.f_add_parameter(ArrayParameter, "arrays.explored", np.zeros(2),
                         comment="an explored array parameter")
    traj.f_add_parameter(ArrayParameter, "arrays.plain_tuple", (1.0, 2.0))
    traj.f_add_parameter("explored.n", 1)
    traj.f_add_parameter("explored.rate", np.float64(0.5))
    traj.f_add_parameter("explored.flag", False)
    traj.f_explore({"arrays.explored": [np.zeros(2), np.ones(2), np.zeros(2)],
                    "explored.n": [1, 2, 3], "explored.rate": [np.float64(0.5),
                                                               np.float64(1.5),
                                                               np.float64(2.5)],
                    "explored.flag": [False, True, False]})
    traj.f_add_derived_parameter("derived.d", 12.5, comment="a derived parameter")
    traj.f_add_derived_parameter("derived.names", ["p", "q"])
    traj.f_add_result("everything", comment="one result, every kind of value",
                      **RESULT_VALUES)
    traj.f_add_result("group_a.group_b.leaf", 1, second=np.arange(3))
    traj.f_add_result("a_single", 3.25)
    traj.f_add_result("wide", wide=WIDE_DICT, comment="pypet splits its table: 600 columns")
    traj.f_add_result("empty_comment", value=1)
    traj.f_add_result("utf8", text="Grüße, 世界", comment="ünïcödé comment")
    traj.f_add_link("linked_x", traj.f_get("parameters.explored.n"))  # SoftLinks: not items
    traj.results.f_add_link("linked_single", traj.f_get("results.a_single"))
    traj.f_store()


def _merged_file(path: str) -> None:
    """Two Environment runs in one file, the second merged into the first (f_merge)."""
    for name, values in (("merged", [1.0, 2.0]), ("other", [3.0, 4.0])):
        env = Environment(trajectory=name, filename=path, overwrite_file=name == "merged",
                          log_config=None, multiproc=False, comment=f"trajectory {name}")
        traj = env.trajectory
        traj.f_add_parameter("x", 1.0)
        traj.f_explore({"x": values})
        env.run(_square)
        env.disable_logging()
    merged = pypet.load_trajectory("merged", filename=path, load_all=2)
    other = pypet.load_trajectory("other", filename=path, load_all=2)
    merged.f_merge(other, backup=False, delete_other_trajectory=True)


def _square(traj: Any) -> None:
    traj.f_add_result("runs.$.sq", traj.x ** 2)


def _unsupported_file(path: str) -> None:
    """Features aiostore refuses with a clear error (pickles, sparse matrices) and defects."""
    from scipy import sparse

    traj = Trajectory("odd", filename=path, overwrite_file=True, comment="odd features")
    traj.f_add_parameter(PickleParameter, "pickled", {"a": (1, 2)}, comment="a pickle")
    traj.f_add_parameter(SparseParameter, "sparse", sparse.csr_matrix(np.eye(3)))
    traj.f_add_parameter("big_int", 2**40, comment="overflows pypet's int32 column")
    traj.f_add_parameter("fine", 5)
    traj.f_add_leaf(PickleResult("results.pickled_result", obj={"pair": (1, 2)}, protocol=2,
                                 comment="a pickle result"))
    traj.f_add_result("plain", value=np.arange(3))
    traj.f_add_result("mixed", mixed=[1, "a"], comment="pypet stores it as text, fails to load")
    annotated = traj.f_add_result("annotated", value=1.0)
    annotated.v_annotations.f_set(unit="mV", source="a note")
    traj.f_store()


WRITERS = {"environment.h5": _environment_file, "types.h5": _direct_file,
           "merged.h5": _merged_file, "odd.h5": _unsupported_file}


# --------------------------------------------------------------------------------- manifest

def _leaf_record(leaf: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"class": type(leaf).__name__, "comment": leaf.v_comment}
    try:
        if leaf.v_is_parameter:
            record["value"] = tag(leaf.f_get())
            if leaf.f_has_range():
                record["range"] = [tag(v) for v in leaf.f_get_range()]
        else:
            record["values"] = {key: tag(value) for key, value in leaf.f_to_dict().items()}
    except Exception as exc:  # a leaf pypet cannot give back: the test expects an error
        record["error"] = f"{type(exc).__name__}: {exc}"
    return record


def _manifest(path: str) -> dict[str, Any]:
    names = _trajectory_names(path)
    manifest: dict[str, Any] = {"pypet": pypet.__version__, "numpy": np.__version__,
                                "trajectories": {}}
    for name in names:
        traj = Trajectory(name, add_time=False)
        errors: dict[str, str] = {}
        try:
            traj.f_load(filename=path, load_parameters=2, load_derived_parameters=2,
                        load_results=2, load_other_data=2, force=True)
        except Exception as exc:
            errors["<load>"] = f"{type(exc).__name__}: {exc}"
        _reload_config(traj)
        leaves = {leaf.v_full_name: _leaf_record(leaf)
                  for leaf in traj.f_iter_leaves(with_links=False)}
        runs = [{"name": traj.f_idx_to_run(idx), "idx": idx,
                 "completed": int(info["completed"]), "timestamp": info["timestamp"],
                 "finish_timestamp": info["finish_timestamp"], "time": info["time"],
                 "parameter_summary": info["parameter_summary"]}
                for idx, info in enumerate(traj.f_get_run_information(copy=True).values())]
        runs.sort(key=lambda run: run["idx"])
        manifest["trajectories"][name] = {
            "comment": traj.v_comment, "length": len(traj), "leaves": leaves, "runs": runs,
            "explored": sorted(traj.f_get_explored_parameters(fast_access=False)),
            "groups": sorted(g.v_full_name for g in traj.f_iter_nodes(recursive=True)
                             if g.v_is_group),
            "load_errors": errors}
    return manifest


def _reload_config(traj: Any) -> None:
    """Load the config parameters again: the storage service puts its own defaults there
    (``config.hdf5.complevel = 9``...), which pypet's load then does not overwrite."""
    for leaf in list(traj.f_iter_leaves(with_links=False)):
        if leaf.v_full_name.startswith("config.hdf5"):
            leaf.f_unlock()
            leaf.f_empty()
            traj.f_load_item(leaf)


def _trajectory_names(path: str) -> list[str]:
    import tables

    with tables.open_file(path, "r") as h5:
        return sorted(group._v_name for group in h5.root._f_iter_nodes("Group")
                      if "SRVC_INIT_CLASS_NAME" not in group._v_attrs
                      and "overview" in group)


def _record_stored(filename: str, manifest: dict[str, Any]) -> None:
    """Record the values as they were given to pypet, beside what pypet loads back: the tests
    check aiostore against the latter, and against the former where pypet loses something."""
    if filename == "types.h5":
        leaves = manifest["trajectories"]["types"]["leaves"]
        leaves["results.everything"]["stored"] = {key: tag(value)
                                                  for key, value in RESULT_VALUES.items()}
        for name, value in PARAMETER_VALUES.items():
            leaves[f"parameters.kinds.{name}"]["stored"] = tag(value)
    elif filename == "odd.h5":
        manifest["trajectories"]["odd"]["leaves"]["parameters.big_int"]["stored"] = tag(2**40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help=f"which of {', '.join(WRITERS)} (default: all)")
    parser.add_argument("--out", default=HERE, help=f"where to write them (default {HERE})")
    args = parser.parse_args()
    unknown = sorted(set(args.files) - set(WRITERS))
    if unknown:
        parser.error(f"unknown files {unknown}")
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")  # pandas warns of its own frames inside pypet
    os.makedirs(args.out, exist_ok=True)
    for filename in args.files or list(WRITERS):
        path = os.path.join(args.out, filename)
        if os.path.exists(path):
            os.remove(path)
        WRITERS[filename](path)
        time.sleep(0.01)
        manifest = _manifest(path)
        _record_stored(filename, manifest)
        with open(path + ".expected.json", "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=1, ensure_ascii=False, sort_keys=True)
        print(f"{path}: {os.path.getsize(path)} bytes", flush=True)


if __name__ == "__main__":
    main()
