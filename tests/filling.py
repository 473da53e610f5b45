"""Disk-full trials: a writer runs out of space (a real full disk, or its file-size limit), then
space is freed and the file opened again: what did the writer hear, and what does the file hold?

The writer (``python tests/filling.py write FILE LOG SEED``) is the crash trials' writer
(:mod:`crashing`): a trajectory, then runs from four asyncio tasks and a thread at once, each
run's values a function of its index (every seventh run a 2 MB array). It logs each
acknowledged run (``A <index>``) and each refused one with the exception's class and errno
(``R <index> <class> <errno>``), and goes on until every producer has been refused a few
times. Its file lives on a small tmpfs of its own.

Four ways to run out:

- ``prefilled``: a filler file takes a random part of the tmpfs before the writer starts;
- ``racing``: a filler writes into the tmpfs while the writer stores, until the disk is full;
- ``ulimit``: the writer runs under a random ``RLIMIT_FSIZE`` (``ulimit -f``) on a roomy tmpfs;
- ``quota``: after a random number of acknowledged runs, every write libhdf5 makes
  (``pwrite64``, ``pwritev``) and every reservation of room (``fallocate``) fails with
  ``EDQUOT``, as once a quota is reached (a seccomp filter, :mod:`seccomp`; this machine has no
  quota tools). Writes into room reserved before (the journal's, with ``writev``) pass, as
  they do under a real quota; the log's ``write`` too.

Then the filler is deleted (or the limit is gone: the checker is another process), the file is
opened in place with aiostore, and :func:`check` asserts: the file opens; every acknowledged
run is there, completed, exactly; no refused run is there at all (a refused store leaves the
file as it was); and every refusal the writer saw was an aiostore error (``DiskFullError``).
``python tests/filling.py trials --count 50`` prints the README's table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import itertools
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # run as a script: crashing beside it

from crashing import TRAJECTORY, TrialReport, check_file, expected_values  # noqa: E402

from aiostore import AsyncStorageService, Msg, StorageService, Trajectory  # noqa: E402

KINDS = ("prefilled", "racing", "ulimit", "quota")
QUOTA_SYSCALLS = ("pwrite64", "pwritev", "fallocate")
RUNS = 2000  # more than a writer stores before the disk is full (every 7th run is 2 MB)
DISK_BYTES = 32 * 2**20
REFUSALS_TO_STOP = 4  # per producer


# ------------------------------------------------------------------------------------ writer


class Log:
    """What the writer heard, one line per ``write`` call (kept whatever the process does)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, text: str) -> None:
        os.write(self.fd, f"{text}\n".encode())


def _describe(exc: BaseException) -> str:
    """The exception's class and errno; a group's, each of its leaves' ("A+B" classes)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves = [_describe(inner).split() for inner in exc.exceptions]
        return f"{'+'.join(sorted({name for name, _ in leaves}))} {leaves[0][1]}"
    return f"{type(exc).__name__} {getattr(exc, 'errno', None)}"


@dataclasses.dataclass
class _Writer:
    """The producers of one writer, sharing the runs to store and the log."""

    filename: str
    log: Log
    pace: random.Random
    quota_after: int
    traj: Trajectory = dataclasses.field(init=False)
    indices: Iterator[int] = dataclasses.field(default_factory=itertools.count)
    acknowledged: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.traj = Trajectory(TRAJECTORY, comment="disk-full trial")
        self.traj.add_parameter("x", 0)
        self.traj.explore({"x": list(range(RUNS))})

    def run_of(self, index: int) -> Any:
        run = self.traj.run(index)
        run.add_result("r", **expected_values(index))
        return run

    def next_index(self, refusals: int) -> int | None:
        index = next(self.indices)
        return index if refusals < REFUSALS_TO_STOP and index < RUNS else None

    def acknowledge(self, index: int) -> None:
        self.log.line(f"A {index}")
        if next(self.acknowledged) == self.quota_after:
            import seccomp  # beside this file
            seccomp.deny(dict.fromkeys(QUOTA_SYSCALLS, errno.EDQUOT))
            self.log.line("Q")

    def refuse(self, index: int, exc: BaseException) -> int:
        self.log.line(f"R {index} {_describe(exc)}")
        return 1

    async def produce(self, service: AsyncStorageService) -> None:
        refusals = 0
        while (index := self.next_index(refusals)) is not None:
            try:
                await service.store(Msg.SINGLE_RUN, self.run_of(index))
            except Exception as exc:
                refusals += self.refuse(index, exc)
                continue
            self.acknowledge(index)
            if self.pace.random() < 0.2:
                await anyio.sleep(self.pace.random() * 0.002)  # an uneven stream

    def produce_blocking(self) -> None:
        with StorageService(self.filename, trajectory_name=TRAJECTORY) as service:
            refusals = 0
            while (index := self.next_index(refusals)) is not None:
                try:
                    service.store(Msg.SINGLE_RUN, self.run_of(index))
                except Exception as exc:
                    refusals += self.refuse(index, exc)
                    continue
                self.acknowledge(index)


async def write_until_full(filename: str, log_path: str, seed: int, quota_after: int = -1,
                           tasks: int = 4) -> None:
    writer = _Writer(filename, Log(log_path), random.Random(seed), quota_after)
    service = AsyncStorageService(filename)
    try:
        await service.store(Msg.TRAJECTORY, writer.traj)
        writer.log.line("T")
        async with anyio.create_task_group() as group:
            for _ in range(tasks):
                group.start_soon(writer.produce, service)
            group.start_soon(anyio.to_thread.run_sync, writer.produce_blocking)
    except Exception as exc:
        writer.log.line(f"E {_describe(exc)}")
    finally:
        try:
            await service.aclose()
        except Exception as exc:  # closing a file on a full disk may fail: it must say so
            writer.log.line(f"C {_describe(exc)}")
    writer.log.line("END")


# ----------------------------------------------------------------------------------- trials


@dataclasses.dataclass
class FillReport(TrialReport):
    """What one writer that ran out of space left behind."""

    kind: str = ""
    refused: int = 0
    refused_present: list[int] = dataclasses.field(default_factory=list)
    foreign_errors: list[str] = dataclasses.field(default_factory=list)
    free_at_start: int = 0

    @property
    def ok(self) -> bool:
        return super().ok and not (self.refused_present or self.foreign_errors)


@contextlib.contextmanager
def small_disk(folder: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``folder`` (root only)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def fill(folder: Path, leave: int) -> Path:
    """A file (``filler``) taking all but ``leave`` bytes of the disk holding ``folder``."""
    info = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as written:
        os.posix_fallocate(written.fileno(), 0, max(info.f_bavail * info.f_frsize - leave, 1))
    return filler


def grow(folder: Path, size: int) -> None:
    """Make the tmpfs at ``folder`` ``size`` bytes big: room, as a user frees it."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True,
                   capture_output=True)


def can_mount(folder: Path) -> bool:
    try:
        with small_disk(folder / "probe", 2**20):
            return True
    except (subprocess.CalledProcessError, OSError):
        return False


def _fill(path: Path, nbytes: int | None, pace: random.Random | None = None) -> None:
    """Write ``nbytes`` (None: until the disk is full) to ``path``, in random chunks."""
    block = os.urandom(2**20)
    written = 0
    with open(path, "wb", buffering=0) as filler:
        while nbytes is None or written < nbytes:
            size = len(block) if pace is None else pace.randrange(4096, len(block))
            if nbytes is not None:
                size = min(size, nbytes - written)
            try:
                written += filler.write(block[:size])
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    return
                raise
            if pace is not None:
                time.sleep(pace.random() * 0.01)


def _writer(filename: str, log: str, seed: int, limit: int | None,
            quota_after: int) -> subprocess.Popen[bytes]:
    def limited() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.Popen([sys.executable, __file__, "write", filename, log, str(seed),
                             "--quota-after", str(quota_after)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=limited)  # noqa: PLW1509  # no threads in the trials yet


def run_trial(folder: Path, kind: str, seed: int) -> FillReport:
    """Run one writer out of space (``kind``: see the module), free the space, check."""
    rng = random.Random(seed)
    with small_disk(folder / f"{kind}-{seed}", DISK_BYTES) as disk:
        filename, log = str(disk / "sweep.h5"), str(folder / f"{kind}-{seed}.log")
        filler = disk / "filler"
        limit, quota_after = None, -1
        if kind == "quota":
            quota_after = rng.randrange(1, 60)
        if kind == "prefilled":
            _fill(filler, DISK_BYTES - rng.randrange(7 * 2**20, 24 * 2**20))  # free: 7-24 MiB
        elif kind == "ulimit":
            limit = rng.randrange(8 * 2**20, DISK_BYTES - 4 * 2**20)
        report = FillReport(killed_after=0.0, kind=kind, free_at_start=_free(disk))
        writer = _writer(filename, log, seed, limit, quota_after)
        if kind == "racing":
            _wait_for(log, "T", writer)
            time.sleep(rng.random() * 0.5)
            racer = threading.Thread(target=_fill, args=(filler, None, rng))
            racer.start()
            racer.join()
        try:
            _, stderr = writer.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            writer.kill()
            _, stderr = writer.communicate()
            report.error = "the writer did not stop within 300 s"
        if writer.returncode != 0:
            report.error = f"writer ended with {writer.returncode}: {stderr.decode()[-2000:]}"
        if b"HDF5-DIAG" in stderr:
            report.foreign_errors.append("libhdf5 printed to stderr: "
                                         + stderr.decode()[:300])
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()  # space is freed, as a user would in the morning
        subprocess.run(["mount", "-o", f"remount,size={2 * DISK_BYTES}", str(disk)],
                       check=True, capture_output=True)
        return check(filename, log, report)


def _free(folder: Path) -> int:
    info = os.statvfs(folder)
    return info.f_bavail * info.f_frsize


def _wait_for(log: str, line: str, writer: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while writer.poll() is None and time.monotonic() < deadline:
        if os.path.exists(log) and line in Path(log).read_text().split("\n"):
            return
        time.sleep(0.01)


def check(filename: str, log: str, report: FillReport) -> FillReport:
    """The crash trials' checks, and those of refused stores (see the module)."""
    lines = [line.split() for line in Path(log).read_text().split("\n") if line and line != "Q"]
    acks = str(Path(log).with_suffix(".acks"))
    Path(acks).write_text("".join(f"{'T' if line[0] == 'T' else line[1]}\n"
                                  for line in lines if line[0] in ("T", "A")))
    refused = {int(line[1]) for line in lines if line[0] == "R"}
    report.refused = len(refused)
    report.foreign_errors = [" ".join(line) for line in lines
                             if line[0] in ("R", "E", "C") and line[-2] != "DiskFullError"]
    if ["END"] not in lines and not report.error:
        report.error = "the writer did not finish"
    check_file(filename, acks, report, RUNS)
    if report.error or not refused:
        return report
    with StorageService(filename) as service:
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name=TRAJECTORY,
                            load_parameters=2, load_results=1)
    completed = {info.idx for info in traj.runs if info.completed}
    stored = {int(leaf.v_full_name.split(".")[2].removeprefix("run_"))
              for leaf in traj.leaves() if leaf.v_full_name.startswith("results.runs.")}
    report.refused_present = sorted(refused & (completed | stored))
    return report


def run_trials(folder: Path, kind: str, count: int, first_seed: int = 0) -> list[FillReport]:
    return [run_trial(folder, kind, seed) for seed in range(first_seed, first_seed + count)]


def _print_table(results: dict[str, list[FillReport]]) -> None:
    print("| way out of space | trials | runs acknowledged | stores refused | acknowledged runs "
          "lost | refused runs in the file | refusals not DiskFullError | files that failed "
          "to open |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, reports in results.items():
        print(f"| {kind} | {len(reports)} | {sum(r.acknowledged for r in reports)} "
              f"| {sum(r.refused for r in reports)} | {sum(len(r.lost) for r in reports)} "
              f"| {sum(len(r.refused_present) for r in reports)} "
              f"| {sum(len(r.foreign_errors) for r in reports)} "
              f"| {sum(bool(r.error) for r in reports)} |")
    for kind, reports in results.items():
        for number, report in enumerate(reports):
            if not report.ok:
                print(f"{kind} trial {number}: lost {report.lost[:10]} wrong {report.wrong[:3]} "
                      f"refused present {report.refused_present[:10]} foreign "
                      f"{report.foreign_errors[:3]} error {report.error[:500]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="the writer process")
    write.add_argument("filename")
    write.add_argument("log")
    write.add_argument("seed", type=int)
    write.add_argument("--quota-after", type=int, default=-1,
                       help="acknowledged runs after which every file write fails with EDQUOT")
    trials = commands.add_parser("trials", help="run trials and print the table")
    trials.add_argument("--count", type=int, default=50, help="trials per way")
    trials.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    args = parser.parse_args()
    if args.command == "write":
        anyio.run(write_until_full, args.filename, args.log, args.seed, args.quota_after)
        return
    with tempfile.TemporaryDirectory() as folder:
        results = {kind: run_trials(Path(folder), kind, args.count) for kind in args.kinds}
    _print_table(results)


if __name__ == "__main__":
    main()
