"""Files held in memory: the semantics of a file on disk, nothing on the disk, saved on request."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tables

from aiostore import (
    AsyncStorageService,
    InvalidArgumentError,
    ItemExistsError,
    Msg,
    Result,
    StorageService,
    Trajectory,
)
from aiostore.compat.pypet import HDF5StorageService
from aiostore.testing import assert_items_equal

pytestmark = pytest.mark.anyio


def sweep(name: str = "sweep", runs: int = 4) -> Trajectory:
    traj = Trajectory(name, comment="in memory")
    traj.add_parameter("x", 0.5)
    traj.explore({"x": [0.5 * i for i in range(runs)]})
    return traj


async def store_sweep(service: AsyncStorageService, traj: Trajectory) -> None:
    await service.store(Msg.TRAJECTORY, traj)
    for index in range(len(traj)):
        run = traj.run(index)
        run.add_result("z", run["x"] * 2, trace=np.arange(index + 1.0),
                       frame=pd.DataFrame({"a": [index, index + 1]}))
        await service.store(Msg.SINGLE_RUN, run)


def entries(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("aiostore_in_memory", [True])
async def test_a_sweep_in_memory_loads_back_exactly_and_touches_no_disk(
        aiostore_service: AsyncStorageService, aiostore_path: Path) -> None:
    traj = sweep()
    await store_sweep(aiostore_service, traj)
    loaded = await aiostore_service.load(Msg.TRAJECTORY, None, trajectory_name="sweep",
                                         load_parameters=2, load_results=2)
    assert_items_equal(traj, loaded, timestamps=True)
    assert await aiostore_service.list_trajectories() == ["sweep"]
    assert entries(aiostore_path.parent) == []  # no file, no journal, no folder entry at all


async def test_the_semantics_of_a_file_on_disk(tmp_path: Path) -> None:
    async with AsyncStorageService(in_memory=True, trajectory_name="sweep") as service:
        assert service.filename is not None
        await store_sweep(service, sweep())
        with pytest.raises(ItemExistsError):  # stored data is not overwritten, as on disk
            await service.store(Msg.LEAF, Result("results.runs.run_00000001.z", 1.0))
        await service.store(Msg.REMOVE, Result("results.runs.run_00000002.z"))
        await service.store(Msg.UPDATE_LEAF, Result("results.runs.run_00000001.z", z=9.0))
        leaf = Result("results.runs.run_00000001.z")
        await service.load(Msg.LEAF, leaf)
        assert leaf["z"] == 9.0
        loaded = await service.load(Msg.TRAJECTORY, None, load_parameters=2, load_results=2)
        assert "z" not in loaded["results.runs.run_00000002"].children
        assert not os.path.exists(service.filename)


async def test_a_file_on_disk_is_the_start_and_stays_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "start.h5"
    async with AsyncStorageService(str(path)) as disk:
        await store_sweep(disk, sweep("first"))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    async with AsyncStorageService(str(path), in_memory=True) as memory:
        await store_sweep(memory, sweep("second"))
        assert await memory.list_trajectories() == ["first", "second"]
        first = await memory.load(Msg.TRAJECTORY, None, trajectory_name="first",
                                  load_parameters=2, load_results=2)
    assert first["results.runs.run_00000003.z"]["z"] == 3.0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert entries(tmp_path) == ["start.h5"]


async def test_save_on_close_writes_a_file_plain_pytables_and_pandas_read(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "saved.h5"
    async with AsyncStorageService(str(path), in_memory=True, save_on_close=True) as service:
        await store_sweep(service, sweep())
        assert not path.exists()
    assert entries(tmp_path) == ["sub", "sub/saved.h5"]  # no partial file left
    with tables.open_file(str(path)) as h5:
        assert h5.get_node("/sweep/overview/runs").nrows == 4
        frame_path = "/sweep/results/runs/run_set_00000/run_00000002/z/frame"
    assert pd.read_hdf(str(path), frame_path)["a"].tolist() == [2, 3]
    async with AsyncStorageService(str(path)) as disk:
        loaded = await disk.load(Msg.TRAJECTORY, None, trajectory_name="sweep",
                                 load_parameters=2, load_results=2)
    assert all(info.completed for info in loaded.runs)


async def test_services_on_one_name_share_it_until_the_last_closes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.h5")
    first = AsyncStorageService(path, in_memory=True)
    await store_sweep(first, sweep())
    with StorageService(path, in_memory=True) as blocking:
        assert blocking.list_trajectories() == ["sweep"]
        blocking.store(Msg.LEAF, Result("results.note", "from the blocking one"),
                       trajectory_name="sweep")
    leaf = Result("results.note")
    await first.load(Msg.LEAF, leaf, trajectory_name="sweep")  # still there: first holds it
    assert leaf["note"] == "from the blocking one"
    await first.aclose()
    async with AsyncStorageService(path, in_memory=True) as again:
        assert await again.list_trajectories() == []  # the last one closed: it was gone
    assert not os.path.exists(path)


async def test_disk_and_memory_on_one_name_at_once_are_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "both.h5")
    async with AsyncStorageService(path, in_memory=True) as memory:
        await memory.store(Msg.TRAJECTORY, sweep())
        async with AsyncStorageService(path) as disk:
            with pytest.raises(InvalidArgumentError, match="open in memory"):
                await disk.list_trajectories()


@pytest.mark.parametrize(("options", "message"), [
    ({"save_on_close": True}, "needs in_memory=True"),
    ({"in_memory": True, "durability": "close"}, "durability='close'"),
])
def test_options_that_make_no_sense_are_refused(tmp_path: Path, options: dict[str, bool],
                                                message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        AsyncStorageService(str(tmp_path / "x.h5"), **options)  # type: ignore[arg-type]


async def test_another_filename_per_call_is_refused(tmp_path: Path) -> None:
    async with AsyncStorageService(str(tmp_path / "m.h5"), in_memory=True) as service:
        with pytest.raises(InvalidArgumentError, match="works on that file only"):
            await service.store(Msg.TRAJECTORY, sweep(), filename=str(tmp_path / "other.h5"))
    assert entries(tmp_path) == []


async def test_a_backup_of_a_file_in_memory_is_a_file_on_disk(tmp_path: Path) -> None:
    backup = tmp_path / "backup.h5"
    async with AsyncStorageService(str(tmp_path / "m.h5"), in_memory=True) as service:
        traj = sweep()
        await store_sweep(service, traj)
        await service.store(Msg.BACKUP, traj, backup_filename=str(backup))
    assert entries(tmp_path) == ["backup.h5"]
    with StorageService(str(backup)) as disk:
        loaded = disk.load(Msg.TRAJECTORY, None, trajectory_name="sweep", load_parameters=2,
                           load_results=2)
    assert loaded["results.runs.run_00000001.z"]["z"] == 1.0


def test_the_pypet_shim_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "hdf5" / "pypet.h5"
    service = HDF5StorageService(str(path), in_memory=True)
    traj = sweep()
    service.store(Msg.TRAJECTORY, traj)
    service.store("CLOSE_FILE", None)  # pypet closes its file often: in memory it stays
    loaded = service.load(Msg.TRAJECTORY, None, trajectory_name="sweep", load_parameters=2)
    assert loaded["parameters.x"].range == [0.0, 0.5, 1.0, 1.5]
    service.close()
    assert entries(tmp_path) == []
    with pytest.raises(InvalidArgumentError, match="overwrite_file"):
        HDF5StorageService(str(path), in_memory=True, overwrite_file=True)


async def test_an_array_over_a_megabyte_is_stored_in_memory_too(tmp_path: Path) -> None:
    # arrays over 1 MB are written slice by slice, each slice written through to the disk;
    # a file in memory has no disk (it was refused as an UnsupportedTypeError)
    big = np.arange(600_000.0)
    async with AsyncStorageService(str(tmp_path / "m.h5"), in_memory=True) as svc:
        await svc.store(Msg.LEAF, Result("results.big", v=big), trajectory_name="t")
        loaded = await svc.load(Msg.LEAF, Result("results.big"), trajectory_name="t")
    np.testing.assert_array_equal(loaded["v"], big)
    assert entries(tmp_path) == []
