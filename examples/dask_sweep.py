"""The oscillator sweep of examples/async_sweep.py, computed on Dask distributed.

This process owns the HDF5 file; the runs are computed by the workers of a Dask cluster and each
is stored as it comes back; the peaks are then refined as async_sweep.py does. With no
``--scheduler`` a LocalCluster of ``--workers`` processes is started here; with ``--scheduler
tcp://host:8786`` the runs go to that cluster, whose scheduler and workers must both be able to
import this folder's ``async_sweep`` module (the scheduler unpickles the tasks too): this folder
on their PYTHONPATH, or a shared file system. Several runs per task (``--runs-per-task``) pay
for Dask's few milliseconds per task. Output files and ``--resume`` / ``--overwrite`` are as in
async_sweep.py.

    python examples/dask_sweep.py [--frequencies 20] [--dampings 15] [--out FILE]
                                  [--resume | --overwrite] [--scheduler ADDRESS] [--workers 2]
                                  [--runs-per-task 4]

Needs ``pip install aiostore[dask]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))  # so that workers unpickle async_sweep.simulate

from async_sweep import (
    RESULT,
    Outcome,
    build_trajectory,
    common_options,
    output_paths,
    run_and_present,
    simulate,
    sweep,
)
from distributed import Client, LocalCluster

from aiostore import Trajectory, run_sweep
from aiostore.dask import DaskRunner
from aiostore.errors import RunnerError

# Run in each local worker as it starts (Dask's preload). Ctrl-C in a terminal reaches every
# process of the group: the workers ignore it, instead of each printing its traceback, and this
# process stops the sweep and the cluster; the tasks it then cancels are not worth a warning.
WORKER_SETUP = """
import logging, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
"""


@asynccontextmanager
async def dask_client(scheduler: str | None, workers: int) -> AsyncIterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started here.

    One cluster for the whole sweep: each refinement is another run_sweep on it.
    """
    stack = AsyncExitStack()
    try:
        try:
            if scheduler:
                client = await stack.enter_async_context(Client(scheduler, asynchronous=True))
            else:
                cluster = await stack.enter_async_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None, asynchronous=True, preload=[WORKER_SETUP]))
                client = await stack.enter_async_context(Client(cluster, asynchronous=True))
        except OSError as error:  # no scheduler there, or the local cluster cannot start
            raise RunnerError(f"no Dask cluster at {scheduler or 'a LocalCluster'}: "
                              f"{error}") from error
        yield client
    finally:
        # Ctrl-C cancels the sweep, not the closing: Dask's would log errors cut short
        with anyio.CancelScope(shield=True):
            await stack.aclose()


async def sweep_on_dask(filename: str, grid: Trajectory, args: argparse.Namespace) -> Outcome:
    async with dask_client(args.scheduler, args.workers) as client:
        run = partial(run_sweep, simulate=simulate, runner=DaskRunner(client), result=RESULT,
                      runs_per_task=args.runs_per_task, progress=not args.quiet)
        return await sweep(filename, grid, run, args.packed)


def main() -> None:
    parser = common_options(__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="a Dask scheduler's address (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--runs-per-task", type=int, default=4, help="runs computed per Dask task")
    args = parser.parse_args()
    filename, image = output_paths(parser, args)
    grid = build_trajectory(args.frequencies, args.dampings)
    hint = ("with --scheduler, an import or deserialization error means that its scheduler or "
            f"workers cannot import async_sweep: put {Path(__file__).parent} on their PYTHONPATH"
            if args.scheduler else "")
    run_and_present(partial(sweep_on_dask, filename, grid, args), filename, image, hint=hint)


if __name__ == "__main__":
    main()
