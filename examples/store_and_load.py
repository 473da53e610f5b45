"""Store a small parameter sweep in HDF5 and load it back: aiostore's smallest blocking use.

A damped oscillator x'' + 2*zeta*omega*x' + omega**2*x = 0 is integrated for each point of a
grid of (omega, zeta), one run after the other in this thread; each run's trajectory and summary
numbers are stored with the blocking ``StorageService`` as it finishes, then the whole
trajectory is loaded back from the file and summarised. (The main job, an async sweep on all
cores, is examples/async_sweep.py.)

    python examples/store_and_load.py [--out sweep.h5 [--overwrite]] [--points 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile

import numpy as np

import aiostore
from aiostore import Msg, StorageService, Trajectory


def oscillate(omega: float, zeta: float, steps: int = 2000, dt: float = 0.01) -> np.ndarray:
    """Positions of a damped oscillator released from x=1 at rest (semi-implicit Euler)."""
    x, v = 1.0, 0.0
    positions = np.empty(steps)
    for step in range(steps):
        v += (-2 * zeta * omega * v - omega**2 * x) * dt
        x += v * dt
        positions[step] = x
    return positions


def build_trajectory(points: int) -> Trajectory:
    traj = Trajectory("oscillator", comment="damped oscillator over a grid of omega and zeta")
    traj.add_parameter("omega", 1.0, comment="angular frequency (rad/s)")
    traj.add_parameter("zeta", 0.1, comment="damping ratio")
    traj.add_parameter("dt", 0.01, comment="time step (s)")
    grid = list(itertools.product(np.linspace(0.5, 3.0, points), np.linspace(0.05, 0.5, points)))
    traj.explore({"omega": [float(o) for o, _ in grid], "zeta": [float(z) for _, z in grid]})
    return traj


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="HDF5 file to write (default: a temporary file)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out if it exists (otherwise an existing file is refused)")
    parser.add_argument("--points", type=int, default=4, help="grid points per parameter")
    args = parser.parse_args()
    filename = args.out or os.path.join(tempfile.mkdtemp(prefix="aiostore-"), "sweep.h5")
    if os.path.exists(filename):
        if not args.overwrite:
            sys.exit(f"{parser.prog}: {filename} exists: add --overwrite to replace it "
                     "(nothing was changed)")
        os.remove(filename)

    traj = build_trajectory(args.points)
    with StorageService(filename, file_title="Oscillator sweep") as service:
        service.store(Msg.TRAJECTORY, traj)
        for index in range(len(traj)):
            run = traj.run(index)
            positions = oscillate(run["omega"], run["zeta"])
            run.add_result("motion", positions=positions, final=float(positions[-1]),
                           extremes={"min": float(positions.min()), "max": float(positions.max())},
                           comment="positions over time")
            service.store(Msg.SINGLE_RUN, run)

        loaded = service.load(Msg.TRAJECTORY, None, trajectory_name="oscillator",
                              load_parameters=2, load_results=2)

    print(f"aiostore {aiostore.__version__}: stored and loaded {len(loaded)} runs in {filename}")
    print(f"{'run':>14} {'omega':>7} {'zeta':>6} {'final x':>9} {'min x':>8} {'completed':>9}")
    omega, zeta = loaded["parameters.omega"].range, loaded["parameters.zeta"].range
    for info in loaded.runs:
        motion = loaded[f"results.runs.{info.name}.motion"]
        print(f"{info.name:>14} {omega[info.idx]:7.3f} {zeta[info.idx]:6.3f} "
              f"{motion['final']:9.4f} {motion['extremes']['min']:8.4f} {info.completed!s:>9}")
    same = all(
        np.array_equal(loaded[f"results.runs.{run.name}.motion"]["positions"],
                       traj[f"results.runs.{run.name}.motion"]["positions"])
        for run in loaded.runs
    )
    print(f"every loaded array equals the stored one: {same}")


if __name__ == "__main__":
    main()
