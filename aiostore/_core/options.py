"""A service's options: taken once by its face and passed down as one value (httpx's ``Timeout``
and ``Limits`` are the model).

The faces (:class:`~aiostore.AsyncStorageService`, :class:`~aiostore.StorageService` and the
pypet shim) keep their keyword arguments, documented there; each builds an :class:`Options`
from them, and the :class:`~aiostore._core.session.Session` checks it and derives what planning
needs (:class:`~aiostore._core.planning.Defaults`) and what each request carries
(:class:`~aiostore._core.requests.Target`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .worker import Durability

__all__ = ["Options"]


@dataclass(frozen=True, slots=True)
class Options:
    """The options of one service, as its face was given them (unchecked)."""

    filename: str | None = None
    file_title: str = "Experiment"
    trajectory_name: str | None = None
    durability: Durability | str = Durability.FLUSH
    compression: str | None = None
    compression_level: int = 5
    packed_runs: bool = True
    journal: bool = True
    in_memory: bool = False
    save_on_close: bool = False

    @property
    def codec(self) -> tuple[str, int] | None:
        """The compression library and level new chunked data gets; None for none."""
        return (self.compression, self.compression_level) if self.compression else None
