"""W1 at scale in the default configuration: store, file size, memory, loop lag, loads (issue 18).

    python benchmarks/scale.py [--runs 10000,100000] [--repeats 1] [--faces put,sweep,store]
                               [--tasks 50] [--dir DIR] [--json OUT]

W1 (``benchmarks/profile_w1.py``): a trajectory exploring ``x`` (float) and ``y`` (int); each
run stores a result ``r`` with a float ``z``, 100 float64 ``arr`` and a dict ``d`` of 3 scalars
(``PAYLOAD_BYTES`` = 841 bytes with the two parameter values). Every run is built as a user's
loop builds it (``traj.run(i)``, ``run.add_result``) and released once stored. The service is
``AsyncStorageService(file)`` with no options. Faces:

- ``put``: ``await put`` for every run from one task, then ``await join()``;
- ``sweep``: ``run_sweep(svc, traj, simulate, result="r", runs_per_task=100)`` with a runner that
  computes in this process, a run at a time between turns of the loop (``simulate`` computes
  the values ``build_run`` gives a run, and the driver makes the run; a process pool would
  measure its pickling, not the store); its time includes the trajectory's store;
- ``store``: ``await store`` from ``--tasks`` tasks;
- ``bare``: the user's loop without storage (build and release each run): the ceiling.

For each store face: runs/s (first store to last acknowledgement; the trajectory's store and
the service's open and close are out, but in the lag), the cost per run over the first and the
last tenth of the runs (from timestamps of the acknowledgements, or of the puts, every 1/100th
of the runs, at most every 1,000), file bytes per run against the payload, peak memory (VmHWM
of the process) and the event loop's worst lag (``LagMeter``, 1 ms ticks, from opening the
service to closing it; also per phase: opening and the trajectory's store, the runs, closing).
Then on the file ``put`` wrote, each from a cold open to close:
a raw PyTables read of the same rows (``Table.read()`` of ``/w1/overview/packed/p0``),
``load_frame(traj, "r")`` and ``load_dataset(traj, "r")`` (skipped with a note while the service
has none): runs/s and the ratio to raw. Every face's file is checked after loading: the count
of runs and every run's ``x``, ``y``, ``z``, ``arr`` and ``d`` equal to what was stored
(vectorized; ``load_frame``, and ``load_dataset`` where it exists).

Every measurement runs in a fresh process (this script with ``--child``), so each peak memory
is that measurement's own; repeats are interleaved (bare, the faces, the loads, then the next
size) and the tables show medians. The must-holds of issue 18 are printed PASS/FAIL with their
ratios, taken between medians of this one invocation; the issue's sizes are 20,000 and 200,000
(``--runs 20000,200000``): the rate at the largest size is compared with the rate at the
smallest. A table, then one JSON line of the figures; ``--json OUT`` writes every measurement.

``--runs 1000000 --faces put`` is the million: some 15 minutes per store face here (2 cores)
plus the loads, about 1.2 GB of disk for the file and 3 GB of memory for the check of the
loaded values. Scratch files go to ``--dir`` (default ``$TMPDIR``) and are removed after use.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import anyio.lowlevel
import numpy as np
from faces import LagMeter, peak_resident_mib, release, run_child  # beside this file
from profile_w1 import PAYLOAD_BYTES, build_run, build_sweep

from aiostore import AsyncStorageService, Msg, Trajectory
from aiostore.sweeps import run_sweep
from aiostore.sweeps.runners import Finished

TRAJECTORY = "w1"  # build_sweep's name
PACKED_TABLE = f"/{TRAJECTORY}/overview/packed/p0"
FACES = {"put": "put + join", "sweep": "run_sweep", "store": "await store"}
LOADS = {"raw": "raw PyTables Table.read", "frame": "load_frame", "dataset": "load_dataset"}
RUNS_PER_TASK = 100
CHECK_BLOCK = 50_000  # rows of arr compared at a time

# ---------------------------------------------------------------------------- the store faces


class Progress:
    """Timestamps of acknowledgement progress: (perf_counter, runs done) every ``step`` runs."""

    def __init__(self, runs: int) -> None:
        self.step = max(1, min(1000, runs // 100))
        self.done = 0
        self.marks: list[tuple[float, int]] = []

    def start(self) -> None:
        self.marks.append((time.perf_counter(), 0))

    def tick(self) -> None:
        self.done += 1
        if self.done % self.step == 0:
            self.marks.append((time.perf_counter(), self.done))

    def end(self) -> float:
        ended = time.perf_counter()
        if self.marks[-1][1] != self.done:
            self.marks.append((ended, self.done))
        return ended


async def put_face(svc: AsyncStorageService, traj: Trajectory, progress: Progress) -> None:
    for index in range(len(traj)):
        run = build_run(traj, index)
        await svc.put(Msg.SINGLE_RUN, run)
        release(run)
        progress.tick()
    await svc.join()


async def store_face(svc: AsyncStorageService, traj: Trajectory, progress: Progress,
                     tasks: int) -> None:
    async def worker(first: int) -> None:
        for index in range(first, len(traj), tasks):
            run = build_run(traj, index)
            await svc.store(Msg.SINGLE_RUN, run)
            release(run)
            progress.tick()

    async with anyio.create_task_group() as group:
        for first in range(tasks):
            group.start_soon(worker, first)


def simulate(x: float, y: int) -> dict[str, Any]:
    """W1's run as ``run_sweep`` asks for it: the values ``build_run`` gives the run at ``x``,
    computed as a user's function would, without a run (the driver makes the run: a simulate
    that built one too would count the user's loop twice against the store)."""
    index = round(x * 1000)  # build_sweep's x is index * 0.001
    return {"z": x * y, "arr": np.linspace(0.0, 1.0, 100) + index,
            "d": {"a": 0.5, "b": index, "c": True}}


class InlineRunner:
    """A runner computing each task in this thread, as the sweep driver takes it: a run at a
    time, letting the loop run every millisecond, as the ``put`` face's loop lets it run (through
    ``put``). A task of 100 W1 runs computed in one go holds the loop 3-15 ms: the user's
    computation, which a process pool or Dask would do elsewhere, not the store's."""

    @asynccontextmanager
    async def finished(self, function: Callable[[Any], Any],
                       tasks: Iterable[Any]) -> AsyncIterator[AsyncIterator[Finished]]:
        async def ends() -> AsyncIterator[Finished]:
            for task in tasks:
                answers: list[Any] = []
                checkpoint = time.monotonic() + 0.001
                for point in task:
                    answers.extend(function([point]))
                    if time.monotonic() >= checkpoint:
                        await anyio.lowlevel.checkpoint()
                        checkpoint = time.monotonic() + 0.001
                yield Finished(task, answers)
                await anyio.lowlevel.checkpoint()

        yield ends()


class CountingService:
    """The service as ``run_sweep`` sees it, counting each run's store as it is queued (``put``;
    the last mark is after the sweep's final ``join``) or acknowledged (``store``)."""

    def __init__(self, service: AsyncStorageService, progress: Progress) -> None:
        self._service = service
        self._progress = progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    async def store(self, msg: Any, item: Any, *args: Any, **kwargs: Any) -> Any:
        answer = await self._service.store(msg, item, *args, **kwargs)
        if msg == Msg.SINGLE_RUN:
            self._progress.tick()
        return answer

    async def put(self, msg: Any, item: Any, *args: Any, **kwargs: Any) -> None:
        await self._service.put(msg, item, *args, **kwargs)
        if msg == Msg.SINGLE_RUN:
            self._progress.tick()


async def sweep_face(svc: AsyncStorageService, traj: Trajectory, progress: Progress) -> None:
    counting = cast(AsyncStorageService, CountingService(svc, progress))
    report = await run_sweep(counting, traj, simulate, runner=InlineRunner(),
                             result="r", runs_per_task=RUNS_PER_TASK)
    if report.failed or not report.completed:
        raise RuntimeError(f"the sweep did not store every run: {report}")


def lag_phase(meter: LagMeter, phases: dict[str, float], name: str) -> None:
    """The worst lag since the last phase ended, in ms, as phase ``name``."""
    phases[name] = meter.worst * 1e3
    meter.worst = 0.0


async def store_runs(spec: dict[str, Any]) -> dict[str, Any]:
    traj, progress, meter = build_sweep(spec["runs"]), Progress(spec["runs"]), LagMeter()
    phases: dict[str, float] = {}
    async with anyio.create_task_group() as watching:
        watching.start_soon(meter.run)
        async with AsyncStorageService(spec["file"]) as svc:
            if spec["face"] != "sweep":
                await svc.store(Msg.TRAJECTORY, traj)
                await anyio.sleep(0.05)  # the HDF5 thread idles: the trajectory's store stays out
            lag_phase(meter, phases, "open")
            progress.start()
            if spec["face"] == "put":
                await put_face(svc, traj, progress)
            elif spec["face"] == "store":
                await store_face(svc, traj, progress, spec["tasks"])
            else:
                await sweep_face(svc, traj, progress)
            progress.end()
            lag_phase(meter, phases, "runs")
        lag_phase(meter, phases, "close")
        watching.cancel_scope.cancel()
    return {"marks": progress.marks, "lag_ms": max(phases.values()), "lag_phases_ms": phases}


# ------------------------------------------------------------------------------------ loads


def read_raw(path: str) -> int:
    import tables

    with tables.open_file(path) as h5:
        return len(h5.get_node(PACKED_TABLE).read())


async def read_with(path: str, how: str) -> Any:
    async with AsyncStorageService(path) as svc:
        if how == "frame":
            return await svc.load_frame(TRAJECTORY, "r")
        return await svc.load_dataset(TRAJECTORY, "r")


def expected(runs: int) -> dict[str, np.ndarray]:
    """W1's stored values of every run, vectorized (``check_expected`` ties them to W1)."""
    index = np.arange(runs)
    x = index * 0.001
    y = index % 97
    return {"x": x, "y": y, "z": x * y, "d.a": np.full(runs, 0.5), "d.b": index,
            "d.c": np.ones(runs, dtype=bool)}


def check_expected(runs: int) -> list[str]:
    """``expected`` against ``build_run`` itself, at a few runs."""
    traj, want, problems = build_sweep(runs), expected(runs), []
    for index in sorted({0, 1, runs // 2, runs - 1}):
        run = build_run(traj, index)
        data = run.new_items[-1].data
        got = {"x": run["x"], "y": run["y"], "z": data["z"],
               **{f"d.{key}": value for key, value in data["d"].items()}}
        problems += [f"expected() differs from build_run at run {index}: {name}"
                     for name, value in got.items() if value != want[name][index]]
        if not np.array_equal(data["arr"], arr_rows(index, index + 1)[0]):
            problems.append(f"expected() differs from build_run at run {index}: arr")
    return problems


def arr_rows(start: int, stop: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, 100) + np.arange(start, stop)[:, None]


def compare(name: str, got: np.ndarray, want: np.ndarray) -> list[str]:
    if got.dtype != want.dtype:
        return [f"{name}: dtype {got.dtype}, stored {want.dtype}"]
    if got.shape != want.shape:
        return [f"{name}: shape {got.shape}, stored {want.shape}"]
    wrong = np.flatnonzero(got != want)
    return [f"{name}: {wrong.size} runs differ, first run {wrong[0]}"] if wrong.size else []


def compare_arr(arr: Callable[[int, int], np.ndarray], runs: int) -> list[str]:
    for start in range(0, runs, CHECK_BLOCK):
        stop = min(start + CHECK_BLOCK, runs)
        problems = compare(f"arr of runs {start}-{stop - 1}", arr(start, stop),
                           arr_rows(start, stop))
        if problems:
            return problems
    return []


def check_frame(frame: Any, runs: int) -> list[str]:
    if len(frame) != runs:
        return [f"{len(frame)} runs loaded, {runs} stored"]
    want = expected(runs)
    problems = compare("run index", frame.index.to_numpy(), np.arange(runs))
    for name, values in want.items():
        problems += compare(name, frame[name].to_numpy(), values)
    cells = frame["arr"].to_numpy()
    return problems + compare_arr(lambda start, stop: np.stack(cells[start:stop]), runs)


def dataset_variable(dataset: Any, name: str) -> Any:
    """A parameter's coordinate (``x``) or a key's variable (``r.z``, a dict's field ``r.d.a``)."""
    for candidate in (name, f"r.{name}"):
        if candidate in dataset.variables:
            return dataset[candidate]
    return None


def check_dataset(dataset: Any, runs: int) -> list[str]:
    if "run" not in dataset.dims:
        return [f"no run dimension (dims {dict(dataset.sizes)}): values not checked"]
    if dataset.sizes["run"] != runs:
        return [f"{dataset.sizes['run']} runs loaded, {runs} stored"]
    dataset = dataset.sortby("run") if "run" in dataset.coords else dataset
    problems: list[str] = []
    for name, values in expected(runs).items():
        variable = dataset_variable(dataset, name)
        problems += ([f"{name}: not in the dataset"] if variable is None
                     else compare(name, variable.to_numpy(), values))
    arr = dataset_variable(dataset, "arr")
    if arr is None:
        return [*problems, "arr: not in the dataset"]
    return problems + compare_arr(lambda start, stop: arr[start:stop].to_numpy(), runs)


def load_runs(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["how"] == "dataset":
        if not hasattr(AsyncStorageService, "load_dataset"):
            return {"skipped": "AsyncStorageService has no load_dataset yet"}
        if importlib.util.find_spec("xarray") is None:
            return {"skipped": "xarray is not installed"}
        importlib.import_module("xarray")  # before the clock, as in a notebook that uses it
    started = time.perf_counter()
    if spec["how"] == "raw":
        loaded: Any = read_raw(spec["file"])
        rows = loaded
    else:
        loaded = anyio.run(read_with, spec["file"], spec["how"])
        rows = len(loaded) if spec["how"] == "frame" else loaded.sizes.get("run", 0)
    result: dict[str, Any] = {"seconds": time.perf_counter() - started, "rows": rows,
                              "peak_mib": peak_resident_mib()}
    if spec["verify"]:
        check = check_frame if spec["how"] == "frame" else check_dataset
        result["problems"] = check_expected(spec["runs"]) + check(loaded, spec["runs"])
    return result


# ------------------------------------------------------------------------------- children


def bare_runs(spec: dict[str, Any]) -> dict[str, Any]:
    traj = build_sweep(spec["runs"])
    started = time.perf_counter()
    for index in range(spec["runs"]):
        release(build_run(traj, index))
    return {"seconds": time.perf_counter() - started}


def child(spec: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # PyTables' PerformanceWarning, should a group grow
    if spec["kind"] == "load":
        return load_runs(spec)
    if spec["kind"] == "bare":
        result = bare_runs(spec)
    else:
        result = anyio.run(store_runs, spec)
        marks = result["marks"]
        result["seconds"] = marks[-1][0] - marks[0][0]
        result["tenths_us"] = tenths(marks, spec["runs"])
        result["file_bytes"] = os.path.getsize(spec["file"])
        del result["marks"]
    return {**result, "peak_mib": peak_resident_mib()}


def tenths(marks: list[tuple[float, int]], runs: int) -> list[float]:
    """Microseconds per run over the first and over the last tenth of the runs."""
    start, first = marks[0], next(mark for mark in marks if mark[1] >= runs / 10)
    last = [mark for mark in marks if mark[1] <= runs * 0.9][-1]
    end = marks[-1]
    return [(first[0] - start[0]) / max(first[1] - start[1], 1) * 1e6,
            (end[0] - last[0]) / max(end[1] - last[1], 1) * 1e6]


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    what = " ".join(str(spec[key]) for key in ("kind", "face", "how", "runs") if key in spec)
    result = run_child(__file__, spec, what)
    if "seconds" in result:
        print(f"    {spec['runs'] / result['seconds']:,.0f} runs/s, peak "
              f"{result['peak_mib']:,.0f} MiB", file=sys.stderr, flush=True)
    return {**spec, **result}


# --------------------------------------------------------------------------------- parent


def remove(path: str) -> None:
    for name in (path, path + ".aiostore-journal"):
        if os.path.exists(name):
            os.remove(name)


def one_size(args: argparse.Namespace, runs: int) -> list[dict[str, Any]]:
    """One repeat at one size: the bare loop, each face's store and check, the loads."""
    results = [measure({"kind": "bare", "runs": runs})]
    for face in args.faces:
        path = os.path.join(args.dir, f"scale-{os.getpid()}-{face}.h5")
        try:
            results.append(measure({"kind": "store", "face": face, "runs": runs, "file": path,
                                    "tasks": args.tasks}))
            hows = list(LOADS) if face == "put" else ["frame"]
            results += [measure({"kind": "load", "face": face, "how": how, "runs": runs,
                                 "file": path, "verify": how != "raw"}) for how in hows]
        finally:
            remove(path)
    return results


def median(values: Iterable[float]) -> float:
    kept = [value for value in values if not math.isnan(value)]
    return statistics.median(kept) if kept else float("nan")


def pick(results: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    return [result for result in results
            if all(result.get(key) == value for key, value in where.items())]


def rate(results: list[dict[str, Any]]) -> float:
    return median(result["runs"] / result["seconds"] for result in results
                  if "seconds" in result)


def exact(results: list[dict[str, Any]]) -> str:
    checked = [result for result in results if "problems" in result]
    problems = [problem for result in checked for problem in result["problems"]]
    return "-" if not checked else "; ".join(sorted(set(problems))) or "yes"


def face_row(results: list[dict[str, Any]], face: str, runs: int, bare: float) -> dict[str, Any]:
    stored = pick(results, kind="store", face=face, runs=runs)
    first, last = (median(result["tenths_us"][i] for result in stored) for i in (0, 1))
    size = median(result["file_bytes"] / runs for result in stored)
    return {"face": face, "runs": runs, "runs_per_s": rate(stored),
            "x_bare": rate(stored) / bare, "first_tenth_us": first, "last_tenth_us": last,
            "bytes_per_run": size, "x_payload": size / PAYLOAD_BYTES,
            "peak_mib": median(result["peak_mib"] for result in stored),
            "lag_ms": median(result["lag_ms"] for result in stored),
            **{f"lag_{phase}_ms": median(result["lag_phases_ms"][phase] for result in stored)
               for phase in ("open", "runs", "close")},
            "worst_lag_ms": max(result["lag_ms"] for result in stored),
            "exact": exact(pick(results, kind="load", face=face, runs=runs))}


def load_row(results: list[dict[str, Any]], how: str, runs: int, raw: float) -> dict[str, Any]:
    loads = pick(results, kind="load", face="put", how=how, runs=runs)
    skipped = [result["skipped"] for result in loads if "skipped" in result]
    return {"load": how, "runs": runs, "runs_per_s": rate(loads), "x_raw": rate(loads) / raw,
            "peak_mib": median(result.get("peak_mib", math.nan) for result in loads),
            "exact": exact(loads), "skipped": skipped[0] if skipped else None}


def summarize(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    faces, loads = [], []
    for runs in args.runs:
        bare = rate(pick(results, kind="bare", runs=runs))
        faces.append({"face": "bare", "runs": runs, "runs_per_s": bare, "x_bare": 1.0})
        faces += [face_row(results, face, runs, bare) for face in args.faces]
        if "put" in args.faces:
            raw = rate(pick(results, kind="load", how="raw", runs=runs))
            loads += [load_row(results, how, runs, raw) for how in LOADS]
    return {"faces": faces, "loads": loads}


def print_tables(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"W1 on aiostore's default configuration (AsyncStorageService(file)): result r = "
          f"{{z, arr: 100 float64, d: 3 scalars}}, 2 explored parameters, payload "
          f"{PAYLOAD_BYTES} B/run; medians of {args.repeats}; {os.cpu_count()} cores")
    print(f"\n{'face':<14}{'runs':>10}{'runs/s':>9}{'x bare':>8}{'us/run 1st':>11}"
          f"{'last 10th':>10}{'B/run':>8}{'x payload':>10}{'peak MiB':>9}{'lag ms':>8}{'worst':>8}"
          f"{'open/runs/close':>17}  exact")
    for row in summary["faces"]:
        name = "bare loop" if row["face"] == "bare" else FACES[row["face"]]
        line = f"{name:<14}{row['runs']:>10,}{row['runs_per_s']:>9,.0f}{row['x_bare']:>8.3f}"
        if row["face"] != "bare":
            line += (f"{row['first_tenth_us']:>11,.0f}{row['last_tenth_us']:>10,.0f}"
                     f"{row['bytes_per_run']:>8,.0f}{row['x_payload']:>10.2f}"
                     f"{row['peak_mib']:>9,.0f}{row['lag_ms']:>8.1f}{row['worst_lag_ms']:>8.1f}"
                     f"{lag_phases(row):>17}  {row['exact']}")
        print(line)
    if summary["loads"]:
        print(f"\n{'load (the put file)':<26}{'runs':>10}{'runs/s':>12}{'x raw':>7}"
              f"{'peak MiB':>9}  exact")
    for row in summary["loads"]:
        if row["skipped"]:
            print(f"{LOADS[row['load']]:<26}{row['runs']:>10,}  skipped: {row['skipped']}")
            continue
        print(f"{LOADS[row['load']]:<26}{row['runs']:>10,}{row['runs_per_s']:>12,.0f}"
              f"{row['x_raw']:>7.2f}{row['peak_mib']:>9,.0f}  {row['exact']}")


def lag_phases(row: dict[str, Any]) -> str:
    return "/".join(f"{row[f'lag_{phase}_ms']:.0f}" for phase in ("open", "runs", "close"))


def must_holds(summary: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Issue 18's must-holds at the largest size (its size: 200,000; the small one 20,000)."""
    big, small = max(args.runs), min(args.runs)
    checks: list[dict[str, Any]] = []

    def hold(what: str, value: float, limit: float, above: bool) -> None:
        passed = value >= limit if above else value <= limit
        checks.append({"what": what, "value": value, "limit": limit, "pass": bool(passed),
                       "sign": ">=" if above else "<="})

    rows = {(row["face"], row["runs"]): row for row in summary["faces"]}
    for face in args.faces:
        row, label = rows[face, big], f"{FACES[face]} at {big:,}"
        hold(f"{label}: stored runs/s / bare loop's", row["x_bare"], 0.2, True)
        if big != small:
            hold(f"{label}: runs/s / runs/s at {small:,}",
                 row["runs_per_s"] / rows[face, small]["runs_per_s"], 0.8, True)
        hold(f"{label}: file / payload", row["x_payload"], 1.5, False)
        hold(f"{label}: peak memory MiB (1.5 GB)", row["peak_mib"], 1.5e9 / 2**20, False)
        hold(f"{label}: worst loop lag ms", row["lag_ms"], 20.0, False)
        hold(f"{label}: loaded back exactly (1 = yes)", float(row["exact"] == "yes"), 1.0, True)
    for row in summary["loads"]:
        if row["runs"] == big and row["load"] != "raw" and not row["skipped"]:
            hold(f"{LOADS[row['load']]} at {big:,}: runs/s / raw PyTables'", row["x_raw"],
                 0.5 if row["load"] == "frame" else 0.25, True)
    return checks


def print_checks(checks: list[dict[str, Any]]) -> None:
    print("\nMust hold (issue 18; the sizes in the issue are 200,000 against 20,000):")
    for check in checks:
        print(f"  {'PASS' if check['pass'] else 'FAIL'}  {check['what']}: "
              f"{check['value']:,.3f} ({check['sign']} {check['limit']:,.4g})")


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for runs in args.runs:
            print(f"repeat {repeat + 1}/{args.repeats}, {runs:,} runs", file=sys.stderr)
            results += one_size(args, runs)
    return results


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="10000,100000", help="sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats (medians)")
    parser.add_argument("--faces", default="put,sweep,store", help="put, sweep, store (comma)")
    parser.add_argument("--tasks", type=int, default=50, help="tasks of the store face")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="scratch files")
    parser.add_argument("--json", help="write the figures and every measurement here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return args
    args.runs = sorted({int(size.replace("_", "")) for size in args.runs.split(",")})
    args.faces = [face.strip() for face in args.faces.split(",") if face.strip()]
    if not args.faces or any(face not in FACES for face in args.faces):
        parser.error(f"--faces takes {', '.join(FACES)}")
    if args.repeats < 1 or min(args.runs) < 100:
        parser.error("--repeats must be at least 1 and every size of --runs at least 100")
    return args


def plain(value: Any) -> Any:
    """``value`` with NaN as None: strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def main() -> None:
    args = parse()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    os.makedirs(args.dir, exist_ok=True)
    results = run_all(args)
    summary = summarize(results, args)
    checks = must_holds(summary, args)
    print_tables(summary, args)
    print_checks(checks)
    line = json.dumps(plain({"benchmark": "scale", "runs": args.runs, "repeats": args.repeats,
                             **summary, "must_hold": checks}))
    print(line)
    if args.json:
        with open(args.json, "w") as out:
            out.write(json.dumps({**json.loads(line), "measurements": plain(results)}) + "\n")


if __name__ == "__main__":
    main()
