"""The benchmark's workloads on aiostore's faces and on raw PyTables, one per process.

    python benchmarks/faces.py FACE WORKLOAD FILE [--runs N] [--big N] [--tasks N]

FACE is ``async`` (AsyncStorageService, many concurrent tasks), ``async-packed`` (the same with
``packed_runs=True``: W1 and W3 only), ``async-unjournaled`` (``journal=False``: W1 and W2
only, the journal's cost), ``async-memory`` (``in_memory=True``: W1 only), ``sync`` (the pypet
shim's
HDF5StorageService as pypet code uses it), ``sync-flush`` (the same with durability "flush"),
``raw`` (PyTables making the same nodes in a tight loop), ``raw-packed`` (PyTables appending
the same rows to one table: W1 and W3) or ``disk`` (W2 only: the same bytes
written to a plain file). WORKLOAD is ``w1`` (store N small results, one run each), ``w2``
(store N 8 MB arrays), ``w3`` (load back everything W1 stored). Prints one JSON line: seconds,
peak resident MiB and, for ``async``, the event loop's worst lag in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
import lagtrace  # beside this file
import numpy as np
import tables

from aiostore import AsyncStorageService, Msg, Trajectory
from aiostore.compat import pypetconstants
from aiostore.compat.pypet import HDF5StorageService

BIG_FLOATS = 2**20  # 8 MB of float64


def peak_resident_mib() -> float:
    """This process's peak resident memory (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def sweep(name: str, runs: int) -> Trajectory:
    traj = Trajectory(name, comment="benchmark")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(runs))})
    return traj


def run_child(script: str, spec: dict[str, Any], what: str) -> dict[str, Any]:
    """Run ``script --child SPEC`` in a fresh process; the JSON of its last line of output.

    Says ``what`` on stderr as it starts; exits naming it if the child failed."""
    print(f"  {what} ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, os.path.abspath(script), "--child", json.dumps(spec)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-4000:]}")
    if os.environ.get("AIOSTORE_TRACE_LAGS"):
        print(done.stderr, end="", file=sys.stderr)  # the late spells' stacks
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def add_w1_result(traj: Trajectory, index: int) -> Any:
    run = traj.run(index)
    run.add_result("r", z=float(index), trace=np.linspace(0, 1, 100) + index,
                   stats={"mean": 0.5, "n": index, "ok": True})
    return run


def add_w2_result(traj: Trajectory, index: int) -> Any:
    run = traj.run(index)
    run.add_result("big", a=np.full(BIG_FLOATS, float(index)))
    return run


def release(run: Any) -> None:
    """Drop a stored run's result data, as pypet's Environment does after storing a run."""
    for item in run.new_items:
        item.data.clear()


# ----------------------------------------------------------------------------------- async


class LagMeter:
    """The worst lateness of a task asking to wake every millisecond (and, with
    ``AIOSTORE_TRACE_LAGS=MS`` set, the stacks of the late spells: :mod:`lagtrace`)."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        tracer = lagtrace.from_environment()
        try:
            while True:
                before = time.perf_counter()
                await anyio.sleep(0.001)
                self.worst = max(self.worst, time.perf_counter() - before - 0.001)
                if tracer is not None:
                    tracer.beat()
        finally:
            if tracer is not None:
                tracer.close()


async def async_store(filename: str, name: str, runs: int, tasks: int,
                      add: Callable[[Trajectory, int], Any],
                      packed: bool = False, journal: bool = True,
                      in_memory: bool = False) -> dict[str, float]:
    traj = sweep(name, runs)
    meter = LagMeter()
    async with anyio.create_task_group() as watching:
        watching.start_soon(meter.run)
        started = time.perf_counter()
        async with AsyncStorageService(filename, packed_runs=packed, journal=journal,
                                       in_memory=in_memory) as service:
            await service.store(Msg.TRAJECTORY, traj)

            async def worker(first: int) -> None:
                for index in range(first, runs, tasks):
                    run = add(traj, index)
                    await service.store(Msg.SINGLE_RUN, run)
                    release(run)

            async with anyio.create_task_group() as group:
                for first in range(tasks):
                    group.start_soon(worker, first)
        seconds = time.perf_counter() - started
        watching.cancel_scope.cancel()
    return {"seconds": seconds, "lag_ms": meter.worst * 1e3}


async def async_load(filename: str) -> dict[str, float]:
    started = time.perf_counter()
    async with AsyncStorageService(filename) as service:
        traj = await service.load(Msg.TRAJECTORY, None, trajectory_name="w1",
                                  load_parameters=2, load_results=2)
    assert len(traj) > 0
    return {"seconds": time.perf_counter() - started}


# ------------------------------------------------------------------------------------ sync


def sync_store(filename: str, name: str, runs: int, add: Callable[[Trajectory, int], Any],
               durability: str) -> dict[str, float]:
    traj = sweep(name, runs)
    started = time.perf_counter()
    service = HDF5StorageService(filename, durability=durability)
    service.store(pypetconstants.TRAJECTORY, traj)
    for index in range(runs):
        run = add(traj, index)
        service.store(pypetconstants.SINGLE_RUN, run, trajectory_name=name)
        release(run)
    service.close()
    return {"seconds": time.perf_counter() - started}


def sync_load(filename: str, durability: str) -> dict[str, float]:
    started = time.perf_counter()
    service = HDF5StorageService(filename, durability=durability)
    traj = service.load(pypetconstants.TRAJECTORY, None, trajectory_name="w1",
                        load_parameters=2, load_results=2)
    service.close()
    assert len(traj) > 0
    return {"seconds": time.perf_counter() - started}


# ------------------------------------------------------------------------------------- raw


def raw_w1(filename: str, runs: int) -> dict[str, float]:
    """aiostore's nodes for W1 (a group per run and per result; an array, a chunked array and
    a one-row table), without its attributes or run table: the ceiling of one HDF5 thread."""
    stats_dtype = np.dtype([("mean", "f8"), ("n", "i8"), ("ok", "?")])
    started = time.perf_counter()
    with tables.open_file(filename, "w", pytables_sys_attrs=False) as h5:
        runs_group = h5.create_group("/", "w1")
        runs_group = h5.create_group(h5.create_group(runs_group, "results"), "runs")
        for index in range(runs):
            result = h5.create_group(h5.create_group(runs_group, f"run_{index:08d}"), "r")
            h5.create_array(result, "z", obj=np.float64(index))
            trace = np.linspace(0, 1, 100) + index
            h5.create_carray(result, "trace", obj=trace, chunkshape=trace.shape)
            h5.create_table(result, "stats", obj=np.array([(0.5, index, True)], stats_dtype))
        h5.flush()
    return {"seconds": time.perf_counter() - started}


RAW_PACKED_ROW = np.dtype([("run_idx", "<i8"), ("z", "<f8"), ("trace", "<f8", (100,)),
                           ("stats", [("mean", "<f8"), ("n", "<i8"), ("ok", "?")])])


def raw_packed_w1(filename: str, runs: int) -> dict[str, float]:
    """W1 as rows of one table, a row appended per run (the packed layout's ceiling)."""
    started = time.perf_counter()
    with tables.open_file(filename, "w", pytables_sys_attrs=False) as h5:
        table = h5.create_table("/", "r", description=RAW_PACKED_ROW, expectedrows=runs)
        for index in range(runs):
            row = np.zeros(1, RAW_PACKED_ROW)
            row["run_idx"], row["z"] = index, float(index)
            row["trace"] = np.linspace(0, 1, 100) + index
            row["stats"] = (0.5, index, True)
            table.append(row)
        h5.flush()
    return {"seconds": time.perf_counter() - started}


def raw_packed_w3(filename: str) -> dict[str, float]:
    started = time.perf_counter()
    with tables.open_file(filename, "r") as h5:
        rows = h5.root.r.read()
    values = {int(row["run_idx"]): (float(row["z"]), row["trace"], row["stats"]) for row in rows}
    assert values
    return {"seconds": time.perf_counter() - started}


def raw_w2(filename: str, count: int) -> dict[str, float]:
    started = time.perf_counter()
    with tables.open_file(filename, "w", pytables_sys_attrs=False) as h5:
        for index in range(count):
            data = np.full(BIG_FLOATS, float(index))
            h5.create_carray("/", f"big_{index}", obj=data, chunkshape=(2**17,))
        h5.flush()
        os.fsync(h5.fileno())
    return {"seconds": time.perf_counter() - started}


def raw_w3(filename: str) -> dict[str, float]:
    started = time.perf_counter()
    values = {}
    with tables.open_file(filename, "r") as h5:
        for run in h5.get_node("/w1/results/runs"):
            result = run.r
            values[run._v_name] = (float(result.z.read()), result.trace.read(),
                                   result.stats.read()[0])
    assert values
    return {"seconds": time.perf_counter() - started}


def disk_w2(filename: str, count: int, trials: int = 3) -> dict[str, float]:
    """The disk's limit: the same arrays made and written to a plain file, then fsync'd.

    The best of ``trials`` (this machine's disk varies several-fold from one write to the next).
    """
    best = float("inf")
    for _ in range(trials):
        started = time.perf_counter()
        with open(filename, "wb") as out:
            for index in range(count):
                out.write(memoryview(np.full(BIG_FLOATS, float(index))))
            out.flush()
            os.fsync(out.fileno())
        best = min(best, time.perf_counter() - started)
        os.remove(filename)
    open(filename, "wb").close()
    return {"seconds": best}


# ------------------------------------------------------------------------------------ main


def run(face: str, workload: str, filename: str, runs: int, big: int,
        tasks: int) -> dict[str, float]:
    durability = "flush" if face == "sync-flush" else "close"
    table: dict[tuple[str, str], Callable[[], dict[str, float]]] = {
        ("async", "w1"): lambda: anyio.run(async_store, filename, "w1", runs, tasks,
                                           add_w1_result),
        ("async", "w2"): lambda: anyio.run(async_store, filename, "w2", big, min(tasks, 4),
                                           add_w2_result),
        ("async", "w3"): lambda: anyio.run(async_load, filename),
        ("async-packed", "w1"): lambda: anyio.run(async_store, filename, "w1", runs, tasks,
                                                  add_w1_result, True),
        ("async-packed", "w3"): lambda: anyio.run(async_load, filename),
        ("async-unjournaled", "w1"): lambda: anyio.run(async_store, filename, "w1", runs, tasks,
                                                       add_w1_result, False, False),
        ("async-unjournaled", "w2"): lambda: anyio.run(async_store, filename, "w2", big,
                                                       min(tasks, 4), add_w2_result, False, False),
        ("async-memory", "w1"): lambda: anyio.run(async_store, filename, "w1", runs, tasks,
                                                  add_w1_result, False, False, True),
        ("raw", "w1"): lambda: raw_w1(filename, runs),
        ("raw", "w2"): lambda: raw_w2(filename, big),
        ("raw", "w3"): lambda: raw_w3(filename),
        ("raw-packed", "w1"): lambda: raw_packed_w1(filename, runs),
        ("raw-packed", "w3"): lambda: raw_packed_w3(filename),
        ("disk", "w2"): lambda: disk_w2(filename, big),
    }
    for sync_face in ("sync", "sync-flush"):
        table[sync_face, "w1"] = lambda: sync_store(filename, "w1", runs, add_w1_result,
                                                    durability)
        table[sync_face, "w2"] = lambda: sync_store(filename, "w2", big, add_w2_result,
                                                    durability)
        table[sync_face, "w3"] = lambda: sync_load(filename, durability)
    return table[face, workload]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("face", choices=["async", "async-packed", "async-unjournaled",
                                         "async-memory", "sync",
                                         "sync-flush", "raw", "raw-packed", "disk"])
    parser.add_argument("workload", choices=["w1", "w2", "w3"])
    parser.add_argument("file")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--big", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=50)
    args = parser.parse_args()
    if args.workload != "w3" and os.path.exists(args.file):
        os.remove(args.file)
    result = run(args.face, args.workload, args.file, args.runs, args.big, args.tasks)
    if args.workload == "w2":
        os.remove(args.file)
    result["peak_mib"] = peak_resident_mib()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
