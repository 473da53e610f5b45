"""Watching a live sweep (issue 21): what readers in other processes cost the writer, and how
soon they see a run.

    python benchmarks/watching.py [--runs 40000] [--readers 2] [--every 1.0] [--repeat 5]
                                  [--keys all|z|progress] [--dir DIR]

The writer is W1 (``benchmarks/profile_w1.py``: a float, 100 float64 and a dict of 3 per run)
stored by ``run_sweep(..., runs_per_task=100)`` computing in the writer's process
(``scale.py``'s in-process runner: the figures are the store's, not a process pool's), in a
process of its own. It is measured alone, then with ``--readers`` reader processes, each
calling ``load_frame("w1", "r")`` once every ``--every`` seconds (``--keys z``: only ``z``;
``--keys progress``: ``progress("w1")`` instead, as ``aiostore watch`` does)
from when the file is live until the writer ends; alone and with readers alternate,
``--repeat`` times, and the medians are compared. Each reader's read is answered by the writer
(``aiostore._core.live``).

The writer's rate is its runs over the time from its first run's store to its last
acknowledgement. Every 10 ms the writer notes (wall clock) how many runs are acknowledged;
each reader notes, per read, when its answer came and how many runs it held: a run's latency is
from its acknowledgement to the first answer holding it (it includes the wait for the next
poll, up to ``--every``). Must hold: the rate with readers at least 0.90 of the rate alone, and
every run seen within 2 s of its acknowledgement. The writer also counts the CPU its threads
spend serving the reads (timed in the served calls: less noisy than the difference of two
sweeps' CPU on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import anyio
import numpy as np
from profile_w1 import build_sweep  # beside this file
from scale import InlineRunner, simulate

from aiostore import AsyncStorageService, StorageService, run_sweep
from aiostore.errors import DataNotFoundError, FileLockedError

TRAJECTORY = "w1"
RUNS_PER_TASK = 100
MARK_SECONDS = 0.01


# ------------------------------------------------------------------------------ the writer


async def _mark(traj: Any, marks: list[tuple[float, int]]) -> None:
    """(wall time, runs acknowledged) every MARK_SECONDS (runs are stored in order)."""
    acknowledged, runs = 0, traj.runs
    while True:
        while acknowledged < len(runs) and runs[acknowledged].completed:
            acknowledged += 1
        if not marks or marks[-1][1] != acknowledged:
            marks.append((time.time(), acknowledged))
        await anyio.sleep(MARK_SECONDS)


def _served_cpu() -> dict[str, float]:
    """What this process's serving of reads costs, as it goes: the CPU (of the thread that
    spends it) in the HDF5 thread's reads for other processes, and in the server threads
    (receiving a request, pickling and sending its answer); patched in here, the package is
    not changed."""
    from aiostore._core.live.server import ReadServer
    from aiostore.engine import Engine

    spent = {"hdf5": 0.0, "server": 0.0, "reads": 0}

    def timed(function: Any, where: str) -> Any:
        def timing(*args: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args)
            finally:
                spent[where] += time.thread_time() - started
                spent["reads"] += where == "server"
        return timing

    Engine._served_read = timed(Engine._served_read, "hdf5")  # type: ignore[method-assign]
    ReadServer._answer = timed(ReadServer._answer, "server")  # type: ignore[method-assign]
    return spent


async def write(path: str, runs: int) -> dict[str, Any]:
    served = _served_cpu()
    traj = build_sweep(runs)
    marks: list[tuple[float, int]] = []
    print("ready", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)  # the readers are polling
    async with AsyncStorageService(path) as svc, anyio.create_task_group() as group:
        group.start_soon(_mark, traj, marks)
        started, cpu = time.time(), time.process_time()
        report = await run_sweep(svc, traj, simulate, runner=InlineRunner(),
                                 result="r", runs_per_task=RUNS_PER_TASK)
        ended, cpu = time.time(), time.process_time() - cpu
        group.cancel_scope.cancel()
    marks.append((ended, runs))
    assert report.completed, report
    assert not report.failed, report
    return {"rate": runs / (ended - started), "cpu": cpu / runs, "marks": marks,
            "served": served, "process_cpu": cpu}


# ----------------------------------------------------------------------------- the readers


def read(path: str, every: float, keys: str) -> dict[str, Any]:
    """Poll load_frame until told to stop (a line on stdin, or its end); until the file is
    live (made, holding the trajectory, served) a poll fails, and the next comes as any."""
    import selectors

    polls: list[tuple[float, float, int]] = []
    stop = selectors.DefaultSelector()
    stop.register(sys.stdin, selectors.EVENT_READ)
    print("started", flush=True)
    cpu = time.process_time()
    with StorageService(path) as svc:
        while not stop.select(timeout=0):
            asked = time.time()
            try:
                held = _poll(svc, keys)
                polls.append((asked, time.time(), held))
            except (DataNotFoundError, FileLockedError):
                pass  # not live yet: the next poll, as any other
            stop.select(timeout=max(every - (time.time() - asked), 0))
    return {"polls": polls, "cpu": time.process_time() - cpu}


def _poll(svc: StorageService, keys: str) -> int:
    """One poll: how many runs from 0 on it saw (``progress``: how many it counts)."""
    if keys == "progress":
        return svc.progress(TRAJECTORY).completed
    if keys == "list":  # the least a read can ask: what per-read costs are not the data's
        svc.list_trajectories()
        return 0
    if keys == "cpu":  # no read, only CPU: what the machine's two cores cost
        stop = time.process_time() + 0.05
        while time.process_time() < stop:
            pass
        return 0
    frame = svc.load_frame(TRAJECTORY, "r", keys=None if keys == "all" else [keys])
    return _prefix(frame.index.to_numpy())


def _prefix(indices: np.ndarray) -> int:
    """How many runs from 0 on the answer holds without a gap."""
    gaps = np.flatnonzero(indices != np.arange(len(indices)))
    return int(gaps[0]) if len(gaps) else len(indices)


# ---------------------------------------------------------------------------- one measure


def child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def measure(folder: str, runs: int, readers: int, every: float, keys: str) -> dict[str, Any]:
    path = os.path.join(folder, f"w1-{time.monotonic_ns()}.h5")
    writer = child("--writer", path, str(runs))
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    polling = [child("--reader", path, str(every), keys) for _ in range(readers)]
    for reader in polling:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "started"
    written, _ = writer.communicate("go\n", timeout=3600)
    assert writer.returncode == 0
    answers = [reader.communicate("stop\n", timeout=600)[0] for reader in polling]
    result: dict[str, Any] = json.loads(written.splitlines()[-1])
    result["snapshot"] = snapshot(path)
    os.remove(path)
    readings = [json.loads(answer.splitlines()[-1]) for answer in answers]
    result["polls"] = [reading["polls"] for reading in readings]
    result["reader_cpu"] = sum(reading["cpu"] for reading in readings)
    return result


def snapshot(path: str) -> tuple[float, int]:
    """What a consistent copy of the finished file costs (the other design: a writer that
    publishes snapshots must stop writing while it copies): seconds, bytes."""
    copy = path + ".snapshot"
    started = time.perf_counter()
    shutil.copyfile(path, copy)
    with open(copy, "rb+") as copied:
        os.fsync(copied.fileno())
    took = time.perf_counter() - started
    os.remove(copy)
    return took, os.path.getsize(path)


def latencies(marks: list[tuple[float, int]], polls: list[list[Any]]) -> list[float]:
    """Each run's time from acknowledgement to the first answer holding it, per reader."""
    times = np.array([mark[0] for mark in marks])
    counts = np.array([mark[1] for mark in marks])
    found: list[float] = []
    for reader in polls:
        seen = 0
        for _, answered, held in reader:
            for index in range(seen, held):  # first seen in this answer
                acknowledged = times[np.searchsorted(counts, index + 1)]
                found.append(answered - float(acknowledged))
            seen = max(seen, held)
    return found


# ------------------------------------------------------------------------------ the table


def report(args: argparse.Namespace, alone: list[dict[str, Any]],
           watched: list[dict[str, Any]]) -> None:
    rate_alone = statistics.median(m["rate"] for m in alone)
    rate_watched = statistics.median(m["rate"] for m in watched)
    ratio = rate_watched / rate_alone
    waits = [w for m in watched for w in latencies(m["marks"], m["polls"])]
    reads = [answered - asked for m in watched for reader in m["polls"]
             for asked, answered, _ in reader]
    what = {"all": "load_frame", "progress": "progress"}.get(args.keys,
                                                              f"load_frame(keys={args.keys!r})")
    print(f"W1: run_sweep of {args.runs} runs in a writer process; medians of {args.repeat}")
    print(f"  {'writer alone':<48} {rate_alone:>9.0f} runs/s")
    print(f"  {f'with {args.readers} readers, {what} every {args.every:g} s':<48} "
          f"{rate_watched:>9.0f} runs/s")
    print(f"  ratio (readers / alone): {ratio:.3f}  must be >= 0.90: "
          f"{'PASS' if ratio >= 0.90 else 'FAIL'}")
    if waits:
        print(f"  acknowledgement -> seen by a reader: median {statistics.median(waits):.3f} s, "
              f"p99 {float(np.percentile(waits, 99)):.3f} s, max {max(waits):.3f} s "
              f"(runs seen: {len(waits)})  must be < 2 s: "
              f"{'PASS' if max(waits) < 2 else 'FAIL'}")
    copy_seconds, copy_bytes = statistics.median(m["snapshot"][0] for m in alone), \
        alone[0]["snapshot"][1]
    print(f"  a snapshot instead (a copy of the whole file at the end, {copy_bytes / 1e6:.0f} MB, "
          f"fsync'd): {1e3 * copy_seconds:.0f} ms, the writer stopped throughout")
    cpu_alone = statistics.median(m["cpu"] for m in alone)
    cpu_watched = statistics.median(m["cpu"] for m in watched)
    polls = sum(len(reader) for m in watched for reader in m["polls"])
    print(f"  the writer's CPU per run: alone {1e6 * cpu_alone:.0f} us, with readers "
          f"{1e6 * cpu_watched:.0f} us ({cpu_watched / cpu_alone:.2f}x); the readers' CPU: "
          f"{1e3 * sum(m['reader_cpu'] for m in watched) / max(polls, 1):.0f} ms per poll "
          "(the machine's 2 cores are shared)")
    if reads:
        print(f"  a read answered by the writer: median {1e3 * statistics.median(reads):.0f} ms, "
              f"max {1e3 * max(reads):.0f} ms ({len(reads)} reads)")
    served = [m["served"] for m in watched]
    answered = sum(spent["reads"] for spent in served)
    if answered:
        hdf5, server = (sum(spent[where] for spent in served) for where in ("hdf5", "server"))
        share = (hdf5 + server) / sum(m["process_cpu"] for m in watched)
        print(f"  the writer's CPU serving them: {1e3 * (hdf5 + server) / answered:.1f} ms a "
              f"request (HDF5 thread {1e3 * hdf5 / answered:.1f}, server threads "
              f"{1e3 * server / answered:.1f}; {answered} requests, {polls} polls), "
              f"{100 * share:.1f}% of its CPU")
    print(json.dumps({"alone": rate_alone, "watched": rate_watched, "ratio": ratio,
                      "latency_max": max(waits) if waits else None,
                      "latency_median": statistics.median(waits) if waits else None}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40_000)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keys", default="all",
                        help="all, one key of W1's result (z), or progress (progress() instead)")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--writer", nargs=2, metavar=("FILE", "RUNS"))
    parser.add_argument("--reader", nargs=3, metavar=("FILE", "EVERY", "KEYS"))
    args = parser.parse_args()
    if args.writer:
        print(json.dumps(anyio.run(write, args.writer[0], int(args.writer[1]))))
        return
    if args.reader:
        print(json.dumps(read(args.reader[0], float(args.reader[1]), args.reader[2])))
        return
    alone, watched = [], []
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for _ in range(args.repeat):
            alone.append(measure(folder, args.runs, 0, args.every, args.keys))
            watched.append(measure(folder, args.runs, args.readers, args.every, args.keys))
    report(args, alone, watched)


if __name__ == "__main__":
    main()
