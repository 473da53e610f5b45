"""Compression codecs against none, side by side in one run (issue 18).

    python benchmarks/compression.py [--runs N[,N...]] [--rounds R] [--big N]
        [--codecs none,blosc2:lz4/5,...] [--dir DIR] [--h5py-python PATH]

Each codec is ``library/level`` as ``AsyncStorageService(compression=library,
compression_level=level)`` takes it (``none``: no compression, today's default). The default set
is what PyTables ships that is fast, plus pypet's default (``zlib/9``, shuffle on); aiostore
always turns shuffle on with a codec.

Workloads, every one measured in a fresh process (``os.sync()`` before each), all codecs within
a round one after another, each round starting at another codec; figures are the medians over
``--rounds``, and "x none" is the median over rounds of the ratio to ``none`` in the same round:

- **W1 store**: ``--runs`` runs (default 2,000 and 20,000), each storing one result ``r`` with a
  float ``z``, 100 float64 ``arr`` and a dict ``d`` of 3 scalars, the trajectory exploring two
  parameters ``x`` (float) and ``y`` (int); 50 asyncio tasks each ``await svc.store(SINGLE_RUN,
  run)``; in the default layout and with ``packed_runs=True``. Runs/s (service opened to closed),
  the event loop's worst lag, file bytes per run and that against the payload (the values'
  bytes, parameters included: 841 bytes).
- **W1 load**: the trajectory loaded back with its results (``load_results=2``): runs/s. Every
  value of every run, and both parameters' ranges, are then checked to be exactly what was
  stored (type, dtype and bits).
- **Large arrays**: ``--big`` arrays (default 50) of 8 MB each, one per run, stored from 4
  tasks, of three kinds: ``random`` (standard normal float64: incompressible but for the
  exponent's bytes), ``smooth`` (a damped oscillation plus noise of 1e-6, as a simulation
  writes) and ``counters`` (int64 running counts: cumulative sums of small increments). Store
  MB/s, worst loop lag, compression ratio (the arrays' bytes over the file's), load MB/s; every
  array checked exactly after loading.
- **Packed tables with the codec** (raw PyTables): ``packed_runs`` keeps W1's values in one
  table of rows and the runs in the run table, but neither table takes ``compression=`` today.
  What they would weigh and cost with it: ``--packed-rows`` runs' rows (the packed layout's row
  type and ``RUN_ROW``, the same ``expectedrows``) appended 50 at a time (a batch of the 50
  tasks' stores), each batch flushed as durability "flush" does, to tables with the codec's
  filters, then read back whole and checked: microseconds per run each way and file bytes per
  run; with W1's ``arr`` and with noise in its place, and with PyTables' chunks and 64 kB ones.
- **Readability**: with each codec, a small file (W1 of 200 runs, one array of each kind and a
  DataFrame result) read back by plain PyTables in a process that never imports aiostore
  (``tables.open_file``; the leaves' filters and the W1 leaves' bytes on disk against in
  memory), by pandas (``HDFStore`` for the arrays, ``read_hdf`` for the frame), and when
  ``--h5py-python`` names a python with ``h5py`` (and ``hdf5plugin``), by h5py without, then
  with ``import hdf5plugin``. Each array read is compared to what was stored by its SHA-256.

Files go under ``--dir`` (default ``/tmp/aiostore-compression``) and are removed after each
measurement; the raw figures are written to ``DIR/results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULT_CODECS = ("none,blosc2:lz4/1,blosc2:lz4/5,blosc2:blosclz/5,blosc2:zstd/3,blosc:lz4/5,"
                  "zlib/1,zlib/9")
BIG_ELEMENTS = 2**20  # 8 MB of 8-byte values
BIG_KINDS = ("random", "smooth", "counters")
CHECK_RUNS = 200
MB = 1e6


# --------------------------------------------------------------------------------- workloads


def parse_codec(codec: str) -> tuple[str | None, int]:
    """``"blosc2:lz4/5"`` -> ("blosc2:lz4", 5); ``"none"`` -> (None, 0)."""
    if codec == "none":
        return None, 0
    library, _, level = codec.partition("/")
    return library, int(level or 5)


def w1_values(index: int) -> dict[str, Any]:
    """Run ``index``'s result values (W1, as in ``benchmarks/faces.py``)."""
    return {"z": float(index) * 0.25, "arr": np.linspace(0, 1, 100) + index,
            "d": {"mean": 0.5, "n": index, "ok": True}}


def w1_parameters(runs: int) -> dict[str, list[Any]]:
    return {"x": [0.5 * index for index in range(runs)], "y": list(range(runs))}


W1_PAYLOAD = 8 + 800 + (8 + 8 + 1) + (8 + 8)  # z, arr, d, x and y: 841 bytes


def big_array(kind: str, index: int) -> np.ndarray:
    """Array ``index`` of a kind: the same bits every time it is made."""
    rng = np.random.default_rng(index)
    if kind == "random":
        return rng.standard_normal(BIG_ELEMENTS)
    if kind == "smooth":
        t = np.linspace(0.0, 200.0, BIG_ELEMENTS)
        return (np.exp(-t / (40.0 + index)) * np.sin(t * (1.0 + 0.01 * index))
                + 1e-6 * rng.standard_normal(BIG_ELEMENTS))
    if kind == "counters":
        return np.cumsum(rng.poisson(3.0, BIG_ELEMENTS), dtype=np.int64) + index * 10**7
    raise ValueError(kind)


def sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


async def store_runs(filename: str, codec: str, packed: bool, name: str,
                     parameters: dict[str, list[Any]], tasks: int,
                     add: Callable[[Any], Any]) -> dict[str, float]:
    """Store a trajectory exploring ``parameters``, then each run from ``tasks`` tasks, each
    ``await``-ing its store; ``add(run)`` adds the run's result."""
    import anyio
    from faces import LagMeter  # beside this file

    from aiostore import AsyncStorageService, Msg, Trajectory

    traj = Trajectory(name, comment="compression benchmark")
    for key, values in parameters.items():
        traj.add_parameter(key, values[0])
    traj.explore(parameters)
    runs = len(traj)
    library, level = parse_codec(codec)
    meter = LagMeter()
    async with anyio.create_task_group() as watching:
        watching.start_soon(meter.run)
        started = time.perf_counter()
        async with AsyncStorageService(filename, compression=library,
                                       compression_level=level or 5,
                                       packed_runs=packed) as service:
            await service.store(Msg.TRAJECTORY, traj)

            async def worker(first: int) -> None:
                for index in range(first, runs, tasks):
                    run = traj.run(index)
                    add(run)
                    await service.store(Msg.SINGLE_RUN, run)
                    for item in run.new_items:  # as pypet's Environment does after a run
                        item.data.clear()

            async with anyio.create_task_group() as group:
                for first in range(tasks):
                    group.start_soon(worker, first)
        seconds = time.perf_counter() - started
        watching.cancel_scope.cancel()
    return {"seconds": seconds, "lag_ms": meter.worst * 1e3,
            "file_bytes": os.path.getsize(filename)}


async def load_trajectory(filename: str, name: str) -> tuple[Any, float]:
    from aiostore import AsyncStorageService, Msg

    started = time.perf_counter()
    async with AsyncStorageService(filename) as service:
        traj = await service.load(Msg.TRAJECTORY, None, trajectory_name=name,
                                  load_parameters=2, load_results=2)
    return traj, time.perf_counter() - started


def check_w1(traj: Any, runs: int) -> None:
    """Every run's values and both parameters' ranges exactly as stored."""
    assert len(traj) == runs, (len(traj), runs)
    for key, values in w1_parameters(runs).items():
        loaded = traj.get(f"parameters.{key}").range
        assert list(loaded) == values, key
        assert [type(v) for v in loaded] == [type(v) for v in values], key
    for index in range(runs):
        result = traj.get(f"results.runs.run_{index:08d}.r")
        expected = w1_values(index)
        assert type(result["z"]) is float, index
        assert result["z"] == expected["z"], index
        arr = result["arr"]
        assert isinstance(arr, np.ndarray), index
        assert arr.dtype == np.float64, index
        assert arr.tobytes() == expected["arr"].tobytes(), index
        loaded_d = result["d"]
        assert loaded_d == expected["d"], index
        assert [type(v) for v in loaded_d.values()] == [type(v) for v in expected["d"].values()]


def check_big(traj: Any, kind: str, count: int) -> None:
    assert len(traj) == count
    for index in range(count):
        data = traj.get(f"results.runs.run_{index:08d}.big")["data"]
        expected = big_array(kind, index)
        assert isinstance(data, np.ndarray), (kind, index)
        assert data.dtype == expected.dtype, (kind, index)
        assert data.shape == expected.shape, (kind, index)
        assert data.tobytes() == expected.tobytes(), (kind, index)


def child(job: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import anyio
    import tables

    warnings.simplefilter("ignore", tables.PerformanceWarning)  # > 16,384 runs in one group
    filename = job["file"]
    what = job["what"]
    if what == "w1-store":
        if os.path.exists(filename):
            os.remove(filename)

        def add(run: Any) -> None:
            run.add_result("r", **w1_values(run.v_idx))

        return anyio.run(store_runs, filename, job["codec"], job["packed"], "w1",
                         w1_parameters(job["runs"]), job["tasks"], add)
    if what == "w1-load":
        traj, seconds = anyio.run(load_trajectory, filename, "w1")
        check_w1(traj, job["runs"])
        return {"seconds": seconds}
    if what == "big-store":
        if os.path.exists(filename):
            os.remove(filename)
        arrays = [big_array(job["kind"], index) for index in range(job["count"])]

        def add_big(run: Any) -> None:
            run.add_result("big", data=arrays[run.v_idx])

        measured = anyio.run(store_runs, filename, job["codec"], False, "big",
                             {"i": list(range(job["count"]))}, 4, add_big)
        measured["data_bytes"] = sum(array.nbytes for array in arrays)
        return measured
    if what == "big-load":
        traj, seconds = anyio.run(load_trajectory, filename, "big")
        check_big(traj, job["kind"], job["count"])
        return {"seconds": seconds}
    if what == "raw-packed":
        return raw_packed(filename, job["codec"], job["runs"])
    if what == "make-check":
        return make_check_file(filename, job["codec"])
    raise ValueError(what)


PACKED_ROW = np.dtype([("run_idx", "<i8"), ("z", "<f8"), ("arr", "<f8", (100,)),
                       ("d", [("mean", "<f8"), ("n", "<i8"), ("ok", "?")])])
PACKED_BATCH = 50
CHUNK_64K = {"packed": (78,), "runs": (91,)}  # what PyTables picks for both without a codec


def raw_rows(runs: int, noisy: bool) -> tuple[np.ndarray, np.ndarray]:
    """W1's packed rows and run-table rows, as aiostore fills them; ``noisy``: ``arr`` is
    standard normal noise instead of W1's ``linspace(0, 1, 100) + index``, whose low bytes
    repeat from run to run (a codec that sees many rows at once finds that)."""
    from aiostore.engine.runs import RUN_ROW

    packed = np.zeros(runs, PACKED_ROW)
    table = np.zeros(runs, RUN_ROW)
    x, y = w1_parameters(runs).values()
    for index in range(runs):
        values = w1_values(index)
        arr = np.random.default_rng(index).standard_normal(100) if noisy else values["arr"]
        packed[index] = (index, values["z"], arr, tuple(values["d"].values()))
        started = 1.8e9 + index * 1e-3
        table[index] = (index, f"run_{index:08d}".encode(), b"2027_01_15_10h00m00s", started,
                        started + 1.37e-4, b"0:00:00.000137",
                        f"x: {x[index]},   y: {y[index]}".encode(), b"", 1)
    return packed, table


def raw_packed(filename: str, codec: str, runs: int) -> dict[str, float]:
    """The packed table and the run table with ``codec``: for W1's and noisy rows, with
    PyTables' chunks (as aiostore makes them: ``expectedrows=10_000`` and the default) and
    with the 64 kB chunks PyTables picks without a codec (with blosc2 it picks 1 MB)."""
    import tables

    from aiostore.engine.runs import RUN_ROW

    library, level = parse_codec(codec)
    filters = tables.Filters(complevel=level, complib=library, shuffle=True) if library else None
    found: dict[str, float] = {}
    with tables.open_file(filename, "w") as h5:  # a warm-up: the first tables made cost more
        h5.create_table("/", "p0", description=PACKED_ROW, filters=filters).append(
            raw_rows(PACKED_BATCH, False)[0])
    for noisy in (False, True):
        packed_rows, run_rows = raw_rows(runs, noisy)
        for chunks in ("auto", "64k"):
            sizes = ({"packed": {}, "runs": {}} if chunks == "auto" else
                     {key: {"chunkshape": shape} for key, shape in CHUNK_64K.items()})
            started = time.perf_counter()
            with tables.open_file(filename, "w") as h5:
                packed = h5.create_table("/", "p0", description=PACKED_ROW, expectedrows=10_000,
                                         filters=filters, **sizes["packed"])
                table = h5.create_table("/", "runs", description=RUN_ROW, filters=filters,
                                        **sizes["runs"])
                for start in range(0, runs, PACKED_BATCH):  # a batch: appended, then flushed
                    packed.append(packed_rows[start:start + PACKED_BATCH])
                    table.append(run_rows[start:start + PACKED_BATCH])
                    h5.flush()
            label = f"{'noisy' if noisy else 'w1'}_{chunks}"
            found[f"store_us_{label}"] = (time.perf_counter() - started) / runs * 1e6
            found[f"bytes_{label}"] = os.path.getsize(filename) / runs
            started = time.perf_counter()
            with tables.open_file(filename, "r") as h5:
                read_packed, read_runs = h5.root.p0.read(), h5.root.runs.read()
            found[f"load_us_{label}"] = (time.perf_counter() - started) / runs * 1e6
            assert read_packed.tobytes() == packed_rows.tobytes()
            assert read_runs.tobytes() == run_rows.tobytes()
            os.remove(filename)
    return found


# ------------------------------------------------------------------------------ readability


def make_check_file(filename: str, codec: str) -> dict[str, Any]:
    """W1 of CHECK_RUNS runs, one 8 MB array of each kind and a DataFrame, with ``codec``."""
    import anyio
    import pandas as pd

    if os.path.exists(filename):
        os.remove(filename)

    def add(run: Any) -> None:
        run.add_result("r", **w1_values(run.v_idx))
        if run.v_idx == 0:
            run.add_result("f", frame=check_frame())

    anyio.run(store_runs, filename, codec, False, "w1", w1_parameters(CHECK_RUNS), 4, add)

    def add_big(run: Any) -> None:
        run.add_result("big", data=big_array(BIG_KINDS[run.v_idx], 0))

    anyio.run(store_runs, filename, codec, False, "big", {"i": list(range(len(BIG_KINDS)))}, 1,
              add_big)
    assert isinstance(check_frame(), pd.DataFrame)
    return {}


def check_frame() -> Any:
    import pandas as pd

    return pd.DataFrame({"x": np.arange(1000, dtype=np.float64) * 0.5,
                         "n": np.arange(1000, dtype=np.int64)})


def check_paths() -> dict[str, str]:
    """The arrays the readers read: node path -> SHA-256 of what was stored there."""
    # runs 0-999 lie in run set 0 (docs/FORMAT.md)
    paths = {"/w1/results/runs/run_set_00000/run_00000000/r/arr": sha(w1_values(0)["arr"]),
             "/w1/results/runs/run_set_00000/run_00000199/r/arr": sha(w1_values(199)["arr"])}
    for index, kind in enumerate(BIG_KINDS):
        paths[f"/big/results/runs/run_set_00000/run_{index:08d}/big/data"] = sha(
            big_array(kind, 0))
    return paths


# Run with ``python -c``: plain PyTables and pandas, no aiostore in the process.
PLAIN_READER = r"""
import hashlib, json, sys
import numpy as np, pandas as pd, tables
filename, paths = sys.argv[1], json.loads(sys.argv[2])
out = {"tables": {}, "pandas": {}, "filters": {}}
assert "aiostore" not in sys.modules
def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
try:
    with tables.open_file(filename, "r") as h5:
        for path in paths:
            node = h5.get_node(path)
            f = node.filters
            out["filters"][path] = (f"{f.complib}({f.complevel})" + ("+shuffle" if f.shuffle else "")
                                    if f.complevel else "none")
            out["tables"][path] = sha(node.read())
        d = h5.get_node("/w1/results/runs/run_set_00000/run_00000003/r/d").read()
        out["tables"]["d"] = [float(d["mean"][0]), int(d["n"][0]), bool(d["ok"][0])]
        disk = memory = 0
        for run_set in h5.get_node("/w1/results/runs"):
            for run in run_set:
                for leaf in (run.r.arr, run.r.d):
                    disk += int(leaf.size_on_disk)
                    memory += int(leaf.size_in_memory)
        out["w1_leaves"] = [disk, memory]
except Exception as exc:
    out["tables"]["error"] = f"{type(exc).__name__}: {exc}"[:300]
try:
    with pd.HDFStore(filename, "r") as store:
        for path in paths:
            out["pandas"][path] = sha(store.get_node(path).read())
    frame = pd.read_hdf(filename, "/w1/results/runs/run_set_00000/run_00000000/f/frame")
    out["pandas"]["frame"] = [len(frame), float(frame["x"].sum()), int(frame["n"].sum())]
except Exception as exc:
    out["pandas"]["error"] = f"{type(exc).__name__}: {exc}"[:300]
print(json.dumps(out))
"""

# Run with ``--h5py-python``: h5py alone, then with hdf5plugin imported.
H5PY_READER = r"""
import hashlib, json, sys
import numpy as np, h5py
filename, paths = sys.argv[1], json.loads(sys.argv[2])
def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
def read_all(label):
    got = {}
    with h5py.File(filename, "r") as f:
        for path in paths:
            try:
                got[path] = sha(f[path][()])
            except Exception as exc:
                got[path] = "error: " + f"{type(exc).__name__}: {exc}"[:200]
    out[label] = got
out = {"versions": [h5py.__version__, h5py.version.hdf5_version]}
read_all("h5py")
try:
    import hdf5plugin
    out["versions"].append(hdf5plugin.version)
    read_all("h5py+hdf5plugin")
except ImportError:
    pass
print(json.dumps(out))
"""


def readability(codec: str, directory: pathlib.Path, h5py_python: str | None) -> dict[str, Any]:
    filename = str(directory / f"check-{codec.replace('/', '-').replace(':', '-')}.h5")
    run_child({"what": "make-check", "file": filename, "codec": codec})
    paths = check_paths()
    plain = json.loads(subprocess.run([sys.executable, "-c", PLAIN_READER, filename,
                                       json.dumps(list(paths))], capture_output=True,
                                      text=True, check=True).stdout)
    found: dict[str, Any] = {"filters": plain["filters"].get(next(iter(paths)), "?"),
                             "w1_leaves": plain.get("w1_leaves")}
    expected_d = [0.5, 3, True]
    tables_ok = all(plain["tables"].get(path) == digest for path, digest in paths.items())
    found["tables"] = "ok" if tables_ok and plain["tables"].get("d") == expected_d else (
        plain["tables"].get("error") or "WRONG VALUES")
    expected_frame = check_frame()
    frame_ok = plain["pandas"].get("frame") == [len(expected_frame),
                                                float(expected_frame["x"].sum()),
                                                int(expected_frame["n"].sum())]
    pandas_ok = all(plain["pandas"].get(path) == digest for path, digest in paths.items())
    found["pandas"] = "ok" if pandas_ok and frame_ok else (plain["pandas"].get("error")
                                                            or "WRONG VALUES")
    if h5py_python:
        other = json.loads(subprocess.run([h5py_python, "-c", H5PY_READER, filename,
                                           json.dumps(list(paths))], capture_output=True,
                                          text=True, check=True).stdout)
        found["h5py_versions"] = other["versions"]
        for label in ("h5py", "h5py+hdf5plugin"):
            if label in other:
                got = other[label]
                errors = [value for value in got.values() if value.startswith("error")]
                found[label] = ("ok" if all(got[p] == d for p, d in paths.items())
                                else "FAILS" if errors else "WRONG VALUES")
                if errors:
                    found[label + "_error"] = errors[0]
    os.remove(filename)
    return found


# ------------------------------------------------------------------------------------ driver


def run_child(job: dict[str, Any]) -> dict[str, Any]:
    os.sync()  # no measurement pays for the write-back of the one before it
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{job}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace, codecs: list[str],
            directory: pathlib.Path) -> list[dict[str, Any]]:
    """Every measurement of every round, as records."""
    records: list[dict[str, Any]] = []
    filename = str(directory / "bench.h5")
    for round_index in range(args.rounds):
        shift = round_index % len(codecs)
        order = codecs[shift:] + codecs[:shift]
        for runs in args.runs:
            for packed in (False, True):
                for codec in order:
                    stored = run_child({"what": "w1-store", "file": filename, "codec": codec,
                                        "packed": packed, "runs": runs, "tasks": args.tasks})
                    loaded = run_child({"what": "w1-load", "file": filename, "runs": runs})
                    record = {"workload": "w1", "round": round_index, "codec": codec,
                              "runs": runs, "layout": "packed" if packed else "default",
                              "store_per_s": runs / stored["seconds"],
                              "lag_ms": stored["lag_ms"],
                              "bytes_per_run": stored["file_bytes"] / runs,
                              "load_per_s": runs / loaded["seconds"]}
                    records.append(record)
                    progress(record)
                    os.remove(filename)
        for codec in order:
            raw = run_child({"what": "raw-packed", "file": filename, "codec": codec,
                             "runs": args.packed_rows})
            record = {"workload": "raw-packed", "round": round_index, "codec": codec, **raw}
            records.append(record)
            progress(record)
        for kind in BIG_KINDS:
            for codec in order:
                stored = run_child({"what": "big-store", "file": filename, "codec": codec,
                                    "kind": kind, "count": args.big})
                loaded = run_child({"what": "big-load", "file": filename, "kind": kind,
                                    "count": args.big})
                data = stored["data_bytes"]
                record = {"workload": "big", "round": round_index, "codec": codec, "kind": kind,
                          "store_mb_s": data / MB / stored["seconds"], "lag_ms": stored["lag_ms"],
                          "ratio": data / stored["file_bytes"],
                          "load_mb_s": data / MB / loaded["seconds"]}
                records.append(record)
                progress(record)
                os.remove(filename)
    return records


def progress(record: dict[str, Any]) -> None:
    shown = {key: round(value, 2) if isinstance(value, float) else value
             for key, value in record.items()}
    print(json.dumps(shown), file=sys.stderr, flush=True)


def summarize(records: list[dict[str, Any]], codecs: list[str], group: dict[str, Any],
              fields: list[str]) -> list[dict[str, Any]]:
    """Per codec: the median of each field over rounds, and of its ratio to none's."""
    chosen = [r for r in records if all(r.get(k) == v for k, v in group.items())]
    rows = []
    for codec in codecs:
        mine = [r for r in chosen if r["codec"] == codec]
        row: dict[str, Any] = {"codec": codec}
        for field in fields:
            row[field] = statistics.median(r[field] for r in mine)
            ratios = [r[field] / base[field] for r in mine for base in chosen
                      if base["codec"] == "none" and base["round"] == r["round"]]
            row[field + "_x"] = statistics.median(ratios) if ratios else float("nan")
        rows.append(row)
    return rows


def print_table(title: str, header: list[str], lines: list[list[str]]) -> None:
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print(f"\n{title}")
    for line in (header, *lines):
        print("  ".join(cell.rjust(width) if i else cell.ljust(width)
                        for i, (cell, width) in enumerate(zip(line, widths, strict=True))))


def report_speed(records: list[dict[str, Any]], codecs: list[str],
                 args: argparse.Namespace) -> None:
    print(f"medians of {args.rounds} rounds; 'x none': median of the per-round ratio to none")
    for runs in args.runs:
        for layout in ("default", "packed"):
            rows = summarize(records, codecs, {"workload": "w1", "runs": runs, "layout": layout},
                             ["store_per_s", "lag_ms", "bytes_per_run", "load_per_s"])
            print_table(f"W1, {runs:,} runs, {layout} layout (payload {W1_PAYLOAD} B/run)",
                        ["codec", "store runs/s", "x none", "lag ms", "B/run", "x payload",
                         "x none", "load runs/s", "x none"],
                        [[r["codec"], f"{r['store_per_s']:,.0f}", f"{r['store_per_s_x']:.2f}",
                          f"{r['lag_ms']:.1f}", f"{r['bytes_per_run']:,.0f}",
                          f"{r['bytes_per_run'] / W1_PAYLOAD:.2f}",
                          f"{r['bytes_per_run_x']:.3f}", f"{r['load_per_s']:,.0f}",
                          f"{r['load_per_s_x']:.2f}"] for r in rows])
    labels = [f"{data}_{chunks}" for data in ("w1", "noisy") for chunks in ("auto", "64k")]
    fields = [f"{what}_{label}" for what in ("store_us", "bytes", "load_us") for label in labels]
    rows = summarize(records, codecs, {"workload": "raw-packed"}, fields)
    print_table(f"Packed rows + run table with the codec, raw PyTables, {args.packed_rows:,} runs "
                f"appended {PACKED_BATCH} at a time, each batch flushed (what packed_runs would "
                "cost and weigh if its tables took compression=); chunks: PyTables' (auto) or "
                "64 kB; arr: W1's or noise",
                ["codec", *(f"us/run {label}" for label in labels),
                 *(f"B/run {label}" for label in labels), "read us/run w1_auto"],
                [[r["codec"], *(f"{r['store_us_' + label]:.1f}" for label in labels),
                  *(f"{r['bytes_' + label]:,.0f}" for label in labels),
                  f"{r['load_us_w1_auto']:.2f}"] for r in rows])
    for kind in BIG_KINDS:
        rows = summarize(records, codecs, {"workload": "big", "kind": kind},
                         ["store_mb_s", "lag_ms", "ratio", "load_mb_s"])
        print_table(f"Large arrays: {args.big} x 8 MB, {kind}",
                    ["codec", "store MB/s", "x none", "lag ms", "ratio", "load MB/s", "x none"],
                    [[r["codec"], f"{r['store_mb_s']:,.0f}", f"{r['store_mb_s_x']:.2f}",
                      f"{r['lag_ms']:.1f}", f"{r['ratio']:.2f}", f"{r['load_mb_s']:,.0f}",
                      f"{r['load_mb_s_x']:.2f}"] for r in rows])


def report_readability(readable: dict[str, dict[str, Any]]) -> None:
    labels = ["tables", "pandas", "h5py", "h5py+hdf5plugin"]
    print_table(f"Readability of a file written with each codec ({CHECK_RUNS} W1 runs, "
                "3 arrays, a frame); W1 arr+d leaves: bytes on disk / in memory",
                ["codec", "filters", *labels, "W1 leaves"],
                [[codec, found["filters"], *(found.get(label, "-")[:40] for label in labels),
                  (f"{found['w1_leaves'][0] / found['w1_leaves'][1]:.2f}"
                   if found.get("w1_leaves") else "-")]
                 for codec, found in readable.items()])
    versions = next(iter(readable.values())).get("h5py_versions")
    if versions:
        print(f"h5py {versions[0]} (HDF5 {versions[1]})"
              + (f", hdf5plugin {versions[2]}" if len(versions) > 2 else ""))
    errors = {found[key] for found in readable.values() for key in found if key.endswith("_error")}
    for error in sorted(errors):
        print(f"  FAILS: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="2000,20000",
                        help="W1 sizes, comma-separated (default 2000,20000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=50, help="8 MB arrays of each kind")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--packed-rows", type=int, default=10_000,
                        help="runs in the raw packed-table measurement")
    parser.add_argument("--codecs", default=DEFAULT_CODECS)
    parser.add_argument("--dir", default="/tmp/aiostore-compression")
    parser.add_argument("--h5py-python", help="a python with h5py (and hdf5plugin)")
    parser.add_argument("--skip-speed", action="store_true", help="readability checks only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    args.runs = [int(runs) for runs in args.runs.split(",") if runs]
    codecs = args.codecs.split(",")
    if "none" not in codecs:
        codecs.insert(0, "none")
    import tables

    for codec in codecs:  # a library PyTables lacks fails here, not in the middle of a round
        library, level = parse_codec(codec)
        if library is not None:
            tables.Filters(complevel=level, complib=library, shuffle=True)
    directory = pathlib.Path(args.dir)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    print(f"PyTables {tables.__version__}, HDF5 {tables.hdf5_version}, "
          f"blosc2 {tables.which_lib_version('blosc2')[1]}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores")
    readable = {codec: readability(codec, directory, args.h5py_python) for codec in codecs}
    records = [] if args.skip_speed else measure(args, codecs, directory)
    (directory / "results.json").write_text(json.dumps({"records": records,
                                                         "readability": readable}, indent=1))
    if records:
        report_speed(records, codecs, args)
    report_readability(readable)


if __name__ == "__main__":
    main()
