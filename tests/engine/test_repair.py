"""A file left by a killed writer (its end-of-file address lagging) is repaired when opened."""

from __future__ import annotations

import logging
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import tables
from holding import held_by_another_process

from aiostore import Msg, StorageService, Trajectory
from aiostore.engine.durability.repair import repair_end_of_file

EOA_FIELD = 40  # superblock version 0 with 8-byte addresses, as PyTables writes it


def _store_runs(path: Path, traj: Trajectory, indices: range) -> None:
    with StorageService(str(path), trajectory_name="t", packed_runs=False) as service:
        if indices.start == 0:
            service.store(Msg.TRAJECTORY, traj)
        for index in indices:
            run = traj.run(index)
            run.add_result("r", v=np.full(1000, float(index)))
            service.store(Msg.SINGLE_RUN, run)


@pytest.fixture
def lagging(tmp_path: Path) -> tuple[Path, int]:
    """A file whose superblock records the end it had before its last 3 runs were written."""
    path = tmp_path / "lagging.h5"
    traj = Trajectory("t")
    traj.add_parameter("x", 0)
    traj.explore({"x": list(range(6))})
    _store_runs(path, traj, range(3))
    end_before = path.stat().st_size
    _store_runs(path, traj, range(3, 6))
    with open(path, "r+b") as raw:
        raw.seek(EOA_FIELD)
        assert struct.unpack("<Q", raw.read(8))[0] == path.stat().st_size  # closed cleanly
        raw.seek(EOA_FIELD)
        raw.write(struct.pack("<Q", end_before))
    return path, end_before


def _eoa(path: Path) -> int:
    with open(path, "rb") as raw:
        raw.seek(EOA_FIELD)
        return int(struct.unpack("<Q", raw.read(8))[0])


def test_pytables_alone_hides_runs_past_a_lagging_end(lagging: tuple[Path, int]) -> None:
    path, _ = lagging
    with tables.open_file(path) as h5:
        assert len(h5.get_node("/t/results/runs/run_set_00000")._v_groups) < 6  # no error: runs missing


def test_opening_repairs_a_lagging_end_and_says_so(lagging: tuple[Path, int],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    path, end_before = lagging
    with caplog.at_level(logging.WARNING, logger="aiostore.repair"), \
            StorageService(str(path)) as service:
        traj = service.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    assert [info.completed for info in traj.runs] == [True] * 6
    for index in range(6):
        np.testing.assert_array_equal(traj[f"results.runs.run_{index:08d}.r"]["v"],
                                      np.full(1000, float(index)))
    assert _eoa(path) == path.stat().st_size
    assert f"repaired {path}: its last writer did not close it" in caplog.text
    assert str(end_before) in caplog.text


def test_a_cleanly_closed_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "clean.h5"
    traj = Trajectory("t")
    traj.add_parameter("x", 0)
    traj.explore({"x": [0, 1]})
    _store_runs(path, traj, range(2))
    before = path.read_bytes()
    assert not repair_end_of_file(str(path))
    with StorageService(str(path)) as service:
        service.load(Msg.TRAJECTORY, None, trajectory_name="t", load_results=2)
    assert path.read_bytes() == before


def test_a_file_another_process_holds_open_is_not_touched(lagging: tuple[Path, int]) -> None:
    path, end_before = lagging
    with held_by_another_process("import tables\nh5 = tables.open_file(sys.argv[1], 'r')", path):
        assert not repair_end_of_file(str(path))
        assert _eoa(path) == end_before
    started = time.monotonic()
    assert repair_end_of_file(str(path))  # free again
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all", b"\x89HDF\r\n\x1a\n" + b"\xff" * 8])
def test_files_that_are_not_such_hdf5_are_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    assert not repair_end_of_file(str(path))
    assert path.read_bytes() == content
