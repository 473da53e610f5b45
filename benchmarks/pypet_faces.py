"""The benchmark's workloads on pypet 0.6.1 itself, run by ``compare.py`` in pypet's own python.

pypet needs numpy < 2, so this runs in a side virtualenv (see ``make_pypet_env.sh``) and imports
nothing of aiostore. It prints one JSON line: seconds, peak resident MiB.

    PYPET_PYTHON benchmarks/pypet_faces.py {w1,w2,w3} FILE [--runs N] [--big N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings

import numpy as np


def peak_resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _environment(filename: str, name: str):
    from pypet import Environment
    return Environment(trajectory=name, filename=filename, overwrite_file=True, multiproc=False,
                       log_config=None, log_stdout=False, report_progress=False,
                       add_time=False, git_repository=None, complevel=0)


def w1_job(traj) -> None:
    """One W1 run: a float, 100 float64 and a dict of 3 scalars, as one result."""
    i = traj.x
    traj.f_add_result("r", z=float(i), trace=np.linspace(0, 1, 100) + i,
                      stats={"mean": 0.5, "n": i, "ok": True})


def w2_job(traj) -> None:
    traj.f_add_result("big", a=np.full(2**20, float(traj.x)))  # 8 MB


def store(filename: str, runs: int, job, name: str) -> float:
    env = _environment(filename, name)
    traj = env.trajectory
    traj.f_add_parameter("x", 0)
    traj.f_explore({"x": list(range(runs))})
    started = time.perf_counter()
    env.run(job)
    seconds = time.perf_counter() - started
    env.disable_logging()
    return seconds


def load(filename: str) -> float:
    from pypet import Trajectory
    started = time.perf_counter()
    traj = Trajectory(filename=filename, add_time=False)
    traj.f_load(name="w1", load_parameters=2, load_derived_parameters=2, load_results=2)
    seconds = time.perf_counter() - started
    assert len(traj) > 0
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["w1", "w2", "w3"])
    parser.add_argument("file")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--big", type=int, default=50)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    if args.workload == "w1":
        seconds = store(args.file, args.runs, w1_job, "w1")
    elif args.workload == "w2":
        seconds = store(args.file, args.big, w2_job, "w2")
        os.remove(args.file)
    else:
        seconds = load(args.file)
    print(json.dumps({"seconds": seconds, "peak_mib": peak_resident_mib()}))


if __name__ == "__main__":
    main()
