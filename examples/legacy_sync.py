"""The sweep of async_sweep.py as pypet 0.7 code: pypet's Environment, on aiostore's service.

Everything here is pypet: its ``Environment`` runs the driven damped oscillator of
``async_sweep.py`` over a grid of drive frequency and damping (``cartesian_product``), each run
adds its steady response with ``traj.f_add_result``, worker processes hand the runs to the
storage service as pypet's ``wrap_mode`` says (``QUEUE``: one queue process is the file's only
writer), and pypet's ``Trajectory`` loads the file back. The one change from code written for
pypet's own service is the import of ``HDF5StorageService`` (given to ``storage_service=``).

    python examples/legacy_sync.py [--frequencies 12] [--dampings 8] [--out legacy.h5]
                                   [--overwrite] [--wrap-mode QUEUE|LOCK|PIPE|LOCAL]
                                   [--ncores 2] [--service aiostore|pypet]

``--service pypet`` runs the same code on pypet's own ``HDF5StorageService``, for comparison.
An existing ``--out`` file is never deleted unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd
import pypet
from async_sweep import exact_amplitude, print_science, simulate  # the model: plain numpy
from pypet import Environment, Trajectory, cartesian_product

# The only aiostore line. With pypet's own service: from pypet import HDF5StorageService
from aiostore.compat.pypet import HDF5StorageService

TRAJECTORY = "resonance"
SERVICES: dict[str, Any] = {"aiostore": HDF5StorageService, "pypet": pypet.HDF5StorageService}


def run_oscillator(traj: Any) -> float:
    """One run (in a worker process): integrate, then add the response as the run's result."""
    response = simulate(traj.frequency, traj.damping)
    traj.f_add_result("response", comment="steady response to the drive", **response)
    return float(response["amplitude"])


def sweep(filename: str, frequencies: int, dampings: int, wrap_mode: str, ncores: int,
          overwrite: bool, service: Any) -> int:
    """Explore the grid with pypet's Environment; return the number of runs it made."""
    env = Environment(trajectory=TRAJECTORY, filename=filename, storage_service=service,
                      overwrite_file=overwrite, file_title="aiostore legacy example",
                      comment="driven damped oscillator over drive frequency and damping",
                      multiproc=True, ncores=ncores, wrap_mode=wrap_mode,
                      log_config=None, report_progress=False)
    traj = env.trajectory
    traj.f_add_parameter("frequency", 1.0, comment="drive frequency / natural frequency")
    traj.f_add_parameter("damping", 0.1, comment="damping ratio zeta")
    traj.f_explore(cartesian_product({
        "frequency": [float(w) for w in np.linspace(0.2, 2.0, frequencies)],
        "damping": [float(z) for z in np.geomspace(0.05, 0.8, dampings)],
    }))
    results = env.run(run_oscillator)
    env.disable_logging()
    return len(results)


def load(filename: str, service: Any) -> pd.DataFrame:
    """Load the whole trajectory back with pypet's Trajectory: a row per run."""
    traj = Trajectory(filename=filename, storage_service=service)
    traj.f_load(name=TRAJECTORY, load_parameters=2, load_results=2)
    frequency = traj.f_get("frequency").f_get_range()
    damping = traj.f_get("damping").f_get_range()
    rows = []
    for idx, name in enumerate(traj.f_iter_runs(yields="name")):
        response = traj.f_get(f"results.runs.{name}.response")
        rows.append({"run": name, "frequency": frequency[idx], "damping": damping[idx],
                     "amplitude": response.amplitude, "phase": response.phase,
                     "completed": bool(traj.f_get_run_information(idx)["completed"])})
    table = pd.DataFrame(rows)
    table["exact"] = exact_amplitude(table["frequency"].to_numpy(), table["damping"].to_numpy())
    return table


def report(table: pd.DataFrame, stored: int, filename: str, seconds: float, service: str) -> None:
    print(f"pypet {pypet.__version__} on {service}'s HDF5StorageService: {stored} runs computed "
          f"and stored in {seconds:.1f} s ({stored / seconds:.0f} runs/s) in {filename}")
    print(f"runs loaded back: {len(table)}")
    print_science(table, stored, "highest amplitude on the grid for each damping ratio (from the "
                  "file; unlike async_sweep.py's, this grid is not refined around the peaks):")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frequencies", type=int, default=12, help="drive frequencies (grid)")
    parser.add_argument("--dampings", type=int, default=8, help="damping ratios (grid)")
    parser.add_argument("--out", help="HDF5 file to write (default: in a temporary folder)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out if it exists (otherwise an existing file is refused)")
    parser.add_argument("--wrap-mode", default="QUEUE", choices=["QUEUE", "LOCK", "PIPE", "LOCAL"],
                        help="how pypet's worker processes reach the storage service")
    parser.add_argument("--ncores", type=int, default=2, help="worker processes")
    parser.add_argument("--service", choices=sorted(SERVICES), default="aiostore",
                        help="whose HDF5StorageService stores the runs")
    args = parser.parse_args()
    filename = args.out or os.path.join(tempfile.mkdtemp(prefix="aiostore-"), "legacy.h5")
    if os.path.exists(filename) and not args.overwrite:
        sys.exit(f"{filename} exists: add --overwrite to replace it (nothing was changed)")
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    stored = sweep(filename, args.frequencies, args.dampings, args.wrap_mode, args.ncores,
                   args.overwrite, SERVICES[args.service])
    seconds = time.perf_counter() - started
    report(load(filename, SERVICES[args.service]), stored, filename, seconds, args.service)


if __name__ == "__main__":
    main()
