"""The oscillator sweep of examples/async_sweep.py, computed on Dask distributed.

This process owns the HDF5 file; the runs are computed by the workers of a Dask cluster and each
is stored as it comes back. With no ``--scheduler`` a LocalCluster of ``--workers`` processes
is started here; with ``--scheduler tcp://host:8786`` the runs go to that cluster, whose
scheduler and workers must both be able to import this folder's ``async_sweep`` module (the
scheduler unpickles the tasks too): this folder on their PYTHONPATH, or a shared file system.
Several runs per task (``--runs-per-task``) pay for Dask's few milliseconds per task. Output
files and ``--resume`` / ``--overwrite`` are as in async_sweep.py.

    python examples/dask_sweep.py [--frequencies 20] [--dampings 15] [--out FILE]
                                  [--resume | --overwrite] [--scheduler ADDRESS] [--workers 2]
                                  [--runs-per-task 4]

Needs ``pip install aiostore[dask]``.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # so that workers unpickle async_sweep.simulate

import pandas as pd
from async_sweep import (
    RESULT,
    build_trajectory,
    common_options,
    completed_runs,
    output_paths,
    run_and_present,
    simulate,
)

from aiostore import AsyncStorageService, SweepReport, Trajectory, run_sweep
from aiostore.dask import DaskRunner

# Run in each local worker as it starts (Dask's preload). Ctrl-C in a terminal reaches every
# process of the group: the workers ignore it, instead of each printing its traceback, and this
# process stops the sweep and the cluster; the tasks it then cancels are not worth a warning.
WORKER_SETUP = """
import logging, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
logging.getLogger("distributed.worker.state_machine").setLevel(logging.ERROR)
"""



async def sweep_on_dask(filename: str, traj: Trajectory, runner: DaskRunner, runs_per_task: int,
                        quiet: bool, packed: bool) -> tuple[SweepReport, pd.DataFrame]:
    async with AsyncStorageService(filename, file_title="aiostore example",
                                   packed_runs=packed) as service:
        report = await run_sweep(service, traj, simulate, runner=runner, result=RESULT,
                                 runs_per_task=runs_per_task, progress=not quiet)
        frame = await completed_runs(service)
    return report, frame


def main() -> None:
    parser = common_options(__doc__.splitlines()[0])
    parser.add_argument("--scheduler", help="a Dask scheduler's address (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--runs-per-task", type=int, default=4, help="runs computed per Dask task")
    args = parser.parse_args()
    filename, image = output_paths(parser, args)
    traj = build_trajectory(args.frequencies, args.dampings)
    runner = DaskRunner(args.scheduler, workers=args.workers, preload=[WORKER_SETUP])
    hint = ("with --scheduler, an import or deserialization error means that its scheduler or "
            f"workers cannot import async_sweep: put {Path(__file__).parent} on their PYTHONPATH"
            if args.scheduler else "")
    run_and_present(partial(sweep_on_dask, filename, traj, runner, args.runs_per_task, args.quiet,
                            args.packed), filename, image, hint=hint)


if __name__ == "__main__":
    main()
