"""Sweeps: run a trajectory's simulations and store each run's result as it finishes.

- :mod:`.driver`: :func:`run_sweep`, which resumes where an interrupted sweep left off;
- :mod:`.indices`: the run indices of its report (one buffer, not an int per run);
- :mod:`.runners`: where the simulations run (:class:`ProcessRunner`, local processes);
  :class:`aiostore.dask.DaskRunner` (:mod:`.dask`) runs them on a Dask cluster.

``load_dataset`` (the results of the completed runs as an xarray Dataset) is a method of the
services, planned by :mod:`aiostore._core.datasets`.
"""

from .driver import RunAnswer, SweepReport, run_sweep, simulate_runs
from .indices import RunIndexSet, RunIndices
from .runners import Finished, ProcessRunner, Runner

__all__ = ["Finished", "ProcessRunner", "RunAnswer", "RunIndexSet", "RunIndices", "Runner",
           "SweepReport", "run_sweep", "simulate_runs"]
