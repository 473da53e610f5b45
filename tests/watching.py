"""A live writer for tests/test_watching.py, run as a program of its own.

    python tests/watching.py FILE RUNS [--mode store|sweep|steps] [--pace S]
                             [--backend asyncio|trio]
                             [--slow-reads S] [--fail-at I] [--hold] [--count-rows]

``store``: stores run after run of trajectory ``w`` (awaited, ``pace`` seconds apart) and prints
``acked I`` once run I's store returned (acknowledged). ``sweep``: ``run_sweep`` of the same
runs, computing each in this process (``pace`` seconds each; run ``fail-at`` raises). Either
way ``holding`` once the file is open, then ``stored`` when the runs are done; with ``--hold``
it then waits for a line on stdin before closing the file; ``closed`` at the end.
``--slow-reads`` makes every read it serves to another process take that long more.
``steps``: stores the trajectory, then does what each line on stdin says and prints ``done``
(:func:`step`): ``runs A B`` stores runs A to B-1; ``result I`` stores run I's result alone
(its run not completed); ``complete I`` completes run I (storing nothing more); ``uncomplete
I`` stores the trajectory with run I not completed; ``again I`` stores run I (completed)
again; ``expand N`` adds N runs; ``rows`` prints ``rows N``, the rows of tables that the reads
it served read since the last ``rows`` (with ``--count-rows``). :class:`Steps` drives it.

Run ``I`` explores ``x = I / 10`` and stores result ``r``: ``z = 2 x`` and ``arr``, the 5
numbers from ``I`` (:func:`expected`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from aiostore import AsyncStorageService, Msg, Result, SingleRun, Trajectory, run_sweep
from aiostore.sweeps.runners import Finished

TRAJECTORY = "w"
_rows_read = [0]  # with --count-rows: table rows read by the reads served (step "rows")


def expected(index: int) -> dict[str, Any]:
    return {"z": 2 * (index / 10), "arr": np.arange(index, index + 5, dtype=np.float64)}


def simulate(x: float, pace: float = 0.0, fail_at: int = -1) -> dict[str, Any]:
    time.sleep(pace)
    index = round(x * 10)
    if index == fail_at:
        raise RuntimeError(f"run {index} fails, as asked")
    return expected(index)


def trajectory(runs: int, pace: float, fail_at: int) -> Trajectory:
    traj = Trajectory(TRAJECTORY)
    traj.add_parameter("x", 0.0)
    traj.add_parameter("pace", pace)
    traj.add_parameter("fail_at", fail_at)
    traj.explore({"x": [index / 10 for index in range(runs)]})
    return traj


class InlineRunner:
    """Computes each task in this thread, one after another."""

    @asynccontextmanager
    async def finished(self, function: Callable[[Any], Any],
                       tasks: Iterable[Any]) -> AsyncIterator[AsyncIterator[Finished]]:
        async def ends() -> AsyncIterator[Finished]:
            for task in tasks:
                try:
                    yield Finished(task, function(task))
                except Exception as exc:
                    yield Finished(task, None, exc)
                await anyio.sleep(0)

        yield ends()


def slow_reads(seconds: float) -> None:
    from aiostore._core.live.requests import ServedRead
    from aiostore._core.worker import current_worker

    handlers = current_worker()._engine._handlers
    served = handlers[ServedRead]

    def slowly(request: Any) -> Any:
        time.sleep(seconds)
        return served(request)

    handlers[ServedRead] = slowly


def count_rows() -> None:
    """Count the rows of tables that served reads read (``Table.read``, ``read_coordinates``)."""
    import tables

    from aiostore._core.live.requests import ServedRead
    from aiostore._core.worker import current_worker

    serving = [False]
    read, read_coordinates = tables.Table.read, tables.Table.read_coordinates

    def counted_read(self: Any, start: Any = None, stop: Any = None, *args: Any,
                     **kwargs: Any) -> Any:
        if serving[0]:
            first, last, _ = slice(start, stop).indices(self.nrows) if stop is not None or (
                start is not None) else (0, self.nrows, 1)
            _rows_read[0] += max(last - first, 0)
        return read(self, start, stop, *args, **kwargs)

    def counted_coordinates(self: Any, coords: Any, *args: Any, **kwargs: Any) -> Any:
        if serving[0]:
            _rows_read[0] += len(coords)
        return read_coordinates(self, coords, *args, **kwargs)

    tables.Table.read = counted_read
    tables.Table.read_coordinates = counted_coordinates
    handlers = current_worker()._engine._handlers
    served = handlers[ServedRead]

    def counting(request: Any) -> Any:
        serving[0] = True
        try:
            return served(request)
        finally:
            serving[0] = False

    handlers[ServedRead] = counting


def say(line: str) -> None:
    print(line, flush=True)


async def store_runs(svc: AsyncStorageService, traj: Trajectory, pace: float) -> None:
    await svc.store(Msg.TRAJECTORY, traj)
    say("holding")
    for index in range(len(traj)):
        run = SingleRun(traj, index)
        run.add_result("r", **expected(index))
        await svc.store(Msg.SINGLE_RUN, run)
        say(f"acked {index}")
        await anyio.sleep(pace)


async def step(svc: AsyncStorageService, traj: Trajectory, line: str) -> None:
    """One of ``--mode steps``'s lines (see the module's doc)."""
    what, *numbers = line.split()
    first = int(numbers[0])
    if what == "runs":
        for index in range(first, int(numbers[1])):
            run = SingleRun(traj, index)
            run.add_result("r", **expected(index))
            await svc.store(Msg.SINGLE_RUN, run)
    elif what == "result":
        await svc.store(Msg.LEAF, Result(f"results.runs.{traj.runs[first].name}.r",
                                         **expected(first)), trajectory_name=TRAJECTORY)
    elif what in ("complete", "again"):
        await svc.store(Msg.SINGLE_RUN, SingleRun(traj, first))
    elif what == "uncomplete":
        traj.runs[first].completed = False
        await svc.store(Msg.TRAJECTORY, traj)
    elif what == "expand":
        old_length = len(traj)
        changed = traj.expand({"x": [index / 10 for index in range(old_length,
                                                                   old_length + first)]})
        await svc.store(Msg.PREPARE_MERGE, traj, changed_parameters=changed,
                        old_length=old_length)
    else:
        raise ValueError(f"no step {line!r}")


async def steps(svc: AsyncStorageService, traj: Trajectory) -> None:
    await svc.store(Msg.TRAJECTORY, traj)
    say("holding")
    while line := (await anyio.to_thread.run_sync(sys.stdin.readline)).strip():
        if line == "rows":
            say(f"rows {_rows_read[0]}")
            _rows_read[0] = 0
        else:
            await step(svc, traj, line)
        say("done")


class Steps:
    """A ``--mode steps`` writer: each :meth:`do` returns once the writer has done it."""

    def __init__(self, path: Path, runs: int, *options: str) -> None:
        self.path = str(path)
        self.process = subprocess.Popen([sys.executable, __file__, self.path, str(runs),
                                         "--mode", "steps", *options], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self._line() == "holding"

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line, "the writer ended"
        return line

    def do(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        assert self._line() == "done"

    def rows_read(self) -> int:
        """The rows of tables that the reads it served read since the last call (started
        with ``--count-rows``)."""
        assert self.process.stdin is not None
        self.process.stdin.write("rows\n")
        self.process.stdin.flush()
        what, count = self._line().split()
        assert what == "rows"
        assert self._line() == "done"
        return int(count)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=60) == 0

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Kill the writer if it still runs (a test failed before :meth:`close`)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def main(args: argparse.Namespace) -> None:
    if args.slow_reads:
        slow_reads(args.slow_reads)
    if args.count_rows:
        count_rows()
    traj = trajectory(args.runs, args.pace, args.fail_at)
    async with AsyncStorageService(args.file) as svc:
        if args.mode == "store":
            await store_runs(svc, traj, args.pace)
        elif args.mode == "steps":
            await steps(svc, traj)
        else:
            await svc.store(Msg.TRAJECTORY, traj)
            say("holding")
            report = await run_sweep(svc, traj, simulate, runner=InlineRunner(), result="r")
            say(f"failed {sorted(report.failed)}")
        say("stored")
        if args.hold:
            await anyio.to_thread.run_sync(sys.stdin.readline)
    say("closed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("runs", type=int)
    parser.add_argument("--mode", choices=["store", "sweep", "steps"], default="store")
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--slow-reads", type=float, default=0.0)
    parser.add_argument("--fail-at", type=int, default=-1)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--count-rows", action="store_true")
    arguments = parser.parse_args()
    anyio.run(main, arguments, backend=arguments.backend)
