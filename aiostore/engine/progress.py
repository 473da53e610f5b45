"""How far a trajectory's runs are, from its run table's columns (aiostore's and pypet's)."""

from __future__ import annotations

import numpy as np

from ..live.requests import Progress, ReadProgress, progress_of
from . import runs
from .files import OpenFile
from .reading import trajectory_group


def read_progress(file: OpenFile, request: ReadProgress) -> Progress:
    """The progress of ``request``'s trajectory: three columns of its run table are read."""
    name = request.target.trajectory
    table = runs.run_table(trajectory_group(file, request.target))
    if table is None or not table.nrows:
        none = np.zeros(0)
        return progress_of(name, none, none, none)
    return progress_of(name, table.col("completed"), table.col("timestamp"),
                       table.col("finish_timestamp"))
