"""The sweep of async_sweep.py written as pypet-era blocking code, on ``aiostore.compat.pypet``.

This is pypet's QUEUE pattern: worker processes compute runs and hand each finished run to a
``QueueStorageServiceSender``; the main process's ``QueueStorageServiceWriter`` stores whatever
arrives through one ``HDF5StorageService`` (the only writer of the file). Nothing but the
imports differs from code written for pypet 0.6.

    python examples/legacy_sync.py [--frequencies 12] [--dampings 8] [--out legacy.h5]
                                   [--workers N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import threading
import time
from typing import Any

from async_sweep import TRAJECTORY, build_trajectory, report, simulate, summary_table

from aiostore.compat import pypetconstants
from aiostore.compat.pypet import (
    HDF5StorageService,
    QueueStorageServiceSender,
    QueueStorageServiceWriter,
)

# Set in each worker process by _start_worker: the trajectory and the sender.
_worker: dict[str, Any] = {}


def _start_worker(queue: Any, traj: Any) -> None:
    _worker["sender"] = QueueStorageServiceSender(queue)
    _worker["traj"] = traj


def run_simulation(index: int) -> int:
    """One run, in a worker: compute it, then send it to the writer (pypet's SINGLE_RUN)."""
    run = _worker["traj"].run(index)
    response = simulate(run["frequency"], run["damping"])
    run.add_result("response", **response, comment="steady response to the drive")
    _worker["sender"].store(pypetconstants.SINGLE_RUN, run, trajectory_name=TRAJECTORY)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequencies", type=int, default=12)
    parser.add_argument("--dampings", type=int, default=8)
    parser.add_argument("--out", help="HDF5 file to write (default: in a temporary folder)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    filename = args.out or os.path.join(tempfile.mkdtemp(prefix="aiostore-"), "legacy.h5")
    if os.path.exists(filename):
        os.remove(filename)

    started = time.perf_counter()
    traj = build_trajectory(args.frequencies, args.dampings)
    service = HDF5StorageService(filename, file_title="aiostore legacy example")
    service.store(pypetconstants.TRAJECTORY, traj)

    context = multiprocessing.get_context("spawn")
    queue = context.Queue(maxsize=100)

    def compute_all() -> None:
        with context.Pool(args.workers, initializer=_start_worker,
                          initargs=(queue, traj)) as pool:
            for _ in pool.imap_unordered(run_simulation, range(len(traj))):
                pass
        QueueStorageServiceSender(queue).send_done()

    computing = threading.Thread(target=compute_all)
    computing.start()
    QueueStorageServiceWriter(service, queue).run()  # until DONE; raises failed stores
    computing.join()

    loaded = service.load(pypetconstants.TRAJECTORY, None, trajectory_name=TRAJECTORY,
                          load_parameters=2, load_results=2)
    service.close()
    report(summary_table(loaded), filename, time.perf_counter() - started)


if __name__ == "__main__":
    main()
