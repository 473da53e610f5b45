"""Where the time goes between a store call and the appended row, for W1 (issue 18).

    python benchmarks/profile_w1.py [--runs 20000] [--layout default|packed|both]
                                    [--faces put,store] [--repeats 3] [--timed-repeats 3]
                                    [--small 2000] [--tasks 50] [--top 25] [--no-profile]
                                    [--micro 500] [--dir DIR] [--json OUT]

W1: a trajectory with two explored parameters (``x`` a float, ``y`` an int), and per run a
result ``r`` holding a float ``z``, 100 float64 ``arr`` and a dict ``d`` of 3 scalars (about
840 bytes of payload with the two parameter values). Each run is built as a user's loop builds
it (``traj.run(i)``, ``run.add_result(...)``, its data released once stored, as pypet does) and
stored with ``Msg.SINGLE_RUN`` on an ``AsyncStorageService`` in aiostore's default layout and
with ``packed_runs=True``, through two faces: ``put`` (``await put`` for every run from one
task, then ``await join()``) and ``store`` (``await store`` from ``--tasks`` tasks).

Every measurement runs in a fresh process (this script re-run with ``--child``), one after
another and interleaved (layouts and faces in turn within each repeat), because this machine is
shared and noisy; the tables show medians. The trajectory's own store (the run table) is left
out: the figures cover the runs only, from the first ``put``/``store`` to the last
acknowledgement (``runs/s``); ``w/open`` adds opening the file, the trajectory's store and
closing.

1. **plain**: nothing instrumented but a counter per batch and per flush. runs/s, batch sizes
   (runs per batch the HDF5 thread takes), flushes and fsyncs, file bytes per run, the cost
   per run in the first and last tenth of the runs, CPU per thread; ``--small`` runs the same
   at a smaller size (is the per-run cost flat?). Also the user's bare loop (building the runs,
   no storage): the ceiling; and the same planning and engine work in one thread, without the
   event loop, the queue or the GIL's handoffs (``engine``: batches of 500 planned, then
   ``Engine.execute`` each and flush).
2. **timed**: the functions on the path are wrapped (by patching this process's modules, the
   package is not changed) with timers that read ``time.perf_counter`` (wall) and
   ``time.thread_time`` (CPU of the calling thread) and charge each stage its exclusive time
   (a wrapped callee's time goes to the callee). Per run, for each thread: the caller's thread
   (the event loop: the user's part, snapshot, planning, codec, queueing, handoff) and the
   HDF5 thread (journal, space guard, writing, packing, run table, flush and fsync,
   acknowledgements). PyTables calls are charged to the aiostore stage that made them
   (``PyTables ... [in stage]``). ``rest`` is the thread's CPU not inside any stage (for the
   caller: the event loop, coroutines, anyio). The wrappers cost one to two microseconds each:
   calibrated in the same process, printed and subtracted; the thread's CPU in the plain runs
   is printed beside the total (the timed runs still come out some 15-40% above it: read the
   stages as shares). Wall times include waits for the GIL held by the other thread, CPU times
   do not.
3. **profile**: ``cProfile.Profile`` in each thread (the caller's thread around the runs, the
   HDF5 thread around each batch it executes): cumulative microseconds per run of the key
   functions, and the top ``--top`` functions by own time, per thread. cProfile's clock is
   wall time: a function during which the thread lost the GIL (``time.sleep``, a socket
   ``send``, ``select``'s poll) carries the other thread's work.
4. **micro** (``--micro N``): the per-run operations of the path done one store at a time and
   a batch of N at a time, in one thread: planning and encoding against a numpy structured
   row, a journal record per store against one per batch (of the requests, or of the rows),
   ``writev``, ``Table.append`` of a row against a batch of rows, and a lookup of a missing
   run group by ``File.get_node`` against a look in the group's children.

Both threads share the GIL, so the rate is about 1e6 / (caller CPU + HDF5 CPU) per run: every
microsecond of either thread counts (column ``ceil``).

Scratch files go to ``--dir`` (default ``$TMPDIR/profile_w1``) and are removed after each
measurement (the default layout takes about 9 kB per run).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import cProfile
import functools
import json
import math
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import types
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
from faces import release, run_child  # beside this file: the user's part after a store, as W1 does it

import aiostore._core.handoff as handoff_module
import aiostore._core.planning as planning_module
import aiostore._core.worker as worker_module
import aiostore.engine.durability.journal as journal_module
import aiostore.engine.filetable as filetable_module
import aiostore.engine.layout as layout_module
import aiostore.engine.nodes as nodes_module
import aiostore.engine.runs as runs_module
import aiostore.engine.writing as writing_module
import aiostore.service as service_module
from aiostore import AsyncStorageService, Msg, Trajectory
from aiostore._core.session import Session
from aiostore._core.tracking import Tracker
from aiostore._core.worker import THREAD_NAME, Worker
from aiostore.engine import Engine
from aiostore.engine.durability.journal import Journal
from aiostore.engine.durability.undo import UndoLog
from aiostore.engine.files import OpenFile
from aiostore.engine.filetable import FileTable
from aiostore.engine.packing import PackedRuns

TOP_LEVEL = "(top-level wrapped calls)"
PAYLOAD_BYTES = 8 + 100 * 8 + (8 + 8 + 1) + 8 + 8  # z, arr, d (f8, i8, bool), x, y
FACES = {"put": "put + join", "store": "await store"}

# ------------------------------------------------------------------------------- workload


def build_sweep(runs: int) -> Trajectory:
    traj = Trajectory("w1", comment="profile_w1")
    traj.add_parameter("x", 0.0)
    traj.add_parameter("y", 0)
    traj.explore({"x": [index * 0.001 for index in range(runs)],
                  "y": [index % 97 for index in range(runs)]})
    return traj


def build_run(traj: Trajectory, index: int) -> Any:
    """The user's part: a view of run ``index`` and its result."""
    run = traj.run(index)
    run.add_result("r", z=run["x"] * run["y"], arr=np.linspace(0.0, 1.0, 100) + index,
                   d={"a": 0.5, "b": index, "c": True})
    return run


# ---------------------------------------------------------------------- stage timers


class Recorder:
    """Exclusive wall and CPU time per (thread, stage), from wrapped functions."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.totals: dict[tuple[str, str], list[float]] = {}
        self.active = False

    def _stack(self) -> tuple[str, list[list[Any]]]:
        state = getattr(self.local, "state", None)
        if state is None:
            thread = threading.current_thread()
            role = ("caller" if thread is threading.main_thread()
                    else "hdf5" if thread.name == THREAD_NAME else "other")
            state = self.local.state = (role, [])
        return state

    def wrap(self, func: Callable[..., Any], label: str, contextual: bool = False) -> Any:
        perf, cpu, totals, recorder = time.perf_counter, time.thread_time, self.totals, self

        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not recorder.active:
                return func(*args, **kwargs)
            role, stack = recorder._stack()
            context = stack[-1][2] if stack else ""
            name = f"{label} [in {context}]" if contextual and context else label
            frame: list[Any] = [0.0, 0.0, context if contextual and context else label, 0]
            stack.append(frame)
            wall0, cpu0 = perf(), cpu()
            try:
                return func(*args, **kwargs)
            finally:
                cpu1, wall1 = cpu(), perf()
                stack.pop()
                wall, used = wall1 - wall0, cpu1 - cpu0
                if stack:
                    stack[-1][0] += wall
                    stack[-1][1] += used
                    stack[-1][3] += 1
                else:
                    top = totals.get((role, TOP_LEVEL))
                    if top is None:
                        top = totals[role, TOP_LEVEL] = [0.0, 0.0, 0, 0]
                    top[2] += 1
                entry = totals.get((role, name))
                if entry is None:
                    entry = totals[role, name] = [0.0, 0.0, 0, 0]
                entry[0] += wall - frame[0]
                entry[1] += used - frame[1]
                entry[2] += 1
                entry[3] += frame[3]

        return timed

    def calibrate(self, calls: int = 20000, trials: int = 5) -> dict[str, float]:
        """What a wrapped call adds to its own stage (``self``) and to its caller's stage
        (``parent``), in microseconds of wall and CPU time: medians of ``trials``."""
        def nothing() -> None:
            return None

        inner = self.wrap(nothing, "calibration: inner")

        def with_wrapped() -> None:
            for _ in range(calls):
                inner()

        def with_plain() -> None:
            for _ in range(calls):
                nothing()

        outer = self.wrap(with_wrapped, "calibration: outer")
        plain = self.wrap(with_plain, "calibration: plain")
        was, self.active = self.active, True
        found: dict[str, list[float]] = {"self_wall": [], "self_cpu": [], "parent_wall": [],
                                         "parent_cpu": []}
        for _ in range(trials):
            for key in [key for key in self.totals if key[1].startswith("calibration")]:
                del self.totals[key]
            outer()
            plain()
            role = self._stack()[0]
            mine, theirs, base = (self.totals[role, f"calibration: {name}"]
                                  for name in ("inner", "outer", "plain"))
            found["self_wall"].append(mine[0] / calls * 1e6)
            found["self_cpu"].append(mine[1] / calls * 1e6)
            found["parent_wall"].append((theirs[0] - base[0]) / calls * 1e6)
            found["parent_cpu"].append((theirs[1] - base[1]) / calls * 1e6)
        self.active = was
        for key in [key for key in self.totals if key[1].startswith("calibration")]:
            del self.totals[key]
        return {key: statistics.median(values) for key, values in found.items()}


def _patch(owner: Any, name: str, make: Callable[[Callable[..., Any]], Any]) -> None:
    raw = owner.__dict__[name]
    if isinstance(raw, classmethod):
        setattr(owner, name, classmethod(make(raw.__func__)))
    else:
        setattr(owner, name, make(raw))


def _single_run_planner(recorder: Recorder) -> None:
    """Wrap the SINGLE_RUN planner so that its job's ``finish`` is timed too."""
    planner = planning_module.STORE_PLANNERS[Msg.SINGLE_RUN]

    @functools.wraps(planner)
    def plan(*args: Any, **kwargs: Any) -> Any:
        job = planner(*args, **kwargs)
        job.finish = recorder.wrap(job.finish, "finish: mark stored, run info")
        return job

    planning_module.STORE_PLANNERS[Msg.SINGLE_RUN] = plan


# (owner, attribute, stage label, contextual); the labels name the thread's part of the path
STAGES: list[tuple[Any, str, str, bool]] = [
    # the caller's thread
    (sys.modules[__name__], "build_run", "user: traj.run + add_result", False),
    (sys.modules[__name__], "release", "user: release the stored run", False),
    (service_module, "_snapshot_bytes", "snapshot: size check (item._store())", False),
    (Session, "plan", "planning: plan_store, leaf_record, Call...", False),
    (Trajectory, "parameter_summary", "planning: parameter_summary", False),
    (planning_module, "encode", "codec: encode (per value)", False),
    (Session, "ticket", "queue: Ticket() (abspath, nbytes)", False),
    (Worker, "offer", "queue: Worker.offer (lock, notify)", False),
    (Session, "track", "queue: Session.track (put)", False),
    (service_module, "label", "queue: label (put)", False),
    (handoff_module, "loop_notifier", "handoff: loop_notifier (store)", False),
    (handoff_module._Inbox, "_deliver", "handoff: deliver completions", False),
    # the HDF5 thread
    (Worker, "_execute", "worker: batch loop", False),
    (Worker, "_release", "worker: release a job", False),
    (Engine, "execute", "engine: execute (dispatch, watching)", False),
    (Engine, "_write_items", "engine: _write_items (file, journal lookup)", False),
    (FileTable, "claim", "space guard: claim", False),
    (writing_module, "planned_creations", "journal: planned_creations", False),
    (Journal, "begin", "journal: begin", False),
    (Journal, "_append", "journal: _append (crc32, framing)", False),
    (Journal, "_keep_room", "journal: keep room (fallocate)", False),
    (journal_module, "_write_all", "journal: write record (writev)", False),
    (writing_module, "write_items", "write_items: loop, undo log", False),
    (writing_module, "check", "write_items: check", False),
    (UndoLog, "commit", "write_items: undo commit", False),
    (PackedRuns, "of", "packing: PackedRuns.of", False),
    (PackedRuns, "table_for", "packing: table_for (row_layout, fits)", False),
    (PackedRuns, "append", "packing: append (row build)", False),
    (writing_module, "write_leaf", "nodes: write_leaf (leaf group)", False),
    (writing_module, "ensure_group", "nodes: ensure_group (run group)", False),
    (nodes_module, "write_value", "nodes: write_value (a node per value)", False),
    (nodes_module, "write_leaf_attrs", "nodes: leaf attributes", False),
    (writing_module, "_write_runs", "run table: _write_runs", False),
    (runs_module, "defer_rows", "run table: defer row", False),
    (runs_module, "write_deferred", "run table: write rows (per batch)", False),
    (FileTable, "flush", "flush: FileTable.flush", False),
    (OpenFile, "flush", "flush: HDF5 flush", False),
    (Journal, "sync", "flush: journal fdatasync", False),
    (filetable_module, "fsync_path", "flush: file fsync (checkpoint)", False),
    (Journal, "checkpoint", "flush: journal checkpoint", False),
    (Tracker, "_settle", "ack: Tracker._settle (put)", False),
    (handoff_module._Inbox, "post", "ack: post to the loop (store)", False),
    (concurrent.futures.Future, "set_result", "ack: Future.set_result", True),
    # PyTables and lookups, charged to the stage that calls them
    (layout_module, "get_node", "lookup: layout.get_node", True),
    (layout_module, "child", "lookup: layout.child", True),
]


def _pytables_stages() -> list[tuple[Any, str, str, bool]]:
    import tables

    return [(tables.File, "get_node", "PyTables File.get_node", True),
            (tables.File, "create_group", "PyTables create_group", True),
            (tables.File, "create_array", "PyTables create_array", True),
            (tables.File, "create_carray", "PyTables create_carray", True),
            (tables.File, "create_table", "PyTables create_table", True),
            (tables.Table, "append", "PyTables Table.append", True)]


def _wrap_as(recorder: Recorder, label: str, contextual: bool, func: Callable[..., Any]) -> Any:
    return recorder.wrap(func, label, contextual)


def install_stages(recorder: Recorder) -> None:
    for owner, name, label, contextual in [*STAGES, *_pytables_stages()]:
        _patch(owner, name, functools.partial(_wrap_as, recorder, label, contextual))
    # the journal's pickling and the worker's GIL yields go through their modules' imports
    dumps = recorder.wrap(journal_module.pickle.dumps, "journal: pickle record")
    journal_module.pickle = types.SimpleNamespace(  # type: ignore[assignment]
        dumps=dumps, loads=journal_module.pickle.loads,
        PickleBuffer=journal_module.pickle.PickleBuffer)
    sleep = recorder.wrap(time.sleep, "worker: sleep(0), the loop runs")
    worker_module.time = types.SimpleNamespace(  # type: ignore[assignment]
        perf_counter=time.perf_counter, monotonic=time.monotonic, sleep=sleep)
    _single_run_planner(recorder)


# ------------------------------------------------------------------- batches and flushes


class Batches:
    """Runs per batch, the HDF5 thread's CPU and when each batch ended; flushes and syncs."""

    def __init__(self, profile: bool) -> None:
        self.active = False
        self.sizes: list[int] = []
        self.ends: list[tuple[float, int]] = []  # (perf_counter at its end, jobs so far)
        self.cpu = 0.0
        self.counts: Counter[str] = Counter()
        self.profiler: cProfile.Profile | None = None
        self.profile = profile
        self._install()

    def _install(self) -> None:
        batches = self

        def execute(original: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(original)
            def run(worker: Worker, batch: list[Any]) -> Any:
                if not batches.active:
                    return original(worker, batch)
                if batches.profile and batches.profiler is None:
                    batches.profiler = cProfile.Profile()
                started = time.thread_time()
                if batches.profiler is not None:
                    batches.profiler.enable()
                try:
                    return original(worker, batch)
                finally:
                    if batches.profiler is not None:
                        batches.profiler.disable()
                    batches.cpu += time.thread_time() - started
                    batches.sizes.append(len(batch))
                    batches.ends.append((time.perf_counter(), sum(batches.sizes)))

            return run

        def counting(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                @functools.wraps(original)
                def counted(*args: Any, **kwargs: Any) -> Any:
                    if batches.active:
                        batches.counts[what] += 1
                    return original(*args, **kwargs)

                return counted

            return make

        _patch(Worker, "_execute", execute)
        _patch(OpenFile, "flush", counting("HDF5 flushes"))
        _patch(Journal, "sync", counting("journal fdatasyncs"))
        _patch(filetable_module, "fsync_path", counting("file fsyncs"))
        _patch(Journal, "checkpoint", counting("journal checkpoints"))


# ------------------------------------------------------------------------------ children


def cpu_pressure() -> float:
    """Microseconds some task of this machine has waited for a CPU since boot (NaN if unknown)."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            return float(pressure.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return float("nan")


class Probe:
    """Turns the instruments on for the runs, and reads each thread's CPU."""

    def __init__(self, mode: str, recorder: Recorder | None, batches: Batches) -> None:
        self.mode = mode
        self.recorder = recorder
        self.batches = batches
        self.profiler = cProfile.Profile() if mode == "profile" else None
        self.cpu = 0.0
        self.wall = 0.0
        self.pressure = 0.0

    def start(self) -> None:
        if self.recorder is not None:
            self.recorder.totals.clear()
            self.recorder.active = True
        self.batches.active = True
        self.cpu = time.thread_time()
        self.wall = time.perf_counter()
        self.pressure = cpu_pressure()
        if self.profiler is not None:
            self.profiler.enable()

    def stop(self) -> None:
        if self.profiler is not None:
            self.profiler.disable()
        self.cpu = time.thread_time() - self.cpu
        self.pressure = (cpu_pressure() - self.pressure) / 1e6 / (time.perf_counter() - self.wall)
        self.batches.active = False
        if self.recorder is not None:
            self.recorder.active = False


async def store_sweep(spec: dict[str, Any], probe: Probe) -> dict[str, float]:
    runs, tasks = spec["runs"], spec["tasks"]
    traj = build_sweep(runs)
    opened = time.perf_counter()
    async with AsyncStorageService(spec["file"], packed_runs=spec["layout"] == "packed") as svc:
        await svc.store(Msg.TRAJECTORY, traj)
        await anyio.sleep(0.05)  # the HDF5 thread idles: the trajectory's store stays out
        probe.start()
        started = time.perf_counter()
        if spec["face"] == "put":
            for index in range(runs):
                run = build_run(traj, index)
                await svc.put(Msg.SINGLE_RUN, run)
                release(run)
            await svc.join()
        else:
            async def worker(first: int) -> None:
                for index in range(first, runs, tasks):
                    run = build_run(traj, index)
                    await svc.store(Msg.SINGLE_RUN, run)
                    release(run)

            async with anyio.create_task_group() as group:
                for first in range(tasks):
                    group.start_soon(worker, first)
        ended = time.perf_counter()
        probe.stop()
    closed = time.perf_counter()
    return {"started": started, "seconds": ended - started, "total_seconds": closed - opened}


def engine_loop(spec: dict[str, Any]) -> dict[str, float]:
    """The same work in one thread, without the event loop, the queue or the GIL's handoffs:
    each batch of 500 runs built and planned, then executed by the engine and flushed."""
    from aiostore._core.planning import Defaults, plan_store

    runs = spec["runs"]
    traj = build_sweep(runs)
    defaults = Defaults(spec["file"], trajectory_name="w1",
                        packed_runs=spec["layout"] == "packed")
    engine = Engine()
    engine.execute(plan_store(Msg.TRAJECTORY, traj, (), {}, defaults).request)
    engine.flush()
    parts = dict.fromkeys(("user", "plan", "execute", "flush"), 0.0)
    started = time.perf_counter()
    for first in range(0, runs, 500):
        requests = []
        for index in range(first, min(first + 500, runs)):
            before = time.perf_counter()
            run = build_run(traj, index)
            built = time.perf_counter()
            requests.append(plan_store(Msg.SINGLE_RUN, run, (), {}, defaults).request)
            planned = time.perf_counter()
            release(run)
            parts["user"] += built - before + time.perf_counter() - planned
            parts["plan"] += planned - built
        before = time.perf_counter()
        for request in requests:
            engine.execute(request)
        executed = time.perf_counter()
        engine.flush()
        parts["execute"] += executed - before
        parts["flush"] += time.perf_counter() - executed
    seconds = time.perf_counter() - started
    engine.close()
    return {"started": started, "seconds": seconds, "total_seconds": seconds, **parts}


def bare_loop(runs: int) -> dict[str, float]:
    """The user's loop without storage: the ceiling of any storage."""
    traj = build_sweep(runs)
    started = time.perf_counter()
    for index in range(runs):
        release(build_run(traj, index))
    seconds = time.perf_counter() - started
    return {"started": started, "seconds": seconds, "total_seconds": seconds}


def _short(key: tuple[str, int, str]) -> str:
    filename, line, function = key
    if filename == "~":
        return function
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{function} ({filename}:{line})"


# (where the function's file ends, its name) of the functions whose cumulative time is shown
KEY_FUNCTIONS: list[tuple[str, str]] = [
    ("profile_w1.py", "build_run"), ("service.py", "_plan"), ("service.py", "_snapshot_bytes"),
    ("session.py", "plan"), ("planning.py", "store_single_run"), ("planning.py", "leaf_record"),
    ("codec/__init__.py", "encode"), ("model.py", "parameter_summary"),
    ("session.py", "ticket"), ("worker.py", "offer"), ("handoff.py", "queue_ticket"),
    ("handoff.py", "wait_future"), ("session.py", "track"), ("handoff.py", "_deliver"),
    ("asyncio/base_events.py", "_run_once"), ("~", "<method 'poll' of 'select.epoll' objects>"),
    ("worker.py", "_execute"), ("engine/__init__.py", "execute"),
    ("engine/__init__.py", "_write_items"), ("filetable.py", "claim"),
    ("writing.py", "planned_creations"), ("journal.py", "begin"), ("journal.py", "_append"),
    ("~", "<built-in method _pickle.dumps>"), ("journal.py", "_write_all"),
    ("writing.py", "write_items"), ("writing.py", "check"), ("packing.py", "of"),
    ("packing.py", "table_for"), ("packing.py", "append"), ("writing.py", "write_leaf"),
    ("writing.py", "ensure_group"), ("nodes.py", "write_value"), ("nodes.py", "write_leaf_attrs"),
    ("runs.py", "defer_rows"), ("runs.py", "write_deferred"), ("tables/table.py", "append"),
    ("tables/file.py", "get_node"), ("tables/file.py", "create_group"),
    ("diagnostics.py", "watching"), ("filetable.py", "flush"), ("files.py", "flush"),
    ("~", "<built-in method posix.fdatasync>"), ("~", "<built-in method posix.fsync>"),
    ("worker.py", "_release"), ("~", "<built-in method time.sleep>"),
    ("concurrent/futures/_base.py", "set_result"), ("tracking.py", "_settle"),
    ("handoff.py", "post"),
]


def profile_summary(profiler: cProfile.Profile | None, runs: int, top: int) -> dict[str, Any]:
    if profiler is None:
        return {"top": [], "keys": []}
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    per_run = 1e6 / runs
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    top_rows = [[_short(key), nc / runs, tt * per_run, ct * per_run]
                for key, (_, nc, tt, ct, _) in ranked]
    keys = []
    for suffix, function in KEY_FUNCTIONS:
        calls = cumulative = 0.0
        for (filename, _, name), (_, nc, _, ct, _) in stats.items():
            if name == function and (filename == suffix if suffix == "~"
                                     else filename.endswith("/" + suffix)):
                calls, cumulative = calls + nc, cumulative + ct
        if calls:
            keys.append([f"{suffix.rsplit('/', 1)[-1]}:{function}", calls / runs,
                         cumulative * per_run])
    return {"top": top_rows, "keys": keys}


def peak_resident_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_face(spec: dict[str, Any], probe: Probe) -> tuple[dict[str, float], int]:
    """Run the measurement ``spec`` names; its timings and the file's size (then removed)."""
    if spec["face"] == "bare":
        probe.start()
        timing = bare_loop(spec["runs"])
        probe.stop()
        return timing, 0
    try:
        if spec["face"] == "engine":
            probe.start()
            timing = engine_loop(spec)
            probe.stop()
        else:
            timing = anyio.run(store_sweep, spec, probe)
    finally:
        size = os.path.getsize(spec["file"]) if os.path.exists(spec["file"]) else 0
        for path in (spec["file"], spec["file"] + ".aiostore-journal"):
            if os.path.exists(path):
                os.remove(path)
    return timing, size


def child(spec: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # PyTables' PerformanceWarning past 16,384 children
    mode, runs = spec["mode"], spec["runs"]
    if mode == "micro":
        return micro(spec)
    recorder = Recorder() if mode == "timed" else None
    if recorder is not None:
        install_stages(recorder)
    batches = Batches(profile=mode == "profile")
    probe = Probe(mode, recorder, batches)
    calibration = recorder.calibrate() if recorder is not None else None
    timing, size = run_face(spec, probe)
    result: dict[str, Any] = {**spec, **timing,
                              "total_seconds": timing["total_seconds"],
                              "caller_cpu": probe.cpu, "hdf5_cpu": batches.cpu,
                              "batches": batches.sizes, "counts": dict(batches.counts),
                              "peak_mib": peak_resident_mib(), "stall": probe.pressure}
    if spec["face"] != "bare":
        result["file_bytes"] = size
    if spec["face"] not in ("bare", "engine"):
        # the cost per run over the first and the last tenth of the runs, from the batches
        # whose acknowledgements come nearest those tenths
        ends = [(ended - timing["started"], done) for ended, done in batches.ends]
        first = next(((t, done) for t, done in ends if done >= runs / 10), None)
        last = [(t, done) for t, done in ends if done <= runs * 0.9]
        result["tenths"] = [first[0] / first[1] if first else None,
                            (ends[-1][0] - last[-1][0]) / (ends[-1][1] - last[-1][1])
                            if last and ends[-1][1] > last[-1][1] else None]
    if recorder is not None:
        result["stages"] = [[role, label, *values] for (role, label), values
                            in recorder.totals.items()]
        result["calibration"] = calibration
    if mode == "profile":
        result["profile"] = {"caller": profile_summary(probe.profiler, runs, spec["top"]),
                             "hdf5": profile_summary(batches.profiler, runs, spec["top"])}
    return result


# --------------------------------------------------------------------------- micro-benchmarks


def _per_item_us(function: Callable[[], object], count: int, trials: int = 7) -> float:
    """Median microseconds per item of ``function``, which handles ``count`` items."""
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times) / count * 1e6


def micro(spec: dict[str, Any]) -> dict[str, Any]:
    """The per-run operations of the path, one at a time and a batch at a time (one thread)."""
    from aiostore._core.names import run_name
    from aiostore._core.planning import Defaults, leaf_record, plan_store
    from aiostore.engine.packing import row_layout

    batch = spec["batch"]
    traj = build_sweep(batch)
    runs = [build_run(traj, index) for index in range(batch)]
    leaves = [run.new_items[0] for run in runs]
    defaults = Defaults(spec["file"], trajectory_name="w1", packed_runs=True)
    found: dict[str, float] = {}

    def plan_all() -> list[Any]:
        return [plan_store(Msg.SINGLE_RUN, run, (), {}, defaults).request for run in runs]

    found["caller: plan_store per run (all planning)"] = _per_item_us(plan_all, batch)
    found["caller: leaf_record per run (snapshot + encode)"] = _per_item_us(
        lambda: [leaf_record(leaf) for leaf in leaves], batch)
    row_type = row_layout(leaf_record(leaves[0]))[0]  # type: ignore[index]

    def values(index: int, leaf: Any) -> tuple[Any, ...]:
        data = leaf.data
        return (index, data["z"], data["arr"], tuple(data["d"].values()))

    found["caller: a structured row per run (np.array)"] = _per_item_us(
        lambda: [np.array([values(i, leaf)], dtype=row_type) for i, leaf in enumerate(leaves)],
        batch)
    found["caller: structured rows, one array per batch"] = _per_item_us(
        lambda: np.array([values(i, leaf) for i, leaf in enumerate(leaves)], dtype=row_type),
        batch)
    found["caller: os.path.abspath (a Ticket per store)"] = _per_item_us(
        lambda: [os.path.abspath(spec["file"]) for _ in range(batch)], batch)
    rows = np.array([values(i, leaf) for i, leaf in enumerate(leaves)], dtype=row_type)
    creates: list[tuple[str, ...]] = [(f"/w1/results/runs/{run_name(index)}",)
                                      for index in range(batch)]
    found.update(_micro_journal(spec["file"] + ".scratch", plan_all(), creates, rows))
    found.update(_micro_hdf5(spec["file"], rows))
    return {"batch": batch, "micro": found}


def _pickled(record: Any) -> list[Any]:
    """A journal record as the journal writes it: the pickle, and its arrays out of band."""
    import pickle

    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(record, protocol=5, buffer_callback=buffers.append)
    return [payload, *(buffer.raw() for buffer in buffers)]


def _micro_journal(scratch: str, requests: list[Any], creates: list[tuple[str, ...]],
                   rows: np.ndarray) -> dict[str, float]:
    batch = len(requests)
    run_rows = np.zeros(batch, dtype=runs_module.RUN_ROW)
    found = {
        "journal: pickle a record per store": _per_item_us(
            lambda: [_pickled(("store", n, request, creates[n]))
                     for n, request in enumerate(requests)], batch),
        "journal: pickle one record per batch (the requests)": _per_item_us(
            lambda: _pickled(("stores", 0, requests, creates)), batch),
        "journal: pickle one record per batch (as rows)": _per_item_us(
            lambda: _pickled(("rows", 0, rows, run_rows)), batch),
    }
    records = [_pickled(("store", n, request, creates[n])) for n, request in enumerate(requests)]
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        def write_each() -> None:
            os.lseek(descriptor, 0, os.SEEK_SET)
            for parts in records:
                os.writev(descriptor, parts)

        def write_batch() -> None:
            os.lseek(descriptor, 0, os.SEEK_SET)
            flat = [part for parts in records for part in parts]
            for start in range(0, len(flat), 512):
                os.writev(descriptor, flat[start:start + 512])

        found["journal: writev per store"] = _per_item_us(write_each, batch)
        found["journal: writev per batch"] = _per_item_us(write_batch, batch)
    finally:
        os.close(descriptor)
        os.remove(scratch)
    return found


def _micro_hdf5(filename: str, rows: np.ndarray) -> dict[str, float]:
    import tables

    from aiostore._core.names import run_name

    batch = len(rows)
    found = {}
    with tables.open_file(filename, "w", pytables_sys_attrs=False) as h5:
        table = h5.create_table("/", "p", description=rows.dtype, expectedrows=10_000)
        singles = [rows[index:index + 1] for index in range(batch)]

        def append_each() -> None:
            for row in singles:
                table.append(row)
            table.flush()

        def append_batch() -> None:
            table.append(rows)
            table.flush()

        found["hdf5: Table.append a row per store (+ flush)"] = _per_item_us(append_each, batch)
        found["hdf5: Table.append a batch's rows at once (+ flush)"] = _per_item_us(
            append_batch, batch)
        group = h5.create_group(h5.create_group("/", "w1"), "runs")
        for index in range(0, 2 * batch, 2):
            h5.create_group(group, run_name(index))
        missing = [f"/w1/runs/{run_name(index)}" for index in range(1, 2 * batch, 2)]

        def get_missing() -> None:
            for where in missing:
                with contextlib.suppress(tables.NoSuchNodeError):
                    h5.get_node(where)

        found["hdf5: File.get_node of a missing run group"] = _per_item_us(get_missing, batch)
        found["hdf5: name in group._v_children instead"] = _per_item_us(
            lambda: [where.rsplit("/", 1)[1] in group._v_children for where in missing], batch)
    os.remove(filename)
    return found


def print_micro(result: dict[str, Any]) -> None:
    print(f"\n4. The same operations one store at a time and a batch at a time (one thread, "
          f"batches of {result['batch']}, medians of 7): microseconds per run")
    for label, value in result["micro"].items():
        print(f"   {label:<56}{value:9.2f}")


# -------------------------------------------------------------------------------- parent


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    what = f"{spec['mode']} {spec['layout']}/{spec['face']} {spec['runs']} runs"
    result = run_child(__file__, spec, what)
    if "seconds" in result:
        print(f"    {result['runs'] / result['seconds']:,.0f} runs/s", file=sys.stderr, flush=True)
    return result


def _median(values: list[float]) -> float:
    values = [value for value in values if not math.isnan(value)]
    return statistics.median(values) if values else float("nan")


def _us(result: dict[str, Any]) -> float:
    return float(result["seconds"] / result["runs"] * 1e6)


def _tenth_us(result: dict[str, Any], which: int) -> float:
    value = (result.get("tenths") or [None, None])[which]
    return float("nan") if value is None else value * 1e6


def _cpu_us(result: dict[str, Any]) -> float:
    return float((result["caller_cpu"] + result["hdf5_cpu"]) / result["runs"] * 1e6)


def print_throughput(plain: dict[tuple[str, str, int], list[dict[str, Any]]],
                     bare: list[dict[str, Any]], runs: int, small: int) -> None:
    bare_rate = _median([r["runs"] / r["seconds"] for r in bare])
    print(f"\n1. Throughput, nothing instrumented (medians of {len(bare)}; each repeat's runs/s "
          "in brackets)")
    print(f"   the user's bare loop (build + release, no storage): {bare_rate:,.0f} runs/s "
          f"({1e6 / bare_rate:.1f} us/run)")
    print(f"   {'layout/face':<14}{'runs':>6}{'runs/s':>7}{'us/run':>7}{'x bare':>7}{'w/open':>7}"
          f"{'CPU us/run':>17}{'ceil':>6}{'stall':>6}{'batch':>6}{'runs/batch':>16}"
          f"{'flush':>6}{'fdsync':>7}{'fsync':>6}{'B/run':>7}{'xpay':>6}{'tenths us/run':>14}  repeats")
    print(f"   {'':<47}{'caller+hdf5=sum':>17}{'r/s':>6}{'%':>6}{'es':>6}{'med/mean/max':>16}"
          f"{'':<38}{'1st/last':>14}")
    for (layout, face, size), results in plain.items():
        rates = [r["runs"] / r["seconds"] for r in results]
        rate = _median(rates)
        total = _median([r["runs"] / r["total_seconds"] for r in results])
        caller = _median([r["caller_cpu"] / r["runs"] * 1e6 for r in results])
        hdf5 = _median([r["hdf5_cpu"] / r["runs"] * 1e6 for r in results])
        cpu = _median([_cpu_us(r) for r in results])
        stall = _median([r.get("stall", float("nan")) * 100 for r in results])
        sizes = [s for r in results for s in r["batches"]]
        counts = {key: _median([r["counts"].get(key, 0) for r in results])
                  for key in ("HDF5 flushes", "journal fdatasyncs", "file fsyncs")}
        per_run_bytes = _median([r["file_bytes"] / r["runs"] for r in results])
        first = _median([_tenth_us(r, 0) for r in results])
        last = _median([_tenth_us(r, 1) for r in results])
        print(f"   {layout + '/' + face:<14}{size:>6}{rate:>7,.0f}{1e6 / rate:>7.0f}"
              f"{rate / bare_rate:>7.3f}{total:>7,.0f}{caller:>6.0f}+{hdf5:>4.0f}={cpu:>5.0f}"
              f"{1e6 / cpu:>6,.0f}{stall:>6.0f}{_median([len(r['batches']) for r in results]):>6.0f}"
              f"{statistics.median(sizes):>6.0f}/{statistics.mean(sizes):>5.1f}/{max(sizes):>4}"
              f"{counts['HDF5 flushes']:>6.0f}{counts['journal fdatasyncs']:>7.0f}"
              f"{counts['file fsyncs']:>6.0f}{per_run_bytes:>7,.0f}{per_run_bytes / PAYLOAD_BYTES:>6.2f}"
              f"{first:>7.0f}/{last:<6.0f}  [{', '.join(f'{value:,.0f}' for value in rates)}]")
    print(f"   payload {PAYLOAD_BYTES} B/run (z, arr, d and the two parameter values). w/open: "
          "runs/s counting the file's opening, the trajectory's store and closing too. CPU: each "
          "thread's CPU per run (time.thread_time); ceil: 1e6/sum, the rate if the two threads, "
          "serialized by the GIL, always had a core; stall: share of the time some task of the "
          "machine waited for a CPU (/proc/pressure/cpu)")
    if small:
        print(f"\n   per-run cost at {small:,} vs {runs:,} runs (medians; wall us/run, and CPU "
              "us/run of both threads):")
        for layout in sorted({key[0] for key in plain}):
            for face in FACES:
                at_small = plain.get((layout, face, small))
                at_big = plain.get((layout, face, runs))
                if at_small and at_big:
                    a, b = _median([_us(r) for r in at_small]), _median([_us(r) for r in at_big])
                    ca = _median([_cpu_us(r) for r in at_small])
                    cb = _median([_cpu_us(r) for r in at_big])
                    print(f"   {layout + '/' + face:<15} wall {a:6.0f} at {small:,}, {b:6.0f} at "
                          f"{runs:,} (x{b / a:4.2f});  CPU {ca:6.0f} at {small:,}, {cb:6.0f} at "
                          f"{runs:,} (x{cb / ca:4.2f})")


def print_isolated(isolated: dict[str, list[dict[str, Any]]]) -> None:
    print("\n   the same in one thread, without event loop, queue or GIL handoffs (build and plan "
          "500 runs, then Engine.execute each and flush): us/run, medians")
    for layout, results in isolated.items():
        if not results:
            continue
        parts = {key: _median([r[key] / r["runs"] * 1e6 for r in results])
                 for key in ("user", "plan", "execute", "flush")}
        rate = _median([r["runs"] / r["seconds"] for r in results])
        print(f"   {layout + '/engine':<15} {rate:7,.0f} runs/s = "
              + " + ".join(f"{key} {value:.0f}" for key, value in parts.items())
              + " us/run  [" + ", ".join(f"{r['runs'] / r['seconds']:,.0f}" for r in results) + "]")


def _corrected(result: dict[str, Any], role: str) -> dict[str, list[float]]:
    """The stages of ``role``'s thread in ``result``, per run: [cpu, wall, calls] in us, less
    what the wrappers themselves cost (calibrated in the same process); and ``rest``, ``cpu``."""
    cal, runs = result["calibration"], result["runs"]
    stages: dict[str, list[float]] = {}
    raw_cpu = 0.0
    top = 0
    for stage_role, label, wall, cpu, calls, children in result["stages"]:
        if stage_role != role:
            continue
        if label == TOP_LEVEL:
            top = calls
            continue
        raw_cpu += cpu
        stages[label] = [
            (cpu * 1e6 - calls * cal["self_cpu"] - children * cal["parent_cpu"]) / runs,
            (wall * 1e6 - calls * cal["self_wall"] - children * cal["parent_wall"]) / runs,
            calls / runs]
    thread_cpu = result["caller_cpu" if role == "caller" else "hdf5_cpu"]
    rest = ((thread_cpu - raw_cpu) * 1e6 - top * cal["parent_cpu"]) / runs
    stages["(rest)"] = [rest, 0.0, 0.0]
    stages["(cpu)"] = [sum(v[0] for v in stages.values()), 0.0, 0.0]
    return stages


def _stage_rows(role: str, title: str, timed: dict[tuple[str, str], list[dict[str, Any]]],
                plain: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    combos = list(timed)
    tables = {combo: [_corrected(r, role) for r in timed[combo]] for combo in combos}

    def cell(combo: tuple[str, str], label: str, column: int) -> float:
        return _median([t.get(label, [0.0, 0.0, 0.0])[column] for t in tables[combo]])

    labels = {label for results in tables.values() for t in results for label in t
              if not label.startswith("(")}
    weight = {label: sum(cell(combo, label, 0) for combo in combos) for label in labels}
    order = sorted(labels, key=lambda label: (label.split(":")[0].split(" [")[0], -weight[label]))
    print(f"\n   {title:<52}" + "".join(f"{layout + '/' + face:>25}" for layout, face in combos))
    print(f"   {'':<52}" + "".join(f"{'cpu':>9}{'wall':>9}{'calls':>7}" for _ in combos))
    for label in order:
        cells = "".join(f"{cell(c, label, 0):9.1f}{cell(c, label, 1):9.1f}{cell(c, label, 2):7.2f}"
                        if cell(c, label, 2) else f"{'':25}" for c in combos)
        print(f"   {label[:52]:<52}{cells}")
    cpu_key = "caller_cpu" if role == "caller" else "hdf5_cpu"
    rows = [("sum of the stages", [sum(cell(c, label, 0) for label in labels) for c in combos]),
            ("rest: thread CPU not in any stage", [cell(c, "(rest)", 0) for c in combos]),
            ("thread CPU (less the wrappers' cost)", [cell(c, "(cpu)", 0) for c in combos]),
            ("thread CPU in the plain runs",
             [_median([r[cpu_key] / r["runs"] * 1e6 for r in plain[c]]) for c in combos])]
    for name, values in rows:
        print(f"   {name:<52}" + "".join(f"{value:9.1f}{'':16}" for value in values))


def _stage_table(timed: dict[tuple[str, str], list[dict[str, Any]]],
                 plain: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    combos = list(timed)
    print(f"\n2. Where the time goes, per run (timed pass, medians of "
          f"{len(next(iter(timed.values())))}): exclusive microseconds per run of each stage "
          "(CPU of its thread, and wall), calls per run; the wrappers' own cost is subtracted")
    for role, title in (("caller", "caller's thread (the event loop)"), ("hdf5", "HDF5 thread")):
        _stage_rows(role, title, timed, plain)
    print(f"\n   {'wall per run, timed (runs only)':<52}" + "".join(
        f"{_median([_us(r) for r in timed[c]]):9.1f}{'':16}" for c in combos))
    print(f"   {'wall per run, plain':<52}" + "".join(
        f"{_median([_us(r) for r in plain[c]]):9.1f}{'':16}" for c in combos))
    calibration = [r["calibration"] for results in timed.values() for r in results]
    print("   a wrapped call adds about "
          + ", ".join(f"{_median([c[key] for c in calibration]):.2f} us {key.replace('_', ' ')}"
                      for key in ("self_cpu", "parent_cpu", "self_wall", "parent_wall"))
          + " (subtracted above); wall figures include waits for the GIL held by the other thread")


def _profile_tables(profiled: dict[tuple[str, str], dict[str, Any]], top: int) -> None:
    combos = list(profiled)
    print("\n3. cProfile (one pass each, a profiler per thread; its overhead inflates every "
          "figure, compare within a column)")
    print("   cumulative microseconds per run (calls per run) of the key functions")
    head = "".join(f"{layout + '/' + face:>22}" for layout, face in combos)
    for role in ("caller", "hdf5"):
        names: list[str] = []
        for result in profiled.values():
            for name, _, _ in result["profile"][role]["keys"]:
                if name not in names:
                    names.append(name)
        print(f"\n   {role + ' thread':<44}{head}")
        for name in names:
            cells = []
            for combo in combos:
                row = next((k for k in profiled[combo]["profile"][role]["keys"] if k[0] == name),
                           None)
                cells.append(f"{row[2]:12.1f} ({row[1]:6.2f})" if row else f"{'':22}")
            print(f"   {name[:44]:<44}{''.join(cells)}")
        rates = "".join(f"{profiled[c]['runs'] / profiled[c]['seconds']:>13,.0f} runs/s"
                        + " " * 2 for c in combos)
        print(f"   {'(profiled runs/s)':<44}{rates}")
    for combo in combos:
        for role in ("caller", "hdf5"):
            print(f"\n   top {top} by own time, {role} thread, {combo[0]}/{combo[1]}: own us/run, "
                  "cum us/run, calls/run")
            for name, calls, own, cumulative in profiled[combo]["profile"][role]["top"]:
                print(f"   {own:9.1f} {cumulative:9.1f} {calls:7.2f}  {name[:120]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--layout", choices=["default", "packed", "both"], default="both")
    parser.add_argument("--faces", default="put,store", help="put, store or both (comma)")
    parser.add_argument("--tasks", type=int, default=50, help="tasks of the store face")
    parser.add_argument("--repeats", type=int, default=3, help="plain repeats (medians)")
    parser.add_argument("--timed-repeats", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000,
                        help="also measure plain at this size (0: not)")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--micro", type=int, default=500,
                        help="micro-benchmarks with batches of this many runs (0: not)")
    parser.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "profile_w1"))
    parser.add_argument("--json", help="write every measurement to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    layouts = ["default", "packed"] if args.layout == "both" else [args.layout]
    faces = [face.strip() for face in args.faces.split(",") if face.strip()]
    if not faces or any(face not in FACES for face in faces):
        parser.error("--faces takes put, store or both")
    if args.repeats < 1 or args.runs < 10:
        parser.error("--repeats must be at least 1 and --runs at least 10")
    os.makedirs(args.dir, exist_ok=True)
    file = os.path.join(args.dir, f"w1-{os.getpid()}.h5")

    def spec(mode: str, layout: str, face: str, runs: int) -> dict[str, Any]:
        return {"mode": mode, "layout": layout, "face": face, "runs": runs, "tasks": args.tasks,
                "file": file, "top": args.top}

    results = run_all(args, layouts, faces, file)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"plain": [r for rs in results["plain"].values() for r in rs],
                       "bare": results["bare"], "isolated": results["isolated"],
                       "timed": [r for rs in results["timed"].values() for r in rs],
                       "profiled": list(results["profiled"].values()),
                       "micro": results["micro"]}, out)
    report(args, layouts, faces, results)


def run_all(args: argparse.Namespace, layouts: list[str], faces: list[str],
            file: str) -> dict[str, Any]:
    """Every measurement, each in a fresh process, interleaved."""
    def spec(mode: str, layout: str, face: str, runs: int) -> dict[str, Any]:
        return {"mode": mode, "layout": layout, "face": face, "runs": runs, "tasks": args.tasks,
                "file": file, "top": args.top}

    sizes = [args.runs] + ([args.small] if args.small and args.small != args.runs else [])
    plain: dict[tuple[str, str, int], list[dict[str, Any]]] = {
        (layout, face, size): [] for size in sizes for layout in layouts for face in faces}
    bare: list[dict[str, Any]] = []
    isolated: dict[str, list[dict[str, Any]]] = {layout: [] for layout in layouts}
    timed: dict[tuple[str, str], list[dict[str, Any]]] = {
        (layout, face): [] for layout in layouts for face in faces}
    profiled: dict[tuple[str, str], dict[str, Any]] = {}
    print(f"W1, {args.runs:,} runs: layouts {layouts}, faces {faces}", file=sys.stderr)
    for repeat in range(args.repeats):
        print(f"plain, repeat {repeat + 1}/{args.repeats}", file=sys.stderr)
        for size in sizes:
            for layout in layouts:
                for face in faces:
                    plain[layout, face, size].append(measure(spec("plain", layout, face, size)))
        bare.append(measure(spec("plain", "-", "bare", args.runs)))
        for layout in layouts:
            isolated[layout].append(measure(spec("plain", layout, "engine", args.runs)))
    for repeat in range(args.timed_repeats):
        print(f"timed, repeat {repeat + 1}/{args.timed_repeats}", file=sys.stderr)
        for layout in layouts:
            for face in faces:
                timed[layout, face].append(measure(spec("timed", layout, face, args.runs)))
    if args.micro:
        print("micro-benchmarks", file=sys.stderr)
        micro_result = measure({**spec("micro", "-", "micro", 0), "batch": args.micro})
    if not args.no_profile:
        print("profiled", file=sys.stderr)
        for layout in layouts:
            for face in faces:
                profiled[layout, face] = measure(spec("profile", layout, face, args.runs))
    return {"plain": plain, "bare": bare, "isolated": isolated, "timed": timed,
            "profiled": profiled,
            "micro": micro_result if args.micro else None}


def report(args: argparse.Namespace, layouts: list[str], faces: list[str],
           results: dict[str, Any]) -> None:
    plain = results["plain"]
    print(f"W1 on aiostore: {args.runs:,} runs of result r = {{z: float, arr: 100 float64, "
          f"d: dict of 3 scalars}}, 2 explored parameters; faces: put = put + join from one "
          f"task, store = await store from {args.tasks} tasks; {os.cpu_count()} cores")
    print_throughput(plain, results["bare"], args.runs,
                     args.small if args.small != args.runs else 0)
    print_isolated(results["isolated"])
    if args.timed_repeats:
        _stage_table(results["timed"], {(layout, face): plain[layout, face, args.runs]
                                        for layout in layouts for face in faces})
    if results["profiled"]:
        _profile_tables(results["profiled"], args.top)
    if results["micro"]:
        print_micro(results["micro"])

if __name__ == "__main__":
    main()
