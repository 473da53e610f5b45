"""load_frame against loading the trajectory with its results, and against raw PyTables.

W1 (issue 18): each run stores a result ``out`` with a float ``z``, 100 float64 ``arr`` and a
dict ``d`` of 3 scalars, over two explored parameters. The sweep is stored once per layout
(the per-node default, and ``packed_runs=True``); then, with the file closed between reads so
each starts from a cold open, medians of --repeat:

- ``load_frame(TRAJECTORY, "out")``: the DataFrame (a row per run, x, y, z, arr, d.a, d.b, d.c);
- ``load(Msg.TRAJECTORY, load_results=2)``: every result as items (what one did before);
- raw PyTables: the packed table's rows read with ``Table.read()`` (packed layout only),
  the ceiling of any read of the same rows.

    python benchmarks/frames.py [--runs 20000] [--repeat 3] [--layouts nodes,packed]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import tables

from aiostore import Msg, StorageService, Trajectory

TRAJECTORY = "w1"


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


def timed(read: Callable[[str], int], path: str, repeat: int) -> tuple[float, int]:
    seconds, rows = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        rows = read(path)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), rows


def read_frame(path: str) -> int:
    with StorageService(path) as svc:
        return len(svc.load_frame(TRAJECTORY, "out"))


def read_trajectory(path: str) -> int:
    with StorageService(path) as svc:
        traj = svc.load(Msg.TRAJECTORY, None, trajectory_name=TRAJECTORY, load_parameters=2,
                        load_results=2)
        return len(traj)


def read_raw(path: str) -> int:
    with tables.open_file(path) as h5:
        group = h5.get_node(f"/{TRAJECTORY}/overview/packed")
        return sum(len(table.read()) for table in group._f_iter_nodes("Table"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layouts", default="nodes,packed")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="aiostore-frames-")
    print(f"W1, {args.runs} runs, medians of {args.repeat} (file closed between reads)")
    for layout in args.layouts.split(","):
        path = os.path.join(folder, f"{layout}.h5")
        stored = store(path, args.runs, packed=layout == "packed")
        size = os.path.getsize(path)
        print(f"\n{layout}: stored in {stored:.1f} s ({args.runs / stored:,.0f} runs/s), "
              f"{size / args.runs / 1000:.2f} kB per run")
        figures = {"load_frame": timed(read_frame, path, args.repeat),
                   "load(load_results=2)": timed(read_trajectory, path, args.repeat)}
        if layout == "packed":
            figures["raw PyTables Table.read"] = timed(read_raw, path, args.repeat)
        frame_seconds = figures["load_frame"][0]
        for name, (seconds, rows) in figures.items():
            print(f"  {name:26s} {seconds:8.3f} s  {rows / seconds:12,.0f} runs/s  "
                  f"{frame_seconds / seconds:6.2f}x load_frame's rate")
        os.remove(path)


if __name__ == "__main__":
    main()
