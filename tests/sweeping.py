"""Simulations for the sweep tests, importable by worker processes (local and Dask).

Each run leaves a file named ``<index>-<pid>-<nonce>`` in ``log_dir`` when it starts, so a test
sees which runs were computed, how often, and in which process (to kill that process).
Run as a script it is a sweep process a test can interrupt:

    python tests/sweeping.py FILE RUNS LOG_DIR [--dask] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import time
import uuid
from typing import Any

import anyio
import numpy as np

from aiostore import AsyncStorageService, ProcessRunner, Trajectory, run_sweep

TRAJECTORY = "sweep"


def build(runs: int, log_dir: str, seconds: float = 0.0) -> Trajectory:
    """A sweep of ``runs`` runs over x and n, each sleeping ``seconds``."""
    traj = Trajectory(TRAJECTORY)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("n", 0)
    traj.add_parameter("log_dir", log_dir)
    traj.add_parameter("seconds", seconds)
    traj.explore({"x": [0.5 * i for i in range(runs)], "n": list(range(runs))})
    return traj


def simulate(x: float, n: int, log_dir: str, seconds: float) -> dict[str, Any]:
    """The run's answer depends on its parameters only, so a test can check every value."""
    pathlib.Path(log_dir, f"{n}-{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()
    time.sleep(seconds)
    return expected(x, n)


def expected(x: float, n: int) -> dict[str, Any]:
    return {"y": x * x, "trace": np.arange(n % 5 + 1, dtype=np.float64) * x, "label": f"run {n}"}


def simulate_big(x: float, n: int, log_dir: str, seconds: float) -> dict[str, Any]:
    """A run whose answer takes 100 kB (a full disk's sweep)."""
    pathlib.Path(log_dir, f"{n}-{os.getpid()}-{uuid.uuid4().hex[:8]}").touch()
    return {"big": np.full(12_500, x)}


def fail_on_three(x: float, n: int, log_dir: str, seconds: float) -> dict[str, Any]:
    if n % 3 == 0:
        raise ValueError(f"no answer for n={n}")
    return simulate(x, n, log_dir, seconds)


async def kill_a_worker(log_dir: str, after: int) -> None:
    """SIGKILL the worker process of the last run logged, once ``after`` runs have started."""
    while len(computed(log_dir)) < after:
        await anyio.sleep(0.02)
    os.kill(computed(log_dir)[-1][1], signal.SIGKILL)


def computed(log_dir: str) -> list[tuple[int, int]]:
    """(run index, pid) of every computation logged, in no order."""
    return [(int(index), int(pid)) for index, pid, _ in
            (entry.name.split("-") for entry in pathlib.Path(log_dir).iterdir())]


async def _main(args: argparse.Namespace) -> None:
    traj = build(args.runs, args.log_dir, args.seconds)
    async with AsyncStorageService(args.file) as service:
        if args.dask:
            from aiostore.dask import DaskRunner
            runner: Any = DaskRunner(workers=2)
        else:
            runner = ProcessRunner(2)
        report = await run_sweep(service, traj, simulate, runner=runner)
    print(report, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("runs", type=int)
    parser.add_argument("log_dir")
    parser.add_argument("--dask", action="store_true")
    parser.add_argument("--seconds", type=float, default=0.05)
    # Ctrl-C as a shell starts the sweep, whatever the starting process did with SIGINT: an
    # ignored SIGINT is inherited, and python then raises no KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    anyio.run(_main, parser.parse_args())
