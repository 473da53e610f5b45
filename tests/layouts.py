"""What the tests of the one-call loads share: a file in each layout, and a run stored so that
it never completes."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from aiostore import Msg, StorageService, Trajectory
from aiostore.engine import frames

# the layout's name in test ids, and its packed_runs
PACKED_RUNS = {"nodes": False, "packed": True}
LAYOUTS = pytest.mark.parametrize("layout", list(PACKED_RUNS))


def in_each_layout(folder: pathlib.Path,
                   make: Callable[[pathlib.Path, bool], None]) -> dict[str, pathlib.Path]:
    """``make(path, packed_runs)`` called for a file per layout in ``folder``; the files by
    layout."""
    made = {}
    for layout, packed in PACKED_RUNS.items():
        made[layout] = folder / f"{layout}.h5"
        make(made[layout], packed)
    return made


def store_run(service: StorageService, traj: Trajectory, run: Any, result: str,
              completes: bool = True) -> None:
    """Store ``run`` (SINGLE_RUN); or, unless it ``completes``, only its result ``result`` (a
    LEAF): the result is in the file, the run is not completed."""
    if completes:
        service.store(Msg.SINGLE_RUN, run)
    else:
        service.store(Msg.LEAF, traj[f"results.runs.{run.v_name}.{result}"])


def forbid_result_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any read of a result's values (packed or per node) fail the test."""
    def never(*args: Any) -> None:
        raise AssertionError("results were read")

    monkeypatch.setattr(frames, "_packed_block", never)
    monkeypatch.setattr(frames, "_node_values", never)
