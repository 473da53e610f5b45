"""The ``aiostore`` command and its subcommands (click); each is a thin layer over one module."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

import click

from .. import __version__
from . import checking, export, listing, maintenance, showing, watching
from .exits import (
    EXIT_CODES_HELP,
    CommandError,
    ExitCode,
    opened,
    reader_may_leave,
    translated_errors,
)
from .paths import parse_item, parse_run_result, require_trajectories, trajectories
from .progress import note
from .suggesting import suggesting
from .wording import plural

__all__ = ["cli"]

FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=str))


class _Group(click.Group):
    """Subcommands whose aiostore errors become one-line messages with their exit codes, and
    whose output may go to a reader that stops early (click's own exit code for that is 1)."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        with reader_may_leave():  # --help, --version
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> object:
        with reader_may_leave(), translated_errors():
            return super().invoke(ctx)


def _echo(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


@click.group(cls=_Group, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aiostore")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no notes on stderr.")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """Look into, export, check and maintain aiostore HDF5 files.

    Items are named with the trajectory first, then the item's full name:
    TRAJ, TRAJ.parameters.x, TRAJ.results.runs.run_00000003.z.
    """
    ctx.meta["aiostore.quiet"] = quiet


@cli.command("ls", epilog=EXIT_CODES_HELP)
@FILE
@click.argument("path", required=False)
@click.option("-d", "--depth", type=click.IntRange(min=0), help="Levels to show below PATH.")
@click.option("--bytes", "exact", is_flag=True, help="Sizes in bytes, not KiB/MiB.")
def ls_command(file: str, path: str | None, depth: int | None, exact: bool) -> None:
    """The tree of trajectories, groups and leaves, with each value's type, shape and size.

    PATH narrows it: TRAJ, TRAJ.parameters, TRAJ.results.runs.run_00000003. Nothing but the
    file's metadata is read, so it is quick on big files.
    """
    where = parse_item(path) if path else None
    with opened(file) as service:
        if where is None:
            trajectories(service, file)  # an HDF5 file without aiostore data is said to be so
            _echo(listing.list_items(service, where, depth, exact))
            return
        require_trajectories(service, file, where.trajectory)
        with suggesting(service, where):
            _echo(listing.list_items(service, where, depth, exact))


@cli.command("show", epilog=EXIT_CODES_HELP)
@FILE
@click.argument("path")
def show_command(file: str, path: str) -> None:
    """The values of one item, a trajectory's run table, or one result of every run.

    PATH is a leaf (TRAJ.results.runs.run_00000003.z: each value, long arrays abbreviated),
    a parameter (TRAJ.parameters.x: its value and explored range), a group (the values of
    the leaves in it), TRAJ / TRAJ.runs (the run table: index, name, completed, start,
    runtime, the run's parameters), or a result of every run as export names it (TRAJ.NAME
    or TRAJ.results.runs.*.NAME: a row per run, the first and last 10 of a longer table).
    """
    what = showing.parse(path)
    with opened(file) as service:
        require_trajectories(service, file, what.trajectory)
        with suggesting(service, what):
            _echo(showing.show(service, what))


@cli.command("export", epilog=EXIT_CODES_HELP)
@FILE
@click.argument("path")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option("--to", "to", type=click.Choice(export.FORMATS),
              help="Output format (default: from OUT's suffix).")
@click.option("--arrays", is_flag=True, help="npz: also each array value, stacked over the runs.")
def export_command(file: str, path: str, out: str, to: str | None, arrays: bool) -> None:
    """One result of every run as a table: a row per run.

    PATH names the result: TRAJ.NAME for results.runs.run_XXXXXXXX.NAME of every run, or the
    same written out, TRAJ.results.runs.*.NAME (TRAJ.derived_parameters.runs.*.NAME for a
    derived parameter of every run). Columns: run (the index), each explored parameter's value
    in that run, each scalar value of the result (a dict of scalars: a column per key,
    KEY.SUB). Non-scalar values are left out with a note (npz takes them with --arrays).
    OUT is a file (- for csv to stdout); parquet needs pyarrow (pip install aiostore[parquet]).

    \b
    Example: aiostore export out.h5 sweep.z z.csv
    """
    fmt = to or ("csv" if out == "-" else os.path.splitext(out)[1].lstrip(".").lower())
    if fmt not in export.FORMATS:
        raise click.UsageError(f"cannot tell the format of {out!r}: pass --to csv|parquet|npz")
    if out == "-" and fmt != "csv":
        raise click.UsageError("only csv can go to stdout")
    spec = parse_run_result(path)
    with opened(file) as service:
        require_trajectories(service, file, spec.trajectory)
        with suggesting(service, spec):
            rows = export.collect(service, spec)
    export.write(rows, out, fmt, arrays)
    if rows.runs_without:
        note(f"{plural(rows.runs_without, 'run')} without the result left out")


@cli.command("check", epilog=EXIT_CODES_HELP)
@FILE
def check_command(file: str) -> None:
    """Decode every leaf of every trajectory and compare the run table with what is found.

    Prints one line per problem (where: error|warning: what) and a summary per trajectory;
    exits with status 1 if any error was found. Incomplete runs are warnings: one line for
    those that hold nothing (their count and indexes, as ranges), one for each that holds
    some results of a partial store.
    """
    errors = 0
    with opened(file) as service:
        trajectories(service, file)
        lines = list(checking.check_file(service))
    for line in lines:
        errors += isinstance(line, checking.Problem) and line.error
        click.echo(str(line))
    if errors:
        raise click.exceptions.Exit(int(ExitCode.PROBLEMS))


@cli.command("watch", epilog=EXIT_CODES_HELP)
@FILE
@click.argument("traj", required=False)
@click.option("-n", "--every", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="Seconds between refreshes.")
@click.pass_context
def watch_command(ctx: click.Context, file: str, traj: str | None, every: float) -> None:
    """A running sweep's progress: runs completed of the total, rate, time to go, failures.

    Refreshes until the sweep ends: the writer closes the file or goes away, or every run has
    been completed (or failed) for 5 s with no sweep running. Works while the sweep's process
    holds FILE (it answers the reads).
    TRAJ is needed only if the file holds several trajectories. A bar on stderr in a terminal,
    else a line on stdout per change; the last line says how it ended.

    \b
    Example: aiostore watch resonance.h5
    """
    bar = sys.stderr.isatty() and not ctx.find_root().meta.get("aiostore.quiet", False)
    with opened(file) as service:
        watching.watch(service, watching.Watch(file, traj, every, bar))


@cli.command("backup", epilog=EXIT_CODES_HELP)
@FILE
@click.argument("dest", required=False)
@click.option("-t", "--trajectory", "chosen", multiple=True,
              help="Back up only this trajectory (repeatable; default: every one).")
def backup_command(file: str, dest: str | None, chosen: tuple[str, ...]) -> None:
    """Copy trajectories into another HDF5 file (BACKUP).

    DEST receives every trajectory (it may exist, without them); by default each goes to
    backup_TRAJ.hdf5 beside FILE. The backup file is written whole or not at all.
    """
    with opened(file) as service:
        require_trajectories(service, file, *chosen)
        names = list(chosen) or trajectories(service, file)
        _echo(maintenance.backup(service, names, dest, file))


@cli.command("merge", epilog=EXIT_CODES_HELP)
@FILE
@click.argument("traj_a")
@click.argument("traj_b")
@click.option("--backup/--no-backup", default=True, show_default=True,
              help="Back up TRAJ_A first (BACKUP).")
@click.option("--backup-file", help="Where the backup goes (default: backup_TRAJ_A.hdf5 beside "
              "FILE, numbered if it exists).")
@click.option("--delete-other", is_flag=True, help="Delete TRAJ_B once merged.")
@click.option("--move", is_flag=True, help="Move TRAJ_B's nodes instead of copying them.")
@click.option("--rename", "renames", multiple=True, metavar="OLD=NEW",
              help="Merge only these items, each to a new full name (repeatable); without it "
              "every run of TRAJ_B is appended after TRAJ_A's.")
def merge_command(file: str, traj_a: str, traj_b: str, backup: bool, backup_file: str | None,
                  delete_other: bool, move: bool, renames: tuple[str, ...]) -> None:
    """Merge trajectory TRAJ_B into TRAJ_A in FILE (MERGE).

    By default the runs of TRAJ_B are appended to TRAJ_A's (renumbered after them), their
    results and derived parameters copied, and the explored ranges extended; both must
    explore the same parameters. The merge is atomic: a failure takes it back whole.
    """
    if traj_a == traj_b:  # before the file is opened, let alone backed up
        raise CommandError(f"cannot merge trajectory {traj_a!r} into itself: TRAJ_B must be "
                           "another trajectory of the file", ExitCode.USAGE)
    if backup:
        maintenance.refuse_itself(backup_file, file, "--backup-file")
    options = maintenance.MergeOptions(backup, backup_file, delete_other, move, renames)
    with opened(file) as service:
        require_trajectories(service, file, traj_a, traj_b)
        _echo(maintenance.merge(service, traj_a, traj_b, options, file))


def main() -> None:
    """The console script: run the command, exiting with its status."""
    cli(prog_name="aiostore")
