"""The HDF5 thread under load: event-loop lag, bounded memory, and throughput of each face.

Three measurements, each side by side in one run (this machine is shared and noisy):

1. Loop lag: a ticker task asks to wake every millisecond while the HDF5 thread stores many
   small results and some large arrays; its worst and 99th-percentile lateness are printed
   next to the same ticker with no storage work (the machine's noise floor).
2. Memory: a producer puts results far faster than the disk takes them, once with the default
   queue bounds and once with the bounds lifted; the peak resident memory of each (a fresh
   process each) is printed next to the bytes produced.
3. Throughput (medians of --repeat): await-each-store from many tasks, put-and-join, the
   blocking service with one thread, and the engine called in a plain loop (the ceiling for
   one HDF5 thread), all storing the same results.

    python benchmarks/service.py [--results 2000] [--repeat 3] [--flood 8000]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import numpy as np

from aiostore import AsyncStorageService, Msg, Result, StorageService
from aiostore._core.planning import Defaults, plan_store
from aiostore._core.worker import current_worker
from aiostore.engine import Engine


def small_result(i: int) -> Result:
    """The W1 result of the benchmark issue: a float, 100 float64 and a dict of 3 scalars."""
    return Result(f"results.runs.r{i}", z=float(i), trace=np.linspace(0, 1, 100) + i,
                  stats={"mean": 0.5, "n": i, "ok": True})


# -------------------------------------------------------------------------------- loop lag


class GcPauses:
    """The longest pause of Python's garbage collector while active: it stops every thread."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self)


async def measure_lag(work: Callable[[], Awaitable[None]] | None, period: float = 0.001
                      ) -> list[float]:
    lags: list[float] = []
    done = anyio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await anyio.sleep(period)
            lags.append(time.perf_counter() - before - period)

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        if work is None:
            await anyio.sleep(2.0)
        else:
            await work()
        done.set()
    return lags


def busy_storing(filename: str, results: int, big_arrays: int) -> Callable[[], Awaitable[None]]:
    """Put many small results and some 32 MB arrays, then wait for all of them to be written."""
    small = [small_result(i) for i in range(results)]  # made beforehand: not the loop's work
    big = [Result(f"results.big.b{k}", a=np.full(4 * 2**20, k, float)) for k in range(big_arrays)]

    async def work() -> None:
        async with AsyncStorageService(filename, trajectory_name="lag") as svc:
            for result in small + big:
                await svc.put(Msg.LEAF, result)
            await svc.join()

    return work


def lag_report(folder: str, results: int, backend: str) -> None:
    idle = anyio.run(measure_lag, None, backend=backend)
    filename = os.path.join(folder, f"lag-{backend}.h5")
    with GcPauses() as pauses:
        busy = anyio.run(measure_lag, busy_storing(filename, results, 8), backend=backend)
    os.remove(filename)
    gc.disable()  # the same run without the collector's pauses: what the HDF5 thread costs
    try:
        quiet = anyio.run(measure_lag, busy_storing(filename, results, 8), backend=backend)
    finally:
        gc.enable()
    print(f"\n1. Event-loop lag on {backend} (ticker every 1 ms; {results} small results and "
          "8 x 32 MB arrays put, then joined)")
    print(f"   {'':28}{'ticks':>8}{'worst ms':>10}{'p99 ms':>9}{'median ms':>11}")
    rows = (("no storage (floor)", idle), ("while storing", busy),
            ("while storing, gc disabled", quiet))
    for name, lags in rows:
        ms = sorted(lag * 1e3 for lag in lags)
        print(f"   {name:28}{len(ms):8d}{ms[-1]:10.1f}{ms[int(len(ms) * 0.99)]:9.1f}"
              f"{statistics.median(ms):11.2f}")
    print(f"   longest pause of Python's garbage collector while storing: "
          f"{pauses.longest * 1e3:.1f} ms")


# ---------------------------------------------------------------------------------- memory


def _flood(filename: str, count: int, nbytes: int, bounded: bool, report: Any) -> None:
    worker = current_worker()
    if not bounded:
        worker.max_jobs = worker.max_bytes = 2**62
    peak_queued = 0
    source = np.arange(nbytes // 8, dtype=float)

    async def main() -> None:
        nonlocal peak_queued
        async with AsyncStorageService(filename, trajectory_name="flood") as svc:
            for i in range(count):
                await svc.put(Msg.LEAF, Result(f"results.f{i}", a=source))
                peak_queued = max(peak_queued, worker.queued)

    start = time.perf_counter()
    anyio.run(main)
    report.put((peak_resident_mib(), peak_queued, time.perf_counter() - start))


def peak_resident_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not carried over exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_report(folder: str, count: int) -> None:
    nbytes = 100_000
    context = multiprocessing.get_context("spawn")
    print(f"\n2. Memory: {count} puts of {nbytes // 1000} kB arrays ({count * nbytes / 1e6:.0f} MB) "
          "as fast as one task can make them")
    worker = current_worker()
    print(f"   queue bounds: {worker.max_jobs} jobs, {worker.max_bytes / 2**20:.0f} MiB")
    print(f"   {'':18}{'peak RSS MiB':>13}{'peak queued jobs':>18}{'seconds':>9}")
    for bounded in (True, False):
        report = context.Queue()
        filename = os.path.join(folder, f"flood-{bounded}.h5")
        process = context.Process(target=_flood, args=(filename, count, nbytes, bounded, report))
        process.start()
        peak, queued, seconds = report.get()
        process.join()
        name = "bounded queue" if bounded else "bounds lifted"
        print(f"   {name:18}{peak:13.0f}{queued:18d}{seconds:9.1f}")


# ------------------------------------------------------------------------------ throughput


async def await_each(filename: str, results: int, tasks: int = 50) -> None:
    async with AsyncStorageService(filename, trajectory_name="t") as svc:

        async def body(first: int) -> None:
            for i in range(first, results, tasks):
                await svc.store(Msg.LEAF, small_result(i))

        async with anyio.create_task_group() as group:
            for first in range(tasks):
                group.start_soon(body, first)


async def put_and_join(filename: str, results: int) -> None:
    async with AsyncStorageService(filename, trajectory_name="t") as svc:
        for i in range(results):
            await svc.put(Msg.LEAF, small_result(i))


def blocking(filename: str, results: int, durability: str) -> None:
    with StorageService(filename, trajectory_name="t", durability=durability) as svc:
        for i in range(results):
            svc.store(Msg.LEAF, small_result(i))


def engine_loop(filename: str, results: int) -> None:
    engine, defaults = Engine(), Defaults(filename, trajectory_name="t")
    for i in range(results):
        engine.execute(plan_store(Msg.LEAF, small_result(i), (), {}, defaults).request)
    engine.flush()
    engine.close()


def throughput_report(folder: str, results: int, repeat: int) -> None:
    variants: dict[str, Callable[[str], Any]] = {
        "engine in a plain loop": lambda f: engine_loop(f, results),
        "async, 50 tasks await each": lambda f: anyio.run(await_each, f, results),
        "async, put then join": lambda f: anyio.run(put_and_join, f, results),
        "async on trio, put then join": lambda f: anyio.run(put_and_join, f, results,
                                                            backend="trio"),
        "blocking, flush per call": lambda f: blocking(f, results, "flush"),
        "blocking, close per call": lambda f: blocking(f, results, "close"),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(repeat):
        for name, run in variants.items():  # interleaved, so drift hits every variant alike
            filename = os.path.join(folder, f"tp-{round_}-{len(rates[name])}-{hash(name)}.h5")
            start = time.perf_counter()
            run(filename)
            rates[name].append(results / (time.perf_counter() - start))
            os.remove(filename)
    ceiling = statistics.median(rates["engine in a plain loop"])
    print(f"\n3. Throughput: {results} results (float, 100 float64, dict of 3), median of {repeat}")
    print(f"   {'':32}{'results/s':>10}{'vs engine':>11}")
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"   {name:32}{rate:10.0f}{rate / ceiling:10.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--flood", type=int, default=8000, help="puts in the memory test")
    parser.add_argument("--skip", nargs="*", default=[], choices=["lag", "memory", "throughput"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if "lag" not in args.skip:
            for backend in ("asyncio", "trio"):
                lag_report(folder, args.results, backend)
        if "memory" not in args.skip:
            memory_report(folder, args.flood)
        if "throughput" not in args.skip:
            throughput_report(folder, args.results, args.repeat)


if __name__ == "__main__":
    main()
