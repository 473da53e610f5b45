"""pypet's own Environment running the benchmark's workloads, on pypet's service or aiostore's shim.

Two uses.

One measurement, printed as one JSON line (seconds, peak resident MiB). ``compare.py`` runs it
in a side virtualenv with pypet 0.6.1 (which needs numpy < 2, see ``make_pypet_env.sh``); with
``--service pypet`` (the default) it imports nothing of aiostore:

    PYPET_PYTHON benchmarks/pypet_faces.py {w1,w2,w3} FILE [--runs N] [--big N]
                                           [--service pypet|aiostore|nothing]
                                           [--wrap-mode QUEUE] [--durability close|flush]

``versus``: pypet 0.7's ``Environment`` storing W1 on pypet's own ``HDF5StorageService`` and on
aiostore's shim (``aiostore.compat.pypet.HDF5StorageService`` given to ``storage_service=``,
nothing else changed), side by side in one run. Each face runs in a fresh process; the faces
alternate (each round starts with another face), each after an ``os.sync()``; figures are
medians of ``--repeat`` rounds, and each face is compared with pypet's own service run the same
way. Faces (``--faces``, default all):

- ``pypet``, ``aiostore``: ``multiproc=False`` (the runs and the storing in one process);
- ``aiostore-flush``: the same with ``durability='flush'`` given to the Environment (pypet hands
  the service the keywords it takes): the file stays open between runs instead of being closed
  after each, as the shim does by default and pypet's own service always does;
- ``pypet-queue``, ``aiostore-queue``: ``multiproc=True, ncores=2, use_pool=True,
  wrap_mode='QUEUE'`` (the runs in 2 pool workers, the storing in pypet's queue process);
- ``nothing``: pypet's ``LazyStorageService``, which stores nothing: what pypet's Environment
  itself costs, the ceiling of any service.

A face that fails is reported with its error and the others are still measured; the exit
status is then 1. Run it in aiostore's environment, where pypet 0.7 is installed:

    .venv/bin/python benchmarks/pypet_faces.py versus [--runs 2000] [--repeat 3] [--quick]
                                                      [--faces pypet,aiostore,...]

``--quick`` is 200 runs and 1 round. W1: ``--runs`` runs over two explored parameters ``x`` and
``y``, each run adding one result ``r`` of a float ``z``, 100 float64 ``arr`` and a dict ``d``
of 3 scalars. W2: ``--big`` runs of one 8 MB array. W3: load everything W1 stored.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np

HERE = pathlib.Path(__file__).parent
TARGET = 5.0  # pypet's Environment on aiostore's shim stores W1 at least 5x faster than on pypet's
VERSUS_FACES = {  # face: (label, the options of its measurement, the face it is compared with)
    "pypet": ("pypet 0.7 Environment on pypet's own service", ["--service", "pypet"], "pypet"),
    "aiostore": ("pypet 0.7 Environment on aiostore's shim", ["--service", "aiostore"], "pypet"),
    "aiostore-flush": ("pypet 0.7 Environment on aiostore's shim, durability='flush'",
                       ["--service", "aiostore", "--durability", "flush"], "pypet"),
    "pypet-queue": ("pypet 0.7 Environment on pypet's own service, QUEUE",
                    ["--service", "pypet", "--wrap-mode", "QUEUE"], "pypet-queue"),
    "aiostore-queue": ("pypet 0.7 Environment on aiostore's shim, QUEUE",
                       ["--service", "aiostore", "--wrap-mode", "QUEUE"], "pypet-queue"),
    "nothing": ("pypet 0.7 Environment storing nothing (the ceiling)", ["--service", "nothing"],
                "pypet"),
}


def peak_resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------- one measurement (pypet)


def storage_service(name: str) -> Any:
    """The service class to hand pypet's Environment: pypet's own HDF5StorageService,
    aiostore's, or pypet's LazyStorageService, which stores nothing (pypet's own cost)."""
    if name == "aiostore":
        from aiostore.compat.pypet import HDF5StorageService
        return HDF5StorageService
    if name == "nothing":
        from pypet.storageservice import LazyStorageService
        return LazyStorageService
    from pypet import HDF5StorageService as PypetService
    return PypetService


def _environment(filename: str, name: str, service: str, wrap_mode: str | None,
                 durability: str | None = None) -> Any:
    from pypet import Environment
    if wrap_mode is None:
        options: dict[str, Any] = {"multiproc": False}
    else:  # 2 pool workers compute the runs; pypet's queue process stores them
        options = {"multiproc": True, "ncores": 2, "use_pool": True, "wrap_mode": wrap_mode}
    if durability is not None:  # pypet hands the service the keywords it takes
        options["durability"] = durability
    return Environment(trajectory=name, filename=filename, overwrite_file=True,
                       storage_service=storage_service(service), log_config=None,
                       log_stdout=False, report_progress=False, add_time=False,
                       git_repository=None, complevel=0, **options)


def w1_job(traj: Any) -> None:
    """One W1 run: a float, 100 float64 and a dict of 3 scalars, as one result."""
    i = traj.x
    traj.f_add_result("r", z=float(i), arr=np.linspace(0, 1, 100) + traj.y,
                      d={"mean": 0.5, "n": i, "ok": True})


def w2_job(traj: Any) -> None:
    traj.f_add_result("big", a=np.full(2**20, float(traj.x)))  # 8 MB


def store(filename: str, runs: int, job: Any, name: str, service: str,
          wrap_mode: str | None, durability: str | None = None) -> float:
    env = _environment(filename, name, service, wrap_mode, durability)
    traj = env.trajectory
    traj.f_add_parameter("x", 0)
    traj.f_add_parameter("y", 0.0)
    traj.f_explore({"x": list(range(runs)), "y": [0.5 * i for i in range(runs)]})
    started = time.perf_counter()
    env.run(job)
    seconds = time.perf_counter() - started
    env.disable_logging()
    return seconds


def load(filename: str, service: str) -> float:
    from pypet import Trajectory
    started = time.perf_counter()
    traj = Trajectory(filename=filename, add_time=False, storage_service=storage_service(service))
    traj.f_load(name="w1", load_parameters=2, load_derived_parameters=2, load_results=2)
    seconds = time.perf_counter() - started
    assert len(traj) > 0
    return seconds


def measure_here(args: argparse.Namespace) -> None:
    if args.file is None:
        sys.exit(f"{args.workload} needs a FILE")
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    if args.workload == "w1":
        seconds = store(args.file, args.runs, w1_job, "w1", args.service, args.wrap_mode,
                        args.durability)
    elif args.workload == "w2":
        seconds = store(args.file, args.big, w2_job, "w2", args.service, args.wrap_mode,
                        args.durability)
        if os.path.exists(args.file):
            os.remove(args.file)
    else:
        seconds = load(args.file, args.service)
    print(json.dumps({"seconds": seconds, "peak_mib": peak_resident_mib()}))


# ------------------------------------------------------------------ versus: side by side


def measure_face(face: str, filename: str, runs: int) -> dict[str, Any]:
    """W1 of one face in a fresh process: its JSON, or {"error": the end of its stderr}."""
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), "w1", filename,
               "--runs", str(runs), *VERSUS_FACES[face][1]]
    os.sync()  # no face pays for the write-back of what the one before it wrote
    timeout = 120 + runs  # a second a run: pypet's own service stores 60 a second here
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer within {timeout} s (killed)"}
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"exit status {done.returncode}",
                "stderr": done.stderr[-3000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def versus(args: argparse.Namespace) -> int:
    """Measure the faces side by side, print the table and the target; 1 if a face failed."""
    faces = args.faces
    results: dict[str, list[dict[str, Any]]] = {face: [] for face in faces}
    with tempfile.TemporaryDirectory(dir=os.getcwd(), prefix="bench-pypet-") as folder:
        for round_ in range(args.repeat):
            shift = round_ % len(faces)  # each round starts with another face
            for face in faces[shift:] + faces[:shift]:
                print(f"round {round_ + 1}/{args.repeat}: {VERSUS_FACES[face][0]}",
                      file=sys.stderr)
                results[face].append(measure_face(face, f"{folder}/{face}-{round_}.h5",
                                                  args.runs))
    rates: dict[str, float] = {}
    failures: dict[str, list[dict[str, Any]]] = {}
    for face in faces:
        failed = [result for result in results[face] if "error" in result]
        if failed:
            failures[face] = failed
        else:
            rates[face] = args.runs / statistics.median(r["seconds"] for r in results[face])

    print(f"\nW1: pypet 0.7's Environment stores {args.runs} runs (a float, 100 float64, a dict "
          f"of 3), median of {args.repeat}")
    print("  (vs pypet: against pypet's own service with the same wrapping)")
    print(f"  {'':62}{'runs/s':>8}{'vs pypet':>10}{'peak MiB':>10}")
    for face in faces:
        label, _, compared_with = VERSUS_FACES[face]
        base = rates.get(compared_with)
        if face in failures:
            print(f"  {label:62}  FAILED: {failures[face][0]['error']}")
            continue
        peak = statistics.median(r["peak_mib"] for r in results[face])
        versus_base = f"{rates[face] / base:.2f}x" if base else "-"
        print(f"  {label:62}{rates[face]:8.0f}{versus_base:>10}{peak:10.0f}")

    name = f"W1 pypet's Environment on aiostore's shim >= {TARGET:g}x on pypet's own service"
    if "aiostore" in rates and "pypet" in rates:
        ratio = rates["aiostore"] / rates["pypet"]
        print(f"\nTarget: {name}: {'met' if ratio >= TARGET else 'MISSED'} ({ratio:.2f}x)")
    elif {"aiostore", "pypet"} <= set(faces):
        print(f"\nTarget: {name}: not measured (a face failed)")
    for face, failed in failures.items():
        print(f"\n{VERSUS_FACES[face][0]} failed in {len(failed)} of {args.repeat} rounds; the "
              f"end of its stderr:\n{failed[0].get('stderr', failed[0]['error'])}", file=sys.stderr)
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["w1", "w2", "w3", "versus"])
    parser.add_argument("file", nargs="?", help="the HDF5 file (w1, w2, w3)")
    parser.add_argument("--runs", type=int, help="W1's runs (default 2000; 200 with --quick)")
    parser.add_argument("--big", type=int, default=50)
    parser.add_argument("--service", choices=["pypet", "aiostore", "nothing"], default="pypet",
                        help="whose HDF5StorageService pypet's Environment uses (w1, w2, w3); "
                             "nothing: pypet's LazyStorageService (w1, w2)")
    parser.add_argument("--durability", choices=["close", "flush"],
                        help="given to pypet's Environment, which hands it to aiostore's shim")
    parser.add_argument("--wrap-mode", choices=["QUEUE", "LOCK", "PIPE", "LOCAL"],
                        help="multiproc=True on 2 pool workers with this wrap mode (w1, w2)")
    parser.add_argument("--repeat", type=int, help="rounds (versus; default 3, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="versus at 200 runs, 1 round")
    parser.add_argument("--faces", default=",".join(VERSUS_FACES),
                        help=f"versus: which of {','.join(VERSUS_FACES)} (default: all)")
    args = parser.parse_args()
    args.runs = args.runs or (200 if args.quick else 2000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    if args.workload != "versus":
        measure_here(args)
        return
    args.faces = [face.strip() for face in args.faces.split(",") if face.strip()]
    unknown = set(args.faces) - set(VERSUS_FACES)
    if unknown or not args.faces:
        parser.error(f"--faces: unknown {sorted(unknown)}; choose from {','.join(VERSUS_FACES)}")
    sys.exit(versus(args))


if __name__ == "__main__":
    main()
