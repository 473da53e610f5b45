"""What a reader polling ``progress`` costs a live writer's HDF5 thread, as the sweep grows.

    python benchmarks/progress_polls.py [--runs 10000 200000] [--done 0.5] [--polls 10]
                                        [--new 100]

For each ``--runs`` N, a writer process stores a trajectory of N runs, the first ``--done`` of
them completed (in one store of the trajectory, as ``run_sweep`` stores it first, mid-sweep),
and holds the file; this process polls
``progress`` once, then ``--polls`` times more, the writer completing ``--new`` runs (a
``SINGLE_RUN`` store each) before each. The writer times the HDF5 thread's CPU in each read
it serves (``Engine._served_read``, ``time.thread_time``); printed: the first poll's and the
median of the others, and each answer checked against a read of the file once the writer
ended.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TRAJECTORY = "p"


def writer(path: str, completed: int, total: int) -> None:
    from aiostore import Msg, SingleRun, StorageService, Trajectory
    from aiostore.engine import Engine

    spent: list[float] = []
    served = Engine._served_read

    def timed(self: Engine, request: Any) -> Any:
        started = time.thread_time()
        try:
            return served(self, request)
        finally:
            spent.append(time.thread_time() - started)

    Engine._served_read = timed  # type: ignore[method-assign]
    traj = Trajectory(TRAJECTORY)
    traj.add_parameter("x", 0.0)
    traj.explore({"x": [float(index) for index in range(total)]})
    now = time.time()
    for index in range(completed):  # a run every 2 ms up to now
        run = traj.runs[index]
        run.completed = True
        run.timestamp = now - (completed - index) * 0.002 - 0.001
        run.finish_timestamp = now - (completed - index) * 0.002
    with StorageService(path) as svc:
        svc.store(Msg.TRAJECTORY, traj)
        print("ready", flush=True)
        done = completed
        for line in sys.stdin:
            what, *numbers = line.split()
            if what == "runs":
                for index in range(done, done + int(numbers[0])):
                    svc.store(Msg.SINGLE_RUN, SingleRun(traj, index))
                done += int(numbers[0])
                print("done", flush=True)
            elif what == "spent":
                print(json.dumps(spent), flush=True)
                spent.clear()


def measure(runs: int, done: float, polls: int, new: int, folder: str) -> dict[str, Any]:
    from aiostore import StorageService
    from aiostore._core.live import framecache

    path = str(Path(folder) / f"progress_{runs}.h5")
    completed = int(runs * done)
    assert completed + polls * new <= runs
    process = subprocess.Popen([sys.executable, __file__, "--writer", path, str(completed),
                                str(runs)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None
    assert process.stdout is not None

    def tell(line: str) -> str:
        process.stdin.write(line + "\n")  # type: ignore[union-attr]
        process.stdin.flush()  # type: ignore[union-attr]
        return process.stdout.readline().strip()  # type: ignore[union-attr]

    try:
        assert process.stdout.readline().strip() == "ready"
        answers, reader = [], []
        with StorageService(path) as svc:
            for poll in range(polls + 1):
                if poll:
                    assert tell(f"runs {new}") == "done"
                started = time.process_time()
                answers.append(svc.progress(TRAJECTORY))
                reader.append(time.process_time() - started)
            spent = json.loads(tell("spent"))
        process.stdin.close()
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
    framecache._kept.clear()
    assert all(answer.from_writer for answer in answers)
    assert answers[-1].completed == completed + polls * new, answers[-1]
    with StorageService(path) as svc:  # the last answer is the file's, at the same moment
        whole = svc.progress(TRAJECTORY)
    last = answers[-1]
    assert (last.total, last.completed, last.started, last.last_completed) == (
        whole.total, whole.completed, whole.started, whole.last_completed), (last, whole)
    return {"runs": runs, "first": spent[0], "next": statistics.median(spent[1:]),
            "reader": statistics.median(reader[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--done", type=float, default=0.5)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--writer", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        path, completed, total = args.writer
        writer(path, int(completed), int(total))
        return
    with tempfile.TemporaryDirectory() as folder:
        for runs in args.runs:
            got = measure(runs, args.done, args.polls, args.new, folder)
            print(f"{got['runs']:>9,} runs ({100 * args.done:.0f}% done): writer's HDF5 "
                  f"thread {1e3 * got['first']:7.2f} ms the first poll, "
                  f"{1e3 * got['next']:7.2f} ms a poll after {args.new} new runs (median of "
                  f"{args.polls}); reader's CPU {1e3 * got['reader']:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
