"""The blocking pypet shim: pypet's names, signatures and wrapper patterns on the HDF5 thread."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from aiostore import (
    AsyncStorageService,
    DataNotFoundError,
    FailedStoresError,
    InvalidArgumentError,
    ItemExistsError,
    Result,
    ServiceClosedError,
    Trajectory,
)
from aiostore._core.worker import current_worker
from aiostore.compat import pypetconstants as constants
from aiostore.compat.pypet import (
    HDF5StorageService,
    LazyStorageService,
    LockWrapper,
    NoSuchServiceError,
    QueueStorageServiceSender,
    QueueStorageServiceWriter,
    pypetconstants,
)


@pytest.fixture
def service(path: str) -> Any:
    svc = HDF5StorageService(filename=path, file_title="Experiment")
    yield svc
    svc.close()


def load_all(path: str) -> Any:
    svc = HDF5StorageService(path)
    try:
        return svc.load(pypetconstants.TRAJECTORY, None, trajectory_name="t", load_results=2)
    finally:
        svc.close()


# -------------------------------------------------------------------------------- the service


def test_store_and_load_with_pypets_calls(service: Any) -> None:
    result = Result("results.spikes", times=np.array([0.5, 1.5]), n=2)
    service.store(pypetconstants.LEAF, result, trajectory_name="t")
    loaded = service.load(pypetconstants.LEAF, Result("results.spikes"), trajectory_name="t",
                          load_only=["n"])
    assert loaded.data == {"n": 2}
    with pytest.raises(ValueError, match="zzz"):
        service.load(pypetconstants.LEAF, Result("results.spikes"), trajectory_name="t",
                     load_only=["zzz"])


def test_pypetconstants_hold_pypets_values() -> None:
    assert pypetconstants is constants
    messages = ["TRAJECTORY", "SINGLE_RUN", "LEAF", "TREE", "LIST", "GROUP", "MERGE",
                "PREPARE_MERGE", "BACKUP", "DELETE", "DELETE_LINK", "ACCESS_DATA", "OPEN_FILE",
                "CLOSE_FILE", "FLUSH"]
    for name in messages:
        assert getattr(constants, name) == name
    assert (constants.LOAD_NOTHING, constants.LOAD_SKELETON, constants.LOAD_DATA,
            constants.OVERWRITE_DATA) == (0, 1, 2, 3)
    assert constants.FORMATTED_RUN_NAME % 3 == "run_00000003"
    assert constants.FORMATTED_SET_NAME % 2 == "run_set_00002"
    assert constants.WRAP_MODE_QUEUE == "QUEUE"


def test_delete_removes_and_file_messages_are_accepted(service: Any, path: str) -> None:
    service.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
    service.store(pypetconstants.FLUSH, None)
    service.store(pypetconstants.OPEN_FILE, None, trajectory_name="t")
    service.store(pypetconstants.CLOSE_FILE, None)
    assert path not in current_worker()._engine.open_files
    service.store(pypetconstants.DELETE, Result("results.r"), trajectory_name="t")
    with pytest.raises(DataNotFoundError):
        service.load(pypetconstants.LEAF, Result("results.r"), trajectory_name="t")
    with pytest.raises(InvalidArgumentError, match="key"):  # shared data: which, and what
        service.store(pypetconstants.ACCESS_DATA, "results.r", trajectory_name="t")
    with pytest.raises(NoSuchServiceError):
        service.store("NOT_A_MESSAGE", Result("results.r"), trajectory_name="t")


def test_the_file_is_closed_after_each_call(service: Any, path: str) -> None:
    # as pypet's own service: other processes and tools may open it between calls
    service.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
    assert current_worker()._engine.open_files == []


def test_durability_flush_keeps_the_file_open_between_calls(path: str) -> None:
    with HDF5StorageService(path, durability="flush") as svc:
        svc.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
        assert path in current_worker()._engine.open_files


def test_default_filename_and_title_follow_pypet(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    services = [HDF5StorageService(), HDF5StorageService(trajectory=Trajectory("sweep")),
                HDF5StorageService(str(tmp_path / "folder") + "/"), HDF5StorageService("x.h5")]
    names = [svc.filename for svc in services]
    for svc in services:
        svc.close()
    assert names == [str(tmp_path / "Experiments.hdf5"), str(tmp_path / "hdf5" / "sweep.hdf5"),
                     str(tmp_path / "folder" / "Experiments.hdf5"), str(tmp_path / "x.h5")]


def test_overwrite_file_starts_afresh(path: str) -> None:
    with HDF5StorageService(path) as svc:
        svc.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
    with HDF5StorageService(path, overwrite_file=True) as svc:
        svc.store(pypetconstants.LEAF, Result("results.r", v=2), trajectory_name="t")
        assert svc.load(pypetconstants.LEAF, Result("results.r"), trajectory_name="t")["v"] == 2


def test_pypet_options_are_checked(path: str) -> None:
    with pytest.raises(TypeError, match="bogus"):
        HDF5StorageService(path, bogus=1)
    with pytest.raises(InvalidArgumentError):
        HDF5StorageService(path, pandas_format="feather")
    with pytest.raises(InvalidArgumentError):
        HDF5StorageService(path, purge_duplicate_comments=True, summary_tables=False)
    with pytest.raises(InvalidArgumentError):
        HDF5StorageService(path, complevel=9, complib="no-such-library")
    with HDF5StorageService(path, complevel=9, complib="zlib", results_per_run=3) as svc:
        svc.store(pypetconstants.LEAF, Result("results.r", a=np.zeros(1000)), trajectory_name="t")


def test_text_is_utf8_whatever_encoding_says(path: str) -> None:
    # pypet's encoding chose how its file held text; aiostore's holds UTF-8 and gives back str
    with HDF5StorageService(path, encoding="latin1") as svc:
        assert svc.encoding == "latin1"
        svc.store(pypetconstants.LEAF, Result("results.r", v="Grüße ☃"), trajectory_name="t")
        assert svc.load(pypetconstants.LEAF, Result("results.r"), trajectory_name="t")["v"] == (
            "Grüße ☃")


def test_a_service_survives_pickling(service: Any) -> None:
    service.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
    copy = pickle.loads(pickle.dumps(service))
    try:
        assert copy.filename == service.filename
        assert copy.load(pypetconstants.LEAF, Result("results.r"), trajectory_name="t")["v"] == 1
    finally:
        copy.close()


def test_calls_from_threads_while_an_event_loop_runs_in_another(service: Any, path: str) -> None:
    async def async_side() -> None:
        async with AsyncStorageService(path) as svc:
            for i in range(100):
                await svc.put("LEAF", Result(f"results.loop.r{i}", v=i), trajectory_name="t")

    def sync_side(k: int) -> None:
        for j in range(30):
            service.store(pypetconstants.LEAF, Result(f"results.th{k}.r{j}", v=j),
                          trajectory_name="t")

    threads = [threading.Thread(target=anyio.run, args=(async_side,))]
    threads += [threading.Thread(target=sync_side, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    traj = load_all(path)
    assert [traj[f"results.loop.r{i}"]["v"] for i in range(100)] == list(range(100))
    for k in range(4):
        assert [traj[f"results.th{k}.r{j}"]["v"] for j in range(30)] == list(range(30))


@pytest.mark.anyio
async def test_calls_inside_a_running_event_loop_work(service: Any) -> None:
    """Documented choice: the shim works there (it holds the loop still until it returns)."""
    service.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
    assert service.load(pypetconstants.LEAF, Result("results.r"), trajectory_name="t")["v"] == 1


def test_a_closed_service_refuses_calls(path: str) -> None:
    svc = HDF5StorageService(path)
    svc.close()
    with pytest.raises(ServiceClosedError):
        svc.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")


def test_lazy_storage_service_does_nothing(path: str) -> None:
    lazy = LazyStorageService(path, file_title="x")
    assert lazy.store(pypetconstants.LEAF, Result("results.r", v=1)) is None
    assert lazy.load(pypetconstants.LEAF, Result("results.r")) is None
    assert not Path(path).exists()


# ------------------------------------------------------------------------------- lock wrapper


def _lock_child(path: str, wrapper: LockWrapper, index: int) -> None:
    for j in range(10):
        wrapper.store(pypetconstants.LEAF, Result(f"results.p{index}.r{j}", v=j),
                      trajectory_name="t")
    assert wrapper.load(pypetconstants.LEAF, Result(f"results.p{index}.r3"),
                        trajectory_name="t")["v"] == 3


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_lock_wrapper_lets_processes_share_a_file(service: Any, path: str,
                                                  start_method: str) -> None:
    context = multiprocessing.get_context(start_method)
    service.store(pypetconstants.LEAF, Result("results.parent", v=-1), trajectory_name="t")
    wrapper = LockWrapper(service, context.Lock())
    assert wrapper.multiproc_safe
    assert not wrapper.is_open
    children = [context.Process(target=_lock_child, args=(path, wrapper, k)) for k in range(3)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0, 0, 0]
    traj = load_all(path)
    assert traj["results.parent"]["v"] == -1
    for k in range(3):
        assert [traj[f"results.p{k}.r{j}"]["v"] for j in range(10)] == list(range(10))


def test_lock_wrapper_serializes_threads(service: Any, path: str) -> None:
    wrapper = LockWrapper(service, threading.Lock())
    threads = [threading.Thread(target=_lock_child, args=(path, wrapper, k)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    traj = load_all(path)
    for k in range(4):
        assert [traj[f"results.p{k}.r{j}"]["v"] for j in range(10)] == list(range(10))


# ------------------------------------------------------------------------------- queue wrappers


def _queue_child(queue: Any, index: int) -> None:
    sender = QueueStorageServiceSender(queue)
    for j in range(25):
        sender.store(pypetconstants.LEAF, Result(f"results.q{index}.r{j}", v=j, s=str(j)),
                     trajectory_name="t")


def test_the_queue_pattern_of_the_seed(service: Any, path: str) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue(maxsize=20)
    children = [context.Process(target=_queue_child, args=(queue, k)) for k in range(3)]
    for child in children:
        child.start()

    def finish() -> None:
        for child in children:
            child.join(120)
        QueueStorageServiceSender(queue).send_done()

    threading.Thread(target=finish).start()
    QueueStorageServiceWriter(service, queue).run()
    traj = load_all(path)
    for k in range(3):
        assert [traj[f"results.q{k}.r{j}"]["s"] for j in range(25)] == [str(j) for j in range(25)]


def test_queue_sender_cannot_load() -> None:
    with pytest.raises(NotImplementedError, match="lock"):
        QueueStorageServiceSender(None).load(pypetconstants.LEAF, Result("results.r"))


def test_queue_writer_keeps_going_and_raises_the_failures_at_the_end(service: Any,
                                                                     path: str) -> None:
    import queue as queue_module

    queue: queue_module.Queue[Any] = queue_module.Queue()
    sender = QueueStorageServiceSender(queue)
    sender.store(pypetconstants.LEAF, Result("results.r", v=1), trajectory_name="t")
    sender.store(pypetconstants.LEAF, Result("results.r", v=2), trajectory_name="t")
    sender.store(pypetconstants.LEAF, Result("results.bad", v=object()), trajectory_name="t")
    queue.put(("NONSENSE", [], {}))
    sender.store(msg=pypetconstants.LEAF, stuff_to_store=Result("results.s", v=3),
                 trajectory_name="t")
    sender.send_done()
    with pytest.raises(FailedStoresError) as info:
        QueueStorageServiceWriter(service, queue).run()
    assert len(info.value.exceptions) == 3
    assert info.group_contains(ItemExistsError)
    assert info.group_contains(InvalidArgumentError)
    traj = load_all(path)
    assert (traj["results.r"]["v"], traj["results.s"]["v"]) == (1, 3)


def test_queue_writer_drives_any_service() -> None:
    import queue as queue_module

    calls = []

    class Recorder:
        def store(self, *args: Any, **kwargs: Any) -> None:
            calls.append((args, kwargs))

    queue: queue_module.Queue[Any] = queue_module.Queue()
    QueueStorageServiceSender(queue).store("LEAF", "item", 1, trajectory_name="t")
    QueueStorageServiceSender(queue).send_done()
    QueueStorageServiceWriter(Recorder(), queue).run()
    assert calls == [(("LEAF", "item", 1), {"trajectory_name": "t"})]
