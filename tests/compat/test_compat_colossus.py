"""colossus's StorageUser on the HDF5 thread: colossus's behaviour, a cache that survives.

Where colossus is installed, behaviour is compared with its own ``colossus.utils.storage``, and
colossus's own test suite runs with the shim swapped in (cold and warm cache).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import multiprocessing
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np
import pytest
import scipy.interpolate
import tables
from exactness import assert_exact

from aiostore.compat import colossus as shim
from aiostore.errors import (
    AiostoreError,
    DataNotFoundError,
    InterpolationError,
    InvalidArgumentError,
    UnsupportedTypeError,
)

TESTS = pathlib.Path(__file__).parents[1]  # the helpers' folder
SEED_DEMO = '''
from aiostore.compat import colossus as storage

class DemoClass():

        def __init__(self, some_parameter = 1.5):
                self.some_parameter = some_parameter
                self.su = storage.StorageUser('myModule', 'rw', self.getName, self.getHashableString,
                                                self.reportChanges)
                self.some_data = [2.6, 9.5]
                self.su.storeObject('test_data', self.some_data, persistent = False)
                return

        def getName(self):
                return 'MyModule'

        def getHashableString(self):
                param_string = 'MyModule_%.4f' % (self.some_parameter)
                return param_string

        def reportChanges(self):
                print('Changes in this module detected, storage has been reset.')
                return

        def loadData(self):
                data = self.su.getStoredObject('test_data')
                return data

dc = DemoClass()
print(dc.loadData())
dc.some_parameter = 1.2
print(dc.loadData())
'''


class Owner:
    """A user class as colossus's examples write them: a name, a hash string, a callback."""

    def __init__(self, storage: Any = shim, parameter: float = 1.5, persistence: str = "rw",
                 name: str = "owner") -> None:
        self.parameter = parameter
        self.name = name
        self.changes = 0
        self.su = storage.StorageUser("test_module", persistence, self.get_name, self.hash_string,
                                      self.report_change)

    def get_name(self) -> str:
        return self.name

    def hash_string(self) -> str:
        return f"owner_{self.parameter:.4f}"

    def report_change(self) -> None:
        self.changes += 1


@pytest.fixture(autouse=True)
def cache_base(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    base = tmp_path / "base"
    monkeypatch.setattr(shim, "BASE_DIR", str(base))
    return base


def table(n: int = 50, descending: bool = False) -> np.ndarray:
    x = np.linspace(0.1, 5.0, n)
    y = np.log(x) + x
    return np.array([x, -y if descending else y])


# -------------------------------------------------------------------------------- the seed


def test_the_seeds_demo_prints_what_the_seed_says(tmp_path: pathlib.Path) -> None:
    """The seed shows the callback's line in quotes; print() writes it without them."""
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SEED_DEMO], env=env, capture_output=True,
                          text=True, check=True, timeout=120)
    assert done.stdout.splitlines() == [
        "[2.6, 9.5]", "Changes in this module detected, storage has been reset.", "None"]
    assert (tmp_path / ".colossus" / "cache" / "myModule").is_dir()


def test_the_seeds_interpolators() -> None:
    owner = Owner()
    owner.su.storeObject("xy", table())
    interp_y_of_x = owner.su.getStoredObject("xy", interpolator=True)
    interp_x_of_y = owner.su.getStoredObject("xy", interpolator=True, inverse=True)
    assert isinstance(interp_y_of_x, scipy.interpolate.InterpolatedUnivariateSpline)
    assert interp_x_of_y(interp_y_of_x(2.0)) == pytest.approx(2.0, rel=1e-6)
    assert owner.su.getStoredObject("nothing", interpolator=True) is None


# -------------------------------------------------------------------------------- the API


def test_the_signatures_are_colossus_ones() -> None:
    storage = pytest.importorskip("colossus.utils.storage",
                                  reason="colossus is not installed: nothing to compare with")
    for name in ("__init__", "getHash", "getUniqueFilename", "checkForChangedHash",
                 "resetStorage", "storeObject", "getStoredObject"):
        ours = inspect.signature(getattr(shim.StorageUser, name))
        theirs = inspect.signature(getattr(storage.StorageUser, name))
        assert [(p.name, p.default) for p in ours.parameters.values()] == \
            [(p.name, p.default) for p in theirs.parameters.values()], name
    assert list(inspect.signature(shim.getCacheDir).parameters) == ["module"]


def test_persistence_letters() -> None:
    with pytest.raises(InvalidArgumentError, match="'x'"):
        Owner(persistence="rx")
    with pytest.raises(DeprecationWarning):
        Owner(persistence=True)  # type: ignore[arg-type]
    with pytest.raises(shim.PersistenceFlagError):
        Owner(persistence=False)  # type: ignore[arg-type]
    for letters in ("", "r", "w", "rw", "wr"):
        Owner(persistence=letters)


def test_the_cache_file_is_per_module_name_and_hash(cache_base: pathlib.Path) -> None:
    owner = Owner()
    expected_hash = hashlib.md5(b"owner_1.5000").hexdigest()
    assert owner.su.getHash() == expected_hash
    assert owner.su.cache_dir == f"{cache_base}/.colossus/cache/test_module/"
    assert owner.su.getUniqueFilename() == owner.su.cache_dir + f"owner_{expected_hash}.h5"
    assert shim.getCacheDir() == f"{cache_base}/.colossus/cache/"
    assert os.path.isdir(shim.getCacheDir("other"))


def test_colossus_setting_decides_the_base_without_ours(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    settings = pytest.importorskip("colossus.settings", reason="colossus is not installed")
    monkeypatch.setattr(shim, "BASE_DIR", None)
    monkeypatch.setattr(settings, "BASE_DIR", str(tmp_path / "theirs"))
    assert shim.getCacheDir("m") == f"{tmp_path}/theirs/.colossus/cache/m/"
    monkeypatch.setattr(settings, "BASE_DIR", None)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert shim.getCacheDir() == f"{tmp_path}/home/.colossus/cache/"


def test_a_hash_change_calls_back_and_resets_both_stores() -> None:
    owner = Owner()
    owner.su.storeObject("kept", 1.0)
    owner.su.storeObject("temporary", 2.0, persistent=False)
    assert owner.su.getStoredObject("temporary") == 2.0
    owner.parameter = 1.2
    assert owner.su.checkForChangedHash()
    assert owner.su.getStoredObject("kept") is None
    assert owner.changes == 1
    assert owner.su.getStoredObject("temporary") is None
    assert owner.changes == 1
    owner.parameter = 1.5  # back: the first hash's cache is still on disk
    assert owner.su.getStoredObject("kept") == 1.0
    assert owner.su.getStoredObject("temporary") is None


def test_persistent_objects_outlive_the_user_and_temporary_ones_do_not() -> None:
    first = Owner()
    values = {"xy": table(), "grid": (np.arange(3.0), np.arange(4.0), np.ones((3, 4))),
              "norm": 0.81, "label": "planck18", "steps": [1, 2, 3],
              "meta": {"h": 0.67, "tables": [np.arange(2), "x"]}}
    for name, value in values.items():
        first.su.storeObject(name, value)
    first.su.storeObject("scratch", 5.0, persistent=False)
    second = Owner()
    for name, value in values.items():
        assert_exact(second.su.getStoredObject(name), value)
    assert second.su.getStoredObject("scratch") is None


def test_read_and_write_letters_are_obeyed() -> None:
    Owner(persistence="w").su.storeObject("a", 1.0)
    assert Owner(persistence="w").su.getStoredObject("a") is None  # not read
    assert Owner(persistence="r").su.getStoredObject("a") == 1.0
    reader = Owner(persistence="r")
    reader.su.storeObject("b", 2.0)
    assert reader.su.getStoredObject("b") == 2.0
    assert Owner().su.getStoredObject("b") is None  # not written
    nothing = Owner(persistence="")
    nothing.su.storeObject("c", 3.0)
    assert nothing.su.getStoredObject("c") == 3.0
    assert not hasattr(nothing.su, "cache_dir")


def test_a_store_that_cannot_be_written_changes_nothing() -> None:
    owner = Owner()
    owner.su.storeObject("x", 1.0)
    with pytest.raises(UnsupportedTypeError):
        owner.su.storeObject("x", threading.Lock())
    assert owner.su.getStoredObject("x") == 1.0
    assert Owner().su.getStoredObject("x") == 1.0


def test_the_file_is_plain_hdf5() -> None:
    owner = Owner()
    owner.su.storeObject("xy", table())
    with tables.open_file(owner.su.getUniqueFilename()) as h5:
        np.testing.assert_array_equal(h5.root.objects.xy.read(), table())


# ------------------------------------------------------------------------------- text files


def test_tables_from_text_files(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "ps.txt"
    np.savetxt(path, table().T, header="k P(k)")
    owner = Owner()
    loaded = owner.su.getStoredObject("ps", path=str(path))
    np.testing.assert_allclose(loaded, table())
    path.unlink()  # kept in memory (store_path_data)
    np.testing.assert_allclose(owner.su.getStoredObject("ps", path=str(path)), table())
    with pytest.raises(DataNotFoundError, match=r"ps\.txt"):
        owner.su.getStoredObject("other", path=str(path))
    assert Owner(persistence="").su.getStoredObject("ps", path=str(path)) is None


def test_an_interpolator_straight_from_a_text_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "ps.txt"
    np.savetxt(path, table().T)
    owner = Owner()
    interp = owner.su.getStoredObject("ps", interpolator=True, path=str(path),
                                      store_path_data=False)
    assert interp(2.0) == pytest.approx(np.log(2.0) + 2.0, rel=1e-5)


# ---------------------------------------------------------------------------- interpolators


def test_spline_orders_and_kept_interpolators() -> None:
    owner = Owner()
    owner.su.storeObject("xy", table())
    cubic = owner.su.getStoredObject("xy", interpolator=True)
    linear = owner.su.getStoredObject("xy", interpolator=True, linear_interp=True)
    assert cubic is linear  # kept under the same id, as colossus does
    fresh = owner.su.getStoredObject("xy", interpolator=True, inverse=True, linear_interp=True,
                                     store_interpolator=False)
    again = owner.su.getStoredObject("xy", interpolator=True, inverse=True)
    assert fresh is not again
    assert fresh._eval_args[2] == 1
    assert again._eval_args[2] == 3


def test_inverse_of_descending_and_flat_tables() -> None:
    owner = Owner()
    owner.su.storeObject("down", table(descending=True))
    x_of_y = owner.su.getStoredObject("down", interpolator=True, inverse=True)
    assert x_of_y(-(np.log(2.0) + 2.0)) == pytest.approx(2.0, rel=1e-5)
    flat = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 2.0, 3.0, 4.0, 5.0]])
    owner.su.storeObject("flat", flat)
    with pytest.warns(UserWarning, match="dropped 1 repeated"):
        owner.su.getStoredObject("flat", interpolator=True, inverse=True)
    owner.su.storeObject("wiggly", np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]]))
    with pytest.raises(InterpolationError, match="monotonic"):
        owner.su.getStoredObject("wiggly", interpolator=True, inverse=True)


def test_two_dimensional_tables() -> None:
    owner = Owner()
    x, y = np.linspace(0, 1, 6), np.linspace(0, 2, 7)
    owner.su.storeObject("grid", (x, y, np.add.outer(x, y)))
    spline = owner.su.getStoredObject("grid", interpolator=True)
    assert isinstance(spline, scipy.interpolate.RectBivariateSpline)
    assert spline(0.5, 1.5)[0, 0] == pytest.approx(2.0)
    with pytest.raises(InterpolationError, match="no inverse"):
        owner.su.getStoredObject("grid", interpolator=True, inverse=True)
    owner.su.storeObject("three_rows", np.ones((3, 5)))
    with pytest.raises(InterpolationError, match="neither"):
        owner.su.getStoredObject("three_rows", interpolator=True)
    assert isinstance(InterpolationError("x"), AiostoreError | ValueError)


def _exercise(storage: Any, path: str) -> list[Any]:
    """One session of calls a colossus model makes; what each returned (or that it raised)."""
    results: list[Any] = []
    owner = Owner(storage)
    owner.su.storeObject("xy", table())
    owner.su.storeObject("down", table(descending=True))
    owner.su.storeObject("flat", np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [1, 2, 2, 3, 4.0]]))
    owner.su.storeObject("grid", (np.arange(5.0), np.arange(6.0), np.ones((5, 6))))
    owner.su.storeObject("norm", 0.8, persistent=False)
    probes = np.linspace(0.5, 4.0, 9)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("xy", {}), ("xy", {"interpolator": True}), ("xy", {"interpolator": True, "inverse": True}),
        ("xy", {"interpolator": True, "linear_interp": True}), ("down", {"interpolator": True,
                                                                          "inverse": True}),
        ("flat", {"interpolator": True, "inverse": True}), ("grid", {"interpolator": True}),
        ("grid", {"interpolator": True, "inverse": True}), ("norm", {}), ("missing", {}),
        ("missing", {"interpolator": True}), ("file", {"path": path}),
        ("file", {"path": path, "interpolator": True}), ("gone", {"path": path + ".no"}),
        ("norm", {"inverse": True}),
    ]
    for name, kwargs in calls:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                value = owner.su.getStoredObject(name, **kwargs)
        except Exception:
            results.append("raised")
            continue
        if hasattr(value, "get_knots") or hasattr(value, "ev"):
            grid = probes if not hasattr(value, "ev") else (probes / 2, probes / 2)
            value = value(*grid) if hasattr(value, "ev") else value(grid)
        results.append((value if not isinstance(value, np.ndarray) else value.round(10),
                        len(caught)))
    warm = Owner(storage)
    results.append(warm.su.getStoredObject("xy"))
    results.append(warm.su.getStoredObject("norm"))
    warm.parameter = 2.0
    results.append((warm.su.getStoredObject("xy"), warm.changes))
    return results


def test_the_same_calls_give_what_colossus_gives(tmp_path: pathlib.Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    storage = pytest.importorskip("colossus.utils.storage", reason="colossus is not installed")
    settings = pytest.importorskip("colossus.settings")
    monkeypatch.setattr(settings, "BASE_DIR", str(tmp_path / "colossus"))
    text = tmp_path / "file.txt"
    np.savetxt(text, table(20).T)
    theirs = _exercise(storage, str(text))
    ours = _exercise(shim, str(text))
    assert len(ours) == len(theirs)
    for index, (mine, original) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_equal(mine, original, err_msg=f"call {index}")


# ------------------------------------------------------------------------------- pickles


def test_pickled_objects_load_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    Owner().su.storeObject("by_int", {1: "one"})
    Owner().su.storeObject("native", [1.0, 2.0])
    assert Owner().su.getStoredObject("by_int") == {1: "one"}
    monkeypatch.setattr(shim, "LOAD_PICKLES", False)
    with pytest.warns(RuntimeWarning, match="by_int.*pickle"):
        owner = Owner()
    assert owner.su.getStoredObject("by_int") is None
    assert owner.su.getStoredObject("native") == [1.0, 2.0]


def test_objects_of_an_outdated_colossus_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = pytest.importorskip("colossus.settings", reason="colossus is not installed")
    Owner().su.storeObject("table", table())
    monkeypatch.setattr(settings, "PERSISTENCE_OLDEST_VERSION", "99.0.0")
    assert Owner().su.getStoredObject("table") is None
    monkeypatch.setattr(settings, "PERSISTENCE_OLDEST_VERSION", "1.0.0")
    assert Owner().su.getStoredObject("table") is not None


# -------------------------------------------------------------------------------- processes


def _store_many(base: str, worker: int, count: int) -> None:
    shim.BASE_DIR = base
    owner = Owner()
    for index in range(count):
        owner.su.storeObject(f"w{worker}_{index}", np.full((2, 500), worker * 1000.0 + index))
        owner.su.storeObject("shared", np.full(3, float(worker)))


def _read_repeatedly(base: str, seconds: float, queue: Any) -> None:
    shim.BASE_DIR = base
    deadline, reads, bad = time.monotonic() + seconds, 0, []
    while time.monotonic() < deadline:
        owner = Owner()
        for name, value in owner.su.storage_pers.items():
            if name.startswith("w") and not np.all(value == value.flat[0]):
                bad.append(name)
        reads += 1
    queue.put((reads, bad))


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_processes_sharing_a_cache_lose_nothing(cache_base: pathlib.Path, start: str) -> None:
    Owner().su.storeObject("before", 1.0)  # forked children inherit a used HDF5 thread
    context = multiprocessing.get_context(start)
    writers = [context.Process(target=_store_many, args=(str(cache_base), worker, 40))
               for worker in range(4)]
    results = context.Queue()
    reader = context.Process(target=_read_repeatedly, args=(str(cache_base), 4.0, results))
    for process in [*writers, reader]:
        process.start()
    for process in [*writers, reader]:
        process.join(120)
        assert process.exitcode == 0
    reads, bad = results.get(timeout=10)
    assert reads > 0
    assert bad == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stored = Owner().su.storage_pers
    for worker in range(4):
        for index in range(40):
            assert_exact(stored[f"w{worker}_{index}"], np.full((2, 500), worker * 1000.0 + index))
    assert stored["shared"][0] in (0.0, 1.0, 2.0, 3.0)
    assert stored["before"] == 1.0
    assert not list(cache_base.rglob("*.damaged"))


def _store_until_killed(base: str, log: str) -> None:
    shim.BASE_DIR = base
    owner = Owner()
    with open(log, "a") as acknowledged:
        for index in range(10**6):
            size = 10 if index % 3 else 100_000
            owner.su.storeObject(f"o{index % 50}", np.full(size, float(index)))
            acknowledged.write(f"{index}\n")
            acknowledged.flush()


KILL_TRIALS = [*range(3), *(pytest.param(trial, marks=pytest.mark.slow) for trial in range(3, 50))]


@pytest.mark.parametrize("trial", KILL_TRIALS)
def test_a_writer_killed_at_a_random_moment_loses_no_acknowledged_object(
        cache_base: pathlib.Path, tmp_path: pathlib.Path, trial: int) -> None:
    log = tmp_path / "acknowledged.txt"
    context = multiprocessing.get_context("spawn")
    writer = context.Process(target=_store_until_killed, args=(str(cache_base), str(log)))
    writer.start()
    deadline = time.monotonic() + 60
    while (not log.exists() or log.stat().st_size < 20) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(trial).uniform(0.05, 1.0))
    os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
    writer.join()
    acknowledged = [int(line) for line in log.read_text().split()]
    assert acknowledged
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no damaged file found
        stored = Owner().su.storage_pers
    newest: dict[str, int] = {}
    for index in acknowledged:
        newest[f"o{index % 50}"] = index
    for name, index in newest.items():
        value = stored[name]
        # the last acknowledged store, or one after it that was written but not acknowledged
        assert value[0] >= index
        assert (index - value[0]) % 50 == 0
        assert np.all(value == value[0])
        assert len(value) == (10 if int(value[0]) % 3 else 100_000)


# ------------------------------------------------------------------------------ async twins


@pytest.fixture
def ticker() -> Callable[[], Any]:
    """A task counting how often the event loop let it run."""

    class Ticker:
        ticks = 0

        async def run(self) -> None:
            while True:
                await anyio.sleep(0.001)
                self.ticks += 1

    return Ticker


@pytest.mark.anyio
async def test_async_twins(tmp_path: pathlib.Path, ticker: Any) -> None:
    owner = Owner(persistence="")  # for the callbacks only
    su = await shim.StorageUser.acreate("test_module", "rw", owner.get_name, owner.hash_string,
                                        owner.report_change)
    big = np.random.default_rng(0).random((2, 2_000_000))  # 32 MB: encoded off the loop
    counter = ticker()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(counter.run)
        await su.astore_object("big", big)
        await su.astore_object("xy", table())
        tasks.cancel_scope.cancel()
    assert counter.ticks > 0
    spline = await su.aget_stored_object("xy", interpolator=True)
    assert spline(2.0) == pytest.approx(np.log(2.0) + 2.0, rel=1e-5)
    path = tmp_path / "t.txt"
    np.savetxt(path, table().T)
    np.testing.assert_allclose(await su.aget_stored_object("t", path=str(path)), table())
    owner.parameter = 3.0
    assert await su.aget_stored_object("xy") is None
    assert owner.changes == 1
    owner.parameter = 1.5
    await su.areset_storage()
    assert_exact(su.getStoredObject("big"), big)


# ------------------------------------------------------------------------ colossus's suite


def _run_suite(base: pathlib.Path, *extra: str) -> dict[str, int]:
    done = subprocess.run([sys.executable, str(TESTS / "colossus_suite.py"), str(base), *extra],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, int] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def colossus_installed() -> None:
    pytest.importorskip("colossus", reason="colossus cannot be installed here")


def test_colossus_own_suite_passes_on_a_cold_then_warm_cache(
        colossus_installed: None, tmp_path: pathlib.Path) -> None:
    cold = _run_suite(tmp_path)
    assert cold["run"] >= 170
    assert cold["failures"] == cold["errors"] == 0
    assert cold["stored"] > 0
    files = sorted(p.name for p in (tmp_path / ".colossus" / "cache").rglob("*.h5"))
    assert any(name.startswith("planck18_") for name in files)
    warm = _run_suite(tmp_path)
    assert warm["failures"] == warm["errors"] == 0
    assert warm["loaded"] > cold["loaded"]
    assert warm["stored"] < cold["stored"]
    assert not list(tmp_path.rglob("*.damaged"))
    # the suite wrote aiostore caches only, no pickle files
    assert not [p for p in (tmp_path / ".colossus").rglob("*") if p.is_file()
                and p.suffix not in (".h5", ".lock")]


@pytest.mark.anyio
async def test_a_cancelled_store_still_reaches_the_cache(held_worker: Any) -> None:
    owner = Owner(persistence="")
    su = shim.StorageUser("test_module", "rw", owner.get_name, owner.hash_string, None)
    with held_worker() as gate:
        with anyio.move_on_after(0.2) as scope:
            await su.astore_object("xy", table())
        assert scope.cancelled_caught
        gate.set()
    while not os.path.exists(su.getUniqueFilename()):
        await anyio.sleep(0.01)
    await su.areset_storage()
    assert_exact(su.getStoredObject("xy"), table())
