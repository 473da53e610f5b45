"""aiostore's main job: an async parameter sweep whose runs are stored as they finish.

Each run integrates a driven damped oscillator, x'' + 2*zeta*x' + x = cos(w*t) (time in units of
the natural period), for one point of a grid of drive frequency ``w`` and damping ratio ``zeta``.
The integrations run in a process pool, so the event loop stays free; ``aiostore.run_sweep``
awaits each run's results into one HDF5 file through ``AsyncStorageService`` as soon as the run
finishes, with a progress bar. A grid this coarse steps over the resonance peaks (at damping
0.05 the top of the peak, within 1% of its height, is 0.014 wide; the grid's spacing is 0.095),
so the sweep then refines: the trajectory is expanded with runs beside each damping's highest
amplitude, round after round, until that amplitude's neighbours are within 1% of it. At the end
it reads every run back as a DataFrame (``load_frame``), prints the peaks found against the
exact ones, and writes a PNG of the resonance.

    python examples/async_sweep.py [--frequencies 20] [--dampings 15] [--out FILE]
                                   [--resume | --overwrite] [--plot FILE.png] [--workers N]
                                   [--backend asyncio|trio] [--packed] [--quiet]

Without ``--out`` it writes ``resonance.h5`` here, or the next free ``resonance-2.h5``...; an
existing ``--out`` is refused unless ``--resume`` (compute only the runs it lacks: after Ctrl-C
or a kill) or ``--overwrite`` (replace it) says what to do with it. While it runs, another
terminal can watch it (``aiostore watch resonance.h5``) or read what it has stored so far
(``aiostore show resonance.h5 resonance.response``): this process answers their reads.
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
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio
import numpy as np
import pandas as pd
import sniffio

import aiostore
from aiostore import AsyncStorageService, Msg, ProcessRunner, SweepReport, Trajectory, run_sweep
from aiostore.errors import (
    DataNotFoundError,
    DiskFullError,
    FileAccessError,
    FileFormatError,
    FileLockedError,
    RunnerError,
    SweepMismatchError,
)

T = TypeVar("T")
TRAJECTORY = "resonance"
RESULT = "response"
TOLERANCE = 0.01  # a peak is found once its sampled neighbours are within 1% of it
ROUNDS = 8  # at most this many refinements: each divides the spacing at the peaks by 3
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


def exact_peak(damping: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frequency where the exact amplitude is highest, and that amplitude.

    Below zeta = 1/sqrt(2) it is the resonance, 1/(2*zeta*sqrt(1 - zeta**2)) at
    w = sqrt(1 - 2*zeta**2); above, there is no resonance and the amplitude only falls from the
    static response, 1 at w = 0.
    """
    resonant = damping < 1 / np.sqrt(2)
    frequency = np.sqrt(np.where(resonant, 1 - 2 * damping**2, 0.0))
    amplitude = np.where(resonant, 1 / (2 * damping * np.sqrt(np.abs(1 - damping**2))), 1.0)
    return frequency, amplitude


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


# A sweep of one trajectory into an open service: run_sweep with its runner and options bound
Sweeper = Callable[[AsyncStorageService, Trajectory], Awaitable[SweepReport]]


@dataclass
class Outcome:
    """What the sweep did: the grid's sweep and each refinement's, and every completed run."""

    reports: list[SweepReport]
    frame: pd.DataFrame  # load_frame's rows: a run per row, its parameters and response
    grid_runs: int
    found: bool  # whether every peak was refined to TOLERANCE (not when runs failed)

    @property
    def runs(self) -> int:
        return self.reports[-1].runs

    @property
    def stored(self) -> int:
        return sum(len(report.stored) for report in self.reports)

    @property
    def already(self) -> int:
        return len(self.reports[0].already_completed)

    @property
    def seconds(self) -> float:
        return sum(report.seconds for report in self.reports)

    @property
    def failed(self) -> Mapping[int, str]:
        # each sweep computes every run not yet completed, the failed ones of earlier rounds
        # included, so the last one's failures are all the runs still missing
        return self.reports[-1].failed


async def sweep(filename: str, grid: Trajectory, run: Sweeper, packed: bool = False) -> Outcome:
    """Compute the runs the file lacks, storing each as it ends; refine the peaks; read back."""
    async with AsyncStorageService(filename, file_title="aiostore example",
                                   packed_runs=packed) as service:
        grid_runs = len(grid)
        traj = await to_resume(service, grid)
        # run_sweep awaits each run into the file as its process finishes it; called again on
        # the same file (--resume, a refinement) it computes only the runs not completed there
        reports = [await run(service, traj)]
        frame = await completed_runs(service)
        for round_ in range(1, ROUNDS + 1):
            points = refinement(frame)
            if reports[-1].failed or not points:  # failed runs would be retried every round
                break
            print(f"refining the peaks, round {round_}: {len(points)} more runs", flush=True)
            await expand(service, traj, points)
            reports.append(await run(service, traj))
            frame = await completed_runs(service)
        found = not reports[-1].failed and not refinement(frame)
    return Outcome(reports, frame, grid_runs, found)


async def to_resume(service: AsyncStorageService, grid: Trajectory) -> Trajectory:
    """``grid``, expanded by the refining runs the file holds (an earlier run refined it).

    A file holding another sweep is left to ``run_sweep``, which refuses it.
    """
    try:
        if TRAJECTORY not in await service.list_trajectories():
            return grid
    except DataNotFoundError:  # no file yet
        return grid
    stored = await service.load(Msg.TRAJECTORY, None, trajectory_name=TRAJECTORY,
                                load_parameters=2, load_derived_parameters=0, load_results=0)
    ranges = {name: stored[f"parameters.{name}"].range for name in ("frequency", "damping")}
    same_grid = all(np.array_equal(values[:len(grid)], grid[f"parameters.{name}"].range)
                    for name, values in ranges.items())
    if same_grid and len(stored) > len(grid):
        grid.expand({name: values[len(grid):] for name, values in ranges.items()})
    return grid


async def expand(service: AsyncStorageService, traj: Trajectory,
                 points: list[tuple[float, float]]) -> None:
    """Append runs at ``points`` to the trajectory, in memory and in the file."""
    old_length = len(traj)
    changed = traj.expand({"frequency": [w for w, _ in points],
                           "damping": [z for _, z in points]})
    # PREPARE_MERGE writes the longer ranges and the new runs' rows (not completed): the next
    # run_sweep finds the same trajectory as in memory and computes just the new runs
    await service.store(Msg.PREPARE_MERGE, traj, changed, old_length)


async def completed_runs(service: AsyncStorageService) -> pd.DataFrame:
    """A row per completed run (frequency, damping, amplitude, phase, energy, trace)."""
    try:
        return await service.load_frame(TRAJECTORY, RESULT)
    except DataNotFoundError:  # no run completed
        columns = ["frequency", "damping", "amplitude", "phase", "energy", "trace"]
        return pd.DataFrame(columns=columns, index=pd.RangeIndex(0, name="run"))


def refinement(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """New (frequency, damping) points beside each damping's peak that is not yet found."""
    points = []
    for damping, rows in frame.groupby("damping"):
        curve = rows.sort_values("frequency")
        points += [(frequency, float(damping)) for frequency in
                   around_peak(curve["frequency"].to_numpy(), curve["amplitude"].to_numpy())]
    return points


def around_peak(frequency: np.ndarray, amplitude: np.ndarray) -> list[float]:
    """Two frequencies in each gap beside the highest amplitude, unless it is found.

    It is found when its neighbours are within TOLERANCE of it: the true peak lies between
    them, and on a peak's rounded top the highest sample is then within about TOLERANCE / 4
    of it. New frequencies stay within the grid's range: a run's time step is a hundredth of
    the drive's period, too coarse for the model below the grid's lowest frequency.
    """
    best = int(np.argmax(amplitude))
    neighbours = amplitude[max(best - 1, 0):best + 2]
    if np.all(neighbours >= (1 - TOLERANCE) * amplitude[best]):
        return []
    new = []
    if best > 0:
        below = frequency[best] - frequency[best - 1]
        new += [frequency[best] - below * 2 / 3, frequency[best] - below / 3]
    if best < len(frequency) - 1:
        above = frequency[best + 1] - frequency[best]
        new += [frequency[best] + above / 3, frequency[best] + above * 2 / 3]
    return [float(w) for w in new]


# ------------------------------------------------------------------------------ reporting


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """``load_frame``'s rows (the completed runs) with the exact amplitude of each."""
    table = frame.reset_index()[["run", "frequency", "damping", "amplitude", "phase"]]
    table = table.astype({"frequency": float, "damping": float, "amplitude": float})
    table["completed"] = True
    table["exact"] = exact_amplitude(table["frequency"].to_numpy(), table["damping"].to_numpy())
    return table


def report(outcome: Outcome, table: pd.DataFrame, filename: str) -> None:
    refining = outcome.runs - outcome.grid_runs
    print(f"aiostore {aiostore.__version__}: {outcome.stored} runs computed and stored in "
          f"{outcome.seconds:.1f} s ({outcome.stored / outcome.seconds:.0f} runs/s), "
          f"{outcome.already} were already in {filename}; {outcome.grid_runs} runs on the grid, "
          f"{refining} refining the peaks")
    if outcome.found:
        heading = ("resonance peak for each damping ratio (from the file; the highest amplitude "
                   "measured, the grid refined around it):")
    else:
        heading = ("highest amplitude measured for each damping ratio (from the file; NOT "
                   f"refined to {TOLERANCE:.0%}: " + ("runs failed" if outcome.failed else
                                                       f"{ROUNDS} rounds were not enough") + "):")
    print_science(table, outcome.runs, heading)


def print_science(table: pd.DataFrame, runs: int, heading: str) -> None:
    """What the completed runs found: accuracy against the exact amplitude, and the peaks."""
    completed = int(table["completed"].sum())
    more = "" if completed == runs else f" ({completed} of {runs})"
    print(f"every run completed: {completed == runs}{more}")
    if not completed:
        return
    table = table[table["completed"]]
    error = (table["amplitude"] / table["exact"] - 1).abs().max()
    print(f"largest relative error of the measured amplitude against the exact one: {error:.2e}")
    print(f"\n{heading}")
    print(peak_table(table).to_string(index=False, formatters={
        "error": "{:+.2%}".format, "runs": "{:d}".format}, float_format="{:8.4f}".format))
    if (table["damping"] >= 1 / np.sqrt(2)).any():
        print("(above damping 0.7071 there is no resonance: the exact peak is the static "
              "response, 1 at frequency 0)")


def peak_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per damping: where the highest measured amplitude is, and the exact peak to compare."""
    peaks = table.loc[table.groupby("damping")["amplitude"].idxmax(),
                      ["damping", "frequency", "amplitude"]]
    peaks["exact w"], peaks["exact peak"] = exact_peak(peaks["damping"].to_numpy())
    peaks["error"] = peaks["amplitude"] / peaks["exact peak"] - 1
    peaks["runs"] = table.groupby("damping").size().loc[peaks["damping"]].to_numpy()
    return peaks


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


def plot(outcome: Outcome, table: pd.DataFrame, path: str) -> None:
    """The amplitude over the grid (left) and resonance curves with the peaks found (right)."""
    import matplotlib
    matplotlib.use("Agg")  # headless
    import matplotlib.pyplot as plt

    peaks = peak_table(table)
    grid = table[table["run"] < outcome.grid_runs].pivot(index="damping", columns="frequency",
                                                         values="amplitude")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    mesh = left.pcolormesh(grid.columns, grid.index, np.ma.masked_invalid(grid.to_numpy()),
                           shading="nearest", norm=matplotlib.colors.LogNorm())
    left.plot(peaks["frequency"], peaks["damping"], "w+", markersize=6, label="peak found")
    left.set(xlabel="drive frequency / natural frequency", ylabel="damping ratio",
             yscale="log", title="steady-state amplitude on the grid")
    left.legend(fontsize=8, loc="upper right")
    figure.colorbar(mesh, ax=left, label="amplitude / static response")
    dampings = sorted(table["damping"].unique())
    for damping in dampings[:: max(len(dampings) // 5, 1)]:
        curve = table[table["damping"] == damping].sort_values("frequency")
        right.plot(curve["frequency"], curve["amplitude"], "o", markersize=3,
                   label=f"zeta = {damping:.2f}")
        fine = np.linspace(0.01, table["frequency"].max(), 800)
        right.plot(fine, exact_amplitude(fine, np.full_like(fine, damping)), "-", linewidth=0.8,
                   color=right.lines[-1].get_color())
    right.set(xlabel="drive frequency / natural frequency", ylabel="amplitude / static response",
              yscale="log", title="measured (dots: grid and refinement) and exact (lines)")
    right.legend(fontsize=8)
    figure.tight_layout()
    # written beside and renamed: an interrupted plot never leaves half a PNG
    figure.savefig(partial_plot(path), dpi=110, format="png")
    plt.close(figure)
    os.replace(partial_plot(path), path)


def partial_plot(path: str) -> str:
    return f"{path}.partial"


# ------------------------------------------------------------------- the command line


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


def run_and_present(sweeping: Callable[[], Awaitable[Outcome]], filename: str, image: str,
                    backend: str = "asyncio", hint: str = "") -> None:
    """Run the sweep, then print and plot what it found; Ctrl-C ends with one line."""
    ctrl_c = CtrlC()
    outcome = None
    try:
        outcome = anyio.run(ctrl_c.cancels, sweeping, backend=backend)
    except BaseException as error:
        # workers that Ctrl-C reached too may have failed the sweep first: still Ctrl-C's doing
        if not (ctrl_c.pressed or interrupted(error)):
            if isinstance(error, USER_ERRORS):
                sys.exit(f"{os.path.basename(sys.argv[0])}: error: {error}")
            raise
    if outcome is None or ctrl_c.pressed:  # the service closed the file on its way out
        say(f"interrupted: the runs stored so far are kept in {filename}; "
            f"add --out {filename} --resume to compute only the rest")
        sys.exit(130)  # the shell's status for Ctrl-C
    # The file is closed: from here Ctrl-C loses nothing, and ends the process at once (as a
    # KeyboardInterrupt, it could land in a callback that only prints it and goes on)
    signal.signal(signal.SIGINT, lambda *_: stop_presenting(filename, image))
    present(outcome, filename, image, hint)


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


def present(outcome: Outcome, filename: str, image: str, hint: str) -> None:
    table = summary_table(outcome.frame)
    report(outcome, table, filename)
    if len(table):
        plot(outcome, table, image)
        print(f"\nplot of the resonance: {image}", flush=True)
    if outcome.failed:
        print_failures(outcome.failed, outcome.runs, filename, hint)
        sys.exit(1)


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
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio",
                        help="the event loop anyio runs the sweep on")
    args = parser.parse_args()
    filename, image = output_paths(parser, args)
    grid = build_trajectory(args.frequencies, args.dampings)
    runner = ProcessRunner(args.workers)
    run = partial(run_sweep, simulate=simulate, runner=runner, result=RESULT,
                  progress=not args.quiet)
    run_and_present(partial(pooled, runner, partial(sweep, filename, grid, run, args.packed)),
                    filename, image, args.backend)


async def pooled(runner: ProcessRunner, sweeping: Callable[[], Awaitable[Outcome]]) -> Outcome:
    """``sweeping`` with the runner's processes started once for the grid and every refinement
    (a runner outside ``async with`` starts them for each sweep)."""
    async with runner:
        return await sweeping()


if __name__ == "__main__":
    main()
