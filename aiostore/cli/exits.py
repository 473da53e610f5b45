"""Exit codes, one-line error messages, and the service every command opens a file through."""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import click

from ..blocking import StorageService
from ..engine import file_access
from ..errors import (
    AiostoreError,
    DataNotFoundError,
    DiskFullError,
    FileAccessError,
    FileFormatError,
    InvalidNameError,
    LocksUnsupportedError,
)

__all__ = ["CommandError", "ExitCode", "opened", "reader_may_leave", "translated_errors"]


class ExitCode(enum.IntEnum):
    """The exit status of ``aiostore``; each failure has its own (listed in ``--help``)."""

    OK = 0
    PROBLEMS = 1  # check found problems
    USAGE = 2  # bad usage (click's own code)
    NO_FILE = 3
    NOT_HDF5 = 4  # not an HDF5 file, or not readable as aiostore data, or holding none
    NOT_FOUND = 5  # unknown trajectory, item or result
    REFUSED = 6  # the request was refused: merge conflict, file locked by another process...
    MISSING_DEPENDENCY = 7  # an optional package (pyarrow) is not installed
    # the file system refused: permission denied, read-only, a parent that is a file, disk
    # full, no file locks (the errors aiostore raises as FileAccessError, DiskFullError and
    # LocksUnsupportedError); nothing to do with the file's contents, so not 4
    FILE_SYSTEM = 8


EXIT_CODES_HELP = "\b\n" + "\n".join((  # \b: a line per status, as written
    "Exit status:",
    "  0 success",
    "  1 check found problems",
    "  2 bad usage",
    "  3 no such file",
    "  4 not an HDF5 file (or not aiostore data, or no aiostore trajectory in it)",
    "  5 unknown trajectory or path",
    "  6 refused (merge conflict, file locked)",
    "  7 missing optional package",
    "  8 the file system refused (permission denied, read-only, disk full,",
    "    no file locks)"))


class CommandError(click.ClickException):
    """A failure reported as one line on stderr (``aiostore: error: ...``), with its exit code."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = int(code)  # type: ignore[misc]  # click reads it per instance

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"aiostore: error: {self.format_message()}", err=True)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """aiostore's exceptions as one-line messages with their exit codes (no traceback)."""
    try:
        yield
    except (FileAccessError, DiskFullError, LocksUnsupportedError) as exc:
        raise CommandError(str(exc), ExitCode.FILE_SYSTEM) from None
    except (DataNotFoundError, InvalidNameError) as exc:
        raise CommandError(str(exc), ExitCode.NOT_FOUND) from None
    except FileFormatError as exc:
        raise CommandError(str(exc), ExitCode.NOT_HDF5) from None
    except AiostoreError as exc:
        raise CommandError(str(exc), ExitCode.REFUSED) from None


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """A reader of stdout that stops early (``aiostore ls F | head``) is no failure: exit 0,
    quietly. Python's recipe: stdout goes to /dev/null, so that the flush at exit does not
    fail again on the closed pipe."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise click.exceptions.Exit(int(ExitCode.OK)) from None


def require_file(filename: str) -> None:
    """Refuse a missing file before the service sees it: a store would create it."""
    try:
        os.stat(filename)
    except FileNotFoundError:
        raise CommandError(f"no such file: {filename}", ExitCode.NO_FILE) from None
    except OSError as exc:  # a folder on the way that is a file, or that may not be entered
        message = str(file_access(exc, filename, writing=False))
        raise CommandError(message, ExitCode.FILE_SYSTEM) from None
    if os.path.isdir(filename):
        raise CommandError(f"{filename} is a directory, not an HDF5 file", ExitCode.NOT_HDF5)


@contextlib.contextmanager
def opened(filename: str) -> Iterator[StorageService]:
    """A blocking service on an existing file, with aiostore's errors translated.

    Every HDF5 access goes through it, so that a file a killed writer left is recovered (its
    journal replayed, its end-of-file repaired) before anything is read.
    """
    require_file(filename)
    with translated_errors():
        service = StorageService(filename)
        try:
            yield service
        finally:
            service.close()
