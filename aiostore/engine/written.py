"""Which rows of its run tables a file open for writing had written, and when.

A live writer's reader that kept a run table's rows asks for those after the last run it knew
completed (:mod:`aiostore._core.live.framecache`); in a sweep the rows after it are mostly runs
not started yet, written once with the trajectory, so the writer need read them only up to
the last row written since the reader's last answer. Each write of a run table gets a stamp
(increasing, for the whole process: a stamp of another file's writes, or of the same file
before it was opened again, is never mistaken for this one's) and the end of the rows it
reached; of those, only the ends not reached again by a later write are kept, so the last row
written since a stamp is one look-up (a sweep that stores its runs in order keeps one).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["WrittenRows", "latest_stamp"]

KEPT_WRITES = 4096  # ends kept per table; an older stamp asks for every row after its runs

class _Stamps:
    latest = 0  # the engine runs on one thread at a time


def _stamp() -> int:
    _Stamps.latest += 1
    return _Stamps.latest


def latest_stamp() -> int:
    """The stamp of the latest write (or opening) in this process: a reader that read now
    knows every row written up to it."""
    return _Stamps.latest


@dataclass
class WrittenRows:
    """The writes of one open file's run tables since it was opened (stamped ``start``)."""

    start: int = field(default_factory=_stamp)
    # by table path: the stamps of writes and the ends of the rows they reached, the ends
    # decreasing (an end reached again later is dropped)
    _writes: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)

    def wrote(self, table: str, end: int) -> None:
        """A write of ``table``'s rows, none of them at or after row ``end``."""
        stamps, ends = self._writes.setdefault(table, ([], []))
        while ends and ends[-1] <= end:
            stamps.pop()
            ends.pop()
        stamps.append(_stamp())
        ends.append(end)
        if len(ends) > KEPT_WRITES:  # the oldest go: a stamp before them knows nothing
            self.start = max(self.start, stamps[0])
            del stamps[0], ends[0]

    def until(self, table: str, since: int, stamp: int) -> int | None:
        """Where the rows of ``table`` from row ``since`` on that may have changed after
        ``stamp`` end (``since`` at least); None if that is not known."""
        end = self.end_since(table, stamp)
        return None if end is None else max(end, since)

    def end_since(self, table: str, stamp: int) -> int | None:
        """The end of the rows of ``table`` written after ``stamp`` (0: none); None if that is
        not known (``stamp`` is from before this file was opened, or too old)."""
        if stamp < self.start:
            return None
        stamps, ends = self._writes.get(table, ((), ()))
        after = bisect.bisect_right(stamps, stamp)
        return ends[after] if after < len(ends) else 0
