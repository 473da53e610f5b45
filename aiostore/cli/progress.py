"""Progress bars for long work: tqdm on stderr, only when stderr is a terminal."""

from __future__ import annotations

import sys
from typing import Any

import click
from tqdm import tqdm

__all__ = ["bar", "note"]


def _quiet() -> bool:
    """``--quiet`` was given (False outside a command, when the functions are called directly)."""
    context = click.get_current_context(silent=True)
    return context is not None and bool(context.find_root().meta.get("aiostore.quiet", False))


def bar(total: int, desc: str, unit: str = "item") -> Any:
    """A tqdm bar of ``total`` steps; silent with ``--quiet`` or when stderr is not a terminal
    (a bar in a log file or a pipe is noise)."""
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                disable=_quiet() or not sys.stderr.isatty())


def note(message: str) -> None:
    """A one-line note on stderr (``aiostore: message``), unless ``--quiet``."""
    if not _quiet():
        click.echo(f"aiostore: {message}", err=True)
