"""aiostore's StorageUser against colossus's own, side by side in one run.

1. Store: ``--tables`` tables of shape (2, ``--points``) stored one after another into one
   user (persistent, as colossus stores its interpolation tables): seconds, and bytes the
   process wrote (``wchar`` of /proc/self/io: what it handed to write calls) and left on disk.
2. Warm start: a new user on the cache left by 1, constructed and asked for its first
   interpolator; and the same on a cache holding one table (a colossus cosmology's case).

Each figure is the median of ``--repeat`` runs, each in a fresh process per implementation
and step, alternating between the two (this machine is shared and noisy).

    python benchmarks/colossus_cache.py [--tables 200] [--points 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pathlib
import statistics
import tempfile
import time
from typing import Any

import numpy as np


def _written_bytes() -> int:
    with open("/proc/self/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["wchar"])


def _storage(which: str, base: str) -> Any:
    if which == "colossus":
        import colossus.settings
        from colossus.utils import storage
        colossus.settings.BASE_DIR = base
        return storage
    from aiostore.compat import colossus as shim
    shim.BASE_DIR = base
    return shim


def _user(storage: Any, name: str) -> Any:
    return storage.StorageUser("bench", "rw", lambda: name, lambda: f"{name}_1.0", None)


def _store(which: str, base: str, name: str, tables: int, points: int, answer: Any) -> None:
    storage = _storage(which, base)
    rng = np.random.default_rng(0)
    data = [np.array([np.linspace(0.0, 1.0, points), rng.random(points)]) for _ in range(tables)]
    written = _written_bytes()
    started = time.perf_counter()
    user = _user(storage, name)
    for index, table in enumerate(data):
        user.storeObject(f"table_{index}", table)
    seconds = time.perf_counter() - started
    answer.put((seconds, _written_bytes() - written))


def _warm_start(which: str, base: str, name: str, answer: Any) -> None:
    storage = _storage(which, base)
    started = time.perf_counter()
    user = _user(storage, name)
    interpolator = user.getStoredObject("table_0", interpolator=True)
    seconds = time.perf_counter() - started
    assert interpolator is not None
    answer.put((seconds, 0))


def _in_process(target: Any, *args: Any) -> tuple[float, int]:
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    process = context.Process(target=target, args=(*args, answer))
    process.start()
    result: tuple[float, int] = answer.get(timeout=3600)
    process.join()
    return result


def _disk_bytes(base: str) -> int:
    return sum(path.stat().st_size for path in pathlib.Path(base).rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    try:
        import colossus  # noqa: F401
        kinds = ["colossus", "aiostore"]
    except ImportError:
        print("colossus is not installed: aiostore only (pip install colossus to compare)")
        kinds = ["aiostore"]
    runs: dict[tuple[str, str], list[tuple[float, int]]] = {}
    disk: dict[str, int] = {}
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as scratch:
        for repeat in range(args.repeat):
            for which in kinds:
                base = f"{scratch}/{which}{repeat}"
                steps = {
                    "store": (_store, base, "many", args.tables, args.points),
                    "small": (_store, base, "one", 1, args.points),
                    "warm start, 1 table": (_warm_start, base, "one"),
                    f"warm start, {args.tables} tables": (_warm_start, base, "many"),
                }
                for step, (target, *rest) in steps.items():
                    runs.setdefault((which, step), []).append(_in_process(target, which, *rest))
                disk[which] = _disk_bytes(base)
    table_bytes = args.tables * 2 * args.points * 8
    print(f"{args.tables} tables of (2, {args.points}) float64 = {table_bytes / 2**20:.1f} MiB "
          f"stored; medians of {args.repeat}")
    print(f"{'step':<28}" + "".join(f"{kind:>16}" for kind in kinds) + "   ratio")
    for step in ("store", f"warm start, {args.tables} tables", "warm start, 1 table"):
        times = [statistics.median(run[0] for run in runs[kind, step]) for kind in kinds]
        ratio = f"   {times[0] / times[-1]:.1f}x" if len(kinds) == 2 else ""
        print(f"{step + ' (s)':<28}" + "".join(f"{t:>16.3f}" for t in times) + ratio)
    written = [statistics.median(run[1] for run in runs[kind, "store"]) for kind in kinds]
    ratio = f"   {written[0] / written[-1]:.1f}x" if len(kinds) == 2 else ""
    print(f"{'store: written (MiB)':<28}" + "".join(f"{w / 2**20:>16.1f}" for w in written)
          + ratio)
    print(f"{'left on disk (MiB)':<28}" + "".join(f"{disk[k] / 2**20:>16.1f}" for k in kinds))


if __name__ == "__main__":
    main()
