"""Sweep throughput: run_sweep on the local process pool against Dask, side by side in one run.

Every face computes and stores the same sweep (the oscillator of examples/async_sweep.py, its
cost per run set by --periods) into a fresh file, with 2 workers each: anyio's process pool
(``ProcessRunner``) and a Dask ``LocalCluster`` of 2 worker processes, with one run per task
and with --batch runs per task. The cluster and the process pool are started before the clock
(a warm-up sweep), so the figures are the steady rate. Faces are interleaved, medians of
--repeat. The first line is the ceiling: 2 workers doing nothing but compute, from the cost of
one run measured in this process.

    python benchmarks/sweeps.py [--runs 400] [--periods 40] [--batch 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import distributed

sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
from async_sweep import build_trajectory, simulate

from aiostore import AsyncStorageService, ProcessRunner, run_sweep
from aiostore.dask import DaskRunner
from aiostore.sweeps.runners import Runner

WORKERS = 2


def sweep_of(runs: int, periods: int) -> Any:
    frequencies = max(runs // 10, 1)
    traj = build_trajectory(frequencies, runs // frequencies)
    traj.add_parameter("periods", periods, comment="integration length: the cost of a run")
    return traj


def cost_of_one_run(periods: int) -> float:
    started = time.perf_counter()
    for _ in range(20):
        simulate(1.0, 0.1, periods=periods)
    return (time.perf_counter() - started) / 20


async def runs_per_second(runner: Runner, runs: int, periods: int, batch: int,
                          folder: str) -> float:
    path = os.path.join(folder, f"sweep-{time.monotonic_ns()}.h5")
    traj = sweep_of(runs, periods)
    async with AsyncStorageService(path) as service:
        report = await run_sweep(service, traj, simulate, runner=runner, result="response",
                                 runs_per_task=batch)
    os.remove(path)
    assert report.completed, report.failed
    return len(report.stored) / report.seconds


async def measure(args: argparse.Namespace, folder: str) -> dict[str, list[float]]:
    async with distributed.LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                                        asynchronous=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster, asynchronous=True) as client:
        faces: dict[str, Callable[[], tuple[Runner, int]]] = {
            f"process pool ({WORKERS} workers), 1 run per task":
                lambda: (ProcessRunner(WORKERS), 1),
            f"process pool ({WORKERS} workers), {args.batch} runs per task":
                lambda: (ProcessRunner(WORKERS), args.batch),
            f"Dask LocalCluster ({WORKERS} workers), 1 run per task":
                lambda: (DaskRunner(client), 1),
            f"Dask LocalCluster ({WORKERS} workers), {args.batch} runs per task":
                lambda: (DaskRunner(client), args.batch),
        }
        for make in faces.values():  # warm-up: start the processes, import everything
            runner, batch = make()
            await runs_per_second(runner, 20, args.periods, batch, folder)
        rates: dict[str, list[float]] = {name: [] for name in faces}
        for _ in range(args.repeat):
            for name, make in faces.items():
                runner, batch = make()
                rates[name].append(await runs_per_second(runner, args.runs, args.periods,
                                                         batch, folder))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--periods", type=int, default=40, help="the cost of a run (40: ~6 ms)")
    parser.add_argument("--batch", type=int, default=10, help="runs per task of the batched faces")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cost = cost_of_one_run(args.periods)
    with tempfile.TemporaryDirectory(prefix="aiostore-sweeps-") as folder:
        rates = anyio.run(measure, args, folder)
    ceiling = WORKERS / cost
    baseline = statistics.median(next(iter(rates.values())))
    print(f"sweep of {args.runs} runs, {cost * 1000:.1f} ms of compute each, {WORKERS} workers, "
          f"medians of {args.repeat}")
    print(f"{'face':<48} {'runs/s':>8} {'vs pool':>8} {'vs ceiling':>10}")
    print(f"{'ceiling: 2 workers computing only':<48} {ceiling:8.0f} {'':>8} {1:10.2f}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:<48} {rate:8.0f} {rate / baseline:8.2f} {rate / ceiling:10.2f}")


if __name__ == "__main__":
    main()
