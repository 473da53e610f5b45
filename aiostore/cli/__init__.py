"""The ``aiostore`` command: ls, show, export, check, backup and merge on aiostore files.

Every file is opened through :class:`aiostore.StorageService`, so a file a killed writer left is
recovered before it is read. Exit codes are those of :class:`~aiostore.cli.exits.ExitCode`.
"""

from __future__ import annotations

from .commands import cli, main
from .exits import ExitCode

__all__ = ["ExitCode", "cli", "main"]
