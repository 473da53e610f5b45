"""Crash trials: a writer process SIGKILLed at a random moment, and what the file holds afterwards.

The writer (``python tests/crashing.py write FILE ACKS DURABILITY SEED``) stores a trajectory,
then the runs of a long sweep from several producers at once: asyncio tasks awaiting each
``SINGLE_RUN`` store, and a thread storing through the blocking service. Each run's result is a
function of its index alone (mostly small values, every seventh run a 2 MB array too), so the
checker can rebuild what any run should hold. After a store returns, the writer appends the run's
index to the acknowledgement log with a plain ``write`` (the kernel keeps it whatever happens to
the process).

:func:`run_trial` starts a writer, kills it after a random delay, then opens the file with
aiostore and checks it (:func:`check_file`): it opens, every acknowledged run is there, completed,
with exactly its values, no run is there twice, and no run that is there (acknowledged or not)
holds anything but its exact values. ``python tests/crashing.py trials --count N`` runs N trials
per mode (durability, journal or not) and prints the table of the README.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # run as a script: exactness beside it

from exactness import assert_exact  # noqa: E402

from aiostore import AsyncStorageService, Msg, StorageService, Trajectory  # noqa: E402

TRAJECTORY = "crash"
RUNS = 20_000  # more than any writer stores before it is killed
BIG_EVERY = 7
BIG_FLOATS = 2**18  # 2 MB


def expected_values(index: int) -> dict[str, Any]:
    """What run ``index`` stores as its result ``r``."""
    values: dict[str, Any] = {
        "z": index * 0.5,
        "trace": np.arange(100, dtype=np.float64) * index,
        "stats": {"index": index, "odd": bool(index % 2), "label": f"run{index}"},
        "pair": (np.int32(index), np.int32(-index)),
        "label": f"run {index:x}",
    }
    if index % BIG_EVERY == 0:
        values["big"] = np.full(BIG_FLOATS, float(index))
    return values


# ------------------------------------------------------------------------------------ writer


class AckLog:
    """Indices of acknowledged runs, one per line, each written by one ``write`` call."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def ack(self, text: str) -> None:
        os.write(self.fd, f"{text}\n".encode())


def service_options(mode: str) -> dict[str, Any]:
    """A trial's mode as service arguments: a durability, ``-unjournaled`` for no journal."""
    durability, _, unjournaled = mode.partition("-")
    return {"durability": durability, "journal": not unjournaled}


async def write_until_killed(filename: str, acks: str, mode: str, seed: int,
                             tasks: int = 4) -> None:
    log = AckLog(acks)
    options = service_options(mode)
    traj = Trajectory(TRAJECTORY, comment="crash trial")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(RUNS))})
    indices = itertools.count()
    pace = random.Random(seed)

    def store_run(service: Any, index: int) -> Any:
        run = traj.run(index)
        run.add_result("r", **expected_values(index))
        return run

    async with AsyncStorageService(filename, **options) as service:
        await service.store(Msg.TRAJECTORY, traj)
        log.ack("T")

        async def producer() -> None:
            while (index := next(indices)) < RUNS:
                await service.store(Msg.SINGLE_RUN, store_run(service, index))
                log.ack(str(index))
                if pace.random() < 0.2:
                    await anyio.sleep(pace.random() * 0.002)  # an uneven stream: batches vary

        def blocking_producer() -> None:
            with StorageService(filename, trajectory_name=TRAJECTORY, **options) as blocking:
                while (index := next(indices)) < RUNS:
                    blocking.store(Msg.SINGLE_RUN, store_run(blocking, index))
                    log.ack(str(index))

        async with anyio.create_task_group() as group:
            for _ in range(tasks):
                group.start_soon(producer)
            group.start_soon(anyio.to_thread.run_sync, blocking_producer)


# ----------------------------------------------------------------------------------- checker


@dataclasses.dataclass
class TrialReport:
    """What one killed writer left behind."""

    killed_after: float
    acknowledged: int = 0
    present: int = 0
    lost: list[int] = dataclasses.field(default_factory=list)
    wrong: list[str] = dataclasses.field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not (self.lost or self.wrong or self.error)


def read_acks(path: str) -> tuple[bool, set[int]]:
    text = Path(path).read_text() if os.path.exists(path) else ""
    lines = [line for line in text.split("\n") if line]
    return "T" in lines, {int(line) for line in lines if line != "T"}


def check_file(filename: str, acks: str, report: TrialReport, runs_in_sweep: int = RUNS
               ) -> TrialReport:
    trajectory_acked, acked = read_acks(acks)
    report.acknowledged = len(acked)
    if not trajectory_acked:
        return report  # killed before the first store returned: nothing was promised
    try:
        with StorageService(filename) as service:
            traj = service.load(Msg.TRAJECTORY, None, trajectory_name=TRAJECTORY,
                                load_parameters=2, load_results=2)
    except Exception as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        return report
    runs = [info.idx for info in traj.runs]
    if len(runs) != len(set(runs)) or len(runs) != runs_in_sweep:
        report.wrong.append(f"run table: {len(runs)} rows, {len(set(runs))} distinct")
    completed = {info.idx for info in traj.runs if info.completed}
    stored: dict[int, Any] = {}
    for leaf in traj.leaves():
        parts = leaf.v_full_name.split(".")
        if parts[:2] != ["results", "runs"]:
            continue
        index = int(parts[2].removeprefix("run_"))
        if index in stored:
            report.wrong.append(f"run {index} stored twice")
        stored[index] = leaf
        try:
            assert leaf.v_full_name.endswith(".r"), leaf.v_full_name
            assert_exact(dict(leaf.data), expected_values(index), f"run {index}")
        except AssertionError as exc:
            report.wrong.append(str(exc)[:300])
    runs_group = traj.get("results.runs")
    for child in getattr(runs_group, "children", {}).values():
        leaf = getattr(child, "children", {}).get("r")
        if list(getattr(child, "children", {})) != ["r"] or getattr(leaf, "v_is_leaf", True) is False:
            report.wrong.append(f"{child.v_full_name} is not one whole result: half written")
    report.present = len(stored)
    report.lost = sorted(acked - stored.keys())
    not_completed = sorted(acked - completed)
    if not_completed:
        report.wrong.append(f"acknowledged runs not marked completed: {not_completed[:10]}")
    return report


# ------------------------------------------------------------------------------------ trials


def run_trial(folder: Path, mode: str, seed: int, max_delay: float = 3.0) -> TrialReport:
    """Start a writer (``mode``: see :func:`service_options`), SIGKILL it after a random
    delay, and check what it left."""
    rng = random.Random(seed)
    stem = folder / f"trial-{mode}-{seed}"
    filename, acks = f"{stem}.h5", f"{stem}.acks"
    writer = subprocess.Popen(
        [sys.executable, __file__, "write", filename, acks, mode, str(seed)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not read_acks(acks)[0] and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the trajectory is stored: the runs' stream has begun
    delay = rng.uniform(0.0, max_delay)
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    _, stderr = writer.communicate()
    report = TrialReport(killed_after=delay)
    if writer.returncode != -signal.SIGKILL:
        report.error = f"writer ended with {writer.returncode}: {stderr.decode()[-2000:]}"
        return report
    return check_file(filename, acks, report)


def run_trials(folder: Path, mode: str, count: int, first_seed: int = 0) -> list[TrialReport]:
    return [run_trial(folder, mode, seed) for seed in range(first_seed, first_seed + count)]


def _print_table(results: dict[str, list[TrialReport]]) -> None:
    print("| mode | trials | kills | runs acknowledged | runs checked | lost | wrong | "
          "failed to open |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, reports in results.items():
        print(f"| `{mode}` | {len(reports)} | {len(reports)} "
              f"| {sum(r.acknowledged for r in reports)} | {sum(r.present for r in reports)} "
              f"| {sum(len(r.lost) for r in reports)} | {sum(len(r.wrong) for r in reports)} "
              f"| {sum(bool(r.error) for r in reports)} |")
    for mode, reports in results.items():
        for number, report in enumerate(reports):
            if not report.ok:
                print(f"{mode} trial {number}: lost {report.lost[:10]} wrong "
                      f"{report.wrong[:3]} error {report.error[:500]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="the writer process (killed by a trial)")
    write.add_argument("filename")
    write.add_argument("acks")
    write.add_argument("mode", help="flush, close, or either with -unjournaled")
    write.add_argument("seed", type=int)
    trials = commands.add_parser("trials", help="run trials and print the table")
    trials.add_argument("--count", type=int, default=50, help="trials per mode")
    trials.add_argument("--modes", nargs="+", default=["flush", "close", "flush-unjournaled"])
    trials.add_argument("--keep", default=None,
                        help="a folder to write the trials' files to and keep them in")
    args = parser.parse_args()
    if args.command == "write":
        anyio.run(write_until_killed, args.filename, args.acks, args.mode, args.seed)
        return
    with contextlib.ExitStack() as stack:
        folder = args.keep or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(folder, exist_ok=True)
        results = {mode: run_trials(Path(folder), mode, args.count) for mode in args.modes}
    _print_table(results)


if __name__ == "__main__":
    main()
