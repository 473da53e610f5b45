"""aiostore's main job: an async parameter sweep whose runs are stored as they finish.

Each run integrates a driven damped oscillator, x'' + 2*zeta*x' + x = cos(w*t) (time in units of
the natural period), for one point of a grid of drive frequency ``w`` and damping ratio ``zeta``.
The integrations run in a process pool, so the event loop stays free; ``aiostore.run_sweep``
awaits each run's results into one HDF5 file through ``AsyncStorageService`` as soon as the run
finishes, with a progress bar. At the end it reads the results back as a DataFrame
(``load_frame``), prints a summary (measured amplitudes against the exact steady-state
amplitude) and writes a PNG of the resonance over the grid.

    python examples/async_sweep.py [--frequencies 20] [--dampings 15] [--out FILE]
                                   [--resume | --overwrite] [--plot FILE.png] [--workers N]
                                   [--backend asyncio|trio] [--packed] [--quiet]

Without ``--out`` it writes ``resonance.h5`` here, or the next free ``resonance-2.h5``...; an
existing ``--out`` is refused unless ``--resume`` (compute only the runs it lacks: after Ctrl-C
or a kill) or ``--overwrite`` (replace it) says what to do with it.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import anyio
import numpy as np
import pandas as pd
import sniffio

import aiostore
from aiostore import AsyncStorageService, ProcessRunner, SweepReport, Trajectory, run_sweep
from aiostore.errors import (
    DataNotFoundError,
    DiskFullError,
    FileAccessError,
    FileFormatError,
    FileLockedError,
    RunnerError,
    SweepMismatchError,
)
from aiostore.runners import Runner

T = TypeVar("T")
TRAJECTORY = "resonance"
RESULT = "response"
# What a user can set right (another file, a reachable scheduler, room on the disk): one line
USER_ERRORS = (SweepMismatchError, RunnerError, FileFormatError, FileLockedError,
               FileAccessError, DiskFullError)


# ----------------------------------------------------------------------------- the model


def simulate(frequency: float, damping: float, periods: int = 40,
             steps_per_period: int = 100) -> dict[str, Any]:
    """Integrate from rest (RK4) and measure the steady response over the last 10 periods.

    Returns the last period of x (``trace``), its ``amplitude`` and ``phase`` lag behind the
    drive (from a lock-in projection) and the ``energy`` averaged over a period.
    """
    dt = 2 * np.pi / frequency / steps_per_period

    def acceleration(t: float, x: float, v: float) -> float:
        return float(np.cos(frequency * t)) - 2 * damping * v - x

    steps = periods * steps_per_period
    xs, vs = np.empty(steps), np.empty(steps)
    t, x, v = 0.0, 0.0, 0.0
    for step in range(steps):
        k1x, k1v = v, acceleration(t, x, v)
        k2x, k2v = v + k1v * dt / 2, acceleration(t + dt / 2, x + k1x * dt / 2, v + k1v * dt / 2)
        k3x, k3v = v + k2v * dt / 2, acceleration(t + dt / 2, x + k2x * dt / 2, v + k2v * dt / 2)
        k4x, k4v = v + k3v * dt, acceleration(t + dt, x + k3x * dt, v + k3v * dt)
        x += (k1x + 2 * k2x + 2 * k3x + k4x) * dt / 6
        v += (k1v + 2 * k2v + 2 * k3v + k4v) * dt / 6
        t += dt
        xs[step], vs[step] = x, v
    tail = slice(steps - 10 * steps_per_period, steps)
    phase_t = frequency * dt * np.arange(1, steps + 1)[tail]
    in_phase = 2 * np.mean(xs[tail] * np.cos(phase_t))
    quadrature = 2 * np.mean(xs[tail] * np.sin(phase_t))
    return {
        "trace": xs[-steps_per_period:].copy(),
        "amplitude": float(np.hypot(in_phase, quadrature)),
        "phase": float(np.arctan2(quadrature, in_phase)),
        "energy": float(np.mean(0.5 * vs[tail] ** 2 + 0.5 * xs[tail] ** 2)),
    }


def exact_amplitude(frequency: np.ndarray, damping: np.ndarray) -> np.ndarray:
    """The steady-state amplitude of x'' + 2*zeta*x' + x = cos(w*t)."""
    return 1.0 / np.sqrt((1 - frequency**2) ** 2 + (2 * damping * frequency) ** 2)


# ----------------------------------------------------------------------------- the sweep


def build_trajectory(frequencies: int, dampings: int) -> Trajectory:
    traj = Trajectory(TRAJECTORY, comment="driven damped oscillator over drive frequency and damping")
    traj.add_parameter("frequency", 1.0, comment="drive frequency / natural frequency")
    traj.add_parameter("damping", 0.1, comment="damping ratio zeta")
    grid = list(itertools.product(np.linspace(0.2, 2.0, frequencies),
                                  np.geomspace(0.05, 0.8, dampings)))
    traj.explore({"frequency": [float(w) for w, _ in grid],
                  "damping": [float(z) for _, z in grid]})
    return traj


async def sweep(filename: str, traj: Trajectory, runner: Runner, quiet: bool,
                packed: bool = False) -> tuple[SweepReport, pd.DataFrame]:
    """Compute the runs the file lacks, storing each as it ends; read the results back."""
    async with AsyncStorageService(filename, file_title="aiostore example",
                                   packed_runs=packed) as service:
        # run_sweep awaits each run into the file as its process finishes it; a second call on
        # the same file (--resume) computes only the runs not yet completed there.
        report = await run_sweep(service, traj, simulate, runner=runner, result=RESULT,
                                 progress=not quiet)
        frame = await completed_runs(service)
    return report, frame


async def completed_runs(service: AsyncStorageService) -> pd.DataFrame:
    """A row per completed run (frequency, damping, amplitude, phase, energy, trace)."""
    try:
        return await service.load_frame(TRAJECTORY, RESULT)
    except DataNotFoundError:  # no run completed
        columns = ["frequency", "damping", "amplitude", "phase", "energy", "trace"]
        return pd.DataFrame(columns=columns, index=pd.RangeIndex(0, name="run"))


# ------------------------------------------------------------------------------ reporting


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``load_frame``'s rows (the completed runs) with the exact amplitude of each."""
    table = frame.reset_index()[["run", "frequency", "damping", "amplitude", "phase"]]
    table = table.astype({"frequency": float, "damping": float, "amplitude": float})
    table["completed"] = True
    table["exact"] = exact_amplitude(table["frequency"].to_numpy(), table["damping"].to_numpy())
    return table


def report(done: SweepReport, table: pd.DataFrame, filename: str) -> None:
    stored, already = len(done.stored), len(done.already_completed)
    print(f"aiostore {aiostore.__version__}: {stored} runs computed and stored in "
          f"{done.seconds:.1f} s ({stored / done.seconds:.0f} runs/s), {already} were already "
          f"in {filename}")
    print_science(table, done.runs)


def print_science(table: pd.DataFrame, runs: int) -> None:
    """What the completed runs found: accuracy against the exact amplitude, and the peaks."""
    completed = int(table["completed"].sum())
    more = "" if completed == runs else f" ({completed} of {runs})"
    print(f"every run completed: {completed == runs}{more}")
    if not completed:
        return
    table = table[table["completed"]]
    error = (table["amplitude"] / table["exact"] - 1).abs().max()
    print(f"largest relative error of the measured amplitude against the exact one: {error:.2e}")
    peaks = table.loc[table.groupby("damping")["amplitude"].idxmax()]
    print("\nresonance peak for each damping ratio (from the file):")
    print(peaks[["damping", "frequency", "amplitude", "exact", "phase"]]
          .to_string(index=False, float_format=lambda value: f"{value:8.4f}"))


def print_failures(failed: Mapping[int, str], runs: int, filename: str, hint: str = "") -> None:
    """On stderr: how many runs failed, and why (the most common reasons first)."""
    reasons = Counter(reason(failure) for failure in failed.values())
    say = partial(print, file=sys.stderr)
    say(f"{len(failed)} of {runs} runs failed; they stay incomplete in {filename}:")
    for why, count in reasons.most_common(3):
        example = min(index for index, failure in failed.items() if reason(failure) == why)
        say(f"  {count} runs (run {example} first): {why}")
    if len(reasons) > 3:
        say(f"  and {len(reasons) - 3} other reasons")
    if hint:
        say(hint)
    say(f"--out {filename} --resume computes only the missing runs again")


def reason(failure: str) -> str:
    """One line of why a run failed: a traceback's exception line, or the message joined."""
    lines = [line for line in failure.strip().splitlines() if line.strip()]
    tracebacks = [at for at, line in enumerate(lines) if line.startswith("Traceback (most")]
    if tracebacks:  # the last exception raised: the first unindented line after its frames
        after = [line for line in lines[tracebacks[-1] + 1:] if not line.startswith(" ")]
        lines = after[:1] or lines[-1:]
    why = " ".join(line.strip() for line in lines)
    return why if len(why) <= 300 else why[:297] + "..."


def plot(table: pd.DataFrame, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    grid = table.pivot(index="damping", columns="frequency", values="amplitude")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    mesh = left.pcolormesh(grid.columns, grid.index, np.ma.masked_invalid(grid.to_numpy()),
                           shading="nearest", norm=matplotlib.colors.LogNorm())
    left.set(xlabel="drive frequency / natural frequency", ylabel="damping ratio",
             yscale="log", title="steady-state amplitude")
    figure.colorbar(mesh, ax=left)
    for damping in grid.index[:: max(len(grid.index) // 5, 1)]:
        right.plot(grid.columns, grid.loc[damping], "o", markersize=3,
                   label=f"zeta = {damping:.2f}")
        fine = np.linspace(grid.columns.min(), grid.columns.max(), 400)
        right.plot(fine, exact_amplitude(fine, np.full_like(fine, damping)), "-", linewidth=0.8,
                   color=right.lines[-1].get_color())
    right.set(xlabel="drive frequency / natural frequency", ylabel="amplitude", yscale="log",
              title="measured (dots) and exact (lines)")
    right.legend(fontsize=8)
    figure.tight_layout()
    # written beside and renamed: an interrupted plot never leaves half a PNG
    figure.savefig(partial_plot(path), dpi=110, format="png")
    plt.close(figure)
    os.replace(partial_plot(path), path)


def partial_plot(path: str) -> str:
    return f"{path}.partial"


def common_options(description: str) -> argparse.ArgumentParser:
    """The options this example shares with examples/dask_sweep.py."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--frequencies", type=int, default=20, help="drive frequencies (grid)")
    parser.add_argument("--dampings", type=int, default=15, help="damping ratios (grid)")
    parser.add_argument("--out", help=f"HDF5 file to write (default: {TRAJECTORY}.h5 here, or "
                                      f"the next free name, {TRAJECTORY}-2.h5...)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="keep the runs --out already holds and compute only the others")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace --out if it exists (otherwise an existing file is refused)")
    parser.add_argument("--plot", help="PNG to write (default: beside the HDF5 file)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--packed", action="store_true",
                        help="store each run's result as a row of one table (packed_runs)")
    return parser


def output_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, str]:
    """The HDF5 file and the PNG. A results file is never replaced unless --overwrite says so."""
    if args.out is None:
        if args.resume:
            parser.error("--resume needs --out FILE: the file to continue")
        filename = free_name(TRAJECTORY)
    else:
        filename = args.out
        if os.path.exists(filename) and not (args.resume or args.overwrite):
            sys.exit(f"{parser.prog}: {filename} exists: add --resume to compute only the runs "
                     "it lacks, or --overwrite to replace it (nothing was changed)")
        if args.overwrite:
            for path in (filename, f"{filename}.aiostore-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
    return filename, args.plot or os.path.splitext(filename)[0] + ".png"


def free_name(stem: str) -> str:
    """``stem.h5`` here, or if that exists the first free ``stem-2.h5``, ``stem-3.h5``..."""
    filename = f"{stem}.h5"
    for number in itertools.count(2):
        if not os.path.exists(filename):
            break
        filename = f"{stem}-{number}.h5"
    if filename != f"{stem}.h5":
        print(f"{stem}.h5 exists: this sweep writes {filename} (to continue an interrupted "
              f"one: --out FILE --resume)", flush=True)
    return filename


def run_and_present(sweeping: Callable[[], Awaitable[tuple[SweepReport, pd.DataFrame]]],
                    filename: str, image: str, backend: str = "asyncio", hint: str = "") -> None:
    """Run the sweep, then print and plot what it found; Ctrl-C ends with one line."""
    ctrl_c = CtrlC()
    swept = None
    try:
        swept = anyio.run(ctrl_c.cancels, sweeping, backend=backend)
    except BaseException as error:
        # workers that Ctrl-C reached too may have failed the sweep first: still Ctrl-C's doing
        if not (ctrl_c.pressed or interrupted(error)):
            if isinstance(error, USER_ERRORS):
                sys.exit(f"{os.path.basename(sys.argv[0])}: error: {error}")
            raise
    if swept is None or ctrl_c.pressed:  # the service closed the file on its way out
        say(f"interrupted: the runs stored so far are kept in {filename}; "
            f"add --out {filename} --resume to compute only the rest")
        sys.exit(130)  # the shell's status for Ctrl-C
    # The file is closed: from here Ctrl-C loses nothing, and ends the process at once (as a
    # KeyboardInterrupt, it could land in a callback that only prints it and goes on)
    signal.signal(signal.SIGINT, lambda *_: stop_presenting(filename, image))
    done, frame = swept
    present(done, frame, filename, image, hint)


def present(done: SweepReport, frame: pd.DataFrame, filename: str, image: str,
            hint: str) -> None:
    table = summary_table(frame)
    report(done, table, filename)
    if len(table):
        plot(table, image)
        print(f"\nplot of the resonance: {image}", flush=True)
    if done.failed:
        print_failures(done.failed, done.runs, filename, hint)
        sys.exit(1)


class CtrlC:
    """Ctrl-C during a sweep on trio, as a cancellation of it (as asyncio's own Ctrl-C is).

    Trio's own Ctrl-C raises KeyboardInterrupt in whatever code runs at that moment, the
    service's hand-offs included (a close could then wait for ever); a cancellation reaches
    only the awaits, which the service and run_sweep are written to take.
    """

    def __init__(self) -> None:
        self.pressed = False

    async def cancels(self, sweeping: Callable[[], Awaitable[T]]) -> T | None:
        """``sweeping()``'s outcome, or None if Ctrl-C cancelled it."""
        if sniffio.current_async_library() != "trio":
            return await sweeping()  # asyncio's own Ctrl-C cancels the sweep
        outcome = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch, group.cancel_scope)
            outcome = await sweeping()
            group.cancel_scope.cancel()  # the watch
        return outcome

    async def _watch(self, scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                self.pressed = True
                scope.cancel()
                return  # a second Ctrl-C is Python's own again


def interrupted(error: BaseException) -> bool:
    """Whether Ctrl-C ended the sweep: trio raises it from inside the task groups, grouped."""
    if isinstance(error, BaseExceptionGroup):
        return error.subgroup(KeyboardInterrupt) is not None
    return isinstance(error, KeyboardInterrupt)


def say(message: str) -> None:
    """``message`` on a line of its own on stderr, written at once even from a signal handler."""
    with contextlib.suppress(Exception):  # stdout may be mid-write when Ctrl-C comes
        sys.stdout.flush()
    os.write(sys.stderr.fileno(), f"\n{message}\n".encode())


def stop_presenting(filename: str, image: str) -> None:
    """Ctrl-C once the sweep is done: say so, drop a plot half written, and end at once."""
    say(f"interrupted: every run is in {filename}; --out {filename} --resume prints the summary "
        "and the plot again without computing")
    with contextlib.suppress(OSError):
        os.remove(partial_plot(image))
    os._exit(130)  # the shell's status for Ctrl-C


def main() -> None:
    parser = common_options(__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes integrating runs at once")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    filename, image = output_paths(parser, args)
    traj = build_trajectory(args.frequencies, args.dampings)
    runner = ProcessRunner(args.workers)
    run_and_present(partial(sweep, filename, traj, runner, args.quiet, args.packed),
                    filename, image, args.backend)


if __name__ == "__main__":
    main()
