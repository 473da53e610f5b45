"""A storage service that runs the engine in the calling thread: no threads, no event loop.

For scripts and tests that touch one file from one thread. Everything else (event loops,
several threads, worker processes) wants the service with its own HDF5 thread.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .engine import Engine
from .planning import Defaults, list_trajectories, plan_load, plan_store


class InlineStorageService:
    """``store``/``load`` with pypet's signatures, executed at once in the calling thread.

    The file stays open between calls and is flushed after each store; :meth:`close` closes it.
    """

    def __init__(self, filename: str, file_title: str = "Experiment",
                 trajectory_name: str | None = None, compression: str | None = None) -> None:
        self.defaults = Defaults(filename, file_title, trajectory_name)
        self._engine = Engine(compression=compression)

    @property
    def filename(self) -> str:
        assert self.defaults.filename is not None
        return self.defaults.filename

    def store(self, msg: Any, stuff_to_store: Any, *args: Any, **kwargs: Any) -> Any:
        """Store ``stuff_to_store`` as ``msg`` says; returns when it is in the file."""
        job = plan_store(msg, stuff_to_store, args, kwargs, self.defaults)
        answer = self._engine.execute(job.request)
        self._engine.flush()
        return job.finish(answer)

    def load(self, msg: Any, stuff_to_load: Any = None, *args: Any, **kwargs: Any) -> Any:
        """Load as ``msg`` says; returns the loaded item (or trajectory, or list)."""
        job = plan_load(msg, stuff_to_load, args, kwargs, self.defaults)
        return job.finish(self._engine.execute(job.request))

    def list_trajectories(self) -> list[str]:
        """The names of the trajectories in the file."""
        job = list_trajectories(self.filename)
        result: list[str] = job.finish(self._engine.execute(job.request))
        return result

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> InlineStorageService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
