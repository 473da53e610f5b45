"""``aiostore backup`` and ``aiostore merge``: the BACKUP and MERGE messages from the shell."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..blocking import StorageService
from ..errors import ItemExistsError
from ..messages import Msg
from .exits import CommandError, ExitCode
from .paths import load_runs
from .wording import plural

__all__ = ["MergeOptions", "backup", "default_backup_name", "merge", "refuse_itself"]


def default_backup_name(filename: str, trajectory: str) -> str:
    """``backup_<trajectory>.hdf5`` beside the file (pypet's name), numbered if it exists."""
    folder = os.path.dirname(os.path.abspath(filename))
    candidate = os.path.join(folder, f"backup_{trajectory}.hdf5")
    number = 1
    while os.path.exists(candidate):
        candidate = os.path.join(folder, f"backup_{trajectory}_{number}.hdf5")
        number += 1
    return candidate


def refuse_itself(destination: str | None, filename: str, option: str) -> None:
    """USAGE if ``destination`` is ``filename`` (by another name, maybe)."""
    if destination is None:
        return
    if os.path.exists(destination) and os.path.exists(filename):
        same = os.path.samefile(destination, filename)
    else:
        same = os.path.realpath(destination) == os.path.realpath(filename)
    if same:
        raise CommandError(f"cannot back up {filename} into itself: {option} must be another "
                           "file", ExitCode.USAGE)


def backup(service: StorageService, trajectories: Sequence[str], destination: str | None,
           filename: str, option: str = "DEST") -> Iterator[str]:
    """Copy each trajectory of ``filename`` into ``destination`` (or its own default backup
    file); yields where each went. ``option``: what the command calls the destination."""
    refuse_itself(destination, filename, option)
    for trajectory in trajectories:
        target = destination or default_backup_name(filename, trajectory)
        try:
            written = service.store(Msg.BACKUP, None, trajectory_name=trajectory,
                                    backup_filename=target)
        except ItemExistsError:
            raise CommandError(f"{target} already holds a trajectory {trajectory!r}, which a "
                               f"backup does not overwrite: name another {option}",
                               ExitCode.REFUSED) from None
        yield f"{trajectory} -> {written}"


@dataclass(frozen=True, slots=True)
class MergeOptions:
    """What ``merge`` was asked: the MERGE message's arguments, and a backup first."""

    backup: bool = True
    backup_file: str | None = None
    delete_other: bool = False
    move: bool = False
    renames: tuple[str, ...] = ()

    def rename_dict(self) -> dict[str, str] | None:
        """``OLD=NEW`` pairs as MERGE's ``rename_dict``; None merges everything."""
        if not self.renames:
            return None
        pairs = {}
        for text in self.renames:
            old, sep, new = text.partition("=")
            if not sep or not old or not new:
                raise CommandError(f"--rename takes OLD=NEW, not {text!r}", ExitCode.USAGE)
            pairs[old] = new
        return pairs


def merge(service: StorageService, mine: str, other: str, options: MergeOptions,
          filename: str) -> Iterator[str]:
    """Merge trajectory ``other`` into ``mine`` in ``filename``; yields what was done, line by
    line."""
    rename = options.rename_dict()  # bad usage fails before anything is written
    before = len(load_runs(service, mine).runs)
    load_runs(service, other)  # a missing trajectory fails before the backup is made
    if options.backup:
        yield from backup(service, [mine], options.backup_file, filename, "--backup-file")
    service.store(Msg.MERGE, None, other, trajectory_name=mine, rename_dict=rename,
                  move_nodes=options.move, delete_trajectory=options.delete_other)
    if rename is not None:
        yield f"merged {plural(len(rename), 'item')} of {other} into {mine}"
    else:
        after = len(load_runs(service, mine).runs)
        runs = "run" if after == 1 else "runs"
        yield f"merged {other} into {mine}: {before} + {after - before} {runs} = {after}"
    if options.delete_other:
        yield f"deleted {other}"
