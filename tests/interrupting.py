"""Programs that a test interrupts with real SIGINTs, as a terminal's Ctrl-C does.

``python tests/interrupting.py store FILE ACKS [--signal-in STEP]`` stores the runs of a long
sweep on trio (awaited stores and queued puts, from several tasks), appending each acknowledged
run's index to ACKS (a store that returned, a put whose join returned). Without
``--signal-in`` a test sends SIGINT at a random moment; with it the program sends itself SIGINT
(``signal.raise_signal``: a real signal, taken by trio's handler) inside one step of a hand-off
to the HDF5 thread, where Ctrl-C once left the service's close waiting for ever:

- ``track``: a put's store tracked, its done callback not yet added;
- ``offer``: a ticket queued, the HDF5 thread not yet woken.

``python tests/interrupting.py inline-sweep FILE`` runs the same sweep on trio with
``run_sweep``, each run computed in the driver's thread: a test sends SIGINT at a random moment.

``python tests/interrupting.py sweep FILE LOG_DIR BACKEND`` runs a sweep (tests/sweeping.py's
runs) with ``ProcessRunner(2)`` on asyncio or trio.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: sweeping beside it

import sweeping

from aiostore import AsyncStorageService, Msg, ProcessRunner, Trajectory, run_sweep
from aiostore._core.worker import current_worker
from aiostore.sweeps.runners import Finished

TRAJECTORY = "interrupted"
RUNS = 4_000  # more than are stored before the signal (and planned in the loop, not frozen)
TASKS = 4
SIGNAL_AT = 30  # the put in which the program sends itself SIGINT


def value(index: int) -> dict[str, Any]:
    """What run ``index`` stores as its result ``r``."""
    return {"z": index * 0.5, "label": f"run {index}"}


def trajectory(runs: int = RUNS) -> Trajectory:
    traj = Trajectory(TRAJECTORY)
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(runs))})
    return traj


class _Countdown:
    """SIGINT sent to this process at the ``SIGNAL_AT``-th call, once."""

    def __init__(self) -> None:
        self.calls = 0

    def tick(self) -> None:
        self.calls += 1
        if self.calls == SIGNAL_AT:
            signal.raise_signal(signal.SIGINT)


class _SignallingSet(set[Any]):
    """The tracker's pending set: SIGINT comes just after a store is added to it."""

    def __init__(self, countdown: _Countdown) -> None:
        super().__init__()
        self.countdown = countdown

    def add(self, element: Any) -> None:
        super().add(element)
        self.countdown.tick()


def signal_in_track(service: AsyncStorageService) -> None:
    service._session.tracker._pending = _SignallingSet(_Countdown())


def signal_in_offer(service: AsyncStorageService) -> None:
    countdown, wakeup = _Countdown(), current_worker()._wakeup
    notify = wakeup.notify

    def notifying(n: int = 1) -> None:
        if threading.current_thread() is threading.main_thread():  # a producer's offer
            countdown.tick()
        notify(n)

    wakeup.notify = notifying  # type: ignore[method-assign]


SIGNAL_IN = {"track": signal_in_track, "offer": signal_in_offer}


async def store(path: str, acks: int, signal_in: str | None) -> None:
    traj = trajectory()
    async with AsyncStorageService(path) as service:
        await service.store(Msg.TRAJECTORY, traj)
        if signal_in is not None:
            SIGNAL_IN[signal_in](service)
        os.write(1, b"storing\n")
        indices = iter(range(RUNS))
        # Signalled in an offer, the HDF5 thread must be waiting to be woken: one store at a
        # time (batches of stores would have it wait a second at most, the heap frozen).
        alone = signal_in == "offer"

        async def producer() -> None:
            queued: list[int] = []
            for index in indices:
                run = traj.run(index)
                run.add_result("r", **value(index))
                if index % 3 == 0 or alone:
                    await service.store(Msg.SINGLE_RUN, run)
                    acknowledge(acks, [index])
                    continue
                await service.put(Msg.SINGLE_RUN, run)
                queued.append(index)
                if len(queued) == 10:
                    await service.join()
                    acknowledge(acks, queued)
                    queued.clear()

        async with anyio.create_task_group() as group:
            for _ in range(1 if alone else TASKS):
                group.start_soon(producer)


def acknowledge(acks: int, indices: list[int]) -> None:
    os.write(acks, "".join(f"{index}\n" for index in indices).encode())


def simulate(x: int) -> dict[str, Any]:
    return value(x)


class InlineRunner:
    """A runner computing each task in the driver's own thread, between its stores (the
    sweep's every step is then the driver's: where Ctrl-C lands is up to chance alone)."""

    @asynccontextmanager
    async def finished(self, function: Callable[[Any], Any],
                       tasks: Iterable[Any]) -> AsyncIterator[AsyncIterator[Finished]]:
        async def ends() -> AsyncIterator[Finished]:
            for task in tasks:
                yield Finished(task, function(task))
                await anyio.lowlevel.checkpoint()

        yield ends()


async def inline_sweep(path: str) -> None:
    # as many runs as the sweep that first hung in its close (its planning's heap frozen),
    # stored before (run_sweep finds it in the file): the signal comes while runs are stored
    traj = trajectory(20_000)
    async with AsyncStorageService(path) as service:
        await service.store(Msg.TRAJECTORY, traj)
        os.write(1, b"storing\n")
        await run_sweep(service, traj, simulate, runner=InlineRunner(), result="r")


SWEEP_RUNS = 100
SWEEP_SECONDS = 0.05  # each run's


async def sweep(path: str, log_dir: str) -> None:
    async with AsyncStorageService(path) as service:
        await run_sweep(service, sweeping.build(SWEEP_RUNS, log_dir, SWEEP_SECONDS),
                        sweeping.simulate, runner=ProcessRunner(2))


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    storing = commands.add_parser("store")
    storing.add_argument("file")
    storing.add_argument("acks")
    storing.add_argument("--signal-in", choices=sorted(SIGNAL_IN))
    inline = commands.add_parser("inline-sweep")
    inline.add_argument("file")
    sweeping_ = commands.add_parser("sweep")
    sweeping_.add_argument("file")
    sweeping_.add_argument("log_dir")
    sweeping_.add_argument("backend", choices=["asyncio", "trio"])
    args = parser.parse_args()
    # Ctrl-C as a shell starts a program, whatever the starting process did with SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.command == "store":
        acks = os.open(args.acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        anyio.run(store, args.file, acks, args.signal_in, backend="trio")
    elif args.command == "inline-sweep":
        anyio.run(inline_sweep, args.file, backend="trio")
    else:
        anyio.run(sweep, args.file, args.log_dir, backend=args.backend)


if __name__ == "__main__":
    main()
