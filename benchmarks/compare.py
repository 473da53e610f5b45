"""aiostore against raw PyTables and pypet 0.6.1, side by side in one run: the README's table.

Workloads (``benchmarks/faces.py`` and ``benchmarks/pypet_faces.py`` run each in a fresh
process, so peak memory is each one's own):

- W1: ``--runs`` runs, each storing a float, 100 float64 and a dict of 3 scalars as one result;
- W2: ``--big`` results of one 8 MB float64 array each, against the same arrays made and
  written to a plain file, then fsync'd (the disk's limit: the best of 3 tries in each round);
- W3: load back everything W1 stored.

Faces: aiostore async (50 tasks awaiting each store; also with ``packed_runs=True``, where each
run's result is a row of one table, with ``journal=False``, which shows what the journal
costs, and on a file held in memory, ``in_memory=True``: W1 only), the pypet shim as pypet code uses it
(durability "close": the file closed after every call, as pypet leaves it) and with durability
"flush", raw PyTables making the same nodes (or appending the same rows) in a tight loop (the
ceiling of one HDF5 thread on each layout), and pypet 0.6.1's own Environment when
``--pypet-python`` names the python of a side environment where it is installed
(``benchmarks/make_pypet_env.sh`` makes one). Every
figure is the median of ``--repeat`` rounds; within a round the faces run one after another,
starting with another face each round, each after an ``os.sync()``.

    python benchmarks/compare.py [--runs 2000] [--big 50] [--repeat 3] [--pypet-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
from typing import Any

HERE = pathlib.Path(__file__).parent
FACES = {
    "async": "aiostore async (50 tasks)",
    "async-packed": "aiostore async, packed_runs",
    "async-unjournaled": "aiostore async, journal=False",
    "async-memory": "aiostore async, in_memory",
    "raw-packed": "raw PyTables, rows of one table",
    "sync": "aiostore pypet shim (close)",
    "sync-flush": "aiostore pypet shim (flush)",
    "raw": "raw PyTables, same nodes",
    "pypet": "pypet 0.6.1",
    "disk": "plain file write + fsync",
}
WORKLOADS = {"w1": ["async", "sync", "sync-flush", "raw", "pypet", "async-unjournaled",
                    "async-memory", "async-packed", "raw-packed"],
             "w3": ["async", "sync-flush", "raw", "pypet", "async-packed", "raw-packed"],
             "w2": ["async", "sync", "raw", "pypet", "async-unjournaled", "disk"]}


def measure(face: str, workload: str, filename: str, args: argparse.Namespace) -> dict[str, Any]:
    sizes = ["--runs", str(args.runs), "--big", str(args.big)]
    os.sync()  # no face pays for the write-back of what the one before it wrote
    if face == "pypet":
        command = [args.pypet_python, str(HERE / "pypet_faces.py"), workload, filename, *sizes]
    else:
        command = [sys.executable, str(HERE / "faces.py"), face, workload, filename, *sizes]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{face} {workload} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_rounds(args: argparse.Namespace, faces: list[str]) -> dict[tuple[str, str], list[dict]]:
    results: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(dir=os.getcwd(), prefix="bench-") as folder:
        for round_ in range(args.repeat):
            for workload, candidates in WORKLOADS.items():
                present = [face for face in candidates if face in faces]
                shift = round_ % len(present)  # each round starts with another face
                for face in present[shift:] + present[:shift]:
                    # W3 loads the file the same face stored in W1, in the same round
                    stem = "w2" if workload == "w2" else "w1"
                    name = f"{folder}/{stem}-{face}-{round_}.h5"
                    print(f"round {round_ + 1}/{args.repeat}: {workload} {FACES[face]}",
                          file=sys.stderr)
                    results.setdefault((workload, face), []).append(
                        measure(face, workload, name, args))
    return results


def median(results: dict[tuple[str, str], list[dict]], workload: str, face: str,
           key: str) -> float | None:
    runs = results.get((workload, face))
    if not runs or key not in runs[0]:
        return None
    return statistics.median(run[key] for run in runs)


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "-"


def report(results: dict[tuple[str, str], list[dict]], args: argparse.Namespace) -> list[str]:
    """Print the table; return the targets missed."""
    missed: list[str] = []
    counts = {"w1": args.runs, "w2": args.big * 8, "w3": args.runs}
    units = {"w1": "runs/s", "w2": "MB/s", "w3": "runs/s"}
    titles = {"w1": f"W1: store {args.runs} small results (run by run)",
              "w2": f"W2: store {args.big} results of 8 MB",
              "w3": "W3: load back everything of W1"}
    rates: dict[tuple[str, str], float | None] = {}
    for workload in ("w1", "w2", "w3"):
        base = "disk" if workload == "w2" else "raw"
        print(f"\n{titles[workload]} (median of {args.repeat})")
        print(f"  {'':32}{units[workload]:>9}{'vs ' + base:>10}{'vs pypet':>10}"
              f"{'peak MiB':>10}{'loop lag ms':>13}")
        for face in WORKLOADS[workload]:
            seconds = median(results, workload, face, "seconds")
            rates[workload, face] = counts[workload] / seconds if seconds else None
        for face in WORKLOADS[workload]:
            rate = rates[workload, face]
            if rate is None:
                continue
            peak = median(results, workload, face, "peak_mib")
            lag = median(results, workload, face, "lag_ms")
            print(f"  {FACES[face]:32}{rate:9.0f}{_ratio(rate, rates[workload, base]):>10}"
                  f"{_ratio(rate, rates.get((workload, 'pypet'))):>10}{peak or 0:10.0f}"
                  + (f"{lag:13.1f}" if lag is not None else ""))
    targets = [
        ("W1 async >= 5x pypet", rates["w1", "async"], rates.get(("w1", "pypet")), 5.0),
        ("W1 async >= 70% of raw PyTables, same nodes", rates["w1", "async"], rates["w1", "raw"],
         0.7),
        ("W1 async packed_runs >= raw PyTables, nodes", rates["w1", "async-packed"],
         rates["w1", "raw"], 1.0),
        ("W2 async >= 70% of the disk", rates["w2", "async"], rates["w2", "disk"], 0.7),
        ("W3 async >= 5x pypet", rates["w3", "async"], rates.get(("w3", "pypet")), 5.0),
        ("W3 async packed_runs >= 5x pypet", rates["w3", "async-packed"],
         rates.get(("w3", "pypet")), 5.0),
    ]
    print("\nTargets:")
    for name, value, base, factor in targets:
        if value is None or base is None:
            print(f"  {name}: not measured (no pypet side environment given)")
            continue
        met = value >= factor * base
        print(f"  {name}: {'met' if met else 'MISSED'} ({value / base:.2f}x)")
        if not met:
            missed.append(name)
    lag = median(results, "w1", "async", "lag_ms")
    if lag is not None:
        print(f"  W1 event-loop worst lag < 20 ms: {'met' if lag < 20 else 'MISSED'} "
              f"({lag:.1f} ms, median of the rounds' worst)")
        if lag >= 20:
            missed.append("W1 loop lag")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--big", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pypet-python", default=os.environ.get("AIOSTORE_PYPET_PYTHON"),
                        help="python of an environment with pypet 0.6.1 (numpy < 2)")
    args = parser.parse_args()
    faces = [face for face in FACES if face != "pypet" or args.pypet_python]
    if not args.pypet_python:
        print("no --pypet-python: pypet 0.6.1 is not measured (see make_pypet_env.sh)")
    results = run_rounds(args, faces)
    report(results, args)


if __name__ == "__main__":
    main()
