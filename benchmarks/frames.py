"""load_frame and load_dataset against a raw PyTables read, and against loading the trajectory.

W1 (issue 18): each run stores a result ``out`` with a float ``z``, 100 float64 ``arr`` and a
dict ``d`` of 3 scalars, over two explored parameters. The sweep is stored once per layout
(``packed``: the default, ``packed_runs=True``; ``nodes``: the per-node layout); then, with
the file closed between reads so each starts from a cold open, medians of --repeat, the reads
interleaved (one of each per round) so that a busy machine slows them alike:

- raw PyTables: ``tables.open_file`` and the packed table's rows with ``Table.read()``
  (packed layout only), the ceiling of any read of the same rows (issue 18's yardstick);
- ``load_frame(TRAJECTORY, "out")``: the DataFrame (a row per run, x, y, z, arr, d.a, d.b, d.c);
- ``load_dataset(TRAJECTORY)``: the xarray Dataset of every result (here ``out``);
- ``load(Msg.TRAJECTORY, load_results=2)``: every result as items (what one did before), only
  up to --items-up-to runs (it is slow).

Every figure is checked: the frame and the dataset hold the values the raw read gives.
``--profile`` prints where one load_frame and one load_dataset spend their time (cProfile of
the plan and the engine run in one thread). The issue's must-holds at 200,000 runs: load_frame
at >= 0.5x the raw read's rate, load_dataset at >= 0.25x.

    python benchmarks/frames.py [--runs 20000] [--repeat 5] [--layouts packed,nodes]
                                [--dir DIR (keep the stored files; reuse them)] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tables

from aiostore import Msg, StorageService, Trajectory

TRAJECTORY = "w1"
PACKED_TABLE = f"/{TRAJECTORY}/overview/packed"


def store(path: str, runs: int, packed: bool) -> float:
    traj = Trajectory(TRAJECTORY)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore({"x": [i * 0.5 for i in range(runs)], "y": list(range(runs))})
    started = time.perf_counter()
    with StorageService(path, packed_runs=packed, journal=False) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        for idx in range(runs):
            run = traj.run(idx)
            run.add_result("out", z=idx * 0.5, arr=np.full(100, float(idx)),
                           d={"a": idx, "b": idx * 2.0, "c": idx % 7})
            svc.put(Msg.SINGLE_RUN, run)
        svc.join()
    return time.perf_counter() - started


def read_frame(path: str) -> Any:
    with StorageService(path) as svc:
        return svc.load_frame(TRAJECTORY, "out")


def read_dataset(path: str) -> Any:
    with StorageService(path) as svc:
        return svc.load_dataset(TRAJECTORY)


def read_trajectory(path: str) -> Any:
    with StorageService(path) as svc:
        return svc.load(Msg.TRAJECTORY, None, trajectory_name=TRAJECTORY, load_parameters=2,
                        load_results=2)


def read_raw(path: str) -> Any:
    with tables.open_file(path) as h5:
        return [table.read() for table in h5.get_node(PACKED_TABLE)._f_iter_nodes("Table")]


def check(name: str, value: Any, runs: int) -> None:
    """The values ``name`` gave are W1's (run i: z = i/2, arr = i, d = (i, 2i, i % 7))."""
    expected = np.arange(runs)
    if name == "raw PyTables Table.read":
        rows = np.concatenate(value)
        got_runs, z, arr, a = rows["run_idx"], rows["z"], rows["arr"], rows["d"]["a"]
    elif name == "load_frame":
        got_runs, z, a = value.index.to_numpy(), value["z"].to_numpy(), value["d.a"].to_numpy()
        arr = np.stack(value["arr"].to_numpy()) if len(value) else np.zeros((0, 100))
    elif name == "load_dataset":
        got_runs, z, a = (value["run"].values, value["out.z"].values, value["out.d.a"].values)
        arr = value["out.arr"].values
    else:
        assert len(value) == runs, name
        return
    assert np.array_equal(np.sort(got_runs), expected), name
    order = np.argsort(got_runs)
    assert np.array_equal(z[order], expected * 0.5), name
    assert np.array_equal(a[order], expected), name
    assert np.array_equal(arr[order], np.repeat(expected, 100).reshape(-1, 100)), name


def measure(reads: dict[str, Callable[[str], Any]], path: str, runs: int,
            repeat: int) -> dict[str, float]:
    """Median seconds of each read, the reads interleaved round by round."""
    seconds: dict[str, list[float]] = {name: [] for name in reads}
    for round_ in range(repeat):
        for name, read in reads.items():
            started = time.perf_counter()
            value = read(path)
            seconds[name].append(time.perf_counter() - started)
            if round_ == 0:
                check(name, value, runs)
            del value
    return {name: statistics.median(times) for name, times in seconds.items()}


def report(figures: dict[str, float], runs: int) -> None:
    raw = figures.get("raw PyTables Table.read")
    for name, seconds in figures.items():
        ratio = f"{raw / seconds:6.2f}x raw's rate" if raw else ""
        print(f"  {name:26s} {seconds:8.3f} s  {runs / seconds:12,.0f} runs/s  {ratio}")


def profile(path: str, top: int) -> None:
    """cProfile of one load_frame and one load_dataset, planned and executed in this thread
    (the service would run the engine's part on its HDF5 thread, out of cProfile's sight)."""
    from aiostore._core.datasets import plan_dataset
    from aiostore._core.framing import plan_frame
    from aiostore._core.planning import Defaults
    from aiostore.engine import Engine

    plans = {"load_frame": lambda: plan_frame(Defaults(filename=path), TRAJECTORY, "out",
                                              None, None),
             "load_dataset": lambda: plan_dataset(Defaults(filename=path), TRAJECTORY, None,
                                                  None)}
    for name, plan in plans.items():
        profiler = cProfile.Profile()
        engine = Engine()
        profiler.enable()
        first = plan()
        second = first.finish(engine.execute(first.request))
        second.finish(engine.execute(second.request))
        engine.close()
        profiler.disable()
        print(f"\n  cProfile of {name} (cumulative, top {top}):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layouts", default="packed,nodes")
    parser.add_argument("--items-up-to", type=int, default=20_000,
                        help="measure load(load_results=2) only up to this many runs")
    parser.add_argument("--dir", help="store the files here and keep them (reused if there)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    folder = args.dir or tempfile.mkdtemp(prefix="aiostore-frames-")
    os.makedirs(folder, exist_ok=True)
    print(f"W1, {args.runs} runs, medians of {args.repeat} (file closed between reads, "
          "reads interleaved)")
    for layout in args.layouts.split(","):
        path = os.path.join(folder, f"{layout}-{args.runs}.h5")
        if args.dir and os.path.exists(path):
            print(f"\n{layout}: reusing {path}, {os.path.getsize(path) / args.runs / 1000:.2f} "
                  "kB per run")
        else:
            stored = store(path, args.runs, packed=layout == "packed")
            print(f"\n{layout}: stored in {stored:.1f} s ({args.runs / stored:,.0f} runs/s), "
                  f"{os.path.getsize(path) / args.runs / 1000:.2f} kB per run")
        reads: dict[str, Callable[[str], Any]] = {}
        if layout == "packed":
            reads["raw PyTables Table.read"] = read_raw
        reads |= {"load_frame": read_frame, "load_dataset": read_dataset}
        if args.runs <= args.items_up_to:
            reads["load(load_results=2)"] = read_trajectory
        report(measure(reads, path, args.runs, args.repeat), args.runs)
        if args.profile:
            profile(path, 25)
        if not args.dir:
            os.remove(path)


if __name__ == "__main__":
    main()
